-- HTTP edge cases, each once a bug (NEWS.md), against `serve` (the library
-- through the example's nginx.conf): a status GET during a PATCH never takes the
-- upload's writer, two PUTs finishing one session (the second finds it gone:
-- 404 BLOB_UPLOAD_UNKNOWN, never 500), page sizes that are not integers
-- (inf, 1e999, INF) refused alike by tags/list and _catalog, Range headers a
-- server ignores (another unit, several ranges: 200 with the whole blob),
-- and the spec's JSON for what nginx refuses itself (TRACE 405, HTTP/2.0
-- request line 505).
local helper = require "helper"
local http = require "support.http"
local fixtures = require "http.fixtures"

local available = http.available()
local q = http.quote

-- Runs a shell command in the background; returns the file its output goes to.
local function background(cmd)
  local out = os.tmpname()
  os.execute(string.format("(%s) >%s 2>&1 &", cmd, q(out)))
  return out
end

local slurp = http.read

-- Waits until file holds a line "rc=N" (the background command is done).
local function wait_done(path, secs)
  for _ = 1, secs * 10 do
    if slurp(path):find("rc=%d+") then return slurp(path) end
    os.execute("sleep 0.1")
  end
  error("background command not done after " .. secs .. " s: " .. slurp(path))
end

-- A curl command line answering "<status> <body>" then rc=N.
local function curl(url, method, extra)
  return string.format("curl -s -S --max-time 120 -X %s -H 'Expect:' %s -w ' %%{http_code}' %s; echo \" rc=$?\"",
    method, extra or "", q(url))
end

local function raw(port, data)
  local f = os.tmpname()
  http.write_file(f, data)
  local out = helper.sh(string.format(
    "timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; cat %s >&3; cat <&3' 2>/dev/null", port, q(f)))
  os.remove(f)
  return tonumber(out:match("^HTTP/1%.1 (%d+)")), out
end

describe("uploads raced by status GETs and PUTs, odd page sizes and ranges, nginx's own refusals #http", function()
  if not available then
    pending("nginx or the LuaJIT build is missing")
    return
  end
  local srv
  setup(function()
    local _, ns = helper.connect()
    srv = http.serve{ namespace = ns }
  end)
  teardown(function() if srv then srv:stop() end end)
  local function req(method, path, opts) return srv:request(method, path, opts) end

  local function start(name)
    local r = req("POST", "/v2/" .. name .. "/blobs/uploads/")
    assert.are.equal(202, r.status)
    return r.headers.location
  end

  it("answers status GETs during a PATCH without disturbing it; the upload completes", function()
    local data = helper.bytes(40 * 1048576, 1901)
    local b = fixtures.blob(data)
    local loc = start("i19/status")
    local file = os.tmpname()
    http.write_file(file, data)
    -- 40 MiB at 10 MiB/s: about 4 s of PATCH, in pieces (the first one into
    -- an upload with no data yet), while 4 loops read its status back to back
    local out = background(curl(srv.url .. loc, "PATCH", "--limit-rate 10M "
      .. "-H 'Content-Type: application/octet-stream' --data-binary @" .. q(file)))
    local loops = {}
    for i = 1, 4 do
      loops[i] = background(string.format(
        "while ! grep -q 'rc=' %s; do curl -s -o /dev/null -w '%%{http_code}\\n' %s; done; echo rc=0",
        q(out), q(srv.url .. loc)))
    end
    local answer = wait_done(out, 60)
    local statuses, wrong = 0, {}
    for _, l in ipairs(loops) do
      for code in wait_done(l, 30):gmatch("(%d%d%d)\n") do
        statuses = statuses + 1
        if code ~= "204" then wrong[#wrong + 1] = code end
      end
      os.remove(l)
    end
    os.remove(file)
    assert.are.same({}, wrong)
    assert.is_true(statuses >= 8, "too few status reads during the PATCH: " .. statuses)
    assert.truthy(answer:find(" 202 rc=0", 1, true), answer)
    local r = req("GET", loc)
    assert.are.equal(204, r.status)
    assert.are.equal("0-" .. (#data - 1), r.headers.range)
    assert.are.equal(201, req("PUT", loc .. "?digest=" .. b.digest).status)
    r = req("GET", "/v2/i19/status/blobs/" .. b.digest)
    assert.are.equal(200, r.status)
    assert.is_true(r.body == data)
  end)

  it("gives one of two PUTs finishing one session 201, the other 201 or 404 BLOB_UPLOAD_UNKNOWN", function()
    for round = 1, 6 do
      local b = fixtures.blob(helper.bytes(3 * 1048576 + round, 1910 + round))
      local loc = start("i19/race")
      local file = os.tmpname()
      -- even rounds: the whole blob in each PUT; odd ones: PATCHed first, empty PUTs
      local body
      if round % 2 == 1 then
        assert.are.equal(202, req("PATCH", loc, http.octets(b.content)).status)
        body = "-H 'Content-Length: 0'"
      else
        http.write_file(file, b.content)
        body = "-H 'Content-Type: application/octet-stream' --data-binary @" .. q(file)
      end
      local url = srv.url .. loc .. "?digest=" .. b.digest
      local o1 = background(curl(url, "PUT", body))
      local o2 = background(curl(url, "PUT", body))
      local answers = { wait_done(o1, 120), wait_done(o2, 120) }
      os.remove(file)
      local created = 0
      for _, a in ipairs(answers) do
        local status = tonumber(a:match(" (%d+) rc=%d+"))
        if status == 201 then
          created = created + 1
        else
          assert.are.equal(404, status, a)
          assert.truthy(a:find('"code":"BLOB_UPLOAD_UNKNOWN"', 1, true), a)
        end
      end
      assert.is_true(created >= 1, table.concat(answers, "\n"))
      local r = req("GET", "/v2/i19/race/blobs/" .. b.digest)
      assert.are.equal(200, r.status)
      assert.is_true(r.body == b.content)
    end
  end)

  it("refuses page sizes that are not integers alike on tags/list and _catalog", function()
    local t = fixtures.new(1920)
    for _, bl in ipairs{ t.configs[1], t.layer } do
      assert.are.equal(201, req("PUT", start("i19/tags") .. "?digest=" .. bl.digest, http.octets(bl.content)).status)
    end
    assert.are.equal(201, req("PUT", "/v2/i19/tags/manifests/v1",
      { headers = { ["Content-Type"] = fixtures.OCI_MANIFEST }, body = t.manifests[1].content }).status)
    for _, n in ipairs{ "inf", "1e999", "INF", "-inf", "nan", "1.5", "0x10", "1e3", " 5", "-1", "" } do
      for _, path in ipairs{ "/v2/i19/tags/tags/list", "/v2/_catalog" } do
        local r = req("GET", path .. "?n=" .. n:gsub(" ", "%%20"))
        assert.are.equal(400, r.status, path .. " n=" .. n .. ": " .. r.body)
        assert.are.equal("UNSUPPORTED", r:code(), path .. " n=" .. n)
      end
    end
    local r = req("GET", "/v2/i19/tags/tags/list?n=99999999999999999999")
    assert.are.equal(200, r.status)
    assert.are.same({ "v1" }, r:json().tags)
    assert.are.equal(200, req("GET", "/v2/_catalog?n=99999999999999999999").status)
    assert.are.equal(200, req("GET", "/v2/i19/tags/tags/list?n=1").status)
  end)

  it("answers 200 with the whole blob to a Range of another unit or of several ranges", function()
    local b = fixtures.blob(helper.bytes(5000, 1930))
    assert.are.equal(201, req("PUT", start("i19/range") .. "?digest=" .. b.digest, http.octets(b.content)).status)
    local path = "/v2/i19/range/blobs/" .. b.digest
    for _, range in ipairs{ "items=0-1", "bytes=0-1,3-4", "bytes=0-1, 3-4", "pages=2" } do
      local r = req("GET", path, { headers = { Range = range } })
      assert.are.equal(200, r.status, range)
      assert.is_nil(r.headers["content-range"], range)
      assert.is_true(r.body == b.content, range)
    end
    local r = req("GET", path, { headers = { Range = "bytes=1-3" } })
    assert.are.equal(206, r.status)
    assert.are.equal(b.content:sub(2, 4), r.body)
    assert.are.equal(416, req("GET", path, { headers = { Range = "bytes=9000-" } }).status)
  end)

  it("answers TRACE and an HTTP/2.0 request line with the spec's JSON", function()
    local r = req("TRACE", "/v2/")
    assert.are.equal(405, r.status)
    assert.are.equal("UNSUPPORTED", r:code(), r.body)
    assert.truthy((r.headers["content-type"] or ""):find("application/json", 1, true))
    local status, answer = raw(srv.port, "GET /v2/ HTTP/2.0\r\nHost: x\r\n\r\n")
    assert.are.equal(505, status, answer)
    assert.truthy(answer:find('"code":"UNSUPPORTED"', 1, true), answer)
  end)
end)
