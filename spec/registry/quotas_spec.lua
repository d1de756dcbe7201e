-- Quotas (registry/quotas.lua, policy/quota.lua): a rule on a name covers
-- that repository and every one under it; upload commits, puts, mounts
-- and new manifest revisions count against it and are refused past it
-- ("denied"), re-pushes count nothing, and a recount (gc's last step)
-- brings the count back to what the tree holds.
local helper = require "helper"
local registry = require "regstore.registry"
local quota = require "regstore.policy.quota"
local quotas = require "regstore.registry.quotas"
local gc = require "regstore.policy.gc"
local util = require "fixtures.registry.util"

local function used(reg, name)
  for _, r in ipairs(assert(quota.list(reg))) do
    if r.name == name then return r.used end
  end
end

describe("registry quotas #cluster", function()
  local drv, reg, ns
  helper.each_registry(function(d, _, n)
    drv, ns = d, n
    reg = registry.new(d, { quota_poll = 0 })
  end)

  it("covers the repository named and those under it, not a longer name", function()
    assert.is_true(quotas.covers("team", "team"))
    assert.is_true(quotas.covers("team", "team/app"))
    assert.is_true(quotas.covers("team", "team/a/b"))
    assert.is_false(quotas.covers("team", "teammate/app"))
    assert.is_false(quotas.covers("team/app", "team"))
  end)

  it("counts upload commits and puts, refuses past the limit, keeps the upload", function()
    assert(quota.set(reg, "team", 1000))
    local app = assert(reg:repository("team/app"))
    local a, b = helper.bytes(600, 1), helper.bytes(500, 2)
    assert(app.blobs:put(a))
    assert.equal(600, used(reg, "team"))
    local up = assert(app.blobs:create())
    assert(up:write(b))
    local ok, msg, code = up:commit(util.digest(b))
    assert.is_nil(ok)
    assert.equal("denied", code)
    assert.matches("team/app", msg, 1, true)
    assert.matches("quota of team", msg, 1, true)
    assert.equal(600, used(reg, "team")) -- nothing counted
    helper.fails("blob_unknown", "team/app", app.blobs:stat(util.digest(b)))
    -- the upload is still there: with room made, the same upload commits
    assert(quota.set(reg, "team", 2000))
    up = assert(app.blobs:resume(up.id))
    assert.equal(500, up:size())
    assert(up:commit(util.digest(b)))
    assert.equal(1100, used(reg, "team"))
    -- other names are not covered
    local other = assert(reg:repository("teammate/app"))
    assert(other.blobs:put(helper.bytes(5000, 3)))
    assert.equal(1100, used(reg, "team"))
  end)

  it("a re-push of a linked blob or manifest counts nothing; a mount counts", function()
    assert(quota.set(reg, "team/app", 10000))
    local app = assert(reg:repository("team/app"))
    local cfg, layer = helper.bytes(100, 4), helper.bytes(1000, 5)
    local content = util.push_image(app, cfg, { layer }, { tag = "v1" })
    local n = used(reg, "team/app")
    assert.equal(1100 + #content, n)
    util.push_image(app, cfg, { layer }, { tag = "v2" }) -- same image, another tag
    local up = assert(app.blobs:create())
    assert(up:write(layer))
    assert(up:commit(util.digest(layer)))
    assert.equal(n, used(reg, "team/app"))
    -- a mount from a repository outside the rule counts
    local lib = assert(reg:repository("library/base"))
    local big = helper.bytes(9000, 6)
    assert(lib.blobs:put(big))
    helper.fails("denied", "team/app", app.blobs:mount("library/base", util.digest(big)))
    helper.fails("blob_unknown", "team/app", app.blobs:stat(util.digest(big)))
    local small = helper.bytes(300, 7)
    assert(lib.blobs:put(small))
    assert(app.blobs:mount("library/base", util.digest(small)))
    assert.equal(n + 300, used(reg, "team/app"))
  end)

  it("a manifest put past the limit is refused and leaves no revision", function()
    local app = assert(reg:repository("team/app"))
    local cfg, layer = helper.bytes(100, 8), helper.bytes(200, 9)
    assert(app.blobs:put(cfg))
    assert(app.blobs:put(layer))
    assert(quota.set(reg, "team", 300 + 10)) -- what is linked, and 10 bytes
    assert.equal(300, used(reg, "team"))
    local content, mt = util.image(cfg, { layer })
    helper.fails("denied", "team/app", app.manifests:put(content, mt, { tag = "v1" }))
    helper.fails("manifest_unknown", "team/app", app.manifests:get(util.digest(content)))
    helper.fails("tag_unknown", "v1", app.tags:get("v1"))
    assert.equal(300, used(reg, "team"))
  end)

  it("every rule that covers a repository counts; a refusal by one counts in none", function()
    assert(quota.set(reg, "team", 5000))
    assert(quota.set(reg, "team/app", 1000))
    local app = assert(reg:repository("team/app"))
    assert(app.blobs:put(helper.bytes(800, 10)))
    helper.fails("denied", "team/app", app.blobs:put(helper.bytes(800, 11)))
    assert.equal(800, used(reg, "team"))
    assert.equal(800, used(reg, "team/app"))
    local web = assert(reg:repository("team/web"))
    assert(web.blobs:put(helper.bytes(800, 12)))
    assert.equal(1600, used(reg, "team"))
    assert.equal(800, used(reg, "team/app"))
  end)

  it("set counts what is there; gc's recount frees what was deleted", function()
    local app = assert(reg:repository("team/app"))
    local cfg, layer = helper.bytes(100, 13), helper.bytes(1000, 14)
    local content, _, d = util.push_image(app, cfg, { layer }, { tag = "v1" })
    local r = assert(quota.set(reg, "team", 100000))
    assert.equal(1100 + #content, r.used)
    assert(app.manifests:delete(d))
    assert.equal(1100 + #content, used(reg, "team")) -- a delete frees nothing yet
    local report = assert(gc.run(reg, { grace = 0, now = os.time() + 10 }))
    assert.equal(3, #report.blobs) -- config, layer, manifest
    assert.equal(1, #report.quotas)
    assert.equal(0, report.quotas[1].used)
    assert.equal(0, used(reg, "team"))
    -- recount keeps what was counted meanwhile: an add between its read
    -- and its count is not lost
    assert(app.blobs:put(helper.bytes(50, 15)))
    local counted = assert(quota.recount(reg))
    assert.equal(50, counted[1].used)
    assert.equal(50, counted[1].was)
  end)

  it("rules are read from the tree: a malformed file fails commits, never means no quota", function()
    assert(drv:put_content(util.ROOT .. "/_config/quotas", "{not json"))
    local app = assert(reg:repository("team/app"))
    helper.fails("io", "_config/quotas", app.blobs:put("x"))
    helper.fails("io", "_config/quotas", quota.list(reg))
    assert(quota.remove(reg, "team") == nil)
  end)

  it("a rule set by another client is enforced within the poll period", function()
    local other = helper.connect { namespace = ns }
    local reg2 = registry.new(other, { quota_poll = 0.5 })
    local app2 = assert(reg2:repository("team/app"))
    assert(app2.blobs:put(helper.bytes(10, 16))) -- reads "no rules" and keeps it 0.5 s
    assert(quota.set(reg, "team", 20))
    require("regstore").sleep(0.6)
    helper.fails("denied", "team/app", app2.blobs:put(helper.bytes(30, 17)))
    other:close()
  end)

  it("concurrent pushes from several processes never pass the limit", function()
    assert(quota.set(reg, "team", 10 * 4096))
    local script = [[
      local d = assert(require("regstore").connect { pool = arg[1], namespace = arg[2],
        conf = os.getenv("CEPH_CONF"), keyring = os.getenv("CEPH_KEYRING") })
      local reg = require("regstore.registry").new(d)
      local repo = assert(reg:repository("team/app" .. arg[3]))
      local ok, denied = 0, 0
      for i = 1, 6 do
        local up = assert(repo.blobs:create())
        local data = string.rep(string.char(65 + i), 4090) .. string.format("%6s", arg[3])
        assert(up:write(data))
        local r, msg, code = up:commit(require("regstore.registry.blobs").digest_of(data))
        if r then ok = ok + 1 elseif code == "denied" then denied = denied + 1; up:cancel() else error(msg) end
      end
      print("ok=" .. ok)
      d:close()
    ]]
    local admitted = 0
    for _, out in ipairs(helper.run_all(script, 4, function(i) return { helper.pool(), ns, tostring(i) } end)) do
      admitted = admitted + tonumber(out:match("ok=(%d+)"))
    end
    assert.equal(10, admitted)
    assert.equal(10 * 4096, used(reg, "team"))
    assert.equal(10 * 4096, assert(quota.recount(reg))[1].used)
  end)
end)
