--- A graceful stop that waits for the requests in flight. nginx's own
-- (SIGQUIT, SIGHUP's old workers) lets a worker exit as soon as no timer
-- but cancelable ones is left, and a request that waits for a thread-pool
-- job or for its client has none: it would be cut. So each worker runs one
-- timer that sleeps until the worker is exiting, then keeps sleeping (a
-- sleep is a timer nginx waits for) while requests are in flight, for at
-- most `bound` seconds (serve's --shutdown-timeout; nginx's
-- worker_shutdown_timeout closes what is left after it).
--
--   drain.start(30)   -- init_worker_by_lua*
--   drain.enter()     -- when a request starts (regstore.oci.handle does it)
--   drain.leave()     -- in its log phase (regstore.oci.log does it)

local drain = {}

local inflight, started = 0, false

function drain.enter()
  if started then inflight = inflight + 1 end
end

function drain.leave()
  if started and inflight > 0 then inflight = inflight - 1 end
end

function drain.inflight() return inflight end

local function watch(premature, bound)
  if premature then return end
  while not ngx.worker.exiting() do ngx.sleep(0.5) end
  ngx.update_time()
  local t0 = ngx.now()
  while inflight > 0 and ngx.now() - t0 < bound do
    ngx.sleep(0.05)
    ngx.update_time()
  end
end

--- Starts the watch in this worker (init_worker_by_lua*).
function drain.start(bound)
  if type(bound) ~= "number" or bound <= 0 then error("regstore.nginx.drain: bound must be seconds", 2) end
  local ok, err = ngx.timer.at(0, watch, bound)
  if not ok then
    ngx.log(ngx.ERR, "regstore.nginx.drain: ", err)
    return
  end
  started = true
end

return drain
