--- Prometheus metrics of an nginx serving regstore, kept in a shared dict
-- so that every worker counts into the same figures and any worker answers
-- the scrape. nginx-lua-prometheus is the OpenResty standard but Debian
-- does not package it; this is the small part of it regstore needs:
-- counters, gauges and fixed-bucket histograms with labels, in the text
-- exposition format (version 0.0.4).
--
--   lua_shared_dict rs_metrics 4m;                       -- nginx.conf
--   metrics.init("rs_metrics")                           -- init_worker_by_lua
--   metrics.inc("regstore_http_requests_total", { route = "blob", method = "GET", status = 200 })
--   metrics.observe("regstore_http_request_duration_seconds", { route = "blob" }, 0.012)
--   metrics.set("regstore_uploads_open", nil, 3)
--   metrics.serve()                                      -- content_by_lua of /metrics
--
-- Every metric is declared in METRICS (name, type, help, buckets): an
-- undeclared name raises, so a typo is found by the first request, not by
-- a dashboard that stays empty. A full dict loses samples, never requests:
-- the failure is counted (regstore_metrics_dropped_total) and logged once.

local exposition = require "regstore.exposition"

local metrics = {}

local LATENCY = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

metrics.METRICS = {
  regstore_http_requests_total = { "counter", "HTTP requests answered, by route, method and status" },
  regstore_http_request_duration_seconds = { "histogram", "time to answer an HTTP request, by route", LATENCY },
  regstore_http_received_bytes_total = { "counter", "request bytes received (line, headers, body), by route" },
  regstore_http_sent_bytes_total = { "counter", "response bytes sent, by route" },
  regstore_upload_sessions_total = { "counter",
    "blob upload sessions started (POST 202) and finished (PUT 201, DELETE 204), by event" },
  regstore_uploads_open = { "gauge",
    "upload sessions this node started minus those it finished (sum over nodes; abandoned ones stay)" },
  regstore_rados_call_duration_seconds = { "histogram",
    "time of a storage call run on the thread pool (its queue wait included), by call", LATENCY },
  regstore_rados_call_failures_total = { "counter", "storage calls that failed, by call and code" },
  regstore_thread_pool_queue = { "gauge", "storage calls waiting for a thread, by thread pool" },
  regstore_event_loop_lag_seconds = { "histogram", "how late a 10 ms timer fired in a worker",
    { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1 } },
  regstore_maintenance_last_run_start_timestamp_seconds = { "gauge", "when a maintenance job last ran, by job" },
  regstore_maintenance_last_run_duration_seconds = { "gauge", "how long a maintenance job last ran, by job" },
  regstore_maintenance_last_run_success = { "gauge", "1 when a maintenance job's last run succeeded, by job" },
  regstore_maintenance_blobs_deleted = { "gauge", "blobs a maintenance job's last run deleted, by job" },
  regstore_maintenance_bytes_deleted = { "gauge", "bytes a maintenance job's last run deleted, by job" },
  regstore_maintenance_errors = { "gauge", "errors a maintenance job's last run met, by job" },
  regstore_read_only = { "gauge", "1 while the registry refuses writes" },
  regstore_metrics_dropped_total = { "counter", "samples lost because the metrics dict was full" },
}

local dict, warned

--- Uses the lua_shared_dict named name (raises, naming the nginx.conf
-- line to add, when there is none).
function metrics.init(name)
  dict = ngx.shared[name]
  if not dict then
    error(string.format("regstore.nginx.metrics: no lua_shared_dict %q (add `lua_shared_dict %s 4m;` to the "
      .. "http block)", name, name), 2)
  end
end

function metrics.enabled() return dict ~= nil end

-- The sample key: name{a="x",b="y"} with labels in name order.
local function key(name, labels, extra)
  local m = metrics.METRICS[name]
  if not m then error("regstore.nginx.metrics: undeclared metric " .. tostring(name), 3) end
  local parts = {}
  for k, v in pairs(labels or {}) do parts[#parts + 1] = k .. '="' .. exposition.escape(v) .. '"' end
  table.sort(parts)
  if extra then parts[#parts + 1] = extra end
  if #parts == 0 then return name end
  return name .. "{" .. table.concat(parts, ",") .. "}"
end

local function full(err)
  if dict then dict:incr("regstore_metrics_dropped_total", 1, 0) end
  if not warned then
    warned = true
    ngx.log(ngx.WARN, "regstore.nginx.metrics: ", err, " (enlarge the lua_shared_dict)")
  end
end

local function add(k, v)
  local _, err = dict:incr(k, v, 0)
  if err then full(err) end
end

--- Adds v (default 1) to a counter.
function metrics.inc(name, labels, v)
  if not dict then return end
  add(key(name, labels), v or 1)
end

--- Sets a gauge.
function metrics.set(name, labels, v)
  if not dict then return end
  local ok, err = dict:set(key(name, labels), v)
  if not ok then full(err) end
end

--- Records one observation of a histogram.
function metrics.observe(name, labels, v)
  if not dict then return end
  local m = metrics.METRICS[name]
  if not m or m[1] ~= "histogram" then error("regstore.nginx.metrics: not a histogram: " .. tostring(name), 2) end
  for _, le in ipairs(m[3]) do -- every bucket, so that each is there from the first observation
    add(key(name .. "_bucket", labels, 'le="' .. le .. '"'), v <= le and 1 or 0)
  end
  add(key(name .. "_bucket", labels, 'le="+Inf"'), 1)
  add(key(name .. "_sum", labels), v)
  add(key(name .. "_count", labels), 1)
end

-- Histogram sample names map back to their metric.
local histograms = {}
for name, m in pairs(metrics.METRICS) do
  if m[1] == "histogram" then histograms[#histograms + 1] = name end
end
for _, name in ipairs(histograms) do
  for _, suffix in ipairs { "_bucket", "_sum", "_count" } do metrics.METRICS[name .. suffix] = { "part", name } end
end

-- Sample order: by name and labels, a histogram's buckets by their bound.
local function order(line)
  local base, le = line:match('^(.-)le="([^"]+)"}')
  if not base then return line:match("^%S+"), -1 end
  return base, tonumber(le) or math.huge
end

local function before(a, b)
  local ba, la = order(a)
  local bb, lb = order(b)
  if ba ~= bb then return ba < bb end
  return la < lb
end

--- Sets regstore_uploads_open from the session counters (at a scrape).
function metrics.set_open_uploads()
  if not dict then return end
  local started = dict:get(key("regstore_upload_sessions_total", { event = "started" })) or 0
  local finished = dict:get(key("regstore_upload_sessions_total", { event = "finished" })) or 0
  metrics.set("regstore_uploads_open", nil, started - finished)
end

--- The exposition text of every sample in the dict.
function metrics.render()
  if not dict then return "" end
  local by = {}
  for _, k in ipairs(dict:get_keys(0)) do
    local name = k:match("^[%w_:]+")
    local m = metrics.METRICS[name]
    if m then
      local family = m[1] == "part" and m[2] or name
      by[family] = by[family] or {}
      local v = dict:get(k)
      if v then table.insert(by[family], k .. " " .. exposition.value(v)) end
    end
  end
  local names = {}
  for n in pairs(by) do names[#names + 1] = n end
  table.sort(names)
  local out = {}
  for _, n in ipairs(names) do
    local m = metrics.METRICS[n]
    out[#out + 1] = exposition.header(n, m[1], m[2])
    table.sort(by[n], before)
    for _, line in ipairs(by[n]) do out[#out + 1] = line end
  end
  return table.concat(out, "\n") .. "\n"
end

--- Answers a scrape (content_by_lua of the metrics location).
function metrics.serve()
  ngx.header["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
  ngx.print(metrics.render())
end

return metrics
