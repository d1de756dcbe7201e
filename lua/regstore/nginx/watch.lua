--- What every worker needs to know of the cluster, learnt in the
-- background: whether RADOS answers (/readyz) and whether the registry is
-- read-only (regstore.policy.read_only). One worker per nginx probes every
-- `interval` seconds on the meta thread pool: one job, the root's stat and
-- the read-only flag's read; the result goes to a shared dict that every
-- worker reads without any I/O. This is how distribution's health checks
-- work (a periodic storage driver check, its last result served).
--
--   lua_shared_dict rs_state 1m;                              -- nginx.conf
--   watch.start{ dict = "rs_state", interval = 2, deadline = 2 }  -- init_worker_by_lua
--   watch.healthz()  watch.readyz()                            -- content_by_lua
--   watch.read_only()  --> false, or the reason (a string)
--
-- readyz answers 200 when the last probe succeeded within `deadline`
-- seconds and is younger than three intervals plus the deadline; else 503
-- with the reason (the probe's error, its slowness, or no answer since).
-- `serve --read-only` sets the mode for the node whatever the flag says.

local json = require "cjson.safe"
local threads = require "regstore.nginx.threads"

local watch = {}

local dict, interval, deadline, forced
local probing = false -- one probe at a time: a stalled one is not joined by more

--- The probe, in a thread VM: a round trip to RADOS and the flag's read.
function watch.probe_job()
  local jobs = require "regstore.nginx.jobs"
  local reg, msg, code = jobs.registry()
  if not reg then return nil, msg, code end
  local clock = require("regstore").clock
  local t0 = clock()
  local flag
  flag, msg, code = require("regstore.policy.read_only").get(reg)
  if flag == nil then return nil, msg, code end
  return { seconds = clock() - t0, read_only = flag and flag.reason or false }
end

local function probe(premature)
  if premature or probing then return end
  probing = true
  ngx.update_time()
  local t0 = ngx.now()
  local ok, r, msg, code = pcall(threads.run, "meta", "regstore.nginx.watch", "probe_job")
  if not ok then r, msg, code = nil, r, "io" end
  ngx.update_time()
  local took = ngx.now() - t0
  if r then
    dict:set("probe_ok", true)
    dict:set("probe_error", "")
    dict:set("read_only", r.read_only or "")
  else
    dict:set("probe_ok", false)
    dict:set("probe_error", string.format("%s (%s)", tostring(msg), tostring(code)))
  end
  dict:set("probe_at", ngx.now())
  dict:set("probe_seconds", took)
  probing = false
end

--- Starts the probes (init_worker_by_lua*): only worker 0 probes; every
-- worker reads. opts: dict ("rs_state"), interval (2 s), deadline (2 s),
-- read_only (true: this node refuses writes whatever the flag says).
function watch.start(opts)
  opts = opts or {}
  local name = opts.dict or "rs_state"
  dict = ngx.shared[name]
  if not dict then
    error(string.format("regstore.nginx.watch: no lua_shared_dict %q (add `lua_shared_dict %s 1m;` to the "
      .. "http block)", name, name), 2)
  end
  interval, deadline, forced = opts.interval or 2, opts.deadline or 2, opts.read_only and true or false
  if ngx.worker.id() ~= 0 then return end
  local ok, err = ngx.timer.at(0, probe)
  if ok then ok, err = ngx.timer.every(interval, probe) end
  if not ok then ngx.log(ngx.ERR, "regstore.nginx.watch: ", err) end
end

--- false, or why writes are refused.
function watch.read_only()
  if forced then return "this registry node is read-only (serve --read-only)" end
  if not dict then return false end
  local r = dict:get("read_only")
  if r and r ~= "" then return r end
  return false
end

--- 200 "ok": the process is up and its event loop answers.
function watch.healthz()
  ngx.header["Content-Type"] = "text/plain"
  ngx.say("ok")
end

local function not_ready()
  if not dict then return "regstore.nginx.watch is not started" end
  local at = dict:get("probe_at")
  if not at then return "no probe of the storage yet" end
  ngx.update_time()
  local age = ngx.now() - at
  if age > 3 * interval + deadline then
    return string.format("the storage has not answered for %.1f s", age)
  end
  if not dict:get("probe_ok") then return "the storage failed: " .. tostring(dict:get("probe_error")) end
  local took = dict:get("probe_seconds") or 0
  if took > deadline then
    return string.format("the storage answered in %.2f s (more than %g s)", took, deadline)
  end
  return nil, age, took
end

--- 200 with {"status":"ready",...} when the storage answered within the
-- deadline lately; 503 with {"status":"unavailable","reason":...} else.
function watch.readyz()
  local why, age, took = not_ready()
  ngx.header["Content-Type"] = "application/json"
  if why then
    ngx.status = 503
    ngx.say(json.encode { status = "unavailable", reason = why })
    return
  end
  ngx.say(json.encode { status = "ready", probe_age_seconds = age, probe_seconds = took,
    read_only = watch.read_only() and true or false })
end

return watch
