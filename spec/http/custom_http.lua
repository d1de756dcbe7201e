-- A registry of a user's own: examples/openresty-custom/nginx.conf, an
-- nginx.conf written over the regstore library (regstore.nginx.configure in
-- init_by_lua, regstore.oci.handle with an auth hook and an on_push hook,
-- handlers of its own calling regstore.nginx.registry() and .driver()), with
-- token auth as the Docker/OCI token flow has it: a Bearer challenge naming
-- its /token location, which checks Basic credentials against an htpasswd
-- file (regstore.oci.htpasswd.check) and signs tokens with a secret. skopeo
-- is refused without credentials (401, the spec's JSON, the challenge) and
-- on locked/... (403), then pushes with credentials, fetching its token
-- itself; the on_push records are the digests skopeo pushed; an anonymous
-- pull gets them back through a pull-only token; forged and expired tokens
-- are refused.
local cjson = require "cjson"
local helper = require "helper"
local http = require "support.http"

local q = http.quote
local sh, must = http.try, http.must

local have, read = http.have, http.read

local available = http.available() and have("skopeo") and have("openssl")

local SERVICE = "regstore-custom" -- as the example names itself

-- base64url without padding, and HMAC-SHA1, through the shell: the spec
-- mints tokens of its own the way the example does.
local function url_safe(b64)
  return (b64:gsub("%s+$", ""):gsub("=+$", ""):gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
end
local function b64url(s)
  local f = os.tmpname()
  http.write_file(f, s)
  local b = must("base64 -w0 " .. q(f))
  os.remove(f)
  return url_safe(b)
end
local function mint(secret, claims)
  local body = b64url(cjson.encode(claims))
  local mac = must(string.format("printf %%s %s | openssl dgst -sha1 -hmac %s -binary | base64 -w0",
    q(body), q(secret)))
  return body .. "." .. url_safe(mac)
end

describe("a user-written nginx.conf over the library, with token auth #http", function()
  if not available then
    pending("nginx, the LuaJIT build, skopeo or openssl is missing")
    return
  end

  local srv, work, img, addr, pushes, digest, secret

  setup(function()
    work = "/tmp/regstore-custom-" .. require("regstore").uuid()
    must("mkdir -p " .. q(work))
    local users = http.htpasswd({ { "alice", "secret" }, { "bob", "hunter2", "-6" } }, work .. "/htpasswd")
    pushes = work .. "/pushes.log"
    secret = "spec-" .. require("regstore").uuid()
    srv = http.nginx("examples/openresty-custom/nginx.conf", {
      POOL = os.getenv("REGSTORE_POOL") or "regstore", NAMESPACE = helper.namespace("http-custom"),
      HTPASSWD = users, PUSHES = pushes, TOKEN_SECRET = secret,
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

  -- A token from /token for scope, as user ("name:password") or anonymous.
  local function token(scope, user)
    local r = srv:request("GET", "/token?service=" .. SERVICE .. "&scope=" .. scope, { user = user })
    assert.are.equal(200, r.status, r.body)
    local doc = r:json()
    assert.are.equal(doc.token, doc.access_token)
    assert.is_true(doc.expires_in > 0)
    assert.is_truthy(doc.issued_at:find("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
    return doc.token
  end
  local function bearer(t) return { headers = { Authorization = "Bearer " .. t } } end
  local function realm() return string.format('Bearer realm="http://%s/token",service="%s"', addr, SERVICE) end

  it("refuses pushes without a token (401, a Bearer challenge) and to locked/ (403), with the spec's JSON", function()
    local ok, out = push("custom/app:v1")
    assert.is_false(ok, out)
    local r = srv:request("GET", "/v2/")
    assert.are.equal(401, r.status)
    assert.are.equal("UNAUTHORIZED", r:code())
    assert.are.equal(realm(), r.headers["www-authenticate"])
    r = srv:request("POST", "/v2/custom/app/blobs/uploads/")
    assert.are.equal(401, r.status)
    assert.are.equal("UNAUTHORIZED", r:code())
    assert.are.equal(realm() .. ',scope="repository:custom/app:pull,push"', r.headers["www-authenticate"])
    -- an anonymous token pulls, and only that
    local anon = token("repository:custom/app:pull,push")
    assert.are.equal(200, srv:request("GET", "/v2/", bearer(anon)).status)
    r = srv:request("POST", "/v2/custom/app/blobs/uploads/", bearer(anon))
    assert.are.equal(401, r.status)
    assert.are.equal("UNAUTHORIZED", r:code())
    assert.are.equal(realm() .. ',scope="repository:custom/app:pull,push",error="insufficient_scope"',
      r.headers["www-authenticate"])
    -- a wrong password gets no token
    r = srv:request("GET", "/token?service=" .. SERVICE .. "&scope=repository:custom/app:pull,push",
      { user = "alice:wrong" })
    assert.are.equal(401, r.status)
    assert.are.equal("UNAUTHORIZED", r:code())
    -- locked/: nobody pushes or deletes, whatever the token says
    ok, out = push("locked/app:v1", "alice:secret")
    assert.is_false(ok, out)
    local alice = token("repository:locked/app:pull,push,delete", "alice:secret")
    r = srv:request("POST", "/v2/locked/app/blobs/uploads/", bearer(alice))
    assert.are.equal(403, r.status)
    assert.are.equal("DENIED", r:code())
    r = srv:request("DELETE", "/v2/locked/app/manifests/v1", bearer(alice))
    assert.are.equal(403, r.status)
    assert.are.equal("DENIED", r:code())
    assert.are.equal(404, srv:request("GET", "/v2/locked/app/manifests/v1", bearer(alice)).status)
    assert.are.equal("", read(pushes))
  end)

  it("pushes with credentials (skopeo fetches its token); on_push records the digests; anyone pulls", function()
    local ok, out = push("custom/app:v1", "alice:secret")
    assert.is_true(ok, out)
    local pushed = read(work .. "/digest"):match("sha256:%x+")
    assert.are.equal(digest, pushed)
    ok, out = push("custom/other:v2", "bob:hunter2") -- a SHA-512 crypt entry: crypt(3) through the FFI
    assert.is_true(ok, out)
    local records = {}
    for line in read(pushes):gmatch("[^\n]+") do records[#records + 1] = line end
    assert.are.same({ "custom/app " .. pushed .. " v1 alice", "custom/other " .. pushed .. " v2 bob" }, records)
    -- the access log names the token's user
    local log = read(srv.dir .. "/access.log")
    assert.is_truthy(log:find(' alice %[[^\n]*"PUT /v2/custom/app/manifests/v1 HTTP/1.1" 201'), log)
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

  it("refuses a forged, a tampered or an expired token (401 invalid_token)", function()
    local path = "/v2/custom/app/tags/list"
    local now = os.time()
    local claims = { sub = "alice", iat = now, exp = now + 300,
      access = { { type = "repository", name = "custom/app", actions = { "pull", "push" } } } }
    -- the spec mints as the example does: with its secret, a token works
    assert.are.equal(200, srv:request("GET", path, bearer(mint(secret, claims))).status)
    local function refused(t)
      local r = srv:request("GET", path, bearer(t))
      assert.are.equal(401, r.status)
      assert.are.equal("UNAUTHORIZED", r:code())
      assert.are.equal(realm() .. ',scope="repository:custom/app:pull",error="invalid_token"',
        r.headers["www-authenticate"])
    end
    refused(mint("not-the-secret", claims))
    -- a real token whose claims are changed: its signature no longer fits
    local real = token("repository:custom/other:pull", "bob:hunter2")
    refused(b64url(cjson.encode(claims)) .. real:match("%..*$"))
    claims.iat, claims.exp = now - 600, now - 300
    refused(mint(secret, claims))
    refused("x.y")
    refused(real .. "x")
    assert.are.equal(200, srv:request("GET", "/v2/custom/other/tags/list", bearer(real)).status)
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
