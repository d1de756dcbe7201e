-- regstore.policy.migrate: RADOS -> filesystem-driver tree -> another
-- namespace, byte for byte; resumable; digests checked.
local helper = require "helper"
local registry = require "regstore.registry"
local migrate = require "regstore.policy.migrate"
local util = require "fixtures.registry.util"

local R = util.ROOT

-- Every file under dir as { [relative path] = content }.
local function fs_tree(dir)
  local files = {}
  local p = io.popen("cd " .. helper.quote(dir) .. " && find . -type f | sort")
  for line in p:lines() do
    local f = assert(io.open(dir .. "/" .. line:sub(3), "rb"))
    files[line:sub(3)] = f:read("*a")
    f:close()
  end
  p:close()
  return files
end

local function prefixed(files, prefix)
  local t = {}
  for k, v in pairs(files) do t[prefix .. k] = v end
  return t
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
    assert.same({ dry_run = false, files = 0, bytes = 0, skipped = 0, verified = 0, errors = {} }, r)
    r = assert(migrate.run(migrate.fs(dir), b, { verify = true }))
    assert.same({ dry_run = false, files = 0, bytes = 0, skipped = 0, verified = 0, errors = {} }, r)
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

    local r = assert(migrate.run(a, migrate.fs(dir), { piece = 65536 }))
    local n, bytes = 0, 0
    for _, v in pairs(tree) do n, bytes = n + 1, bytes + #v end
    assert.same({ dry_run = false, files = n, bytes = bytes, skipped = 0, verified = 0, errors = {} }, r)
    assert.same(prefixed(tree, "docker/registry/v2/"), fs_tree(dir))

    r = assert(migrate.run(migrate.fs(dir), b, { verify = true }))
    assert.equal(n, r.files)
    assert.equal(7, r.verified) -- blobs: 2 configs, 3 layers, 2 manifests
    assert.same(tree, util.tree(b))
    -- the copy works as a registry. The upload is known there, but its
    -- uncommitted bytes were invisible to the walk: it starts over.
    local reg2 = registry.new(b)
    local up2 = assert(reg2:repository("library/app").blobs:resume(up.id))
    assert.equal(0, up2:size())
    assert(up2:write("a whole upload"))
    assert(up2:commit(util.digest("a whole upload")))
    assert.equal(big, reg2:repository("library/app").blobs:get(util.digest(big)))
  end)

  it("skips what is identical, copies the rest (resumable)", function()
    util.push_image(reg:repository("r"), "cfg", { "l1", "l2" }, { tag = "t" })
    local tree = util.tree(a)
    local first = assert(migrate.run(a, b))
    assert.equal(0, first.skipped)
    local again = assert(migrate.run(a, b))
    assert.same({ dry_run = false, files = 0, bytes = 0, skipped = first.files, verified = 0, errors = {} }, again)
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
end)
