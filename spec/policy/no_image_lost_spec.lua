-- Maintenance never loses an image: one regression test per defect of the
-- policies found so far (NEWS.md), each failing on the code before its fix:
--   - a failed tag read stops gc --delete-untagged (first mark) or keeps
--     the repository's manifests (the look again), never deletes
--   - fsck --repair leaves what it failed to read alone
--   - a re-tag racing gc --delete-untagged keeps the manifest whole
--   - a gc killed after parking leaves nothing lost: fsck finds it, the
--     next gc or fsck --repair puts it back; fsck finds (and repairs) a
--     manifest's blob its repository does not link
--   - schema 1 manifests keep their layers
--   - referrers of a kept manifest are kept (untagged by design)
--   - retention keeps the children of a kept index
--   - a deleted manifest keeps none of its blobs, whatever names it
local helper = require "helper"
local gc = require "regstore.policy.gc"
local fsck = require "regstore.policy.fsck"
local util = require "fixtures.registry.util"
local cli = require "fixtures.cli"
local faulty = require "support.faulty"
local json = require "cjson.safe"

local R = util.ROOT
local Q = helper.quote

local function blob_path(d) return R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data" end

-- What a client's pull does: the manifest by tag or digest, and every blob
-- it names, children of an index included.
local function pulls(repo, ref)
  local d = ref
  if not ref:find("^sha256:") then
    local msg, code
    d, msg, code = repo.tags:get(ref)
    if not d then return nil, "tag " .. ref .. ": " .. tostring(msg) .. " " .. tostring(code) end
  end
  local content, msg = repo.manifests:get(d)
  if not content then return nil, "manifest " .. d .. ": " .. tostring(msg) end
  local doc = json.decode(content)
  local want = {}
  if doc.config then want[#want + 1] = doc.config.digest end
  for _, l in ipairs(doc.layers or {}) do want[#want + 1] = l.digest end
  for _, l in ipairs(doc.fsLayers or {}) do want[#want + 1] = l.blobSum end
  for _, b in ipairs(want) do
    local ok, why = repo.blobs:get(b)
    if not ok then return nil, "blob " .. b .. " of " .. d .. ": " .. tostring(why) end
  end
  for _, c in ipairs(doc.manifests or {}) do
    local ok, why = pulls(repo, c.digest)
    if not ok then return nil, why end
  end
  return true
end

local kinds = util.kinds

describe("policy safety #cluster", function()
  local drv, reg, ns
  helper.each_registry(function(d, r, n) drv, reg, ns = d, r, n end)

  -- a tagged image and an untagged one in repository "app"
  local function two_images()
    local repo = reg:repository("app")
    local _, _, tagged = util.push_image(repo, "cfg t", { "layer t" }, { tag = "v1" })
    local _, _, untagged = util.push_image(repo, "cfg u", { "layer u" })
    return repo, tagged, untagged
  end

  describe("a failed tag read", function()
    for _, code in ipairs { "timeout", "io", "permission" } do
      it("in the first mark stops gc --delete-untagged before anything moves (" .. code .. ")", function()
        local repo, tagged, untagged = two_images()
        local f = faulty.wrap(drv, {
          ops = { get_content = true },
          when = function(_, p) return p:find("/_manifests/tags/v1/current/link", 1, true) end,
          codes = { code },
        })
        local r, msg, c = gc.run(f, { grace = 0, delete_untagged = true, now = os.time() + 2 })
        assert.is_nil(r)
        assert.equal(code, c)
        assert.matches("app:v1", msg, 1, true)
        assert(pulls(repo, "v1"))
        assert(pulls(repo, untagged))
        assert.equal(tagged, repo.tags:get("v1"))
      end)
    end

    it("when tags are read again keeps the repository's manifests and reports it", function()
      local repo, _, untagged = two_images()
      local reads = 0
      local f = faulty.wrap(drv, {
        ops = { get_content = true },
        when = function(_, p)
          if not p:find("/_manifests/tags/v1/current/link", 1, true) then return false end
          reads = reads + 1
          return reads == 2 -- the first mark reads it, the look again fails
        end,
      })
      local r = assert(gc.run(f, { grace = 0, delete_untagged = true, now = os.time() + 2 }))
      assert.equal(1, #r.errors)
      assert.matches("app:v1", r.errors[1], 1, true)
      assert.same({}, r.manifests)
      assert(pulls(repo, "v1"))
      assert(pulls(repo, untagged))
      assert.is_nil(drv:list(R .. "/_gc"))
    end)

    it("of a manifest stops gc, whatever the mode", function()
      local repo, _, untagged = two_images()
      for _, mode in ipairs { false, true } do
        local f = faulty.wrap(drv, {
          ops = { get_content = true },
          when = function(_, p) return p == blob_path(untagged) end,
          codes = { "io" },
        })
        local r, _, c = gc.run(f, { grace = 0, delete_untagged = mode })
        assert.is_nil(r)
        assert.equal("io", c)
      end
      assert(pulls(repo, untagged))
    end)
  end)

  it("fsck --repair leaves an unreadable tag alone", function()
    local repo, tagged = two_images()
    local f = faulty.wrap(drv, {
      ops = { get_content = true },
      when = function(_, p) return p:find("/_manifests/tags/v1/current/link", 1, true) end,
      codes = { "timeout" },
    })
    local r = assert(fsck.run(f, { repair = true, grace = 0, now = os.time() + 2 }))
    assert.same({ "unreadable" }, kinds(r))
    assert.is_false(r.findings[1].repaired)
    assert.equal(1, fsck.outstanding(r))
    assert.equal(tagged, repo.tags:get("v1"))
    assert(pulls(repo, "v1"))
    assert.same({}, assert(fsck.run(reg, { repair = true, grace = 0, now = os.time() + 2 })).findings)
  end)

  describe("a re-tag racing gc --delete-untagged", function()
    -- a driver that runs `hook` once, just before the nth call matching
    local function hooked(match, hook, nth)
      local f = faulty.wrap(drv, { rate = 0 })
      local move, list = f.move, f.list
      local seen, fired = 0, false
      local function maybe(op, p)
        if not fired and match(op, p) then
          seen = seen + 1
          if seen == (nth or 1) then
            fired = true
            hook()
          end
        end
      end
      f.move = function(self, p, ...) maybe("move", p) return move(self, p, ...) end
      f.list = function(self, p, ...) maybe("list", p) return list(self, p, ...) end
      return f, function() return fired end
    end

    it("before gc parks the revision: the tag wins, the image stays whole", function()
      local repo, _, untagged = two_images()
      local content, mt = repo.manifests:get(untagged)
      local put
      local f, fired = hooked(function(op, p)
        return op == "move" and p:find("/_manifests/revisions/", 1, true)
      end, function()
        -- `skopeo copy app@sha256:... app:prod`: a PUT of the old manifest by tag
        put = assert(repo.manifests:put(content, mt, { tag = "prod" }))
      end)
      local r = assert(gc.run(f, { grace = 0, delete_untagged = true, now = os.time() + 2 }))
      assert.is_true(fired())
      assert.equal(untagged, put)
      assert.same({}, r.manifests)
      assert.same({}, r.errors)
      assert.equal(untagged, repo.tags:get("prod"))
      assert(pulls(repo, "prod"))
      assert(pulls(repo, "v1"))
      assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
    end)

    it("after gc parked it: the tag fails cleanly or the image stays whole", function()
      local repo, _, untagged = two_images()
      local ok, msg, code
      -- the second listing of the tags: the look again (the first is the scan's)
      local f, fired = hooked(function(op, p)
        return op == "list" and p:find("/_manifests/tags$")
      end, function()
        ok, msg, code = repo.tags:tag("prod", untagged)
      end, 2)
      assert(gc.run(f, { grace = 0, delete_untagged = true, now = os.time() + 2 }))
      assert.is_true(fired())
      if ok then
        assert(pulls(repo, "prod"))
      else
        assert.equal("manifest_unknown", code, msg)
        helper.fails("tag_unknown", nil, repo.tags:get("prod"))
        assert.is_false(repo.manifests:exists(untagged))
      end
      assert(pulls(repo, "v1"))
      assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
    end)

    it("with skopeo-like pushes by digest then tag, many times over", function()
      local repo = reg:repository("ci")
      local builds = {}
      for i = 1, 6 do
        local _, _, d = util.push_image(repo, "cfg " .. i, { "layer " .. i, "base" })
        builds[i] = d
      end
      util.push_image(repo, "cfg rel", { "base" }, { tag = "release" })
      for i = 1, 6 do
        local promoted
        local f = hooked(function(op, p)
          return op == "move" and p:find("/_manifests/revisions/", 1, true)
        end, function()
          promoted = repo.tags:tag("prod-" .. i, builds[i])
        end)
        assert(gc.run(f, { grace = 0, delete_untagged = true, now = os.time() + 2 }))
        if promoted then assert(pulls(repo, "prod-" .. i)) end
      end
      for _, t in ipairs(assert(repo.tags:list())) do assert(pulls(repo, t)) end
    end)

    -- Found by the randomized model: a tag set between gc's first mark and
    -- its look again keeps the revision, but the manifest's blob, unmarked
    -- by the first mark, is parked in step 3; an fsck --repair that had
    -- moved back what was parked when it started then found "no data",
    -- removed the revision link, and the second mark dropped the blob.
    it("keeps its revision when fsck --repair meets its blob parked by gc", function()
      local repo, _, untagged = two_images()
      assert(repo.tags:tag("prod", untagged))
      local quarantine = require "regstore.policy.quarantine"
      local ctx = { drv = drv, paths = require("regstore.registry.paths").new(R) }
      -- the gc parks the blob once fsck has moved back what was parked
      local f, fired = hooked(function(op, p)
        return op == "list" and p:find("/blobs", 1, true)
      end, function()
        assert.is_true(quarantine.park(ctx, untagged))
      end)
      local report = assert(fsck.run(f, { repair = true, grace = 0, now = os.time() + 2, root = R }))
      assert.is_true(fired())
      for _, finding in ipairs(report.findings) do
        assert.is_false(finding.kind == "missing_blob" and finding.repaired, finding.detail)
      end
      assert.is_true(repo.manifests:exists(untagged))
      -- the gc's second mark sees the revision and moves its blob back
      assert.is_true(quarantine.unpark(ctx, untagged))
      assert(pulls(repo, "prod"))
      assert(pulls(repo, "v1"))
      assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
    end)
  end)

  describe("a gc killed between parking and its second mark", function()
    -- A child gc: marks, then (a push landing after the mark) a manifest
    -- naming the linked, unreferenced layer is put; gc parks that layer's
    -- link and is SIGKILLed there.
    local CHILD = [[
local regstore = require "regstore"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"
local util = require "fixtures.registry.util"
local drv = assert(regstore.connect { pool = arg[1], namespace = arg[2] })
local reg = registry.new(drv)
local repo = reg:repository("app")
local pushed = false
gc.run(reg, { grace = 0, now = os.time() + 2, progress = function(phase, c)
  if phase == "date" and c.done == c.total and not pushed then
    pushed = true
    local content, mt = util.image("cfg late", { "layer late" })
    assert(repo.manifests:put(content, mt, { tag = "late" }))
    io.stdout:write("PUSHED\n")
    io.stdout:flush()
  end
end })
io.stdout:write("NOT KILLED\n")
]]

    local function run_child(point)
      local script = os.tmpname()
      local fh = assert(io.open(script, "w"))
      fh:write(CHILD)
      fh:close()
      local pre = string.format("package.path=%q package.cpath=%q", package.path, package.cpath)
      local out = helper.sh(string.format("REGSTORE_POLICY_CRASH_AT=%s %s -e %s %s %s %s 2>&1",
        point, Q(helper.lua_bin()), Q(pre), Q(script), Q(helper.pool()), Q(ns)))
      os.remove(script)
      return out
    end

    it("leaves no image broken for good: fsck finds it, the next gc puts it back", function()
      local repo = reg:repository("app")
      assert(repo.blobs:put("cfg late"))
      assert(repo.blobs:put("layer late"))
      local out = run_child("gc.layer_link_parked")
      assert.matches("PUSHED", out, 1, true)
      assert.not_matches("NOT KILLED", out, 1, true)
      -- the pushed image cannot be pulled now: fsck (no repair) must say why
      local r = assert(fsck.run(reg, { grace = 0 }))
      assert.is_true(fsck.outstanding(r) > 0)
      local found = table.concat(kinds(r), " ")
      assert.matches("quarantined", found, 1, true)
      assert.matches("unlinked_blob", found, 1, true)
      -- the next gc moves what was parked back before it decides
      local g = assert(gc.run(reg, { grace = 0, now = os.time() + 2 }))
      assert.is_true(g.restored >= 1)
      assert(pulls(repo, "late"))
      assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
    end)

    it("fsck --repair alone makes the image whole again", function()
      local repo = reg:repository("app")
      assert(repo.blobs:put("cfg late"))
      assert(repo.blobs:put("layer late"))
      run_child("gc.layer_link_parked")
      local r = assert(fsck.run(reg, { grace = 0, repair = true, now = os.time() + 2 }))
      assert.equal(0, fsck.outstanding(r))
      assert(pulls(repo, "late"))
      assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
    end)

    it("fsck finds and relinks a manifest's blob its repository does not link", function()
      local repo, tagged = two_images()
      local layer = util.digest("layer t")
      assert(drv:delete(R .. "/repositories/app/_layers/sha256/" .. layer:sub(8)))
      helper.fails("blob_unknown", nil, repo.blobs:get(layer))
      local r = assert(fsck.run(reg, { grace = 3600, repair = true }))
      assert.same({ "unlinked_blob" }, kinds(r))
      assert.is_false(r.findings[1].repaired) -- younger than grace
      r = assert(fsck.run(reg, { grace = 0, repair = true, now = os.time() + 2 }))
      assert.same({ "unlinked_blob" }, kinds(r))
      assert.is_true(r.findings[1].repaired)
      assert(pulls(repo, tagged))
      -- a tag naming a manifest whose revision link is gone: linked again
      assert(drv:delete(R .. "/repositories/app/_manifests/revisions/sha256/" .. tagged:sub(8)))
      r = assert(fsck.run(reg, { grace = 0, repair = true, now = os.time() + 2 }))
      assert.same({ "missing_manifest" }, kinds(r))
      assert.equal(0, fsck.outstanding(r))
      assert(pulls(repo, "v1"))
      assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
    end)
  end)

  it("schema 1 manifests keep their layers", function()
    local repo = reg:repository("old")
    for _, l in ipairs { "s1 layer a", "s1 layer b" } do assert(repo.blobs:put(l)) end
    local m = util.encode {
      schemaVersion = 1, name = "old", tag = "v1", architecture = "amd64",
      fsLayers = { { blobSum = util.digest("s1 layer a") }, { blobSum = util.digest("s1 layer b") } },
      history = { { v1Compatibility = "{}" }, { v1Compatibility = "{}" } },
      signatures = { { header = { alg = "ES256" }, signature = "x", protected = "y" } },
    }
    -- as an older distribution left it: blob, revision link, tag
    local d = util.digest(m)
    assert(drv:put_content(blob_path(d), m))
    assert(drv:put_content(R .. "/repositories/old/_manifests/revisions/sha256/" .. d:sub(8) .. "/link", d))
    assert(drv:put_content(R .. "/repositories/old/_manifests/tags/v1/current/link", d))
    assert(drv:put_content(R .. "/repositories/old/_manifests/tags/v1/index/sha256/" .. d:sub(8) .. "/link", d))
    for _, mode in ipairs { false, true } do
      local r = assert(gc.run(reg, { grace = 0, delete_untagged = mode, now = os.time() + 2 }))
      assert.same({}, r.blobs)
      assert.same({}, r.manifests)
    end
    assert(pulls(repo, "v1"))
    assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
  end)

  it("referrers of a kept manifest are kept, with a referrer's own referrers", function()
    local repo = reg:repository("signed")
    local subject, _, ds = util.push_image(repo, "cfg s", { "layer s" }, { oci = true, tag = "v1" })
    local sdesc = { mediaType = util.OCI_MANIFEST, digest = ds, size = #subject }
    -- cosign/notation in referrers mode: untagged, subject = the image
    local sig, _, dsig = util.push_image(repo, "cfg sig", { "signature" },
      { oci = true, extra = { subject = sdesc, artifactType = "application/vnd.dev.cosign.artifact.sig.v1+json" } })
    local sbom_of_sig = select(3, util.push_image(repo, "cfg sbom", { "sbom" }, { oci = true,
      extra = { subject = { mediaType = util.OCI_MANIFEST, digest = dsig, size = #sig } } }))
    -- a referrer of an untagged, old image goes with it
    local lone, _, dlone = util.push_image(repo, "cfg lone", { "layer lone" }, { oci = true })
    local lone_sig = select(3, util.push_image(repo, "cfg lone sig", { "lone sig" }, { oci = true,
      extra = { subject = { mediaType = util.OCI_MANIFEST, digest = dlone, size = #lone } } }))
    local r = assert(gc.run(reg, { grace = 0, delete_untagged = true, now = os.time() + 2 }))
    local gone = {}
    for _, m in ipairs(r.manifests) do gone[m.digest] = true end
    assert.same({ [dlone] = true, [lone_sig] = true }, gone)
    for _, d in ipairs { ds, dsig, sbom_of_sig } do assert(pulls(repo, d)) end
    assert.equal(2, #assert(repo.manifests:referrers(ds)) + #assert(repo.manifests:referrers(dsig)))
    helper.fails("not_found", nil, drv:stat(blob_path(util.digest("lone sig"))))
    assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
  end)

  it("retention keeps the children of a kept index", function()
    local repo = reg:repository("multi")
    local amd, _, damd = util.push_image(repo, "cfg amd64", { "amd64" }, { oci = true, tag = "v1-amd64" })
    local arm, _, darm = util.push_image(repo, "cfg arm64", { "arm64" }, { oci = true, tag = "v1-arm64" })
    local index, mt = util.index({ amd, arm })
    local di = assert(repo.manifests:put(index, mt, { tag = "v1" }))
    local out, err, rc = cli.run(string.format("--pool %s --namespace %s run %s '-\\w+64$' 0 --grace 0s",
      Q(helper.pool()), Q(ns), Q(cli.ROOT .. "/examples/scripts/retention.lua")))
    assert.equal(0, rc, out .. err)
    assert.same({ "v1" }, repo.tags:list())
    assert(pulls(repo, "v1"))
    for _, d in ipairs { damd, darm, di } do assert(repo.manifests:get(d)) end
    assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
  end)

  describe("a deleted manifest keeps none of its blobs", function()
    it("when a kept index still names it", function()
      local repo = reg:repository("idx")
      local c1, _, d1 = util.push_image(repo, "cfg c1", { "c1 layer" }, { oci = true })
      local c2 = util.push_image(repo, "cfg c2", { "c2 layer" }, { oci = true })
      local index, mt = util.index({ c1, c2 })
      assert(repo.manifests:put(index, mt, { tag = "v1" }))
      assert(repo.manifests:delete(d1)) -- a client deletes one child
      local r = assert(gc.run(reg, { grace = 0, now = os.time() + 2 }))
      local gone = {}
      for _, b in ipairs(r.blobs) do gone[b] = true end
      -- its config and layer go; its manifest's data stays, as distribution
      -- marks every digest a kept index names
      assert.is_true(gone[util.digest("cfg c1")])
      assert.is_true(gone[util.digest("c1 layer")])
      assert.is_nil(gone[d1])
      assert(repo.blobs:get(util.digest("c2 layer")))
    end)

    it("when a kept referrer still names it", function()
      local repo = reg:repository("ref")
      local subject, _, ds = util.push_image(repo, "cfg subj", { "subj layer" }, { oci = true })
      util.push_image(repo, "cfg sig2", { "sig2" }, { oci = true, tag = "sig",
        extra = { subject = { mediaType = util.OCI_MANIFEST, digest = ds, size = #subject } } })
      assert(repo.manifests:delete(ds))
      local r = assert(gc.run(reg, { grace = 0, now = os.time() + 2 }))
      local gone = {}
      for _, b in ipairs(r.blobs) do gone[b] = true end
      assert.is_true(gone[util.digest("cfg subj")])
      assert.is_true(gone[util.digest("subj layer")])
      assert.is_true(gone[ds])
      assert(pulls(repo, "sig"))
    end)
  end)
end)
