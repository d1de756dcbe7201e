-- regstore.policy.fsck: the engine's check plus the registry's, and a
-- repair that never touches anything younger than grace.
local helper = require "helper"
local fsck = require "regstore.policy.fsck"
local util = require "fixtures.registry.util"

local R = util.ROOT

local kinds = util.kinds

describe("policy fsck #cluster", function()
  local drv, reg
  helper.each_registry(function(d, r) drv, reg = d, r end)

  it("finds nothing on an empty registry and on a healthy one", function()
    local r = assert(fsck.run(reg))
    assert.same({ repair = false, objects = r.objects, repaired = 0, findings = {} }, r)
    local repo = reg:repository("ok")
    util.push_image(repo, "cfg", { "l1", "l2" }, { tag = "v1" })
    local c1 = util.push_image(repo, "cfg-a", { "a" }, { oci = true })
    local index, mt = util.index({ c1 })
    assert(repo.manifests:put(index, mt, { tag = "multi" }))
    r = assert(fsck.run(reg, { repair = true, grace = 0 }))
    assert.same({}, r.findings)
    assert.equal(0, fsck.outstanding(r))
  end)

  it("reports bad links, missing blobs, bad manifests, tags without manifests, quarantined data", function()
    local repo = reg:repository("bad")
    local _, _, good = util.push_image(repo, "cfg", { "layer" }, { tag = "good" })
    local base = R .. "/repositories/bad"
    -- a layer link with garbage in it
    local l = util.digest("layer")
    assert(drv:put_content(base .. "/_layers/sha256/" .. l:sub(8) .. "/link", "garbage\n"))
    -- a revision link whose blob is gone
    local gone = util.digest("gone")
    assert(drv:put_content(base .. "/_manifests/revisions/sha256/" .. gone:sub(8) .. "/link", gone))
    -- a manifest that is not JSON
    local junk = assert(repo.blobs:put("{ not json")).digest
    assert(drv:put_content(base .. "/_manifests/revisions/sha256/" .. junk:sub(8) .. "/link", junk))
    -- a tag pointing at a manifest the repository does not have
    local nowhere = util.digest("nowhere")
    assert(drv:put_content(base .. "/_manifests/tags/lost/current/link", nowhere))
    -- blob data a dead gc left in quarantine
    local parked = assert(repo.blobs:put("parked")).digest
    assert(drv:move(R .. "/blobs/sha256/" .. parked:sub(8, 9) .. "/" .. parked:sub(8) .. "/data",
      R .. "/_gc/sha256/" .. parked:sub(8)))
    local r = assert(fsck.run(reg))
    assert.same({ "bad_link", "bad_manifest", "missing_blob", "missing_blob", "missing_manifest", "quarantined" },
      kinds(r))
    for _, f in ipairs(r.findings) do
      assert.is_string(f.path)
      assert.is_string(f.detail)
      assert.is_false(f.repaired)
    end
    assert.equal(6, fsck.outstanding(r))

    -- a repair now touches nothing young (grace 1h) but what is never young:
    -- quarantined data goes back to blobs/
    r = assert(fsck.run(reg, { repair = true }))
    assert.equal(1, r.repaired)
    assert.equal("parked", repo.blobs:get(parked))
    assert.equal("garbage\n", drv:get_content(base .. "/_layers/sha256/" .. l:sub(8) .. "/link"))

    -- two hours on: the garbage link is rewritten, the dangling revision and
    -- the lost tag go; the bad manifest stays (the operator's call)
    r = assert(fsck.run(reg, { repair = true, now = os.time() + 7200 }))
    assert.same({ "bad_link", "bad_manifest", "missing_blob", "missing_manifest" }, kinds(r))
    assert.equal(3, r.repaired)
    assert.equal(1, fsck.outstanding(r))
    helper.fails("tag_unknown", nil, repo.tags:get("lost"))
    assert.is_false(repo.manifests:exists(gone))
    -- the good image is whole again, its layer link mended
    assert(repo.manifests:get(good))
    assert.equal("good", repo.tags:lookup(good)[1])
    assert.equal("cfg", repo.blobs:get(util.digest("cfg")))
    assert.equal("layer", repo.blobs:get(l))
    assert.same({ "bad_manifest" }, kinds(assert(fsck.run(reg, { now = os.time() + 7200 }))))
  end)

  it("raises on bad arguments", function()
    assert.has_error(function() fsck.run(reg, { grace = -1 }) end)
    assert.has_error(function() fsck.run("x") end)
  end)
end)
