-- The OCI distribution specification's conformance workflows (pull, push,
-- content discovery, content management), step by step as the upstream Go
-- suite (opencontainers/distribution-spec, conformance/0[1-4]_*_test.go)
-- runs them, against examples/openresty-registry/serve on the throwaway
-- cluster. Where the suite accepts several answers the comment says which
-- one this registry gives; every 4xx body is checked to be the spec's JSON.
local helper = require "helper"
local http = require "support.http"
local fixtures = require "http.fixtures"

local available = http.available()

local function is2xx(r) return r.status >= 200 and r.status < 300 end

describe("OCI conformance workflows #http", function()
  if not available then
    pending("nginx or the LuaJIT build (build/luajit/regstore/core.so) is missing")
    return
  end

  local srv, t, name, cross
  local ns = helper.namespace("http-conf")

  setup(function()
    srv = http.serve{ namespace = ns }
    t = fixtures.new(7)
    name = "conformance/" .. ns:sub(-8):gsub("[^%w]", "x"):lower()
    cross = "conformance-cross/" .. ns:sub(-8):gsub("[^%w]", "x"):lower()
  end)
  teardown(function() if srv then srv:stop() end end)

  local function req(method, path, opts) return srv:request(method, path, opts) end

  -- Every 4xx answer carries {"errors":[{"code":...}]} with a code of the spec.
  local CODES = {}
  for c in ("BLOB_UNKNOWN BLOB_UPLOAD_INVALID BLOB_UPLOAD_UNKNOWN DIGEST_INVALID MANIFEST_BLOB_UNKNOWN " ..
    "MANIFEST_INVALID MANIFEST_UNKNOWN NAME_INVALID NAME_UNKNOWN SIZE_INVALID TAG_INVALID UNAUTHORIZED " ..
    "DENIED UNSUPPORTED"):gmatch("%S+") do CODES[c] = true end
  local function check_error(r, status, code)
    assert.are.equal(status, r.status)
    if r.status >= 400 and r.status < 500 and r.headers["content-length"] ~= "0" and #r.body > 0 then
      local c = r:code()
      assert.is_truthy(CODES[c], "error body: " .. r.body)
      if code then assert.are.equal(code, c) end
    end
  end

  local function upload(b, repo)
    local r = req("POST", "/v2/" .. (repo or name) .. "/blobs/uploads/")
    assert.are.equal(202, r.status)
    r = req("PUT", r.headers.location .. "?digest=" .. b.digest,
      { headers = { ["Content-Type"] = "application/octet-stream" }, body = b.content })
    assert.is_true(is2xx(r), r.body)
    return r
  end

  local function put_manifest(ref, m, media_type)
    return req("PUT", "/v2/" .. name .. "/manifests/" .. ref,
      { headers = { ["Content-Type"] = media_type or fixtures.OCI_MANIFEST }, body = m.content })
  end

  describe("pull", function()
    local tag = "tagtest0"
    it("setup: blobs, a layer, manifest[0] by tag, manifest[1] by digest", function()
      upload(t.configs[1]); upload(t.configs[2]); upload(t.layer)
      assert.are.equal(201, put_manifest(tag, t.manifests[1]).status)
      assert.are.equal(201, put_manifest(t.manifests[2].digest, t.manifests[2]).status)
    end)
    it("HEAD of a nonexistent blob: 404", function()
      assert.are.equal(404, req("HEAD", "/v2/" .. name .. "/blobs/" .. t.dummy_digest).status)
    end)
    it("HEAD of an existing blob: 200 with its digest", function()
      local r = req("HEAD", "/v2/" .. name .. "/blobs/" .. t.configs[1].digest)
      assert.are.equal(200, r.status)
      assert.are.equal(t.configs[1].digest, r.headers["docker-content-digest"])
      assert.are.equal(t.configs[1].length, r.headers["content-length"])
    end)
    it("GET of a nonexistent blob: 404 BLOB_UNKNOWN", function()
      check_error(req("GET", "/v2/" .. name .. "/blobs/" .. t.dummy_digest), 404, "BLOB_UNKNOWN")
    end)
    it("GET of an existing blob: 200 with its bytes", function()
      local r = req("GET", "/v2/" .. name .. "/blobs/" .. t.configs[1].digest)
      assert.are.equal(200, r.status)
      assert.are.equal(t.configs[1].content, r.body)
    end)
    it("HEAD of a nonexistent manifest: 404", function()
      assert.are.equal(404, req("HEAD", "/v2/" .. name .. "/manifests/" .. t.nonexistent_manifest).status)
    end)
    it("HEAD of manifest[0] and manifest[1] by digest, and by tag: 200 with the digest", function()
      for _, case in ipairs{ { t.manifests[1].digest, t.manifests[1] }, { t.manifests[2].digest, t.manifests[2] },
        { tag, t.manifests[1] } } do
        local r = req("HEAD", "/v2/" .. name .. "/manifests/" .. case[1],
          { headers = { Accept = fixtures.OCI_MANIFEST } })
        assert.are.equal(200, r.status)
        assert.are.equal(case[2].digest, r.headers["docker-content-digest"])
        assert.are.equal(fixtures.OCI_MANIFEST, r.headers["content-type"])
      end
    end)
    it("GET of a nonexistent manifest: 404 MANIFEST_UNKNOWN", function()
      check_error(req("GET", "/v2/" .. name .. "/manifests/" .. t.nonexistent_manifest), 404, "MANIFEST_UNKNOWN")
    end)
    it("GET of manifest[0] and manifest[1] by digest, and by tag: 200 with the bytes pushed", function()
      for _, case in ipairs{ { t.manifests[1].digest, t.manifests[1] }, { t.manifests[2].digest, t.manifests[2] },
        { tag, t.manifests[1] } } do
        local r = req("GET", "/v2/" .. name .. "/manifests/" .. case[1],
          { headers = { Accept = fixtures.OCI_MANIFEST } })
        assert.are.equal(200, r.status)
        assert.are.equal(case[2].content, r.body)
      end
    end)
    it("error codes: GET manifests/sha256:totallywrong is a 400 with the spec's JSON", function()
      -- the suite accepts 400 or 404; this registry says 400 DIGEST_INVALID
      check_error(req("GET", "/v2/" .. name .. "/manifests/sha256:totallywrong",
        { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = "blablabla" }), 400, "DIGEST_INVALID")
    end)
    it("teardown: blobs, then manifests, deleted (202)", function()
      for _, d in ipairs{ t.configs[1].digest, t.configs[2].digest, t.layer.digest } do
        assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/blobs/" .. d).status)
      end
      for _, m in ipairs{ t.manifests[1], t.manifests[2] } do
        assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/manifests/" .. m.digest).status)
      end
    end)
  end)

  describe("push", function()
    local last, prev
    it("streamed: PATCH with the blob in the body: 202", function()
      local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
      assert.is_truthy(r.headers.location)
      r = req("PATCH", r.headers.location,
        { headers = { ["Content-Type"] = "application/octet-stream" }, body = t.blob_a.content })
      assert.are.equal(202, r.status)
      last = r
    end)
    it("streamed: PUT to the session with the digest: 201 with Location", function()
      local r = req("PUT", last.headers.location .. "?digest=" .. t.blob_a.digest,
        { headers = { ["Content-Type"] = "application/octet-stream" } })
      assert.are.equal(201, r.status)
      assert.is_truthy(r.headers.location)
    end)
    it("monolithic: GET of a nonexistent blob: 404", function()
      check_error(req("GET", "/v2/" .. name .. "/blobs/" .. t.dummy_digest), 404, "BLOB_UNKNOWN")
    end)
    it("monolithic: POST with digest and blob: 201 (the suite takes 201 or 202)", function()
      local r = req("POST", "/v2/" .. name .. "/blobs/uploads/?digest=" .. t.configs[2].digest,
        { headers = { ["Content-Type"] = "application/octet-stream" }, body = t.configs[2].content })
      assert.is_truthy(r.headers.location)
      assert.are.equal(201, r.status)
    end)
    it("monolithic: GET of that blob: 200", function()
      assert.are.equal(200, req("GET", "/v2/" .. name .. "/blobs/" .. t.configs[2].digest).status)
    end)
    it("monolithic: POST yields a session id (202), PUT of the blob 201, then GET 200", function()
      local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
      assert.are.equal(202, r.status)
      assert.is_truthy(r.headers["docker-upload-uuid"])
      r = req("PUT", r.headers.location .. "?digest=" .. t.configs[2].digest,
        { headers = { ["Content-Type"] = "application/octet-stream" }, body = t.configs[2].content })
      assert.are.equal(201, r.status)
      assert.is_truthy(r.headers.location)
      assert.are.equal(200, req("GET", "/v2/" .. name .. "/blobs/" .. t.configs[2].digest).status)
    end)
    it("monolithic: PUT of a layer: 201, GET 200", function()
      local r = upload(t.layer)
      assert.are.equal(201, r.status)
      assert.are.equal(200, req("GET", "/v2/" .. name .. "/blobs/" .. t.layer.digest).status)
    end)
    it("chunked: an out-of-order chunk: 416", function()
      local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
      assert.is_truthy(r.headers.location)
      r = req("PATCH", r.headers.location, { headers = { ["Content-Type"] = "application/octet-stream",
        ["Content-Range"] = t.chunk2_range }, body = t.chunk2 })
      check_error(r, 416, "BLOB_UPLOAD_INVALID")
    end)
    it("chunked: the first chunk: 202 with Range", function()
      local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
      prev = r
      r = req("PATCH", r.headers.location, { headers = { ["Content-Type"] = "application/octet-stream",
        ["Content-Range"] = t.chunk1_range }, body = t.chunk1 })
      assert.are.equal(202, r.status)
      assert.are.equal(t.chunk1_range, r.headers.range)
      last = r
    end)
    it("chunked: the same chunk again: 416", function()
      check_error(req("PATCH", prev.headers.location, { headers = { ["Content-Type"] = "application/octet-stream",
        ["Content-Range"] = t.chunk1_range }, body = t.chunk1 }), 416, "BLOB_UPLOAD_INVALID")
    end)
    it("chunked: GET of the session: 204 with Range and Location", function()
      local r = req("GET", prev.headers.location)
      assert.are.equal(204, r.status)
      assert.is_truthy(r.headers.location)
      assert.are.equal(t.chunk1_range, r.headers.range)
      last = r
    end)
    it("chunked: the second chunk: 202 with Range over the whole blob", function()
      local r = req("PATCH", last.headers.location, { headers = { ["Content-Type"] = "application/octet-stream",
        ["Content-Range"] = t.chunk2_range }, body = t.chunk2 })
      assert.are.equal(202, r.status)
      assert.are.equal("0-41", r.headers.range)
      assert.is_truthy(r.headers.location)
      last = r
    end)
    it("chunked: PUT with the digest: 201", function()
      local r = req("PUT", last.headers.location .. "?digest=" .. t.blob_b.digest,
        { headers = { ["Content-Type"] = "application/octet-stream" } })
      assert.are.equal(201, r.status)
      assert.is_truthy(r.headers.location)
      assert.are.equal(t.blob_b.content, req("GET", "/v2/" .. name .. "/blobs/" .. t.blob_b.digest).body)
    end)
    it("cross-repository mount without `from`: a session (202)", function()
      local r = req("POST", "/v2/" .. cross .. "/blobs/uploads/?mount=" .. t.dummy_digest)
      assert.are.equal(202, r.status)
      assert.is_truthy(r.headers.location)
    end)
    it("mount of another repository's blob: 201 at /v2/<cross>/blobs/<digest>, then GET 200", function()
      local r = req("POST", "/v2/" .. cross .. "/blobs/uploads/?mount=" .. t.blob_a.digest .. "&from=" .. name)
      assert.are.equal(201, r.status)
      assert.are.equal("/v2/" .. cross .. "/blobs/" .. t.blob_a.digest, r.headers.location)
      r = req("GET", r.headers.location)
      assert.are.equal(200, r.status)
      assert.are.equal(t.blob_a.content, r.body)
    end)
    it("mount of a nonexistent blob: a session under the target repository (202)", function()
      local r = req("POST", "/v2/" .. cross .. "/blobs/uploads/?mount=" .. t.dummy_digest .. "&from=" .. name)
      assert.are.equal(202, r.status)
      assert.is_truthy(r.headers.location:find("/v2/" .. cross .. "/blobs/uploads/", 1, true))
    end)
    it("mount without `from`, automatic content discovery disabled: 202", function()
      assert.are.equal(202, req("POST", "/v2/" .. cross .. "/blobs/uploads/?mount=" .. t.blob_a.digest).status)
    end)
    it("manifest upload: GET of a nonexistent manifest 404; PUT under 4 tags: 201 with Location", function()
      check_error(req("GET", "/v2/" .. name .. "/manifests/" .. t.nonexistent_manifest), 404, "MANIFEST_UNKNOWN")
      for i = 0, 3 do
        local r = put_manifest("test" .. i, t.manifests[2])
        assert.are.equal(201, r.status)
        assert.is_truthy(r.headers.location)
        assert.are.equal(t.manifests[2].digest, r.headers["docker-content-digest"])
      end
    end)
    it("a manifest with no layers (and no mediaType): 201", function()
      local r = put_manifest("emptylayer", t.empty_layer_manifest)
      assert.are.equal(201, r.status)
      assert.is_truthy(r.headers.location)
    end)
    it("GET of the manifest by digest: 200", function()
      assert.are.equal(200, req("GET", "/v2/" .. name .. "/manifests/" .. t.manifests[2].digest,
        { headers = { Accept = fixtures.OCI_MANIFEST } }).status)
    end)
    it("teardown: blobs 202, manifests 202", function()
      for _, d in ipairs{ t.configs[2].digest, t.layer.digest } do
        assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/blobs/" .. d).status)
      end
      for _, m in ipairs{ t.manifests[2], t.empty_layer_manifest } do
        assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/manifests/" .. m.digest).status)
      end
    end)
  end)

  describe("content discovery", function()
    local tags = {}
    it("setup: a blob, a layer, 8 tags", function()
      upload(t.configs[3]); upload(t.layer)
      for i = 0, 3 do
        for _, tag in ipairs{ "test" .. i, "TEST" .. i } do
          assert.are.equal(201, put_manifest(tag, t.manifests[3]).status)
        end
      end
    end)
    it("setup: references, each answered with OCI-Subject", function()
      assert.are.equal("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", t.empty_json.digest)
      upload(t.empty_json); upload(t.ref_a)
      for _, m in ipairs{ t.refs_a_config, t.refs_a_layer } do
        local r = put_manifest(m.digest, m)
        assert.are.equal(201, r.status, r.body)
        assert.are.equal(t.manifests[5].digest, r.headers["oci-subject"])
      end
      local r = put_manifest(t.refs_index.digest, t.refs_index, fixtures.OCI_INDEX)
      assert.are.equal(201, r.status, r.body)
      assert.are.equal(t.manifests[5].digest, r.headers["oci-subject"])
      upload(t.configs[5]); upload(t.layer)
      assert.are.equal(201, put_manifest("tagtest0", t.manifests[5]).status)
      upload(t.ref_b)
      for _, m in ipairs{ t.refs_b_config, t.refs_b_layer } do
        r = put_manifest(m.digest, m)
        assert.are.equal(201, r.status, r.body)
        assert.are.equal(t.manifests[5].digest, r.headers["oci-subject"])
      end
      r = put_manifest(t.refs_c_layer.digest, t.refs_c_layer)
      assert.are.equal(201, r.status, r.body)
      assert.are.equal(t.manifests[4].digest, r.headers["oci-subject"])
    end)
    it("tags/list: 200, sorted", function()
      local r = req("GET", "/v2/" .. name .. "/tags/list")
      assert.are.equal(200, r.status)
      local doc = r:json()
      assert.are.equal(name, doc.name)
      tags = doc.tags
      assert.are.equal(9, #tags) -- 8 + tagtest0
      local sorted = {}
      for i, tg in ipairs(tags) do sorted[i] = tg end
      table.sort(sorted)
      assert.are.same(sorted, tags)
    end)
    it("tags/list?n= limits the count", function()
      local n = math.floor(#tags / 2)
      local r = req("GET", "/v2/" .. name .. "/tags/list?n=" .. n)
      assert.are.equal(200, r.status)
      assert.are.equal(n, #r:json().tags)
    end)
    it("tags/list?n=&last= starts after last", function()
      local n = math.floor(#tags / 2)
      local first = req("GET", "/v2/" .. name .. "/tags/list?n=" .. n):json().tags
      local last = first[n]
      local r = req("GET", "/v2/" .. name .. "/tags/list?n=" .. n .. "&last=" .. last)
      assert.are.equal(200, r.status)
      local page = r:json().tags
      assert.is_true(#page <= n)
      for _, tg in ipairs(page) do assert.are_not.equal(last, tg) end
    end)
    it("referrers of a nonexistent digest: 200, an empty index", function()
      local r = req("GET", "/v2/" .. name .. "/referrers/" .. t.dummy_digest)
      assert.are.equal(200, r.status)
      assert.are.equal(fixtures.OCI_INDEX, r.headers["content-type"])
      assert.are.equal(0, #r:json().manifests)
    end)
    it("referrers of manifest[4]: the 5 artifacts with their annotations", function()
      local r = req("GET", "/v2/" .. name .. "/referrers/" .. t.manifests[5].digest)
      assert.are.equal(200, r.status)
      assert.are.equal(fixtures.OCI_INDEX, r.headers["content-type"])
      local list = r:json().manifests
      assert.are.equal(5, #list)
      assert.are_not.equal(list[1].digest, list[2].digest)
      for _, m in ipairs(list) do
        assert.are.equal(t.annotations[m.digest], m.annotations[t.annotation])
      end
    end)
    it("referrers filtered by artifactType: 2, and OCI-Filters-Applied", function()
      local r = req("GET", "/v2/" .. name .. "/referrers/" .. t.manifests[5].digest .. "?artifactType=" .. t.type_a)
      assert.are.equal(200, r.status)
      assert.are.equal("artifactType", r.headers["oci-filters-applied"])
      local list = r:json().manifests
      assert.are.equal(2, #list)
      for _, m in ipairs(list) do
        assert.are.equal(t.type_a, m.artifactType)
        assert.are.equal(t.annotations[m.digest], m.annotations[t.annotation])
      end
    end)
    it("referrers of a manifest never pushed: the one artifact that names it", function()
      local r = req("GET", "/v2/" .. name .. "/referrers/" .. t.manifests[4].digest)
      assert.are.equal(200, r.status)
      local list = r:json().manifests
      assert.are.equal(1, #list)
      assert.are.equal(t.refs_c_layer.digest, list[1].digest)
    end)
    it("teardown: manifests and blobs deleted (202)", function()
      for _, m in ipairs{ t.refs_index, t.manifests[3], t.manifests[5], t.refs_a_config, t.refs_a_layer,
        t.refs_b_config, t.refs_b_layer, t.refs_c_layer } do
        assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/manifests/" .. m.digest).status)
      end
      for _, b in ipairs{ t.configs[3], t.layer, t.configs[5], t.ref_a, t.ref_b, t.empty_json } do
        assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/blobs/" .. b.digest).status)
      end
    end)
  end)

  describe("content management", function()
    local ntags
    local mname
    it("setup: a config, a layer, tag tagtest0 on manifest[3]", function()
      mname = name .. "/management"
      upload(t.configs[4], mname); upload(t.layer, mname)
      local r = req("PUT", "/v2/" .. mname .. "/manifests/tagtest0",
        { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[4].content })
      assert.are.equal(201, r.status)
      r = req("GET", "/v2/" .. mname .. "/tags/list")
      assert.are.equal(200, r.status)
      ntags = #r:json().tags
    end)
    it("DELETE of the manifest by tag: 202 (the tag goes, the manifest stays)", function()
      assert.are.equal(202, req("DELETE", "/v2/" .. mname .. "/manifests/tagtest0").status)
      assert.are.equal(200, req("GET", "/v2/" .. mname .. "/manifests/" .. t.manifests[4].digest).status)
    end)
    it("DELETE of the manifest by digest: 202", function()
      assert.are.equal(202, req("DELETE", "/v2/" .. mname .. "/manifests/" .. t.manifests[4].digest).status)
    end)
    it("GET of the deleted manifest: 404", function()
      check_error(req("GET", "/v2/" .. mname .. "/manifests/" .. t.manifests[4].digest), 404, "MANIFEST_UNKNOWN")
    end)
    it("tags/list reflects the deletion", function()
      local r = req("GET", "/v2/" .. mname .. "/tags/list")
      assert.are.equal(200, r.status)
      assert.are.equal(ntags - 1, #r:json().tags)
    end)
    it("DELETE of the blobs: 202; GET of the deleted blob: 404", function()
      assert.are.equal(202, req("DELETE", "/v2/" .. mname .. "/blobs/" .. t.configs[4].digest).status)
      assert.are.equal(202, req("DELETE", "/v2/" .. mname .. "/blobs/" .. t.layer.digest).status)
      check_error(req("GET", "/v2/" .. mname .. "/blobs/" .. t.configs[4].digest), 404, "BLOB_UNKNOWN")
    end)
  end)
end)
