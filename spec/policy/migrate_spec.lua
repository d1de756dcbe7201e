-- regstore.policy.migrate: RADOS -> filesystem-driver tree -> another
-- namespace, byte for byte; resumable; digests checked.
local helper = require "helper"
local registry = require "regstore.registry"
local migrate = require "regstore.policy.migrate"
local util = require "fixtures.registry.util"
local lfs = require "lfs"

local R = util.ROOT

local fs_tree, prefixed = helper.files, helper.prefixed

-- An upload directory of a filesystem-driver tree: startedat and data.
local function fs_upload(updir, data)
  assert(os.execute("mkdir -p " .. helper.quote(updir)))
  for name, content in pairs { startedat = "2026-01-01T00:00:00Z", data = data } do
    local f = assert(io.open(updir .. "/" .. name, "wb"))
    f:write(content)
    f:close()
  end
end

describe("policy migrate #cluster", function()
  local a, b, reg, dir
  before_each(function()
    a = helper.connect()
    b = helper.connect()
    reg = registry.new(a)
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helper.quote(dir)))
  end)
  after_each(function()
    helper.clear(a)
    helper.clear(b)
    a:close()
    b:close()
    os.execute("rm -rf " .. helper.quote(dir))
  end)

  it("copies nothing from an empty registry", function()
    local r = assert(migrate.run(a, migrate.fs(dir)))
    local none = { dry_run = false, files = 0, bytes = 0, skipped = 0, verified = 0, uploads_skipped = 0,
      errors = {}, notes = {} }
    assert.same(none, r)
    r = assert(migrate.run(migrate.fs(dir), b, { verify = true }))
    assert.same(none, r)
  end)

  it("round-trips a registry through a filesystem tree into another namespace", function()
    local repo = reg:repository("library/app")
    local big = helper.bytes(2621440 + 17, 3) -- 2.5 MiB: several pieces
    util.push_image(repo, "cfg", { big, "small layer" }, { tag = "v1" })
    util.push_image(reg:repository("other"), "cfg2", { "x" }, { oci = true, tag = "latest" })
    local up = assert(repo.blobs:create())
    assert(up:write("half an upload"))
    assert(up:close())
    local tree = util.tree(a)
    for k in pairs(tree) do
      if k:find("/_uploads/") then tree[k] = nil end
    end

    local r = assert(migrate.run(a, migrate.fs(dir), { piece = 65536 }))
    local n, bytes = 0, 0
    for _, v in pairs(tree) do n, bytes = n + 1, bytes + #v end
    assert.same({ dry_run = false, files = n, bytes = bytes, skipped = 0, verified = 0, uploads_skipped = 1,
      errors = {}, notes = {} }, r)
    assert.same(prefixed(tree, "docker/registry/v2/"), fs_tree(dir))

    r = assert(migrate.run(migrate.fs(dir), b, { verify = true }))
    assert.equal(n, r.files)
    assert.equal(7, r.verified) -- blobs: 2 configs, 3 layers, 2 manifests
    assert.same(tree, util.tree(b))
    -- an upload whose data a filesystem tree shows is copied, and resumes
    local id = "0b6c6a7e-6d0c-4b0e-9a53-5b3c1f0e2d11"
    local updir = dir .. R .. "/repositories/library/app/_uploads/" .. id
    fs_upload(updir, "half")
    r = assert(migrate.run(migrate.fs(dir), b))
    assert.equal(2, r.files)
    local moved = assert(registry.new(b):repository("library/app").blobs:resume(id))
    assert.equal(4, moved:size())
    assert(moved:write(" and the rest"))
    assert(moved:commit(util.digest("half and the rest")))
    -- the copy works as a registry. The upload's uncommitted bytes were
    -- invisible to the walk: it was not copied (its client starts again).
    local reg2 = registry.new(b)
    helper.fails("blob_upload_unknown", up.id, reg2:repository("library/app").blobs:resume(up.id))
    assert.equal(big, reg2:repository("library/app").blobs:get(util.digest(big)))
  end)

  it("leaves the registry's own state behind: read-only switch, schedules, scrub position", function()
    util.push_image(reg:repository("r"), "cfg", { "l1" }, { tag = "t" })
    local tree = util.tree(a)
    assert(require("regstore.policy.read_only").set(reg, "migrating"))
    assert(a:put_content(R .. "/_schedule/gc", "{}"))
    assert(a:put_content(R .. "/_scrub/position", util.digest("l1") .. "\n"))
    local r = assert(migrate.run(a, b))
    assert.same(tree, util.tree(b))
    assert.is_false(require("regstore.policy.read_only").get(registry.new(b)))
    assert.equal(3, #r.notes)
    assert.matches("not copied", r.notes[1], 1, true)
  end)

  it("skips what is identical, copies the rest (resumable)", function()
    util.push_image(reg:repository("r"), "cfg", { "l1", "l2" }, { tag = "t" })
    local tree = util.tree(a)
    local first = assert(migrate.run(a, b))
    assert.equal(0, first.skipped)
    local again = assert(migrate.run(a, b))
    assert.same({ dry_run = false, files = 0, bytes = 0, skipped = first.files, verified = 0, uploads_skipped = 0,
      errors = {}, notes = {} }, again)
    -- an interrupted copy: some files missing, one link different
    local gone = R .. "/blobs/sha256/" .. util.digest("l1"):sub(8, 9) .. "/" .. util.digest("l1"):sub(8) .. "/data"
    assert(b:delete(gone))
    assert(b:put_content(R .. "/repositories/r/_manifests/tags/t/current/link", "sha256:" .. ("0"):rep(64)))
    local dry = assert(migrate.run(a, b, { dry_run = true }))
    assert.equal(2, dry.files)
    assert.equal(2, #util.names(util.tree(a)) - dry.skipped)
    local resumed = assert(migrate.run(a, b, { verify = true }))
    assert.equal(2, resumed.files)
    assert.equal(first.files - 2, resumed.skipped)
    assert.same(tree, util.tree(b))
  end)

  it("refuses a blob whose bytes do not match its digest", function()
    util.push_image(reg:repository("r"), "cfg", { "layer one" }, { tag = "t" })
    assert(migrate.run(a, migrate.fs(dir)))
    local d = util.digest("layer one")
    local file = dir .. R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data"
    local f = assert(io.open(file, "wb"))
    f:write("layer ONE")
    f:close()
    local r = assert(migrate.run(migrate.fs(dir), b))
    assert.equal(1, #r.errors)
    assert.matches("not " .. d, r.errors[1], 1, true)
    assert.is_nil(b:stat(R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data"))
    -- --verify also reads back what is at the destination already
    assert(a:put_content(R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data", "layer TWO"))
    assert(migrate.run(migrate.fs(dir), a))
    r = assert(migrate.run(migrate.fs(dir), a, { verify = true }))
    assert.equal(1, #r.errors)
  end)

  -- lfs.dir of the tree, with fn(dir) run first for each directory listed
  -- (a fault: remove it, or fail as an unreadable directory would).
  local function with_listing(fn, body)
    local real = lfs.dir
    lfs.dir = function(d)
      fn(d)
      return real(d)
    end
    local ok, err = pcall(body)
    lfs.dir = real
    assert(ok, err)
  end

  local function export(repos)
    for name, tag in pairs(repos) do
      util.push_image(reg:repository(name), "cfg " .. name, { "layer of " .. name }, { tag = tag })
    end
    assert.same({}, assert(migrate.run(a, migrate.fs(dir))).errors)
  end

  it("fails, naming it, when a directory of the source cannot be read", function()
    export { ["app"] = "v1", ["zz/last"] = "v2" }
    local bad = dir .. R .. "/repositories/app/_manifests/tags"
    local r, msg, code
    with_listing(function(d)
      if d == bad then error("cannot open " .. d .. ": Permission denied") end
    end, function()
      r, msg, code = migrate.run(migrate.fs(dir), b)
    end)
    assert.is_nil(r, "an unreadable directory is not an empty tree")
    assert.matches(bad, msg, 1, true)
    assert.matches("Permission denied", msg, 1, true)
    assert.equal("io", code)
    assert.same({}, util.tree(b)) -- nothing copied from a partial listing
  end)

  it("fails when a directory outside _uploads vanishes mid-walk", function()
    export { ["app"] = "v1", ["zz/last"] = "v2" }
    local gone = dir .. R .. "/repositories/app/_manifests/tags/v1"
    local r, msg, code
    with_listing(function(d)
      if d == gone then assert(os.execute("rm -rf " .. helper.quote(d))) end
    end, function()
      r, msg, code = migrate.run(migrate.fs(dir), b)
    end)
    assert.is_nil(r, "a tree that lost a tag mid-walk is not copied as complete")
    assert.matches(gone, msg, 1, true)
    assert.equal("not_found", code)
  end)

  it("skips, with a note, an upload that ends (vanishes) mid-walk", function()
    export { ["app"] = "v1", ["zz/last"] = "v2" }
    local ups = dir .. R .. "/repositories/app/_uploads/"
    for _, id in ipairs { "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002" } do
      assert(os.execute("mkdir -p " .. helper.quote(ups .. id)))
      for name, data in pairs { startedat = "2026-01-01T00:00:00Z", data = "part" } do
        local f = assert(io.open(ups .. id .. "/" .. name, "wb"))
        f:write(data)
        f:close()
      end
    end
    local gone = ups .. "11111111-0000-4000-8000-000000000001"
    local r
    with_listing(function(d)
      if d == gone then assert(os.execute("rm -rf " .. helper.quote(d))) end
    end, function()
      r = assert(migrate.run(migrate.fs(dir), b))
    end)
    assert.same({}, r.errors)
    assert.equal(1, #r.notes)
    assert.matches(gone, r.notes[1], 1, true)
    local want = prefixed(util.tree(a), "")
    want["repositories/app/_uploads/11111111-0000-4000-8000-000000000002/data"] = "part"
    want["repositories/app/_uploads/11111111-0000-4000-8000-000000000002/startedat"] = "2026-01-01T00:00:00Z"
    assert.same(want, util.tree(b))
  end)

  it("skips, with a note, an upload that ends while it is copied", function()
    export { ["app"] = "v1" }
    local id = "22222222-0000-4000-8000-000000000001"
    local up = dir .. R .. "/repositories/app/_uploads/" .. id
    fs_upload(up, "part")
    local src = migrate.fs(dir)
    local real = src.get_content
    function src.get_content(self, path) -- the upload commits as its first file is read
      if path:find(id, 1, true) then os.execute("rm -rf " .. helper.quote(up)) end
      return real(self, path)
    end
    local r = assert(migrate.run(src, b))
    assert.same({}, r.errors)
    assert.equal(1, r.uploads_skipped)
    assert.equal(1, #r.notes)
    assert.matches("vanished during the copy", r.notes[1], 1, true)
    assert.same(util.tree(a), util.tree(b))
  end)

  it("copies names that contain .regstore-", function()
    local names = { ["app.regstore-cache"] = "v2.regstore-1", ["a/b.regstore-x/c"] = "t.regstore-" }
    export(names)
    local tree = util.tree(a)
    assert.same(prefixed(tree, "docker/registry/v2/"), fs_tree(dir))
    local r = assert(migrate.run(migrate.fs(dir), b))
    assert.same({}, r.errors)
    assert.same(tree, util.tree(b))
    assert.same({ "a/b.regstore-x/c", "app.regstore-cache" }, assert(registry.new(b):repositories()))
    assert.same({ "v2.regstore-1" }, assert(registry.new(b):repository("app.regstore-cache").tags:list()))
  end)
end)
