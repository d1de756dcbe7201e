--- A watch on the worker's event loop: a timer due every 10 ms records how
-- late it fires. A loop blocked by a RADOS round trip (or anything else)
-- fires it late by as long; a free loop, by well under a millisecond. The
-- figures (GET /_regstore/loop, JSON, then reset) are what bench/http.sh
-- reports as the loop's lag (and /metrics' regstore_event_loop_lag_seconds,
-- when the metrics are started); they include the time the loop's thread waited
-- for a CPU, which on a loaded machine is most of it.

local metrics = require "regstore.nginx.metrics"

local loopwatch = {}

local INTERVAL = 0.01
local lags, n, max = {}, 0, 0
local SLOTS = 100000

local function tick(premature, due)
  if premature then return end
  ngx.update_time()
  local now = ngx.now()
  local lag = now - due
  if lag < 0 then lag = 0 end
  n = n + 1
  lags[(n - 1) % SLOTS + 1] = lag
  if lag > max then max = lag end
  if metrics.enabled() then metrics.observe("regstore_event_loop_lag_seconds", nil, lag) end
  local ok, err = ngx.timer.at(INTERVAL, tick, now + INTERVAL)
  if not ok then ngx.log(ngx.ERR, "loopwatch: ", err) end
end

--- Starts the watch (init_worker_by_lua).
function loopwatch.start()
  ngx.update_time()
  ngx.timer.at(INTERVAL, tick, ngx.now() + INTERVAL)
end

--- Sends {"n":..,"p50_ms":..,"p99_ms":..,"max_ms":..} of the lags since the
-- last call, and starts over.
function loopwatch.report()
  local t = {}
  for i = 1, math.min(n, SLOTS) do t[i] = lags[i] end
  table.sort(t)
  local function pct(p)
    if #t == 0 then return 0 end
    return t[math.max(1, math.ceil(#t * p))] * 1000
  end
  ngx.header["Content-Type"] = "application/json"
  ngx.print(string.format('{"n":%d,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f}',
    #t, pct(0.5), pct(0.99), max * 1000))
  lags, n, max = {}, 0, 0
end

return loopwatch
