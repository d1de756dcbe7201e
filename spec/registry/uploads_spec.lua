-- regstore.registry: resumable uploads (create, write, close, resume, commit,
-- cancel), hash states, and resuming in another process.
local helper = require "helper"
local regstore = require "regstore"
local registry = require "regstore.registry"
local rfc3339 = require "regstore.registry.rfc3339"
local util = require "fixtures.registry.util"

local R = util.ROOT
local NAME = "library/up"
local CHUNK = 65536     -- small stripes, so that uploads cross chunk boundaries

local function upload_dir(id) return R .. "/repositories/" .. NAME .. "/_uploads/" .. id end
local function states_dir(id) return upload_dir(id) .. "/hashstates/sha256" end

local function state_offsets(drv, id)
  local t = {}
  for _, p in ipairs(drv:list(states_dir(id)) or {}) do t[#t + 1] = tonumber(p:match("(%d+)$")) end
  table.sort(t)
  return t
end

local function blob_files(drv)
  local n = 0
  for p in pairs(util.tree(drv, R .. "/blobs")) do if p:match("/data$") then n = n + 1 end end
  return n
end

describe("registry uploads #cluster", function()
  local ns, drv, reg, repo
  before_each(function()
    ns = helper.namespace("up")
    drv = helper.connect { namespace = ns, chunk_size = CHUNK }
    reg = registry.new(drv)
    repo = assert(reg:repository(NAME))
  end)
  after_each(function()
    helper.clear(drv)
    drv:close()
  end)

  it("creates an upload with a uuid and an RFC 3339 start time", function()
    local t0 = os.time()
    local up = assert(repo.blobs:create())
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", up.id)
    assert.equal(36, #up.id)
    assert.is_true(up.started_at >= t0 and up.started_at <= os.time())
    local text = assert(drv:get_content(upload_dir(up.id) .. "/startedat"))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", text)
    assert.equal(up.started_at, rfc3339.parse(text))
    assert.equal(0, up:size())
    assert.is_true(up:close())
  end)

  it("does not make the repository exist", function()
    local up = assert(repo.blobs:create())
    assert(up:write("pending"))
    assert(up:close())
    assert.same({}, reg:repositories())
    helper.fails("name_unknown", NAME, repo.tags:list())
    helper.fails("name_unknown", NAME, repo.manifests:list())
  end)

  it("appends chunks, reports the offset and commits into blobs/ and _layers/", function()
    local data = helper.bytes(3 * CHUNK + 123, 5)
    local up = assert(repo.blobs:create())
    local pos = 0
    for _, n in ipairs { 1000, CHUNK, 2 * CHUNK + 100 - 1000, 23 } do
      assert.is_true(up:write(data:sub(pos + 1, pos + n)))
      pos = pos + n
      assert.equal(pos, up:size())
    end
    assert.is_true(up:write(""))
    local d = util.digest(data)
    assert.same({ digest = d, size = #data }, up:commit(d, #data))
    assert.same({ digest = d, size = #data }, repo.blobs:stat(d))
    assert.equal(data, repo.blobs:get(d))
    assert.equal(data, drv:get_content(R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data"))
    assert.equal(d, drv:get_content(R .. "/repositories/" .. NAME .. "/_layers/sha256/" .. d:sub(8) .. "/link"))
    assert.is_false(util.exists(drv, upload_dir(up.id)))
    -- the id is unknown from now on
    helper.fails("blob_upload_unknown", up.id, repo.blobs:resume(up.id))
    helper.fails("blob_upload_unknown", up.id, up:commit(d))
    helper.fails("blob_upload_unknown", up.id, up:write("more"))
    helper.fails("blob_upload_unknown", up.id, up:cancel())
    assert.is_true(up:close())
  end)

  it("commits an empty upload", function()
    local up = assert(repo.blobs:create())
    local d = util.digest("")
    assert.same({ digest = d, size = 0 }, up:commit(d))
    assert.equal("", repo.blobs:get(d))
  end)

  it("saves the SHA-256 state at hashstates/sha256/<offset> on every close", function()
    local up = assert(repo.blobs:create())
    assert(up:write(helper.bytes(100, 1)))
    assert(up:close())
    assert.same({ 100 }, state_offsets(drv, up.id))
    assert(up:write(helper.bytes(CHUNK, 2)))        -- the same object goes on after a close
    assert(up:close())
    assert.same({ 100, 100 + CHUNK }, state_offsets(drv, up.id))
    local state = assert(drv:get_content(states_dir(up.id) .. "/" .. (100 + CHUNK)))
    assert.equal(108, #state)
    assert.equal("sha\3", state:sub(1, 4))
    local h = regstore.sha256(state)
    assert.equal(100 + CHUNK, h:size())
    assert.equal(util.digest(helper.bytes(100, 1) .. helper.bytes(CHUNK, 2)), "sha256:" .. h:hexdigest())
  end)

  it("resumes by id, keeping the start time, and goes on", function()
    local a, b = helper.bytes(CHUNK + 7, 11), helper.bytes(2 * CHUNK, 12)
    local up = assert(repo.blobs:create())
    assert(up:write(a))
    assert(up:close())
    local again = assert(repo.blobs:resume(up.id))
    assert.equal(up.id, again.id)
    assert.equal(up.started_at, again.started_at)
    assert.equal(#a, again:size())
    assert(again:write(b))
    assert.equal(#a + #b, again:size())
    local d = util.digest(a .. b)
    assert.same({ digest = d, size = #a + #b }, again:commit(d))
    assert.equal(a .. b, repo.blobs:get(d))
  end)

  it("resumes an upload that was created but never kept any data", function()
    local up = assert(repo.blobs:create())
    local again = assert(repo.blobs:resume(up.id))
    assert.equal(0, again:size())
    assert(again:write("late"))
    assert.same({ digest = util.digest("late"), size = 4 }, again:commit(util.digest("late")))
  end)

  it("refuses a wrong digest and stays resumable, with nothing in blobs/", function()
    local data = helper.bytes(2 * CHUNK + 5, 21)
    local up = assert(repo.blobs:create())
    assert(up:write(data))
    local wrong = util.digest("something else")
    helper.fails("digest_invalid", up.id, up:commit(wrong))
    helper.fails("digest_invalid", nil, up:commit("sha256:nothex"))
    helper.fails("unsupported", nil, up:commit("sha512:" .. string.rep("0", 128)))
    assert.equal(0, blob_files(drv))
    assert.is_false(util.exists(drv, R .. "/repositories/" .. NAME .. "/_layers"))
    helper.fails("blob_unknown", wrong, repo.blobs:stat(wrong))
    -- another handle resumes it where it was
    local other = assert(repo.blobs:resume(up.id))
    assert.equal(#data, other:size())
    other:close()
    -- and the same object commits again
    local d = util.digest(data)
    assert.same({ digest = d, size = #data }, up:commit(d))
    assert.equal(data, repo.blobs:get(d))
  end)

  it("refuses a wrong size and stays resumable", function()
    local up = assert(repo.blobs:create())
    assert(up:write("0123456789"))
    local d = util.digest("0123456789")
    helper.fails("size_invalid", up.id, up:commit(d, 11))
    helper.fails("size_invalid", nil, up:commit(d, 9))
    assert.equal(0, blob_files(drv))
    local again = assert(repo.blobs:resume(up.id))
    assert.equal(10, again:size())
    assert(again:write("a"))
    helper.fails("digest_invalid", nil, again:commit(d, 11))
    local d2 = util.digest("0123456789a")
    assert.same({ digest = d2, size = 11 }, again:commit(d2, 11))
  end)

  it("drops the upload when the blob exists already", function()
    local other = reg:repository("library/first")
    local d = assert(other.blobs:put("same bytes"))
    local up = assert(repo.blobs:create())
    assert(up:write("same bytes"))
    assert(up:close())
    up = assert(repo.blobs:resume(up.id))
    assert.same(d, up:commit(d.digest, d.size))
    assert.same(d, repo.blobs:stat(d.digest))
    assert.equal(1, blob_files(drv))
    assert.is_false(util.exists(drv, R .. "/repositories/" .. NAME .. "/_uploads"))
  end)

  it("cancels: the upload and its data are gone", function()
    local up = assert(repo.blobs:create())
    assert(up:write(helper.bytes(CHUNK * 2, 3)))
    assert(up:close())
    local again = assert(repo.blobs:resume(up.id))
    assert(again:write("tail"))
    assert.is_true(again:cancel())
    assert.is_false(util.exists(drv, upload_dir(up.id)))
    helper.fails("blob_upload_unknown", up.id, repo.blobs:resume(up.id))
    helper.fails("blob_upload_unknown", up.id, again:cancel())
    helper.fails("blob_upload_unknown", up.id, up:cancel())
    assert.equal(0, blob_files(drv))
  end)

  it("answers blob_upload_unknown for ids it does not know", function()
    helper.fails("blob_upload_unknown", "0b6c6a7e-6d0c-4b0e-9a53-5b3c1f0e2d11",
      repo.blobs:resume("0b6c6a7e-6d0c-4b0e-9a53-5b3c1f0e2d11"))
    helper.fails("blob_upload_unknown", nil, repo.blobs:resume("../../blobs"))
    helper.fails("blob_upload_unknown", nil, repo.blobs:resume(""))
    local up = assert(repo.blobs:create())
    helper.fails("blob_upload_unknown", nil, reg:repository("library/elsewhere").blobs:resume(up.id))
  end)

  it("re-hashes only the tail that no saved state covers", function()
    local a, b, c = helper.bytes(CHUNK + 1, 31), helper.bytes(CHUNK, 32), helper.bytes(999, 33)
    local up = assert(repo.blobs:create())
    assert(up:write(a))
    assert(up:close())
    up = assert(repo.blobs:resume(up.id))
    assert(up:write(b))
    assert(up:close())
    -- the newest state is lost, and the one at #a is replaced by the state of
    -- other bytes of the same length: a commit that re-hashed everything would
    -- find a .. b .. c; one that trusts the state at #a finds x .. b .. c.
    assert(drv:delete(states_dir(up.id) .. "/" .. (#a + #b)))
    local x = helper.bytes(#a, 34)
    assert(drv:put_content(states_dir(up.id) .. "/" .. #a, regstore.sha256():update(x):state()))
    up = assert(repo.blobs:resume(up.id))
    assert(up:write(c))
    helper.fails("digest_invalid", nil, up:commit(util.digest(a .. b .. c)))
    assert.equal(0, blob_files(drv))
    -- the finished state was saved, the upload is still there and resumable
    assert.same({ #a, #a + #b + #c }, state_offsets(drv, up.id))
    local d = util.digest(x .. b .. c)
    local again = assert(repo.blobs:resume(up.id))
    assert.equal(#a + #b + #c, again:size())
    assert.same({ digest = d, size = #a + #b + #c }, again:commit(d))
    assert.equal(a .. b .. c, repo.blobs:get(d))   -- (the bytes were never re-read)
  end)

  it("treats a malformed hash state as missing", function()
    local a, b = helper.bytes(5000, 41), helper.bytes(7000, 42)
    local up = assert(repo.blobs:create())
    assert(up:write(a))
    assert(up:close())
    assert(drv:put_content(states_dir(up.id) .. "/" .. #a, "garbage"))
    up = assert(repo.blobs:resume(up.id))
    assert(up:write(b))
    assert(up:close())
    up = assert(repo.blobs:resume(up.id))
    local d = util.digest(a .. b)
    assert.same({ digest = d, size = #a + #b }, up:commit(d))
  end)

  it("leaves no RADOS objects behind after a cancel or a commit", function()
    local function files()
      local n = 0
      for _ in pairs(util.tree(drv, "/")) do n = n + 1 end
      return n
    end
    local up = assert(repo.blobs:create())
    assert(up:write(helper.bytes(3 * CHUNK, 71)))
    assert(up:close())
    up = assert(repo.blobs:resume(up.id))
    assert(up:write("more"))
    assert(up:cancel())
    assert.same({}, helper.strays(ns))
    assert.equal(0, select(2, helper.blobs(ns)))
    local data = helper.bytes(2 * CHUNK + 1, 72)
    up = assert(repo.blobs:create())
    assert(up:write(data))
    assert(up:close())
    up = assert(repo.blobs:resume(up.id))
    helper.fails("digest_invalid", nil, up:commit(util.digest("no")))
    assert(up:commit(util.digest(data)))
    assert.same({}, helper.strays(ns))
    assert.equal(2, files())                      -- the blob and its link
    assert.equal(files(), select(2, helper.blobs(ns)))
  end)

  it("raises on wrong argument types", function()
    local up = assert(repo.blobs:create())
    assert.has_error(function() up:write(3) end)
    assert.has_error(function() up:write() end)
    assert.has_error(function() up:commit() end)
    assert.has_error(function() up:commit(util.digest(""), "0") end)
    up:cancel()
  end)
end)

describe("registry uploads across processes #cluster", function()
  local ns, drv, repo
  before_each(function()
    ns = helper.namespace("upx")
    drv = helper.connect { namespace = ns, chunk_size = CHUNK }
    repo = assert(registry.new(drv):repository(NAME))
  end)
  after_each(function()
    helper.clear(drv)
    drv:close()
  end)

  local CHILD = [[
    local ns, mode, id, seed, n, chunk, want = ...
    local helper = require "helper"
    local registry = require "regstore.registry"
    local drv = helper.connect { namespace = ns, chunk_size = tonumber(chunk) }
    local repo = assert(registry.new(drv):repository("library/up"))
    local data = helper.bytes(tonumber(n), tonumber(seed))
    if mode == "start" then
      local up = assert(repo.blobs:create())
      assert(up:write(data:sub(1, 1000)))
      assert(up:write(data:sub(1001)))
      assert(up:close())
      io.write("ID=", up.id, " STARTED=", up.started_at, " SIZE=", up:size(), "\n")
    else
      local up = assert(repo.blobs:resume(id))
      local before = up:size()
      assert(up:write(data))
      local d = assert(up:commit(want))
      io.write("BEFORE=", before, " DIGEST=", d.digest, " SIZE=", d.size, "\n")
    end
    drv:close()
  ]]

  it("appends in one process and resumes and commits in another", function()
    local first, second = helper.bytes(2 * CHUNK + 17, 51), helper.bytes(CHUNK + 3, 52)
    local out, rc = helper.run_lua(CHILD, { ns, "start", "-", "51", tostring(#first), tostring(CHUNK) })
    assert.equal(0, rc, out)
    local id, started, size = out:match("ID=(%S+) STARTED=(%d+) SIZE=(%d+)")
    assert.is_string(id, out)
    assert.equal(#first, tonumber(size))
    local up = assert(repo.blobs:resume(id))
    assert.equal(tonumber(started), up.started_at)
    assert.equal(#first, up:size())
    assert(up:write(second))
    local d = util.digest(first .. second)
    assert.same({ digest = d, size = #first + #second }, up:commit(d))
    assert.equal(first .. second, repo.blobs:get(d))
  end)

  it("starts here and is resumed and committed by another process", function()
    local first, second = helper.bytes(CHUNK + 5, 61), helper.bytes(3 * CHUNK, 62)
    local up = assert(repo.blobs:create())
    assert(up:write(first))
    assert(up:close())
    local d = util.digest(first .. second)
    local out, rc = helper.run_lua(CHILD,
      { ns, "finish", up.id, "62", tostring(#second), tostring(CHUNK), d })
    assert.equal(0, rc, out)
    assert.equal(tostring(#first), out:match("BEFORE=(%d+)"), out)
    assert.equal(d, out:match("DIGEST=(%S+)"))
    assert.equal(first .. second, repo.blobs:get(d))
    helper.fails("blob_upload_unknown", up.id, repo.blobs:resume(up.id))
  end)
end)
