-- A registry of a user's own: examples/openresty-custom/nginx.conf, an
-- nginx.conf written over the regstore library (regstore.nginx.configure in
-- init_by_lua, regstore.oci.handle with an auth hook and an on_push hook, a
-- handler of its own calling regstore.nginx.registry()). The hook lets
-- anyone pull, wants a user of the htpasswd file to push, and refuses every
-- push to locked/...: skopeo is refused (401 and 403, with the spec's JSON),
-- then pushes with credentials; the on_push records are the digests skopeo
-- pushed; an anonymous pull gets them back.
local helper = require "helper"
local http = require "support.http"

local q = http.quote
local sh, must = http.try, http.must

local have, read = http.have, http.read

local available = http.available() and have("skopeo")

describe("a user-written nginx.conf over the library #http", function()
  if not available then
    pending("nginx, the LuaJIT build or skopeo is missing")
    return
  end

  local srv, work, img, addr, pushes, digest

  setup(function()
    work = "/tmp/regstore-custom-" .. require("regstore").uuid()
    must("mkdir -p " .. q(work))
    local users = http.htpasswd({ { "alice", "secret" }, { "bob", "hunter2", "-6" } }, work .. "/htpasswd")
    pushes = work .. "/pushes.log"
    srv = http.nginx("examples/openresty-custom/nginx.conf", {
      POOL = os.getenv("REGSTORE_POOL") or "regstore", NAMESPACE = helper.namespace("http-custom"),
      HTPASSWD = users, PUSHES = pushes,
    })
    addr = "127.0.0.1:" .. srv.port
    img = work .. "/layout"
    digest = must(string.format("lua5.4 scripts/mkimage.lua image %s v1 amd64 c1 1000 300000", q(img)))
      :match("(sha256:%x+)")
  end)
  teardown(function()
    if srv then srv:stop() end
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  local function push(dest, creds)
    return sh(string.format("skopeo copy --retry-times 0 --dest-tls-verify=false --preserve-digests "
      .. "--digestfile %s %s oci:%s:v1 docker://%s/%s", q(work .. "/digest"),
      creds and ("--dest-creds " .. q(creds)) or "--dest-no-creds", q(img), addr, dest))
  end

  it("refuses pushes without credentials (401) and to locked/ (403) with the spec's JSON", function()
    local ok, out = push("custom/app:v1")
    assert.is_false(ok, out)
    local r = srv:request("POST", "/v2/custom/app/blobs/uploads/")
    assert.are.equal(401, r.status)
    assert.are.equal("UNAUTHORIZED", r:code())
    assert.are.equal('Basic realm="custom"', r.headers["www-authenticate"])
    r = srv:request("POST", "/v2/custom/app/blobs/uploads/", { user = "alice:wrong" })
    assert.are.equal(401, r.status)
    ok, out = push("locked/app:v1", "alice:secret")
    assert.is_false(ok, out)
    r = srv:request("POST", "/v2/locked/app/blobs/uploads/", { user = "alice:secret" })
    assert.are.equal(403, r.status)
    assert.are.equal("DENIED", r:code())
    r = srv:request("DELETE", "/v2/locked/app/manifests/v1", { user = "alice:secret" })
    assert.are.equal(403, r.status)
    assert.are.equal("DENIED", r:code())
    assert.are.equal("", read(pushes))
  end)

  it("pushes with credentials; on_push records what skopeo pushed; anyone pulls it back", function()
    local ok, out = push("custom/app:v1", "alice:secret")
    assert.is_true(ok, out)
    local pushed = read(work .. "/digest"):match("sha256:%x+")
    assert.are.equal(digest, pushed)
    ok, out = push("custom/other:v2", "bob:hunter2") -- a SHA-512 crypt entry: crypt(3) through the FFI
    assert.is_true(ok, out)
    local records = {}
    for line in read(pushes):gmatch("[^\n]+") do records[#records + 1] = line end
    assert.are.same({ "custom/app " .. pushed .. " v1 alice", "custom/other " .. pushed .. " v2 bob" }, records)
    local dir = work .. "/pulled"
    must(string.format("skopeo copy --retry-times 0 --src-tls-verify=false --src-no-creds --preserve-digests "
      .. "docker://%s/custom/app:v1 dir:%s", addr, q(dir)))
    assert.are.equal(pushed, http.digest(read(dir .. "/manifest.json")))
    local r = srv:request("GET", "/v2/_catalog")
    assert.are.equal(200, r.status)
    assert.are.same({ "custom/app", "custom/other" }, r:json().repositories)
    -- the user's own handler, through regstore.nginx.registry()
    r = srv:request("GET", "/repositories")
    assert.are.equal(200, r.status)
    assert.are.equal("custom/app\ncustom/other\n", r.body)
  end)

  it("serves a handler of its own over regstore.nginx.driver(): writer, reader, get_content", function()
    local note = helper.bytes(300001, 1950)
    assert.are.equal(404, srv:request("GET", "/notes/a1").status)
    local r = srv:request("PUT", "/notes/a1", http.octets(note))
    assert.are.equal(201, r.status, r.body)
    r = srv:request("GET", "/notes/a1")
    assert.are.equal(200, r.status)
    assert.are.equal(#note, #r.body)
    assert.is_true(r.body == note)
    r = srv:request("GET", "/notes/a1?whole=1")
    assert.are.equal(200, r.status)
    assert.is_true(r.body == note)
  end)
end)
