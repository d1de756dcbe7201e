-- Running serve unattended: /healthz and /readyz, /metrics read by a real
-- Prometheus parser with counts that are the requests made, the
-- registry-wide read-only switch seen by two nodes within their poll
-- period (and a node's own --read-only), scheduled gc once per period
-- across two nodes, and a node that dies in the middle of its gc handing
-- the job over when its lease expires, and a quota held under concurrent
-- pushes to two nodes.
local helper = require "helper"
local http = require "support.http"
local regstore = require "regstore"
local registry = require "regstore.registry"
local schedule = require "regstore.policy.schedule"
local read_only = require "regstore.policy.read_only"
local prometheus = require "support.prometheus"
local util = require "fixtures.registry.util"

-- Calls f every 0.2 s until it returns a true value (returned) or secs pass.
local function within(secs, f)
  local t0 = regstore.clock()
  repeat
    local v = f()
    if v then return v, regstore.clock() - t0 end
    regstore.sleep(0.2)
  until regstore.clock() - t0 > secs
  return nil, regstore.clock() - t0
end

describe("serve unattended: health, metrics, read-only, schedules #http", function()
  if not http.available() then
    pending("nginx or the LuaJIT build is missing")
    return
  end

  local ns, drv, reg, servers
  before_each(function()
    ns = helper.namespace("http-ops")
    drv = assert(regstore.connect { pool = helper.pool(), namespace = ns })
    reg = registry.new(drv, { cache_size = 0 })
    servers = {}
  end)
  after_each(function()
    for _, s in ipairs(servers) do s:stop() end
    helper.clear(drv)
    drv:close()
  end)
  local function serve(extra)
    local s = http.serve { namespace = ns, extra = extra }
    servers[#servers + 1] = s
    return s
  end

  it("answers /healthz, /readyz and a scrape whose counts are the requests made", function()
    local srv = serve()
    local r = srv:request("GET", "/healthz")
    assert.equal(200, r.status)
    assert.equal("ok\n", r.body)
    local ready = within(10, function()
      local x = srv:request("GET", "/readyz")
      return x.status == 200 and x
    end)
    assert.is_table(ready, "never ready")
    assert.equal("ready", ready:json().status)
    for _ = 1, 3 do assert.equal(200, srv:request("GET", "/v2/").status) end
    for _ = 1, 2 do assert.equal(404, srv:request("GET", "/v2/nope/tags/list").status) end
    for i = 1, 2 do
      local up = srv:request("POST", "/v2/ops/metrics/blobs/uploads/")
      assert.equal(202, up.status)
      if i == 1 then assert.equal(204, srv:request("DELETE", up.headers.location).status) end
    end
    r = srv:request("GET", "/metrics")
    assert.equal(200, r.status)
    assert.matches("^text/plain; version=0.0.4", r.headers["content-type"])
    local m = assert(prometheus.parse(r.body))
    assert.equal(3, m["regstore_http_requests_total{method=GET,route=base,status=200}"])
    assert.equal(2, m["regstore_http_requests_total{method=GET,route=tags,status=404}"])
    assert.equal(3, m["regstore_http_request_duration_seconds_count{route=base}"])
    assert.equal(2, m["regstore_http_request_duration_seconds_bucket{le=+Inf,route=tags}"])
    assert.is_true(m["regstore_http_sent_bytes_total{route=tags}"] > 0)
    assert.equal(0, m.regstore_read_only)
    assert.equal(2, m["regstore_upload_sessions_total{event=started}"])
    assert.equal(1, m["regstore_upload_sessions_total{event=finished}"])
    assert.equal(1, m.regstore_uploads_open)
    assert.equal(2, m["regstore_rados_call_duration_seconds_count{call=upload_create}"])
    assert.equal(2, m["regstore_rados_call_failures_total{call=tags_list,code=name_unknown}"])
    assert.is_true(m.regstore_event_loop_lag_seconds_count > 0)
  end)

  it("turns read-only on two nodes within their poll period; --read-only holds one node", function()
    local a, b, c = serve(), serve(), serve("--read-only")
    for _, s in ipairs { a, b } do assert.equal(202, s:request("POST", "/v2/app/blobs/uploads/").status) end
    local r = c:request("POST", "/v2/app/blobs/uploads/")
    assert.equal(405, r.status)
    assert.equal("UNSUPPORTED", r:code())
    assert.matches("--read-only", r.body, 1, true)
    assert(read_only.set(reg, "moving racks"))
    for _, s in ipairs { a, b } do
      local refused, took = within(10, function()
        local x = s:request("POST", "/v2/app/blobs/uploads/")
        return x.status == 405 and x
      end)
      assert.is_table(refused, "the switch never reached a node")
      assert.matches("moving racks", refused.body, 1, true)
      print(string.format("# read-only switch seen by a node after %.1f s (poll period 2 s)", took))
      assert.equal(200, s:request("GET", "/v2/").status) -- reads go on
      assert.equal(405, s:request("DELETE", "/v2/app/manifests/" .. util.digest("x")).status)
    end
    local m = assert(prometheus.parse(a:request("GET", "/metrics").body))
    assert.equal(1, m.regstore_read_only)
    assert(read_only.clear(reg))
    for _, s in ipairs { a, b } do
      assert.is_truthy(within(10, function() return s:request("POST", "/v2/app/blobs/uploads/").status == 202 end))
    end
  end)

  it("runs scheduled gc once per period across two nodes", function()
    serve("--gc-every 3s --gc-grace 0s")
    serve("--gc-every 3s --gc-grace 0s")
    local starts, owners = {}, {}
    local t0 = regstore.clock()
    while regstore.clock() - t0 < 10 do
      local rec = schedule.last(reg, "gc")
      if rec then
        starts[rec.started] = true
        owners[rec.owner] = true
      end
      regstore.sleep(0.25)
    end
    local list = {}
    for s in pairs(starts) do list[#list + 1] = s end
    table.sort(list)
    print(string.format("# scheduled gc: %d runs in 10 s at every 3 s over two nodes", #list))
    assert.is_true(#list >= 2 and #list <= 4, "runs: " .. #list)
    for i = 2, #list do assert.is_true(list[i] - list[i - 1] >= 2, "two runs within one period") end
    assert.is_true(next(owners) ~= nil)
  end)

  it("hands a dead node's gc over when its lease expires; the job completes", function()
    local repo = reg:repository("app")
    util.push_image(repo, "cfg", { "layer" }, { tag = "v1" })
    local orphans = {}
    for i = 1, 25 do orphans[i] = assert(repo.blobs:put("orphan " .. i)).digest end
    -- a slow gc (2 steps a second) on node a, with a 3 s lease
    local a = serve("--gc-every 2s --gc-grace 0s --gc-rate 2 --maintenance-lease 3")
    local lease = "gc.docker.registry.v2"
    local holder = within(15, function() return drv:lease_holder(lease) end)
    assert.is_string(holder, "node a never took the gc lease")
    local b = serve("--gc-every 2s --gc-grace 0s --maintenance-lease 3")
    -- node a dies (its whole process group, nginx included, by SIGKILL)
    os.execute("/bin/kill -KILL -- -" .. a.pid .. " 2>/dev/null") -- dash's kill knows no "--"
    a.pid = nil
    local died = os.time()
    local rec, took = within(30, function()
      local r = schedule.last(reg, "gc")
      return r and r.owner ~= holder and r.started >= died - 1 and r.ok and r
    end)
    assert.is_table(rec, "node b never ran the job: last record "
      .. require("cjson").encode(schedule.last(reg, "gc") or {}) .. ", holder " .. tostring(drv:lease_holder(lease))
      .. " (was " .. holder .. ")\n" .. b:log())
    print(string.format("# gc lease taken over %.1f s after its holder died (lease 3 s, checks every 1 s)", took))
    assert.is_true(took >= 1.5, "taken over before the lease expired")
    -- b's run (and any after) put back what a parked, then deleted the orphans
    assert.is_truthy(within(20, function()
      for _, d in ipairs(orphans) do
        if reg.blobs:stat(d) then return false end
      end
      return true
    end), "orphans left")
    assert.equal("layer", repo.blobs:get(util.digest("layer")))
    assert(repo.manifests:get(assert(repo.tags:get("v1"))))
    assert.is_nil(drv:list(util.ROOT .. "/_gc"))
    assert(b)
  end)

  it("enforces a quota under concurrent pushes from two nodes: 403 DENIED, never past the limit", function()
    local quota = require "regstore.policy.quota"
    local size, limit = 8192, 12 * 8192
    assert(quota.set(reg, "team", limit))
    local a, b = serve(), serve()
    -- 10 blobs pushed to each node at once (monolithic POSTs), 20 in all
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. http.quote(dir)))
    local scripts, outs, files = {}, {}, {}
    for n, srv in ipairs { a, b } do
      local lines = {}
      for i = 1, 10 do
        local data = helper.bytes(size, n * 100 + i)
        local f = string.format("%s/%d-%d", dir, n, i)
        http.write_file(f, data)
        files[http.digest(data)] = f
        lines[#lines + 1] = string.format("curl -s -o /dev/null -w '%%{http_code} %s\n' -X POST -H 'Expect:' "
          .. "-H 'Content-Type: application/octet-stream' --data-binary @%s "
          .. "'%s/v2/team/app%d/blobs/uploads/?digest=%s'",
          http.digest(data), http.quote(f), srv.url, n, http.digest(data))
      end
      outs[n] = dir .. "/out" .. n
      scripts[n] = "(" .. table.concat(lines, "; ") .. ") >" .. http.quote(outs[n]) .. " 2>&1"
    end
    assert(os.execute(scripts[1] .. " & " .. scripts[2] .. " & wait"))
    local created, refused = {}, 0
    for n = 1, 2 do
      for status, digest in http.read(outs[n]):gmatch("(%d+) (%S+)") do
        if status == "201" then
          created[#created + 1] = { n, digest }
        else
          assert.equal("403", status)
          refused = refused + 1
        end
      end
    end
    assert.equal(12, #created, "admitted past (or short of) the limit")
    assert.equal(8, refused)
    assert.equal(limit, assert(quota.list(reg))[1].used)
    -- every admitted blob pulls whole from either node; a refusal says why
    for _, c in ipairs(created) do
      local r = b:request("GET", string.format("/v2/team/app%d/blobs/%s", c[1], c[2]))
      assert.equal(200, r.status)
      assert.equal(c[2], http.digest(r.body))
    end
    local more = helper.bytes(100, 999)
    local r = a:request("POST", "/v2/team/app1/blobs/uploads/?digest=" .. http.digest(more), http.octets(more))
    assert.equal(403, r.status)
    assert.equal("DENIED", r:code())
    assert.matches("over the quota of team", r.body, 1, true)
    -- a manifest put past the quota is refused the same way, leaving no tag
    local repo = "/v2/team/app" .. created[1][1]
    local content, mt = util.image(http.read(files[created[1][2]]), {})
    r = a:request("PUT", repo .. "/manifests/v1", { body = content, headers = { ["Content-Type"] = mt } })
    assert.equal(403, r.status, r.body)
    assert.equal("DENIED", r:code())
    assert.equal(404, b:request("GET", repo .. "/manifests/v1").status)
    -- other repositories are not covered
    r = a:request("POST", "/v2/other/blobs/uploads/?digest=" .. http.digest(more), http.octets(more))
    assert.equal(201, r.status)
    os.execute("rm -rf " .. http.quote(dir))
  end)

  it("SIGHUP reloads without dropping an upload; SIGTERM lets a request in flight finish", function()
    local srv = serve()
    local data = helper.bytes(3 * 1048576 + 11, 7)
    local r = srv:request("POST", "/v2/ops/reload/blobs/uploads/")
    assert.equal(202, r.status)
    local loc = r.headers.location
    local cut = 1048576 + 5
    r = srv:request("PATCH", loc, http.octets(data:sub(1, cut)))
    assert.equal(202, r.status)
    os.execute("kill -HUP " .. srv.pid)
    regstore.sleep(1.5) -- the new workers take over; the old ones end
    assert.equal(200, srv:request("GET", "/v2/").status)
    r = srv:request("PATCH", loc, http.octets(data:sub(cut + 1, 2 * cut)))
    assert.equal(202, r.status, r.body)
    assert.equal("0-" .. (2 * cut - 1), r.headers.range)
    -- a PATCH still sending (at 1 MB/s) when serve gets SIGTERM finishes
    local body = os.tmpname()
    http.write_file(body, data:sub(2 * cut + 1))
    local out = os.tmpname()
    local curl = string.format("curl -s -o /dev/null -w '%%{http_code}' --limit-rate 1M -X PATCH -H 'Expect:' "
      .. "-H 'Content-Type: application/octet-stream' --data-binary @%s %s >%s 2>&1 &",
      http.quote(body), http.quote(srv.url .. loc), http.quote(out))
    os.execute(curl)
    regstore.sleep(0.3)
    local t0 = regstore.clock()
    srv:stop()
    print(string.format("# serve stopped gracefully in %.1f s with a 0.9 MB PATCH in flight", regstore.clock() - t0))
    assert.equal("202", http.read(out))
    os.remove(body)
    os.remove(out)
    local srv2 = serve()
    r = srv2:request("PUT", loc .. "?digest=" .. http.digest(data))
    assert.equal(201, r.status, r.body)
    r = srv2:request("GET", "/v2/ops/reload/blobs/" .. http.digest(data))
    assert.is_true(r.body == data)
  end)
end)
