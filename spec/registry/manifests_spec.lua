-- regstore.registry: manifests (put, get, exists, delete, list, referrers).
local helper = require "helper"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"

local R = util.ROOT
local NAME = "library/img"

describe("registry manifests #cluster", function()
  local drv, reg, repo
  helper.each_registry(function(d, r)
    drv, reg = d, r
    repo = assert(reg:repository(NAME))
  end)

  local function rev_link(d)
    return R .. "/repositories/" .. NAME .. "/_manifests/revisions/sha256/" .. d:sub(8) .. "/link"
  end
  local function blob_data(d) return R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data" end

  it("puts a Docker schema 2 manifest by content and stores it as a blob", function()
    local content, mt, d = util.push_image(repo, "config-1", { "layer-1", "layer-2" })
    assert.equal(util.digest(content), d)
    assert.same({ content, util.DOCKER_MANIFEST }, { repo.manifests:get(d) })
    assert.is_true(repo.manifests:exists(d))
    assert.same({ d }, repo.manifests:list())
    assert.equal(content, drv:get_content(blob_data(d)))
    assert.equal(d, drv:get_content(rev_link(d)))
    assert.equal(mt, util.DOCKER_MANIFEST)
    -- manifests are not layers: repo.blobs does not see them
    helper.fails("blob_unknown", d, repo.blobs:stat(d))
    assert.same({ digest = d, size = #content }, reg.blobs:stat(d))
  end)

  it("accepts OCI manifests, OCI indexes and Docker manifest lists", function()
    local oci = select(3, util.push_image(repo, "oci-config", { "oci-layer" }, { oci = true }))
    local c1 = util.push_image(repo, "cfg-a", { "l-a" }, { oci = true })
    local c2 = util.push_image(repo, "cfg-b", { "l-b" }, { oci = true })
    local idx, idx_mt = util.index({ c1, c2 })
    local di = assert(repo.manifests:put(idx, idx_mt, { tag = "multi" }))
    assert.same({ idx, util.OCI_INDEX }, { repo.manifests:get(di) })
    assert.equal(di, repo.tags:get("multi"))
    local d1 = util.push_image(repo, "dcfg-a", { "dl-a" })
    local d2 = util.push_image(repo, "dcfg-b", { "dl-b" })
    local list, list_mt = util.index({ d1, d2 }, true)
    local dl = assert(repo.manifests:put(list, list_mt))
    assert.same({ list, util.DOCKER_LIST }, { repo.manifests:get(dl) })
    assert.same({ oci, util.OCI_MANIFEST }, { oci, select(2, repo.manifests:get(oci)) })
    assert.equal(7, #repo.manifests:list())
  end)

  it("takes the media type of an OCI manifest without mediaType from the content", function()
    assert(repo.blobs:put("c"))
    local m = util.encode { schemaVersion = 2, config = util.desc(util.OCI_CONFIG, "c"), layers = {} }
    local d = assert(repo.manifests:put(m, util.OCI_MANIFEST))
    assert.equal(util.OCI_MANIFEST, select(2, repo.manifests:get(d)))
    local i = util.encode { schemaVersion = 2, manifests = { util.desc(util.OCI_MANIFEST, m) } }
    local di = assert(repo.manifests:put(i, util.OCI_INDEX))
    assert.equal(util.OCI_INDEX, select(2, repo.manifests:get(di)))
  end)

  it("refuses a manifest whose blobs are not linked in the repository", function()
    local other = reg:repository("library/other")
    assert(other.blobs:put("lonely-layer"))       -- in the registry, not in this repository
    assert(repo.blobs:put("config-x"))
    local content, mt = util.image("config-x", { "lonely-layer" })
    local msg = helper.fails("manifest_blob_unknown", util.digest("lonely-layer"),
      repo.manifests:put(content, mt, { tag = "t" }))
    assert.matches(NAME, msg, 1, true)
    -- a missing config too
    content, mt = util.image("config-missing", {})
    helper.fails("manifest_blob_unknown", util.digest("config-missing"), repo.manifests:put(content, mt))
    -- nothing was stored: no revision, no tag, no blob data
    assert.is_false(repo.manifests:exists(util.digest(content)))
    assert.is_false(util.exists(drv, R .. "/repositories/" .. NAME .. "/_manifests"))
    assert.is_false(util.exists(drv, blob_data(util.digest(content))))
  end)

  it("accepts an index whose children exist and refuses one with a missing child", function()
    local c1 = util.push_image(repo, "cfg-1", { "lay-1" }, { oci = true })
    local c2 = util.image("cfg-2", { "lay-2" }, true)     -- never pushed
    local good = util.index({ c1 })
    assert(repo.manifests:put(good, util.OCI_INDEX))
    local bad, mt = util.index({ c1, c2 })
    helper.fails("manifest_blob_unknown", util.digest(c2), repo.manifests:put(bad, mt, { tag = "bad" }))
    assert.is_false(repo.manifests:exists(util.digest(bad)))
    helper.fails("tag_unknown", "bad", repo.tags:get("bad"))
    -- a child that is only a blob of the repository (not a manifest) is missing too
    assert(repo.blobs:put(c2))
    helper.fails("manifest_blob_unknown", util.digest(c2), repo.manifests:put(bad, mt))
    -- a child of another repository is missing too
    local other = reg:repository("library/other")
    util.push_image(other, "cfg-2", { "lay-2" }, { oci = true })
    helper.fails("manifest_blob_unknown", util.digest(c2), repo.manifests:put(bad, mt))
  end)

  it("refuses schema 1 with unsupported and anything else malformed with manifest_invalid", function()
    assert(repo.blobs:put("cfg"))
    local s1 = util.encode { schemaVersion = 1, name = NAME, tag = "x", fsLayers = {}, history = {} }
    helper.fails("unsupported", nil, repo.manifests:put(s1, util.SCHEMA1))
    helper.fails("unsupported", nil, repo.manifests:put(s1, util.OCI_MANIFEST))
    helper.fails("unsupported", nil, repo.manifests:put(s1, "application/vnd.docker.distribution.manifest.v1+json"))
    local good = util.image("cfg", {})
    helper.fails("manifest_invalid", NAME, repo.manifests:put(good, "application/json"))
    helper.fails("manifest_invalid", nil, repo.manifests:put(good, util.OCI_MANIFEST))
    helper.fails("manifest_invalid", nil, repo.manifests:put(good, util.DOCKER_LIST))
    helper.fails("manifest_invalid", nil, repo.manifests:put("{not json", util.DOCKER_MANIFEST))
    helper.fails("manifest_invalid", nil, repo.manifests:put("", util.DOCKER_MANIFEST))
    helper.fails("manifest_invalid", nil, repo.manifests:put('"str"', util.DOCKER_MANIFEST))
    local bad_digest = util.encode { schemaVersion = 2, mediaType = util.DOCKER_MANIFEST,
      config = { mediaType = util.DOCKER_CONFIG, size = 3, digest = "sha256:ABC" }, layers = {} }
    helper.fails("manifest_invalid", nil, repo.manifests:put(bad_digest, util.DOCKER_MANIFEST))
    assert.same({ "sha256/" .. util.digest("cfg"):sub(8, 9) .. "/" .. util.digest("cfg"):sub(8) .. "/data" },
      util.names(util.tree(drv, R .. "/blobs")))
    assert.is_false(util.exists(drv, R .. "/repositories/" .. NAME .. "/_manifests"))
  end)

  it("tags on put, verifies a given digest, and stores nothing under a refused tag", function()
    assert(repo.blobs:put("cfg"))
    local content, mt = util.image("cfg", {})
    local d = util.digest(content)
    helper.fails("tag_invalid", nil, repo.manifests:put(content, mt, { tag = "-bad" }))
    helper.fails("digest_invalid", d, repo.manifests:put(content, mt, { digest = util.digest("x") }))
    helper.fails("digest_invalid", nil, repo.manifests:put(content, mt, { digest = "sha256:1" }))
    helper.fails("unsupported", nil, repo.manifests:put(content, mt, { digest = "sha512:" .. string.rep("1", 128) }))
    assert.is_false(repo.manifests:exists(d))
    assert.is_false(util.exists(drv, blob_data(d)))
    assert.equal(d, repo.manifests:put(content, mt, { tag = "v1", digest = d }))
    assert.equal(d, repo.tags:get("v1"))
    -- putting it again is harmless
    assert.equal(d, repo.manifests:put(content, mt, { tag = "v2" }))
    assert.same({ "v1", "v2" }, repo.tags:list())
  end)

  it("answers manifest_unknown or false for manifests it does not have", function()
    local d = util.digest("absent")
    helper.fails("manifest_unknown", d, repo.manifests:get(d))
    helper.fails("manifest_unknown", d, repo.manifests:delete(d))
    assert.is_false(repo.manifests:exists(d))
    local _, _, md = util.push_image(reg:repository("library/other"), "c", {})
    assert.is_false(repo.manifests:exists(md))
    helper.fails("manifest_unknown", md, repo.manifests:get(md))
    helper.fails("digest_invalid", nil, repo.manifests:get("sha256:zz"))
    helper.fails("digest_invalid", nil, repo.manifests:exists("zz"))
    helper.fails("digest_invalid", nil, repo.manifests:delete("zz"))
  end)

  it("deletes a manifest with the tags that point at it, keeping the data", function()
    local _, _, d1 = util.push_image(repo, "cfg-1", {}, { tag = "a" })
    local _, _, d2 = util.push_image(repo, "cfg-2", {}, { tag = "c" })
    assert(repo.tags:tag("b", d1))
    assert.is_true(repo.manifests:delete(d1))
    assert.is_false(repo.manifests:exists(d1))
    helper.fails("manifest_unknown", d1, repo.manifests:get(d1))
    helper.fails("tag_unknown", "a", repo.tags:get("a"))
    helper.fails("tag_unknown", "b", repo.tags:get("b"))
    assert.equal(d2, repo.tags:get("c"))
    assert.same({ "c" }, repo.tags:list())
    assert.same({ d2 }, repo.manifests:list())
    assert.is_true(util.exists(drv, blob_data(d1)))
    helper.fails("manifest_unknown", d1, repo.manifests:delete(d1))
  end)

  it("lists manifests sorted, {} without any, name_unknown for a missing repository", function()
    helper.fails("name_unknown", NAME, repo.manifests:list())
    assert(repo.blobs:put("only a blob"))
    assert.same({}, repo.manifests:list())
    local ds = {}
    for i = 1, 5 do ds[i] = select(3, util.push_image(repo, "cfg-" .. i, {})) end
    table.sort(ds)
    assert.same(ds, repo.manifests:list())
  end)

  it("lists referrers by subject, sorted, with artifact type and annotations", function()
    local _, _, subject = util.push_image(repo, "subject-config", { "subject-layer" }, { oci = true })
    local desc = util.desc(util.OCI_MANIFEST, (repo.manifests:get(subject)))
    local empty = "{}"
    assert(repo.blobs:put(empty))
    local function artifact(extra, config_type)
      local m = {
        schemaVersion = 2, mediaType = util.OCI_MANIFEST,
        config = util.desc(config_type or "application/vnd.oci.empty.v1+json", empty),
        layers = {}, subject = desc,
      }
      for k, v in pairs(extra) do m[k] = v end
      local c = util.encode(m)
      return assert(repo.manifests:put(c, util.OCI_MANIFEST)), #c
    end
    local sig, sig_size = artifact({ artifactType = "application/vnd.example.sig",
      annotations = { ["org.example.signed-by"] = "me" } })
    local sbom, sbom_size = artifact({}, "application/vnd.example.sbom")
    -- an index can refer too
    local idx = util.encode { schemaVersion = 2, mediaType = util.OCI_INDEX, manifests = {},
      subject = desc, artifactType = "application/vnd.example.bundle" }
    local di = assert(repo.manifests:put(idx, util.OCI_INDEX))
    -- and an unrelated manifest does not
    util.push_image(repo, "unrelated", {}, { oci = true })

    local want = {
      [sig] = { media_type = util.OCI_MANIFEST, digest = sig, size = sig_size,
        artifact_type = "application/vnd.example.sig", annotations = { ["org.example.signed-by"] = "me" } },
      [sbom] = { media_type = util.OCI_MANIFEST, digest = sbom, size = sbom_size,
        artifact_type = "application/vnd.example.sbom", annotations = {} },
      [di] = { media_type = util.OCI_INDEX, digest = di, size = #idx,
        artifact_type = "application/vnd.example.bundle", annotations = {} },
    }
    local order = { sig, sbom, di }
    table.sort(order)
    local expected = {}
    for i, d in ipairs(order) do expected[i] = want[d] end
    assert.same(expected, repo.manifests:referrers(subject))
    assert.same({ want[sbom] }, repo.manifests:referrers(subject, "application/vnd.example.sbom"))
    assert.same({}, repo.manifests:referrers(subject, "application/none"))
    assert.same({}, repo.manifests:referrers(sig))
    -- a fresh registry (empty cache) answers the same
    assert.same(expected, registry.new(drv):repository(NAME).manifests:referrers(subject))
    -- deleting a referrer drops it
    assert(repo.manifests:delete(sig))
    assert.equal(2, #repo.manifests:referrers(subject))
    assert.same({}, reg:repository("library/none").manifests:referrers(subject))
    helper.fails("digest_invalid", nil, repo.manifests:referrers("x"))
  end)

  it("accepts a referrer whose subject is not (yet) in the repository", function()
    assert(repo.blobs:put("{}"))
    local subject = util.digest("not pushed yet")
    local c = util.encode { schemaVersion = 2, mediaType = util.OCI_MANIFEST,
      config = util.desc("application/vnd.oci.empty.v1+json", "{}"), layers = {},
      subject = { mediaType = util.OCI_MANIFEST, digest = subject, size = 14 } }
    local d = assert(repo.manifests:put(c, util.OCI_MANIFEST))
    assert.equal(d, repo.manifests:referrers(subject)[1].digest)
  end)

  it("raises on wrong argument types", function()
    assert.has_error(function() repo.manifests:put(nil, util.OCI_MANIFEST) end)
    assert.has_error(function() repo.manifests:put("{}") end)
    assert.has_error(function() repo.manifests:put("{}", util.OCI_MANIFEST, "tag") end)
    assert.has_error(function() repo.manifests:put("{}", util.OCI_MANIFEST, { tag = 1 }) end)
    assert.has_error(function() repo.manifests:put("{}", util.OCI_MANIFEST, { digest = 1 }) end)
    assert.has_error(function() repo.manifests:get() end)
    assert.has_error(function() repo.manifests:exists(1) end)
    assert.has_error(function() repo.manifests:delete({}) end)
    assert.has_error(function() repo.manifests:referrers(util.digest("x"), 3) end)
  end)
end)
