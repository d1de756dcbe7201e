-- The HTTP surface of examples/openresty-registry driven directly: uploads in
-- several chunks across an nginx restart, chunked transfer encoding, the
-- refusals (wrong digest, chunk at the wrong offset, bad names and tags, a
-- manifest naming a blob the repository lacks, a manifest over 4 MiB), deletes
-- by digest then by tag, pagination with Link, ranges, basic authentication.
-- Each answer is checked for the spec's status and error code, and the store
-- (read through regstore.registry) for being left as it was.
local helper = require "helper"
local http = require "support.http"
local fixtures = require "http.fixtures"
local registry = require "regstore.registry"

local available = http.available()

describe("registry HTTP surface #http", function()
  if not available then
    pending("nginx or the LuaJIT build (build/luajit/regstore/core.so) is missing")
    return
  end

  local srv, reg, ns
  setup(function()
    local drv
    drv, ns = helper.connect()
    reg = registry.new(drv, { cache_size = 0 })
    srv = http.serve{ namespace = ns }
  end)
  teardown(function() if srv then srv:stop() end end)

  local function req(method, path, opts) return srv:request(method, path, opts) end
  local octets = http.octets
  local function start(name)
    local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
    assert.are.equal(202, r.status)
    return r.headers.location, r.headers["docker-upload-uuid"]
  end
  local function upload(name, b)
    local loc = start(name)
    assert.are.equal(201, req("PUT", loc .. "?digest=" .. b.digest, octets(b.content)).status)
  end

  it("uploads in several PATCHes, one of them chunked, resumed after an nginx restart", function()
    local data = helper.bytes(13 * 1048576 + 4321, 41)
    local b = fixtures.blob(data)
    local loc, id = start("surface/chunks")
    local cut1, cut2 = 5 * 1048576 + 17, 9 * 1048576 + 3
    local r = req("PATCH", loc, octets(data:sub(1, cut1), { ["Content-Range"] = "0-" .. (cut1 - 1) }))
    assert.are.equal(202, r.status)
    assert.are.equal("0-" .. (cut1 - 1), r.headers.range)
    srv:restart()
    r = req("GET", loc)
    assert.are.equal(204, r.status)
    assert.are.equal("0-" .. (cut1 - 1), r.headers.range)
    assert.are.equal(id, r.headers["docker-upload-uuid"])
    -- a Go-style chunked request body (Transfer-Encoding: chunked)
    r = req("PATCH", loc, { headers = { ["Content-Type"] = "application/octet-stream",
      ["Content-Range"] = cut1 .. "-" .. (cut2 - 1) }, body = data:sub(cut1 + 1, cut2), chunked = true })
    assert.are.equal(202, r.status, r.body)
    assert.are.equal("0-" .. (cut2 - 1), r.headers.range)
    r = req("PATCH", loc, octets(data:sub(cut2 + 1)))
    assert.are.equal(202, r.status)
    assert.are.equal("0-" .. (#data - 1), r.headers.range)
    r = req("PUT", loc .. "?digest=" .. b.digest)
    assert.are.equal(201, r.status)
    assert.are.equal(b.digest, r.headers["docker-content-digest"])
    r = req("GET", "/v2/surface/chunks/blobs/" .. b.digest)
    assert.are.equal(200, r.status)
    assert.are.equal(#data, #r.body)
    assert.is_true(r.body == data)
    -- the upload is gone from the store
    local _, _, code = reg:repository("surface/chunks").blobs:resume(id)
    assert.are.equal("blob_upload_unknown", code)
  end)

  it("a monolithic PUT with a chunked body across several pieces, and Range reads", function()
    local data = helper.bytes(9 * 1048576 + 11, 42)
    local b = fixtures.blob(data)
    local loc = start("surface/mono")
    local r = req("PUT", loc .. "?digest=" .. b.digest, { headers = { ["Content-Type"] = "application/octet-stream" },
      body = data, chunked = true })
    assert.are.equal(201, r.status, r.body)
    r = req("GET", "/v2/surface/mono/blobs/" .. b.digest, { headers = { Range = "bytes=4194300-4194310" } })
    assert.are.equal(206, r.status)
    assert.are.equal(data:sub(4194301, 4194311), r.body)
    assert.are.equal("bytes 4194300-4194310/" .. #data, r.headers["content-range"])
    r = req("GET", "/v2/surface/mono/blobs/" .. b.digest, { headers = { Range = "bytes=-5" } })
    assert.are.equal(206, r.status)
    assert.are.equal(data:sub(-5), r.body)
    r = req("GET", "/v2/surface/mono/blobs/" .. b.digest, { headers = { Range = "bytes=3000000-" } })
    assert.are.equal(206, r.status)
    assert.is_true(r.body == data:sub(3000001))
    r = req("GET", "/v2/surface/mono/blobs/" .. b.digest, { headers = { Range = "bytes=99999999-" } })
    assert.are.equal(416, r.status)
    assert.are.equal("bytes */" .. #data, r.headers["content-range"])
  end)

  it("a wrong digest at PUT: 400 DIGEST_INVALID, nothing linked, the upload goes on", function()
    local b = fixtures.blob(helper.bytes(5000, 43))
    local loc = start("surface/digest")
    assert.are.equal(202, req("PATCH", loc, octets(b.content)).status)
    local wrong = http.digest("something else")
    local r = req("PUT", loc .. "?digest=" .. wrong)
    assert.are.equal(400, r.status)
    assert.are.equal("DIGEST_INVALID", r:code())
    assert.are.equal(404, req("HEAD", "/v2/surface/digest/blobs/" .. wrong).status)
    assert.are.equal(404, req("HEAD", "/v2/surface/digest/blobs/" .. b.digest).status)
    r = req("GET", loc)
    assert.are.equal(204, r.status)
    assert.are.equal("0-4999", r.headers.range)
    r = req("PUT", loc .. "?digest=sha256:nothex")
    assert.are.equal(400, r.status)
    assert.are.equal("DIGEST_INVALID", r:code())
    assert.are.equal(201, req("PUT", loc .. "?digest=" .. b.digest).status)
  end)

  it("a PATCH whose Content-Range does not start at the upload's size: 416 with the current Range", function()
    local loc = start("surface/range")
    assert.are.equal(202, req("PATCH", loc, octets("0123456789", { ["Content-Range"] = "0-9" })).status)
    for _, range in ipairs{ "5-14", "11-20", "0-9" } do
      local r = req("PATCH", loc, octets("abcdefghij", { ["Content-Range"] = range }))
      assert.are.equal(416, r.status)
      assert.are.equal("BLOB_UPLOAD_INVALID", r:code())
      assert.are.equal("0-9", r.headers.range)
    end
    local r = req("GET", loc)
    assert.are.equal("0-9", r.headers.range)
    assert.are.equal(201, req("PUT", loc .. "?digest=" .. http.digest("0123456789")).status)
  end)

  it("unknown and cancelled uploads: 404 BLOB_UPLOAD_UNKNOWN", function()
    local loc, id = start("surface/cancel")
    assert.are.equal(204, req("DELETE", loc).status)
    for _, m in ipairs{ "GET", "DELETE" } do
      local r = req(m, loc)
      assert.are.equal(404, r.status)
      assert.are.equal("BLOB_UPLOAD_UNKNOWN", r:code())
    end
    local r = req("PATCH", loc, octets("x"))
    assert.are.equal(404, r.status)
    assert.are.equal("BLOB_UPLOAD_UNKNOWN", r:code())
    r = req("GET", "/v2/surface/cancel/blobs/uploads/not-a-uuid")
    assert.are.equal("BLOB_UPLOAD_UNKNOWN", r:code())
    local _, _, code = reg:repository("surface/cancel").blobs:resume(id)
    assert.are.equal("blob_upload_unknown", code)
  end)

  it("invalid repository names: 400 NAME_INVALID; invalid tags: 400 TAG_INVALID, nothing stored", function()
    for _, path in ipairs{ "/v2/UPPER/tags/list", "/v2/a..b/blobs/uploads/", "/v2/a//b/manifests/latest",
      "/v2/-a/blobs/" .. http.digest("x"), "/v2/" .. string.rep("a", 256) .. "/tags/list" } do
      local method = path:find("uploads/$") and "POST" or "GET"
      local r = req(method, path)
      assert.are.equal(400, r.status, path)
      assert.are.equal("NAME_INVALID", r:code(), path)
    end
    local t = fixtures.new(50)
    upload("surface/tags", t.configs[1]); upload("surface/tags", t.layer)
    for _, tag in ipairs{ "-bad", ".bad", string.rep("x", 129) } do
      local r = req("PUT", "/v2/surface/tags/manifests/" .. tag,
        { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content })
      assert.are.equal(400, r.status, tag)
      assert.are.equal("TAG_INVALID", r:code())
    end
    assert.are.same({}, reg:repository("surface/tags").manifests:list())
  end)

  it("a manifest naming a blob the repository lacks: 400 MANIFEST_BLOB_UNKNOWN, nothing stored", function()
    local t = fixtures.new(60)
    upload("surface/lacks", t.configs[1]) -- not the layer
    local other = "surface/other"
    upload(other, t.layer) -- in another repository only
    local r = req("PUT", "/v2/surface/lacks/manifests/v1",
      { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content })
    assert.are.equal(400, r.status)
    assert.are.equal("MANIFEST_BLOB_UNKNOWN", r:code())
    assert.are.equal(404, req("GET", "/v2/surface/lacks/manifests/" .. t.manifests[1].digest).status)
    assert.are.same({}, reg:repository("surface/lacks").manifests:list())
    assert.are.same({}, reg:repository("surface/lacks").tags:list())
    r = req("PUT", "/v2/surface/lacks/manifests/v1", { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST },
      body = "{not json" })
    assert.are.equal("MANIFEST_INVALID", r:code())
    r = req("PUT", "/v2/surface/lacks/manifests/" .. http.digest("other"),
      { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content })
    assert.are.equal(400, r.status)
  end)

  it("a manifest over 4 MiB: 413, with a length or chunked", function()
    local big = '{"schemaVersion":2,"pad":"' .. string.rep("x", 4 * 1048576) .. '"}'
    for _, chunked in ipairs{ false, true } do
      local r = req("PUT", "/v2/surface/big/manifests/v1",
        { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = big, chunked = chunked })
      assert.are.equal(413, r.status)
      assert.are.equal("SIZE_INVALID", r:code())
    end
  end)

  it("delete of a manifest by digest takes its tags; then by tag: 404", function()
    local t = fixtures.new(70)
    local name = "surface/delete"
    upload(name, t.configs[1]); upload(name, t.layer)
    for _, tag in ipairs{ "a", "b" } do
      assert.are.equal(201, req("PUT", "/v2/" .. name .. "/manifests/" .. tag,
        { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content }).status)
    end
    assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/manifests/" .. t.manifests[1].digest).status)
    assert.are.same({}, req("GET", "/v2/" .. name .. "/tags/list"):json().tags)
    -- no Content-Type: the manifest's own mediaType serves
    local put = req("PUT", "/v2/" .. name .. "/manifests/c", { body = t.manifests[1].content })
    assert.are.equal(201, put.status, put.body)
    assert.are.equal(202, req("DELETE", "/v2/" .. name .. "/manifests/" .. t.manifests[1].digest).status)
    local r = req("DELETE", "/v2/" .. name .. "/manifests/a")
    assert.are.equal(404, r.status)
    assert.are.equal("MANIFEST_UNKNOWN", r:code())
    r = req("DELETE", "/v2/" .. name .. "/manifests/" .. t.manifests[1].digest)
    assert.are.equal(404, r.status)
    assert.are.equal("MANIFEST_UNKNOWN", r:code())
    assert.are.same({}, reg:repository(name).manifests:list())
  end)

  it("_catalog and tags/list pages, followed through Link", function()
    local t = fixtures.new(80)
    local names = {}
    for i = 1, 5 do
      local name = "surface/page/r" .. i
      names[#names + 1] = name
      upload(name, t.configs[1])
    end
    local name = names[1]
    upload(name, t.layer)
    local want = {}
    for i = 1, 7 do
      want[#want + 1] = "t" .. i
      assert.are.equal(201, req("PUT", "/v2/" .. name .. "/manifests/t" .. i,
        { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content }).status)
    end
    local function follow(path, key)
      local all, pages = {}, 0
      while path do
        local r = req("GET", path)
        assert.are.equal(200, r.status)
        pages = pages + 1
        for _, v in ipairs(r:json()[key]) do all[#all + 1] = v end
        path = r.headers.link and r.headers.link:match('^<([^>]+)>; rel="next"$')
      end
      return all, pages
    end
    local got, pages = follow("/v2/" .. name .. "/tags/list?n=3", "tags")
    assert.are.same(want, got)
    assert.are.equal(3, pages)
    local repos = follow("/v2/_catalog?n=2", "repositories")
    local mine = {}
    for _, r in ipairs(repos) do if r:find("^surface/page/") then mine[#mine + 1] = r end end
    assert.are.same(names, mine)
    local r = req("GET", "/v2/" .. name .. "/tags/list?n=0")
    assert.are.same({}, r:json().tags)
    assert.is_nil(r.headers.link)
    r = req("GET", "/v2/_catalog?n=0")
    assert.are.equal(200, r.status)
    assert.are.same({}, r:json().repositories)
    r = req("GET", "/v2/" .. name .. "/tags/list?n=7")
    assert.are.equal(7, #r:json().tags)
    assert.is_nil(r.headers.link) -- a full page with nothing after it
    r = req("GET", "/v2/" .. name .. "/tags/list?n=x")
    assert.are.equal(400, r.status)
    r = req("GET", "/v2/surface/never/tags/list")
    assert.are.equal(404, r.status)
    assert.are.equal("NAME_UNKNOWN", r:code())
  end)

  it("methods a route does not have: 405 with the spec's JSON", function()
    local r = req("POST", "/v2/surface/x/tags/list")
    assert.are.equal(405, r.status)
    assert.are.equal("UNSUPPORTED", r:code())
  end)
end)

describe("registry HTTP basic authentication #http", function()
  if not available then
    pending("nginx or the LuaJIT build is missing")
    return
  end
  local srv
  setup(function()
    srv = http.serve{ namespace = helper.namespace("http-auth"), htpasswd = http.htpasswd { { "alice", "secret" } } }
  end)
  teardown(function() if srv then srv:stop() end end)

  it("answers 401 UNAUTHORIZED with a Basic challenge, then lets the user in", function()
    local r = srv:request("GET", "/v2/")
    assert.are.equal(401, r.status)
    assert.are.equal("UNAUTHORIZED", r:code())
    assert.is_truthy(r.headers["www-authenticate"]:find("^Basic realm="))
    srv.user = "alice:wrong"
    assert.are.equal(401, srv:request("GET", "/v2/").status)
    srv.user = "alice:secret"
    assert.are.equal(200, srv:request("GET", "/v2/").status)
  end)
end)
