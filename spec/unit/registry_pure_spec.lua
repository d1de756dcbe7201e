-- The pure parts of regstore.registry: validation, paths, manifest formats,
-- the descriptor cache, listings, RFC 3339 times. No cluster needed.
local validate = require "regstore.registry.validate"
local paths = require "regstore.registry.paths"
local formats = require "regstore.registry.manifest_formats"
local cache = require "regstore.registry.cache"
local listing = require "regstore.registry.listing"
local rfc3339 = require "regstore.registry.rfc3339"
local json = require "cjson.safe"

local HEX = string.rep("ab", 32)
local D = "sha256:" .. HEX
local function dg(c) return "sha256:" .. string.rep(c, 64) end

describe("registry validation #unit", function()
  it("accepts names of the reference grammar", function()
    for _, n in ipairs { "a", "library/alpine", "a.b", "a_b", "a__b", "a-b", "a---b", "a0/b1/c2",
      "0", "foo.bar_baz__qux-x", string.rep("a", 255) } do
      assert.is_true(validate.name(n), n)
    end
  end)

  it("refuses other names with name_invalid", function()
    for _, n in ipairs { "", "A", "Library/alpine", "a/", "/a", "a//b", "-a", "a-", ".a", "a.",
      "_a", "a_", "a___b", "a..b", "a._b", "a b", "a:b", "a@b", "a/_layers", "a/../b",
      string.rep("a", 256), string.rep("a/", 127) .. "ab" } do
      local ok, msg, code = validate.name(n)
      assert.is_nil(ok, n)
      assert.equal("name_invalid", code)
      assert.matches("^regstore: invalid repository name", msg)
    end
  end)

  it("accepts tags [A-Za-z0-9_][A-Za-z0-9._-]{0,127}", function()
    for _, t in ipairs { "latest", "v1.0", "_x", "A", "1", "a-b_c.D", string.rep("x", 128) } do
      assert.is_true(validate.tag(t), t)
    end
    for _, t in ipairs { "", ".x", "-x", "a/b", "a:b", "a b", string.rep("x", 129), "é" } do
      local ok, _, code = validate.tag(t)
      assert.is_nil(ok, t)
      assert.equal("tag_invalid", code)
    end
  end)

  it("parses sha256 and sha512 digests, refuses the rest", function()
    local alg, hex = validate.digest(D)
    assert.equal("sha256", alg)
    assert.equal(HEX, hex)
    assert.equal("sha512", (validate.digest("sha512:" .. string.rep("0f", 64))))
    for _, d in ipairs { "", "sha256:", "sha256:" .. HEX:upper(), "sha256:" .. HEX:sub(2),
      "sha256:" .. HEX .. "0", "sha512:" .. HEX, "md5:" .. HEX, "SHA256:" .. HEX, HEX,
      "sha256:" .. string.rep("g", 64) } do
      local ok, msg, code = validate.digest(d)
      assert.is_nil(ok, d)
      assert.equal("digest_invalid", code)
      assert.matches("^regstore: invalid digest", msg)
    end
  end)

  it("shortens a huge value in messages", function()
    local _, msg = validate.name(string.rep("A", 100000))
    assert.is_true(#msg < 300)
  end)
end)

describe("registry paths #unit", function()
  local p = paths.new()
  local R = "/docker/registry/v2"

  it("draws distribution's v2 layout", function()
    local t = {
      { "blobs", {}, R .. "/blobs" },
      { "blob_alg", { alg = "sha256" }, R .. "/blobs/sha256" },
      { "blob", { digest = D }, R .. "/blobs/sha256/ab/" .. HEX },
      { "blob_data", { digest = D }, R .. "/blobs/sha256/ab/" .. HEX .. "/data" },
      { "repositories", {}, R .. "/repositories" },
      { "repository", { name = "a/b" }, R .. "/repositories/a/b" },
      { "layers", { name = "a" }, R .. "/repositories/a/_layers" },
      { "layer", { name = "a", digest = D }, R .. "/repositories/a/_layers/sha256/" .. HEX },
      { "revision", { name = "a", digest = D }, R .. "/repositories/a/_manifests/revisions/sha256/" .. HEX },
      { "layer_link", { name = "a", digest = D }, R .. "/repositories/a/_layers/sha256/" .. HEX .. "/link" },
      { "manifests", { name = "a" }, R .. "/repositories/a/_manifests" },
      { "revisions", { name = "a" }, R .. "/repositories/a/_manifests/revisions" },
      { "revisions_alg", { name = "a", alg = "sha256" }, R .. "/repositories/a/_manifests/revisions/sha256" },
      { "revision_link", { name = "a", digest = D },
        R .. "/repositories/a/_manifests/revisions/sha256/" .. HEX .. "/link" },
      { "tags", { name = "a" }, R .. "/repositories/a/_manifests/tags" },
      { "tag", { name = "a", tag = "v1" }, R .. "/repositories/a/_manifests/tags/v1" },
      { "tag_current_link", { name = "a", tag = "v1" }, R .. "/repositories/a/_manifests/tags/v1/current/link" },
      { "tag_index", { name = "a", tag = "v1" }, R .. "/repositories/a/_manifests/tags/v1/index" },
      { "tag_index_link", { name = "a", tag = "v1", digest = D },
        R .. "/repositories/a/_manifests/tags/v1/index/sha256/" .. HEX .. "/link" },
    }
    t[#t + 1] = { "quarantine", nil, R .. "/_gc" }
    t[#t + 1] = { "quarantine_blob", { digest = D }, R .. "/_gc/sha256/" .. HEX }
    t[#t + 1] = { "quarantine_revisions", nil, R .. "/_gc/_revisions" }
    t[#t + 1] = { "quarantine_revision", { name = "a/b", digest = D }, R .. "/_gc/_revisions/a/b/sha256/" .. HEX }
    t[#t + 1] = { "quarantine_layers", nil, R .. "/_gc/_layers" }
    t[#t + 1] = { "quarantine_layer", { name = "a", digest = D }, R .. "/_gc/_layers/a/sha256/" .. HEX }
    t[#t + 1] = { "scrub_position", nil, R .. "/_scrub/position" }
    t[#t + 1] = { "read_only_flag", nil, R .. "/_config/read-only" }
    t[#t + 1] = { "quota_rules", nil, R .. "/_config/quotas" }
    t[#t + 1] = { "schedule_record", { job = "purge_uploads" }, R .. "/_schedule/purge_uploads" }
    local id = "0b6c6a7e-6d0c-4b0e-9a53-5b3c1f0e2d11"
    local up = R .. "/repositories/a/_uploads/" .. id
    t[#t + 1] = { "uploads", { name = "a" }, R .. "/repositories/a/_uploads" }
    t[#t + 1] = { "upload", { name = "a", id = id }, up }
    t[#t + 1] = { "upload_data", { name = "a", id = id }, up .. "/data" }
    t[#t + 1] = { "upload_started_at", { name = "a", id = id }, up .. "/startedat" }
    t[#t + 1] = { "upload_hash_states", { name = "a", id = id, alg = "sha256" }, up .. "/hashstates/sha256" }
    t[#t + 1] = { "upload_hash_state", { name = "a", id = id, alg = "sha256", offset = 1048576 },
      up .. "/hashstates/sha256/1048576" }
    local seen = {}
    for _, row in ipairs(t) do
      assert.equal(row[3], p:path_for(row[1], row[2]))
      seen[row[1]] = true
    end
    for _, k in ipairs(paths.KINDS) do assert.is_true(seen[k], "kind not covered: " .. k) end
  end)

  it("honours another root", function()
    assert.equal("/x/y/blobs", paths.new("/x/y"):path_for("blobs"))
    for _, r in ipairs { "", "x", "/x/", "//x", "/x y", 3 } do
      assert.has_error(function() paths.new(r) end)
    end
  end)

  it("maps digests to paths and back", function()
    local d512 = "sha512:" .. string.rep("0f", 64)
    for _, d in ipairs { D, d512 } do
      assert.equal(d, paths.digest_from_path(p:path_for("blob_data", { digest = d })))
      assert.equal(d, paths.digest_from_path(p:path_for("blob", { digest = d }):gsub("/%x%x/", "/", 1)))
      assert.equal(d, paths.digest_from_path(p:path_for("layer_link", { name = "a", digest = d })))
      assert.equal(d, paths.digest_from_path(p:path_for("revision", { name = "a", digest = d })))
    end
    assert.is_nil(paths.digest_from_path(R .. "/blobs/sha256/cd/" .. HEX .. "/data"))
    assert.is_nil(paths.digest_from_path(R .. "/blobs/sha256/ab/abc/data"))
    assert.is_nil(paths.digest_from_path("/x/y"))
  end)

  it("raises on bad fields and unknown kinds", function()
    assert.has_error(function() p:path_for("nope", {}) end)
    assert.has_error(function() p:path_for("blob", {}) end)
    assert.has_error(function() p:path_for("blob", { digest = "sha256:x" }) end)
    assert.has_error(function() p:path_for("repository", { name = "A" }) end)
    assert.has_error(function() p:path_for("tag", { name = "a", tag = "../x" }) end)
    assert.has_error(function() p:path_for("upload", { name = "a", id = "../../x" }) end)
    assert.has_error(function()
      p:path_for("upload_hash_state", { name = "a", id = "0b6c6a7e-6d0c-4b0e-9a53-5b3c1f0e2d11",
        alg = "sha256", offset = -1 })
    end)
  end)
end)

describe("manifest formats #unit", function()
  local function docker_manifest(over)
    local m = {
      schemaVersion = 2, mediaType = formats.DOCKER_MANIFEST,
      config = { mediaType = "application/vnd.docker.container.image.v1+json", size = 7, digest = dg("c") },
      layers = { { mediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip", size = 9, digest = dg("1") } },
    }
    for k, v in pairs(over or {}) do m[k] = v end
    return json.encode(m)
  end

  it("accepts a Docker schema 2 manifest and names its blobs", function()
    local info = assert(formats.parse(docker_manifest(), formats.DOCKER_MANIFEST))
    assert.equal(formats.DOCKER_MANIFEST, info.media_type)
    assert.same({ dg("c"), dg("1") }, { info.references[1].digest, info.references[2].digest })
    assert.equal("blob", info.references[1].kind)
    assert.same({}, info.annotations)
  end)

  it("refuses schema 1 with unsupported", function()
    local _, _, code = formats.parse("{}", formats.SCHEMA1_SIGNED)
    assert.equal("unsupported", code)
    _, _, code = formats.parse('{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}', formats.OCI_MANIFEST)
    assert.equal("unsupported", code)
  end)

  it("refuses other media types, bad JSON and wrong shapes with manifest_invalid", function()
    local cases = {
      { docker_manifest(), "application/json" },
      { docker_manifest(), formats.OCI_MANIFEST },              -- content says docker
      { docker_manifest(), formats.DOCKER_LIST },
      { "not json", formats.DOCKER_MANIFEST },
      { "[1,2]", formats.DOCKER_MANIFEST },
      { docker_manifest { schemaVersion = 3 }, formats.DOCKER_MANIFEST },
      { docker_manifest { mediaType = json.null }, formats.DOCKER_MANIFEST }, -- required for Docker
      { docker_manifest { config = { digest = "sha256:abc", size = 1 } }, formats.DOCKER_MANIFEST },
      { docker_manifest { config = json.null }, formats.DOCKER_MANIFEST },
      { docker_manifest { layers = { { digest = dg("1"), size = -1 } } }, formats.DOCKER_MANIFEST },
      { docker_manifest { layers = { { digest = dg("1"), size = 1.5 } } }, formats.DOCKER_MANIFEST },
      { docker_manifest { layers = { { digest = dg("1"), size = "1" } } }, formats.DOCKER_MANIFEST },
      { docker_manifest { layers = "x" }, formats.DOCKER_MANIFEST },
      { docker_manifest { layers = { { digest = dg("1"), urls = { "http://x/y" } } } }, formats.DOCKER_MANIFEST },
      { docker_manifest { annotations = { a = 1 } }, formats.DOCKER_MANIFEST },
      { '{"schemaVersion":2,"config":{"digest":"' .. dg("c") .. '"},"manifests":[]}', formats.OCI_MANIFEST },
      { '{"schemaVersion":2,"manifests":[],"layers":[]}', formats.OCI_INDEX },
      { '{"schemaVersion":2,"mediaType":"' .. formats.DOCKER_LIST .. '","manifests":[{"digest":"x"}]}',
        formats.DOCKER_LIST },
      { '{"schemaVersion":2,"manifests":[]}', formats.DOCKER_LIST },   -- mediaType required
      { '{"schemaVersion":2,"config":{"digest":"' .. dg("c") .. '"},"subject":{"digest":"nope"}}',
        formats.OCI_MANIFEST },
    }
    for i, c in ipairs(cases) do
      local ok, msg, code = formats.parse(c[1], c[2])
      assert.is_nil(ok, "case " .. i)
      assert.equal("manifest_invalid", code, "case " .. i .. ": " .. tostring(msg))
    end
  end)

  it("accepts OCI manifests with or without mediaType, and reads subject and artifact type", function()
    local m = {
      schemaVersion = 2,
      config = { mediaType = "application/vnd.example+json", size = 2, digest = dg("c") },
      layers = {},
      subject = { mediaType = formats.OCI_MANIFEST, size = 10, digest = dg("5") },
      annotations = { ["org.example"] = "x" },
    }
    local info = assert(formats.parse(json.encode(m), formats.OCI_MANIFEST))
    assert.equal(dg("5"), info.subject.digest)
    assert.equal("application/vnd.example+json", info.artifact_type)
    assert.same({ ["org.example"] = "x" }, info.annotations)
    m.mediaType = formats.OCI_MANIFEST
    m.artifactType = "application/vnd.sig"
    info = assert(formats.parse(json.encode(m), formats.OCI_MANIFEST))
    assert.equal("application/vnd.sig", info.artifact_type)
  end)

  it("skips foreign and non-distributable layers with urls", function()
    local m = {
      schemaVersion = 2, mediaType = formats.DOCKER_MANIFEST,
      config = { mediaType = "x", size = 1, digest = dg("c") },
      layers = { { mediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", size = 1,
        digest = dg("f"), urls = { "https://example.com/l" } } },
    }
    local info = assert(formats.parse(json.encode(m), formats.DOCKER_MANIFEST))
    assert.equal(1, #info.references)
    m.layers[1].urls = nil
    assert.is_nil(formats.parse(json.encode(m), formats.DOCKER_MANIFEST))
    m = {
      schemaVersion = 2, config = { mediaType = "x", size = 1, digest = dg("c") },
      layers = { { mediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        size = 1, digest = dg("f"), urls = { "https://example.com/l" } } },
    }
    info = assert(formats.parse(json.encode(m), formats.OCI_MANIFEST))
    assert.equal(1, #info.references)
    m.layers[1].urls = { "ftp://x" }
    assert.is_nil(formats.parse(json.encode(m), formats.OCI_MANIFEST))
  end)

  it("names the children of lists and indexes as manifests", function()
    local doc = {
      schemaVersion = 2, mediaType = formats.OCI_INDEX,
      manifests = {
        { mediaType = formats.OCI_MANIFEST, size = 3, digest = dg("a"),
          platform = { os = "linux", architecture = "amd64" } },
        { mediaType = formats.OCI_MANIFEST, size = 3, digest = dg("b") },
      },
    }
    local idx = json.encode(doc)
    local info = assert(formats.parse(idx, formats.OCI_INDEX))
    assert.equal(2, #info.references)
    assert.equal("manifest", info.references[2].kind)
    assert.is_nil(info.artifact_type)
    doc.mediaType = formats.DOCKER_LIST
    local list = json.encode(doc)
    assert.equal(2, #assert(formats.parse(list, formats.DOCKER_LIST)).references)
    assert(formats.parse('{"schemaVersion":2,"manifests":[]}', formats.OCI_INDEX))
  end)

  it("detects the media type of stored content", function()
    assert.equal(formats.DOCKER_MANIFEST, formats.detect(docker_manifest()))
    assert.equal(formats.OCI_INDEX, formats.detect('{"schemaVersion":2,"manifests":[]}'))
    assert.equal(formats.OCI_MANIFEST, formats.detect('{"schemaVersion":2,"config":{}}'))
    assert.equal(formats.SCHEMA1_SIGNED, formats.detect('{"schemaVersion":1,"signatures":[]}'))
    assert.is_nil(formats.detect("nope"))
  end)
end)

describe("manifest references #unit", function()
  local references = require "regstore.registry.references"
  local function desc(d, mt) return { mediaType = mt or "application/octet-stream", digest = d, size = 1 } end
  local function sorted(t)
    local c = {}
    for i, v in ipairs(t) do c[i] = v end
    table.sort(c)
    return c
  end
  -- every format the registry serves, and what each references
  local cases = {
    { "Docker schema 2", formats.DOCKER_MANIFEST, {
      schemaVersion = 2, mediaType = formats.DOCKER_MANIFEST, config = desc(dg("c")),
      layers = { desc(dg("1"), "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        desc(dg("2"), "application/vnd.docker.image.rootfs.diff.tar.gzip") } },
      { dg("c"), dg("1"), dg("2") }, {} },
    { "OCI image with a subject", formats.OCI_MANIFEST, {
      schemaVersion = 2, mediaType = formats.OCI_MANIFEST, config = desc(dg("c")),
      layers = { desc(dg("1")) }, subject = desc(dg("5"), formats.OCI_MANIFEST) },
      { dg("c"), dg("1") }, {}, dg("5") },
    { "OCI artifact (blobs)", nil, {
      mediaType = "application/vnd.oci.artifact.manifest.v1+json", blobs = { desc(dg("3")), desc(dg("4")) } },
      { dg("3"), dg("4") }, {} },
    { "schema 1", nil, {
      schemaVersion = 1, fsLayers = { { blobSum = dg("6") }, { blobSum = dg("7") } } },
      { dg("6"), dg("7") }, {} },
    { "Docker manifest list", formats.DOCKER_LIST, {
      schemaVersion = 2, mediaType = formats.DOCKER_LIST,
      manifests = { desc(dg("8"), formats.DOCKER_MANIFEST), desc(dg("9"), formats.DOCKER_MANIFEST) } },
      {}, { dg("8"), dg("9") } },
    { "OCI index with a subject", formats.OCI_INDEX, {
      schemaVersion = 2, mediaType = formats.OCI_INDEX, manifests = { desc(dg("a"), formats.OCI_MANIFEST) },
      subject = desc(dg("b"), formats.OCI_MANIFEST) },
      {}, { dg("a") }, dg("b") },
  }
  for _, c in ipairs(cases) do
    it("finds every reference of a " .. c[1], function()
      local content = json.encode(c[3])
      local refs = assert(references.of(content))
      assert.same(sorted(c[4]), sorted(refs.blobs))
      assert.same(sorted(c[5]), sorted(refs.manifests))
      assert.equal(c[6], refs.subject)
      if c[2] then
        -- a put's strict parse finds the same blobs and children
        local info = assert(formats.parse(content, c[2]))
        local blobs, children = {}, {}
        for _, r in ipairs(info.references) do
          if r.kind == "manifest" then children[#children + 1] = r.digest else blobs[#blobs + 1] = r.digest end
        end
        assert.same(sorted(c[4]), sorted(blobs))
        assert.same(sorted(c[5]), sorted(children))
        assert.equal(c[6], info.subject and info.subject.digest)
      end
    end)
  end

  it("reads leniently: null, strings and bad digests are skipped, not errors", function()
    local refs = assert(references.of('{"config":null,"layers":[null,"x",{"digest":"nope"},{"digest":"'
      .. dg("1") .. '"}],"manifests":{},"subject":7}'))
    assert.same({ dg("1") }, refs.blobs)
    assert.same({}, refs.manifests)
    assert.is_nil(refs.subject)
    assert.is_nil(references.of("[not json"))
  end)

  it("keeps tagged roots, kept indexes' children, referrers of kept manifests, only revisions", function()
    local refs = {
      [dg("1")] = { blobs = {}, manifests = { dg("2"), dg("9") } }, -- an index; 9 is not a revision
      [dg("2")] = { blobs = {}, manifests = {} },
      [dg("3")] = { blobs = {}, manifests = {}, subject = dg("2") }, -- a referrer of a kept child
      [dg("4")] = { blobs = {}, manifests = {}, subject = dg("3") }, -- a referrer's referrer
      [dg("5")] = { blobs = {}, manifests = {}, subject = dg("6") }, -- a referrer of an untagged one
      [dg("6")] = false,                                               -- unreadable as a manifest
      [dg("7")] = { blobs = {}, manifests = {}, subject = dg("8") }, -- its subject is gone
    }
    local revs = {}
    for d in pairs(refs) do revs[d] = true end
    local keep = assert(references.keep(revs, { [dg("1")] = true }, function(d) return refs[d] end))
    assert.same({ [dg("1")] = true, [dg("2")] = true, [dg("3")] = true, [dg("4")] = true }, keep)
    -- a kept referrer keeps its subject
    keep = assert(references.keep(revs, { [dg("5")] = true }, function(d) return refs[d] end))
    assert.same({ [dg("5")] = true, [dg("6")] = true }, keep)
    -- a failed read stops it
    local _, msg, code = references.keep(revs, {}, function(d)
      if d == dg("2") then return nil, "boom", "io" end
      return refs[d]
    end)
    assert.equal("io", code)
    assert.equal("boom", msg)
  end)
end)

describe("descriptor cache #unit", function()
  it("evicts the least recently used entry", function()
    local c = cache.new(2)
    c:set("a", 1)
    c:set("b", 2)
    assert.equal(1, c:get("a"))      -- a is now the most recent
    c:set("c", 3)                    -- evicts b
    assert.is_nil(c:get("b"))
    assert.equal(1, c:get("a"))
    assert.equal(3, c:get("c"))
    assert.equal(2, c.count)
    assert.same({ "c", "a" }, c:keys())
  end)

  it("updates, deletes, clears, and can be disabled", function()
    local c = cache.new(3)
    c:set("a", 1)
    c:set("a", 2)
    assert.equal(2, c:get("a"))
    assert.equal(1, c.count)
    c:delete("a")
    c:delete("missing")
    assert.is_nil(c:get("a"))
    assert.equal(0, c.count)
    c:set("x", 1)
    c:clear()
    assert.is_nil(c:get("x"))
    local off = cache.new(0)
    off:set("a", 1)
    assert.is_nil(off:get("a"))
    assert.has_error(function() cache.new(-1) end)
  end)

  it("stays bounded under churn", function()
    local c = cache.new(100)
    for i = 1, 1000 do c:set(i, i) end
    assert.equal(100, c.count)
    assert.equal(1000, c:get(1000))
    assert.is_nil(c:get(900))
    assert.equal(901, c:get(901))
  end)
end)

describe("listings #unit", function()
  it("sorts in byte order and pages strictly after last", function()
    local t = listing.sort { "b", "a/b", "a-b", "A", "a", "_x", "a.b" }
    assert.same({ "A", "_x", "a", "a-b", "a.b", "a/b", "b" }, t)
    assert.same({ "a-b", "a.b" }, listing.page(t, "a", 2))
    assert.same({ "a/b", "b" }, listing.page(t, "a.c"))
    assert.same({}, listing.page(t, nil, 0))
    assert.same({}, listing.page(t, "z"))
    assert.same(t, listing.page(t))
    assert.is_true(listing.byte_less("B", "a"))
    assert.is_false(listing.byte_less("ab", "a"))
  end)

  it("raises on bad options", function()
    assert.has_error(function() listing.options({ n = -1 }, "list") end)
    assert.has_error(function() listing.options({ n = 1.5 }, "list") end)
    assert.has_error(function() listing.options({ n = "3" }, "list") end)
    assert.has_error(function() listing.options({ last = 3 }, "list") end)
    assert.has_error(function() listing.options(3, "list") end)
    assert.same({ 3, "x" }, { listing.options({ n = 3, last = "x" }, "list") })
  end)
end)

describe("RFC 3339 times #unit", function()
  it("round-trips whole seconds in UTC", function()
    for _, t in ipairs { 0, 951782400, 1700000000, 4102444800, os.time() } do
      local s = rfc3339.format(t)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", s)
      assert.equal(t, rfc3339.parse(s))
    end
  end)

  it("reads fractions and offsets as Go writes them", function()
    assert.equal(1700000000, rfc3339.parse("2023-11-14T22:13:20.123456789Z"))
    assert.equal(1700000000, rfc3339.parse("2023-11-15T00:13:20+02:00"))
    assert.equal(1700000000, rfc3339.parse("2023-11-14T20:43:20-01:30"))
    assert.equal(951782400, rfc3339.parse("2000-02-29T00:00:00Z\n"))
    for _, s in ipairs { "", "2023-11-14", "2023-13-01T00:00:00Z", "2023-11-14T22:13:20", "x" } do
      assert.is_nil(rfc3339.parse(s))
    end
  end)
end)
