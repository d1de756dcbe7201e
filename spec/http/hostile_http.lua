-- The OpenResty registry (examples/openresty-registry) under hostile
-- requests: path traversal in names, references and digests
-- (raw "..", "%2e%2e", encoded slashes, NUL, upper case, over-long names, bad
-- digest algorithms), oversized request lines, headers and bodies, a
-- Content-Length that lies either way, slow clients, a flood of upload
-- sessions. Each is refused with the spec's status and JSON error code, the
-- driver tree is walked before and after (nothing new outside the
-- repository's own paths and the blob store), and after each the worker
-- still answers /v2/ and a push and pull. Then a stopped OSD (503
-- UNAVAILABLE within the RADOS timeout, /v2/ meanwhile answered at once, the
-- data intact afterwards), and basic authentication on every route.
local helper = require "helper"
local http = require "support.http"
local fixtures = require "http.fixtures"
local regstore = require "regstore"

local available = http.available()
local clock = regstore.clock
local q = http.quote

local CLIENT_TIMEOUT = 5 -- serve --client-timeout for these specs

local write = http.write_file

-- Every path of the driver tree under "/" (files and directories).
local function tree(drv)
  local out = {}
  local ok, msg, code = drv:walk("/", function(info) out[info.path] = true end)
  assert(ok or code == "not_found", msg)
  return out
end

-- The paths of after that are not in before and not under one of the
-- allowed prefixes (repositories/<name>/ of a name the test used, blobs/).
local function strays(before, after, allowed)
  local bad = {}
  for p in pairs(after) do
    if not before[p] then
      local fine = false
      for _, prefix in ipairs(allowed) do
        if p:sub(1, #prefix) == prefix or prefix:sub(1, #p + 1) == p .. "/" then fine = true end
      end
      if not fine then bad[#bad + 1] = p end
    end
  end
  table.sort(bad)
  return bad
end

local REPOS = "/docker/registry/v2/repositories/"
local BLOBS = "/docker/registry/v2/blobs/"

-- One raw request over bash's /dev/tcp: sends data, reads until the server
-- closes or `secs` pass. Returns the status (nil without an answer), the
-- whole answer and the seconds it took.
local function raw(port, data, secs)
  local f = os.tmpname()
  write(f, data)
  local t0 = clock()
  local out = helper.sh(string.format(
    "timeout %d bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; cat %s >&3; cat <&3' 2>/dev/null", secs, port, q(f)))
  local dt = clock() - t0
  os.remove(f)
  return tonumber(out:match("^HTTP/1%.1 (%d+)")), out, dt
end

local function json_code(answer)
  return answer:match('"code":"([%u_]+)"')
end

describe("registry HTTP under hostile requests #http", function()
  if not available then
    pending("nginx or the LuaJIT build (build/luajit/regstore/core.so) is missing")
    return
  end

  local srv, drv
  setup(function()
    local ns
    drv, ns = helper.connect()
    srv = http.serve{ namespace = ns, extra = "--client-timeout " .. CLIENT_TIMEOUT }
  end)
  teardown(function() if srv then srv:stop() end end)

  local function req(method, path, opts) return srv:request(method, path, opts) end
  local octets = http.octets
  local function start(name)
    local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
    assert.are.equal(202, r.status, r.body)
    return r.headers.location
  end
  local function upload(name, b)
    local loc = start(name)
    local r = req("PUT", loc .. "?digest=" .. b.digest, octets(b.content))
    assert.are.equal(201, r.status, r.body)
  end
  local function push(name, t, tag)
    upload(name, t.configs[1]); upload(name, t.layer)
    local r = req("PUT", "/v2/" .. name .. "/manifests/" .. tag,
      { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content })
    assert.are.equal(201, r.status, r.body)
  end
  local function pull(name, t, tag)
    local r = req("GET", "/v2/" .. name .. "/manifests/" .. tag)
    assert.are.equal(200, r.status, r.body)
    assert.is_true(r.body == t.manifests[1].content, "manifest of " .. name .. ":" .. tag)
    for _, b in ipairs{ t.configs[1], t.layer } do
      r = req("GET", "/v2/" .. name .. "/blobs/" .. b.digest)
      assert.are.equal(200, r.status)
      assert.is_true(r.body == b.content, "blob " .. b.digest)
    end
  end
  -- The worker still serves: /v2/ at once, and a push and pull of a new image.
  local healthy_n = 0
  local function healthy()
    local t0 = clock()
    local r = req("GET", "/v2/", { max_time = 10 })
    assert.are.equal(200, r.status)
    assert.is_true(clock() - t0 < 2, string.format("GET /v2/ took %.1f s", clock() - t0))
    healthy_n = healthy_n + 1
    local t = fixtures.new(1000 + healthy_n)
    push("hostile/healthy", t, "h" .. healthy_n)
    pull("hostile/healthy", t, "h" .. healthy_n)
  end

  it("path traversal, encoded slashes, NUL, upper case, long names, bad digests: refused, nothing stored", function()
    local t = fixtures.new(900)
    push("hostile/base", t, "v1")
    local before = tree(drv)
    local d = t.layer.digest
    local m = { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content }
    local cases = {
      -- names
      { "GET", "/v2/hostile/a/../base/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile/%2e%2e/base/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile/%2E%2E/%2e%2e/etc/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile%2fbase/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile%2Fbase/manifests/v1", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile/ba%00se/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile/./base/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/HOSTILE/base/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/hostile/Base/manifests/v1", 400, "NAME_INVALID" },
      { "GET", "/v2/" .. string.rep("a", 256) .. "/tags/list", 400, "NAME_INVALID" },
      { "GET", "/v2/" .. string.rep("abcdefgh/", 40) .. "x/tags/list", 400, "NAME_INVALID" },
      { "POST", "/v2/hostile/%2e%2e/evil/blobs/uploads/", 400, "NAME_INVALID" },
      { "POST", "/v2/hostile/x/..%2f..%2fbase/blobs/uploads/", 400, "NAME_INVALID" },
      { "PUT", "/v2/hostile/x/manifests/..%2f..%2fbase/manifests/v2", 400, "NAME_INVALID", m },
      { "PUT", "/v2/hostile/x/../base/manifests/v2", 400, "NAME_INVALID", m },
      -- references
      { "PUT", "/v2/hostile/base/manifests/..%2f..%2fother", 400, "TAG_INVALID", m },
      { "PUT", "/v2/hostile/base/manifests/%2e%2e", 400, "TAG_INVALID", m },
      { "PUT", "/v2/hostile/base/manifests/v%00", 400, "TAG_INVALID", m },
      { "PUT", "/v2/hostile/base/manifests/sha256:..%2f..%2f", 400, "DIGEST_INVALID", m },
      { "GET", "/v2/hostile/base/manifests/..%2fv1", 404, "MANIFEST_UNKNOWN" },
      { "GET", "/v2/hostile/base/manifests/sha256:%2e%2e", 400, "DIGEST_INVALID" },
      { "DELETE", "/v2/hostile/base/manifests/..%2fv1", 404, "MANIFEST_UNKNOWN" },
      { "DELETE", "/v2/hostile/base/manifests/%2e%2e", 404, "MANIFEST_UNKNOWN" },
      -- digests
      { "GET", "/v2/hostile/base/blobs/sha256:..%2f..%2f" .. d:sub(8), 400, "DIGEST_INVALID" },
      { "GET", "/v2/hostile/base/blobs/md5:" .. string.rep("0", 32), 400, "DIGEST_INVALID" },
      { "GET", "/v2/hostile/base/blobs/sha1:" .. string.rep("0", 40), 400, "DIGEST_INVALID" },
      { "GET", "/v2/hostile/base/blobs/SHA256:" .. d:sub(8), 400, "DIGEST_INVALID" },
      { "GET", "/v2/hostile/base/blobs/sha256:" .. d:sub(8):upper(), 400, "DIGEST_INVALID" },
      { "GET", "/v2/hostile/base/blobs/sha256:" .. d:sub(8, 70) .. "%00", 400, "DIGEST_INVALID" },
      { "DELETE", "/v2/hostile/base/blobs/sha256:%2e%2e", 400, "DIGEST_INVALID" },
      { "GET", "/v2/hostile/base/referrers/..%2f..%2fx", 400, "DIGEST_INVALID" },
      -- upload ids
      { "PATCH", "/v2/hostile/base/blobs/uploads/..%2f..%2fx", 404, "BLOB_UPLOAD_UNKNOWN", octets("x") },
      { "PUT", "/v2/hostile/base/blobs/uploads/%2e%2e?digest=" .. d, 404, "BLOB_UPLOAD_UNKNOWN", octets("x") },
      { "DELETE", "/v2/hostile/base/blobs/uploads/..", 404, "BLOB_UPLOAD_UNKNOWN" },
      { "GET", "/v2/hostile/base/blobs/uploads/%00", 400, "BLOB_UPLOAD_INVALID" },
      -- outside the API
      { "GET", "/v2/../../etc/passwd", 400, "UNSUPPORTED" },
      { "GET", "/v2/hostile/../../../etc/passwd", 400, "UNSUPPORTED" },
      { "GET", "/elsewhere/../v2/_catalog", 404, "NAME_UNKNOWN" },
    }
    local wrong = {}
    for _, c in ipairs(cases) do
      local r = req(c[1], c[2], c[5])
      if r.status ~= c[3] or r:code() ~= c[4] then
        wrong[#wrong + 1] = string.format("%s %s: %s %s (want %d %s)", c[1], c[2]:sub(1, 100), tostring(r.status),
          tostring(r:code()), c[3], c[4])
      end
    end
    assert.are.same({}, wrong)
    -- a cross mount from a name that climbs out is no mount: a new session
    local r = req("POST", "/v2/hostile/x/blobs/uploads/?mount=" .. d .. "&from=hostile%2F..%2Fbase")
    assert.are.equal(202, r.status)
    assert.are.equal(404, req("HEAD", "/v2/hostile/x/blobs/" .. d).status)
    -- nothing outside hostile/x's own uploads; base unchanged
    assert.are.same({}, strays(before, tree(drv), { REPOS .. "hostile/x/_uploads/" }))
    assert.are.same({ "v1" }, req("GET", "/v2/hostile/base/tags/list"):json().tags)
    pull("hostile/base", t, "v1")
    healthy()
  end)

  it("oversized request lines, headers and bodies: 414, 431, 413 with the JSON body; bodies drained", function()
    local before = tree(drv)
    local r = req("GET", "/v2/hostile/" .. string.rep("a", 10000) .. "/tags/list")
    assert.are.equal(414, r.status)
    assert.are.equal("UNSUPPORTED", r:code())
    r = req("GET", "/v2/", { headers = { ["X-Big"] = string.rep("b", 10000) } })
    assert.are.equal(431, r.status)
    assert.are.equal("UNSUPPORTED", r:code())
    local many = {}
    for i = 1, 40 do many["X-Many-" .. i] = string.rep("c", 1000) end
    r = req("GET", "/v2/hostile/base/tags/list", { headers = many })
    assert.are.equal(431, r.status)
    -- a manifest that says it is 1 GiB: 413 before a byte of it is read
    local port = srv.port
    local status, answer, dt = raw(port, "PUT /v2/hostile/big/manifests/v1 HTTP/1.1\r\nHost: x\r\n" ..
      "Content-Type: " .. fixtures.OCI_MANIFEST .. "\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n{",
      CLIENT_TIMEOUT + 10)
    assert.are.equal(413, status, answer)
    assert.are.equal("SIZE_INVALID", json_code(answer))
    assert.is_true(dt < 3, string.format("413 after %.1f s", dt))
    -- 20 MiB on a POST that starts a session: read and dropped
    r = req("POST", "/v2/hostile/bigpost/blobs/uploads/", octets(helper.bytes(20 * 1048576, 3)))
    assert.are.equal(202, r.status)
    assert.are.equal("0-0", req("GET", r.headers.location).headers.range)
    -- 20 MiB on GET /v2/ and on a tags list
    assert.are.equal(200, req("GET", "/v2/", { body = helper.bytes(20 * 1048576, 4) }).status)
    assert.are.same({}, strays(before, tree(drv), { REPOS .. "hostile/bigpost/_uploads/" }))
    healthy()
  end)

  it("a Content-Length that lies, shorter or longer than the body: no wrong data committed, no hang", function()
    local before = tree(drv)
    local port = srv.port
    local body = helper.bytes(3000, 77)
    local whole = http.digest(body)
    local short, long = 1000, 6000
    local function request(method, path, length, data)
      return string.format("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n" ..
        "Content-Length: %d\r\nConnection: close\r\n\r\n%s", method, path, length, data)
    end
    local report = {}
    local function lie(what, method, path, length, want_status, want_code)
      local status, answer, dt = raw(port, request(method, path, length, body), CLIENT_TIMEOUT + 15)
      report[#report + 1] = string.format("%s: %s %s in %.1f s", what, tostring(status), tostring(json_code(answer)),
        dt)
      assert.is_true(dt < CLIENT_TIMEOUT + 10, report[#report])
      assert.are.equal(want_status, status, what .. ": " .. answer:sub(1, 300))
      if want_code then assert.are.equal(want_code, json_code(answer), what) end
    end
    -- monolithic POST ?digest= and PUT of a session
    lie("monolithic POST, length short", "POST", "/v2/hostile/lie/blobs/uploads/?digest=" .. whole, short, 400,
      "DIGEST_INVALID")
    lie("monolithic POST, length long", "POST", "/v2/hostile/lie/blobs/uploads/?digest=" .. whole, long, 400,
      "BLOB_UPLOAD_INVALID")
    local loc = start("hostile/lie")
    -- a PUT's body is the last chunk: appended, then the commit's digest
    -- check refuses it; the upload keeps the declared bytes, as after a PATCH
    lie("PUT, length short", "PUT", loc .. "?digest=" .. whole, short, 400, "DIGEST_INVALID")
    assert.are.equal("0-" .. (short - 1), req("GET", loc).headers.range)
    lie("PUT, length long", "PUT", loc .. "?digest=" .. whole, long, 400, "BLOB_UPLOAD_INVALID")
    assert.are.equal("0-" .. (short - 1), req("GET", loc).headers.range) -- nothing more
    assert.are.equal(404, req("HEAD", "/v2/hostile/lie/blobs/" .. whole).status)
    -- PATCH: the long one keeps nothing, the short one what it declared
    loc = start("hostile/lie")
    lie("PATCH, length long", "PATCH", loc, long, 400, "BLOB_UPLOAD_INVALID")
    assert.are.equal("0-0", req("GET", loc).headers.range)
    lie("PATCH, length short", "PATCH", loc, short, 202)
    assert.are.equal("0-" .. (short - 1), req("GET", loc).headers.range)
    -- the digest of the whole body does not match what the upload holds
    local r = req("PUT", loc .. "?digest=" .. whole)
    assert.are.equal(400, r.status)
    assert.are.equal("DIGEST_INVALID", r:code())
    assert.are.equal(404, req("HEAD", "/v2/hostile/lie/blobs/" .. whole).status)
    -- what it holds is the declared prefix, byte for byte
    local prefix = http.digest(body:sub(1, short))
    assert.are.equal(201, req("PUT", loc .. "?digest=" .. prefix).status)
    r = req("GET", "/v2/hostile/lie/blobs/" .. prefix)
    assert.is_true(r.body == body:sub(1, short))
    -- a PATCH of more than a piece (4 MiB) that goes silent: the whole
    -- pieces that came are kept (the Range says how much), not the rest
    local big = helper.bytes(5 * 1048576, 78)
    loc = start("hostile/lie")
    local status, answer, dt = raw(port, request("PATCH", loc, 6 * 1048576, big), CLIENT_TIMEOUT + 15)
    report[#report + 1] = string.format("PATCH of 5 MiB, length 6 MiB: %s %s in %.1f s", tostring(status),
      tostring(json_code(answer)), dt)
    assert.are.equal(400, status)
    assert.are.equal("BLOB_UPLOAD_INVALID", json_code(answer))
    assert.is_true(dt < CLIENT_TIMEOUT + 10)
    assert.are.equal("0-" .. (4 * 1048576 - 1), req("GET", loc).headers.range)
    assert.are.equal("DIGEST_INVALID", req("PUT", loc .. "?digest=" .. http.digest(big)):code())
    prefix = http.digest(big:sub(1, 4 * 1048576))
    assert.are.equal(201, req("PUT", loc .. "?digest=" .. prefix).status)
    for _, line in ipairs(report) do print("# " .. line) end
    assert.are.same({}, strays(before, tree(drv), { REPOS .. "hostile/lie/", BLOBS }))
    healthy()
  end)

  it("malformed bodies: bad chunked encoding, two lengths, other transfer encodings: 400/501, nothing kept", function()
    local before = tree(drv)
    local port = srv.port
    local loc = start("hostile/chunks")
    local function head(method, path, extra)
      return string.format("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n%s" ..
        "Connection: close\r\n\r\n", method, path, extra)
    end
    local te = "Transfer-Encoding: chunked\r\n"
    local mpath = "/v2/hostile/chunks/manifests/v1"
    local cases = {
      -- what, request, status, code, whether it waits for the client timeout
      { "chunk size not hex", head("PATCH", loc, te) .. "zz\r\nabc\r\n0\r\n\r\n", 400, "BLOB_UPLOAD_INVALID" },
      { "chunk longer than its size", head("PATCH", loc, te) .. "5\r\nabcdefghij\r\n0\r\n\r\n", 400,
        "BLOB_UPLOAD_INVALID" },
      { "chunk size of 17 hex digits", head("PATCH", loc, te) .. string.rep("f", 17) .. "\r\nabc\r\n0\r\n\r\n", 400,
        "BLOB_UPLOAD_INVALID" },
      { "chunked body that stops", head("PATCH", loc, te) .. "100\r\nabc", 400, "BLOB_UPLOAD_INVALID", true },
      { "chunked manifest, bad size", head("PUT", mpath, te) .. "zz\r\n{}\r\n0\r\n\r\n", 400, "MANIFEST_INVALID" },
      { "manifest shorter than its length", head("PUT", mpath, "Content-Length: 50\r\n") .. "{}", 400,
        "MANIFEST_INVALID", true },
      { "Content-Length and chunked", head("PATCH", loc, "Content-Length: 3\r\n" .. te) .. "3\r\nabc\r\n0\r\n\r\n",
        400, "UNSUPPORTED" },
      { "two Content-Lengths", head("PATCH", loc, "Content-Length: 3\r\nContent-Length: 4\r\n") .. "abc", 400,
        "UNSUPPORTED" },
      { "negative Content-Length", head("PATCH", loc, "Content-Length: -3\r\n") .. "abc", 400, "UNSUPPORTED" },
      { "gzip, chunked", head("PATCH", loc, "Transfer-Encoding: gzip, chunked\r\n"), 501, "UNSUPPORTED" },
    }
    local wrong = {}
    for _, c in ipairs(cases) do
      local status, answer, dt = raw(port, c[2], CLIENT_TIMEOUT + 15)
      local limit = c[5] and CLIENT_TIMEOUT + 5 or 3
      if status ~= c[3] or json_code(answer) ~= c[4] or dt > limit then
        wrong[#wrong + 1] = string.format("%s: %s %s in %.1f s (want %d %s within %d s)", c[1], tostring(status),
          tostring(json_code(answer)), dt, c[3], c[4], limit)
      end
    end
    assert.are.same({}, wrong)
    assert.are.equal("0-0", req("GET", loc).headers.range) -- not a byte of any of them
    assert.are.equal(404, req("GET", mpath).status)
    assert.are.same({}, strays(before, tree(drv), { REPOS .. "hostile/chunks/_uploads/" }))
    healthy()
  end)

  it("20 slow clients trickling headers and bodies do not hold up other requests; header tricklers are cut", function()
    local before = tree(drv)
    local port = srv.port
    local secs = 12 -- each sends a byte a second for this long; client timeout is 5 s between bytes
    local dir = helper.sh("mktemp -d"):gsub("%s+$", "")
    local pids, locs = {}, {}
    for i = 1, 20 do
      local script
      if i <= 10 then -- headers, a line a second
        script = string.format("exec 3<>/dev/tcp/127.0.0.1/%d; printf 'GET /v2/ HTTP/1.1\\r\\nHost: x\\r\\n' >&3; " ..
          "for i in $(seq %d); do sleep 1; printf 'X-Slow-%%d: y\\r\\n' $i >&3 || exit; done; " ..
          "printf 'Connection: close\\r\\n\\r\\n' >&3; cat <&3", port, secs)
      else -- a body of `secs` bytes, a byte a second, to a session of its own
        locs[i] = start("hostile/slow")
        script = string.format("exec 3<>/dev/tcp/127.0.0.1/%d; printf 'PATCH %s HTTP/1.1\\r\\nHost: x\\r\\n" ..
          "Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' >&3; " ..
          "for i in $(seq %d); do sleep 1; printf x >&3 || exit; done; cat <&3", port, locs[i], secs, secs)
      end
      local out = helper.sh(string.format("timeout %d bash -c %s >%s/%d 2>&1 & echo $!", secs + 20, q(script),
        q(dir), i))
      pids[#pids + 1] = tonumber(out:match("%d+"))
    end
    finally(function()
      for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
      os.execute("rm -rf " .. q(dir))
    end)
    os.execute("sleep 2")
    local worst, times = 0, {}
    local t_end = clock() + secs - 4
    while clock() < t_end do
      local t0 = clock()
      local r = req("GET", "/v2/", { max_time = 10 })
      local dt = clock() - t0
      assert.are.equal(200, r.status)
      times[#times + 1] = dt
      if dt > worst then worst = dt end
      os.execute("sleep 0.2")
    end
    table.sort(times)
    print(string.format("# GET /v2/ with 20 slow clients open: %d answers, median %.0f ms, worst %.0f ms",
      #times, times[math.ceil(#times / 2)] * 1000, worst * 1000))
    assert.is_true(worst < 1.5, string.format("GET /v2/ took %.2f s with 20 slow clients open", worst))
    -- ~10 s in: the header tricklers were dropped (nginx's client_header_timeout
    -- counts the whole header: 5 s), before their 12 s of trickling ended
    local alive = {}
    for i = 1, 10 do
      if helper.sh("kill -0 " .. pids[i] .. " 2>/dev/null && echo alive"):find("alive") then alive[#alive + 1] = i end
    end
    assert.are.same({}, alive)
    -- the body tricklers are served, once they are done sending
    for _, pid in ipairs(pids) do
      helper.sh(string.format("for _ in $(seq 300); do kill -0 %d 2>/dev/null || break; sleep 0.1; done", pid))
    end
    local wrong = {}
    for i = 1, 20 do
      local f = io.open(dir .. "/" .. i)
      local answer = f and f:read("*a") or ""
      if f then f:close() end
      local want = i > 10 and 202 or nil -- nginx drops a header trickler without an answer (408)
      if tonumber(answer:match("^HTTP/1%.1 (%d+)")) ~= want then
        wrong[#wrong + 1] = string.format("client %d: %q (want %s)", i, answer:sub(1, 60), tostring(want))
      elseif i > 10 and req("GET", locs[i]).headers.range ~= "0-" .. (secs - 1) then
        wrong[#wrong + 1] = string.format("client %d: upload holds %s", i, req("GET", locs[i]).headers.range)
      end
    end
    assert.are.same({}, wrong)
    assert.are.same({}, strays(before, tree(drv), { REPOS .. "hostile/slow/" }))
    healthy() -- a push and pull meanwhile
  end)

  it("a flood of 500 upload sessions: every one answered, the worker keeps serving", function()
    local before = tree(drv)
    local N = 500
    local cfg = os.tmpname()
    -- one curl, 50 requests at a time; the options before the first url apply to all
    local lines = { 'request = "POST"', 'header = "Content-Length: 0"',
      'write-out = "%{http_code} %header{docker-upload-uuid}\\n"' }
    for _ = 1, N do
      lines[#lines + 1] = string.format('url = "%s/v2/hostile/flood/blobs/uploads/"\noutput = "/dev/null"', srv.url)
    end
    write(cfg, table.concat(lines, "\n") .. "\n")
    local t0 = clock()
    local out = helper.sh("curl -s --no-progress-meter --max-time 120 -Z --parallel-immediate --parallel-max 50 -K "
      .. q(cfg))
    local dt = clock() - t0
    os.remove(cfg)
    local counts, ids = {}, {}
    for status, id in out:gmatch("(%d+) ([%x-]*)\n") do
      counts[status] = (counts[status] or 0) + 1
      if id ~= "" then ids[id] = true end
    end
    local n_ids = 0
    for _ in pairs(ids) do n_ids = n_ids + 1 end
    print(string.format("# %d upload sessions started in %.1f s (50 at a time): %d distinct ids", N, dt, n_ids))
    assert.are.same({ ["202"] = N }, counts)
    assert.are.equal(N, n_ids)
    assert.are.same({}, strays(before, tree(drv), { REPOS .. "hostile/flood/_uploads/" }))
    healthy()
  end)
end)

-------------------------------------------------------------------------------
-- The OSD stopped (SIGSTOP), as the bounded-calls spec of the engine does
-- (spec/driver/invariants_spec.lua): one request at a time, STOP_MAX seconds at
-- most (spec/support/osd.lua says why).
describe("registry HTTP with the OSD stopped #http #cluster", function()
  if not available then
    pending("nginx or the LuaJIT build is missing")
    return
  end
  local TIMEOUT = 3
  local STOP_MAX = TIMEOUT + 4
  local srv
  local osd -- the stopper, once the test runs
  local function pause(secs) os.execute("sleep " .. secs) end
  local function stop() osd:stop() end
  local function resume() if osd then osd:resume() end end

  setup(function()
    srv = http.serve{ namespace = helper.namespace("http-osd"), extra = "--timeout " .. TIMEOUT }
  end)
  teardown(function()
    resume()
    if srv then srv:stop() end
  end)

  it("blobs, manifests and uploads answer 503 UNAVAILABLE within the timeout; /v2/ answers; data intact", function()
    local function req(method, path, opts) return srv:request(method, path, opts) end
    local octets = http.octets
    local name = "hostile/outage"
    local t = fixtures.new(950)
    local function upload(b)
      local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
      assert.are.equal(202, r.status, r.body)
      assert.are.equal(201, req("PUT", r.headers.location .. "?digest=" .. b.digest, octets(b.content)).status)
    end
    upload(t.configs[1]); upload(t.layer)
    local mput = { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content }
    assert.are.equal(201, req("PUT", "/v2/" .. name .. "/manifests/v1", mput).status)
    local loc = req("POST", "/v2/" .. name .. "/blobs/uploads/").headers.location
    assert.is_truthy(loc)
    -- every thread VM connected before the stops: each job lands on whichever VM is free
    for _ = 1, 8 do
      assert.are.equal(200, req("GET", "/v2/" .. name .. "/blobs/" .. t.layer.digest).status)
      assert.are.equal(200, req("HEAD", "/v2/" .. name .. "/manifests/v1").status)
    end

    osd = require("support.osd").stopper(STOP_MAX)
    finally(resume)
    local cases = {
      { "blob GET", "GET", "/v2/" .. name .. "/blobs/" .. t.layer.digest },
      { "blob HEAD", "HEAD", "/v2/" .. name .. "/blobs/" .. t.configs[1].digest },
      { "manifest GET", "GET", "/v2/" .. name .. "/manifests/v1" },
      { "manifest HEAD", "HEAD", "/v2/" .. name .. "/manifests/" .. t.manifests[1].digest },
      { "manifest PUT", "PUT", "/v2/" .. name .. "/manifests/v2", mput },
      { "upload POST", "POST", "/v2/" .. name .. "/blobs/uploads/" },
      { "upload PATCH", "PATCH", loc, octets("some bytes") },
      { "upload PUT", "PUT", loc .. "?digest=" .. http.digest("some bytes"), octets("some bytes") },
      { "tags list", "GET", "/v2/" .. name .. "/tags/list" },
      { "catalog", "GET", "/v2/_catalog" },
      { "referrers", "GET", "/v2/" .. name .. "/referrers/" .. t.manifests[1].digest },
    }
    local report, failed, void = {}, false, 0
    local v2_worst = 0
    for _, c in ipairs(cases) do
      stop()
      -- the request in the background; /v2/ meanwhile, three times
      local out = os.tmpname()
      local opts = c[4] or {}
      local body_args = ""
      if opts.body then
        local bf = out .. ".in"
        local f = assert(io.open(bf, "wb")); f:write(opts.body); f:close()
        body_args = "--data-binary @" .. q(bf) .. " -H " .. q("Content-Type: " .. opts.headers["Content-Type"])
      elseif c[2] == "POST" or c[2] == "PATCH" then
        body_args = "-H 'Content-Length: 0'"
      end
      local method = c[2] == "HEAD" and "-I" or ("-X " .. c[2])
      local cmd = string.format("curl -s --max-time 30 %s %s -D %s -o %s -w '%%{http_code} %%{time_total}' %s > %s",
        method, body_args, q(out .. ".head"), q(out .. ".body"), q(srv.url .. c[3]), q(out))
      local bg = tonumber((helper.sh(cmd .. " 2>/dev/null & echo $!")):match("%d+"))
      pause(0.3)
      for _ = 1, 3 do
        local t0 = clock()
        local r = req("GET", "/v2/", { max_time = 10 })
        local dt = clock() - t0
        if r.status ~= 200 then failed = true end
        if dt > v2_worst then v2_worst = dt end
        pause(0.3)
      end
      helper.sh("while kill -0 " .. bg .. " 2>/dev/null; do sleep 0.1; done")
      local held = osd:stopped()
      resume()
      local f = assert(io.open(out))
      local status, secs = f:read("*a"):match("(%d+) ([%d.]+)")
      f:close()
      local hf = assert(io.open(out .. ".head"))
      local head = hf:read("*a")
      hf:close()
      local bodyf = io.open(out .. ".body")
      local body = bodyf and bodyf:read("*a") or ""
      if bodyf then bodyf:close() end
      for _, p in ipairs{ out, out .. ".head", out .. ".body", out .. ".in" } do os.remove(p) end
      status, secs = tonumber(status), tonumber(secs)
      local code = c[2] == "HEAD" and "-" or json_code(body)
      local line = string.format("%s: %s %s in %.1f s", c[1], tostring(status), tostring(code), secs or -1)
      local good = status == 503 and (c[2] == "HEAD" or code == "UNAVAILABLE") and secs and secs <= TIMEOUT + 2
        and head:lower():find("content-type: application/json", 1, true)
      if not good and not held and secs and secs <= TIMEOUT + 2 then
        -- the OSD was running again (another process resumed it): proves nothing
        void = void + 1
        if void > 2 then failed = true end
        line = line .. "  (the OSD was running again: resumed by another process; not counted)"
      elseif not good then
        failed = true
        line = line .. "  <-- expected 503 UNAVAILABLE (JSON) within " .. (TIMEOUT + 2) .. " s"
      end
      report[#report + 1] = line
      pause(0.5) -- the OSD catches up before the next stop
    end
    -- 24 requests at once (blob GETs and HEADs, manifest GETs): more than
    -- the 6 threads, yet each answers within the timeout, none queues
    -- behind another's timeout
    stop()
    local cfg = os.tmpname()
    local lines = {}
    for i = 1, 24 do -- a block of options per url, "next" between them
      local path = ({ "/blobs/" .. t.layer.digest, "/manifests/v1", "/blobs/" .. t.configs[1].digest })[i % 3 + 1]
      lines[#lines + 1] = string.format('url = "%s/v2/%s%s"\noutput = "/dev/null"\n' ..
        'write-out = "%%{http_code} %%{time_total}\\n"%s', srv.url, name, path, i % 4 == 0 and "\nhead" or "")
    end
    write(cfg, table.concat(lines, "\nnext\n") .. "\n")
    local burst = helper.sh("curl -s --no-progress-meter --max-time 30 -Z --parallel-immediate --parallel-max 24 -K "
      .. q(cfg))
    resume()
    os.remove(cfg)
    local statuses, burst_worst, at_once = {}, 0, 0
    for status, secs in burst:gmatch("(%d+) ([%d.]+)") do
      statuses[status] = (statuses[status] or 0) + 1
      if tonumber(secs) > burst_worst then burst_worst = tonumber(secs) end
      if tonumber(secs) < 1 then at_once = at_once + 1 end
    end
    local counts = {}
    for k, v in pairs(statuses) do counts[#counts + 1] = v .. " x " .. k end
    table.sort(counts)
    report[#report + 1] = string.format("24 at once: %s in at most %.1f s (%d in under 1 s)",
      table.concat(counts, ", "), burst_worst, at_once)
    if statuses["503"] ~= 24 or burst_worst > TIMEOUT + 2 then
      failed = true
      report[#report] = report[#report] .. "  <-- expected 24x503 within " .. (TIMEOUT + 2) .. " s"
    end
    pause(0.5)

    for _, line in ipairs(report) do print("# " .. line) end
    print(string.format("# GET /v2/ during the stops: worst %.0f ms", v2_worst * 1000))
    assert.is_false(failed, "\n" .. table.concat(report, "\n"))
    assert.is_true(v2_worst < 1.5, string.format("GET /v2/ took %.2f s with the OSD stopped", v2_worst))

    -- answers again (bounded), and what was pushed before pulls back intact
    local t0 = clock()
    local r
    repeat
      r = req("GET", "/v2/" .. name .. "/manifests/v1", { max_time = 10 })
      if r.status ~= 200 then pause(0.5) end
    until r.status == 200 or clock() - t0 > 30
    assert.are.equal(200, r.status, "no manifest GET succeeded within 30 s of SIGCONT")
    assert.is_true(r.body == t.manifests[1].content)
    for _, b in ipairs{ t.configs[1], t.layer } do
      r = req("GET", "/v2/" .. name .. "/blobs/" .. b.digest)
      assert.are.equal(200, r.status)
      assert.is_true(r.body == b.content)
    end
    local t2 = fixtures.new(960)
    upload(t2.configs[1]); upload(t2.layer)
    assert.are.equal(201, req("PUT", "/v2/" .. name .. "/manifests/after",
      { headers = mput.headers, body = t2.manifests[1].content }).status)
    assert.is_true(req("GET", "/v2/" .. name .. "/manifests/after").body == t2.manifests[1].content)
  end)
end)

-------------------------------------------------------------------------------
describe("registry HTTP basic authentication on every route #http", function()
  if not available then
    pending("nginx or the LuaJIT build is missing")
    return
  end
  local srv
  setup(function()
    srv = http.serve{ namespace = helper.namespace("http-auth"), htpasswd = http.htpasswd { { "alice", "secret" } } }
  end)
  teardown(function() if srv then srv:stop() end end)

  it("401 with the Basic challenge without or with wrong credentials; the right ones work", function()
    local t = fixtures.new(970)
    local name = "auth/repo"
    local b = fixtures.blob(helper.bytes(4000, 971))
    local state = {} -- the upload's location, filled in as the rows run
    local mt = { ["Content-Type"] = fixtures.OCI_MANIFEST }
    local oct = { ["Content-Type"] = "application/octet-stream" }
    local function upload(blob)
      local r = srv:request("POST", "/v2/" .. name .. "/blobs/uploads/", { user = "alice:secret" })
      assert.are.equal(202, r.status)
      assert.are.equal(201, srv:request("PUT", r.headers.location .. "?digest=" .. blob.digest,
        { user = "alice:secret", headers = oct, body = blob.content }).status)
    end
    -- method, path (or a function of state), options, the status with the right credentials
    local rows = {
      { "GET", "/v2/", nil, 200 },
      { "HEAD", "/v2/", nil, 200 },
      { "POST", "/v2/" .. name .. "/blobs/uploads/", nil, 202,
        function(r) state.loc = r.headers.location end },
      { "GET", function() return state.loc end, nil, 204 },
      { "PATCH", function() return state.loc end, { headers = oct, body = b.content }, 202 },
      { "PUT", function() return state.loc .. "?digest=" .. b.digest end, nil, 201 },
      { "POST", "/v2/" .. name .. "/blobs/uploads/", nil, 202, function(r) state.loc2 = r.headers.location end },
      { "DELETE", function() return state.loc2 end, nil, 204 },
      { "POST", "/v2/" .. name .. "/blobs/uploads/?mount=" .. b.digest .. "&from=" .. name, nil, 201 },
      { "HEAD", "/v2/" .. name .. "/blobs/" .. b.digest, nil, 200 },
      { "GET", "/v2/" .. name .. "/blobs/" .. b.digest, nil, 200,
        function(r) assert.is_true(r.body == b.content) end },
      { "PUT", "/v2/" .. name .. "/manifests/v1", { headers = mt, body = t.manifests[1].content }, 201 },
      { "GET", "/v2/" .. name .. "/manifests/v1", nil, 200 },
      { "HEAD", "/v2/" .. name .. "/manifests/" .. t.manifests[1].digest, nil, 200 },
      { "GET", "/v2/" .. name .. "/tags/list", nil, 200 },
      { "GET", "/v2/_catalog", nil, 200 },
      { "GET", "/v2/" .. name .. "/referrers/" .. t.manifests[1].digest, nil, 200 },
      { "DELETE", "/v2/" .. name .. "/manifests/v1", nil, 202 },
      { "DELETE", "/v2/" .. name .. "/manifests/" .. t.manifests[1].digest, nil, 202 },
      { "DELETE", "/v2/" .. name .. "/blobs/" .. b.digest, nil, 202 },
      { "GET", "/v2/nothing/here/manifests/x", nil, 404 },
      { "GET", "/_regstore/loop", nil, 200 },
    }
    upload(t.configs[1]); upload(t.layer)
    local wrong = {}
    for i, row in ipairs(rows) do
      local path = type(row[2]) == "function" and row[2]() or row[2]
      local opts = row[3] or {}
      for _, user in ipairs{ false, "alice:wrong", "mallory:secret" } do
        local o = { headers = opts.headers, body = opts.body, user = user or nil }
        local r = srv:request(row[1], path, o)
        local challenge = r.headers["www-authenticate"] or ""
        if r.status ~= 401 or not challenge:find("^Basic realm=")
          or (row[1] ~= "HEAD" and r:code() ~= "UNAUTHORIZED") then
          wrong[#wrong + 1] = string.format("row %d %s %s as %s: %s %s", i, row[1], path, tostring(user),
            tostring(r.status), challenge)
        end
      end
      local r = srv:request(row[1], path, { headers = opts.headers, body = opts.body, user = "alice:secret" })
      if r.status ~= row[4] then
        wrong[#wrong + 1] = string.format("row %d %s %s as alice: %s, want %d", i, row[1], path,
          tostring(r.status), row[4])
      elseif row[5] then
        row[5](r)
      end
    end
    assert.are.same({}, wrong)
  end)
end)
