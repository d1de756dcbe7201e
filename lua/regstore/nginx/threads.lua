--- Runs a job of ociregistry.jobs on nginx's thread pool and waits for it
-- without blocking the worker: the request's coroutine yields until the
-- thread is done (ngx.run_worker_thread).
--
-- Two pools, declared in nginx.conf by `serve`: "rs_bulk" for the pieces of
-- blob streams and "rs_meta" for everything else, so that a manifest or a
-- status check never queues behind 4 MiB pieces. Each has a semaphore of its
-- size in this worker: a job is posted only when a thread is free, so at most
-- that many thread VMs (each with its own RADOS connection) ever exist, and
-- the requests beyond wait here, in the event loop, costing nothing.

local semaphore = require "ngx.semaphore"
local settings = require "ociregistry.settings"

local pool = {}

local pools = {
  bulk = { name = "rs_bulk", size = settings.bulk_threads },
  meta = { name = "rs_meta", size = settings.meta_threads },
}
for _, p in pairs(pools) do p.sem = semaphore.new(p.size) end

local WAIT = 120   -- seconds a job may wait for a free thread

-- Whether the last job that got an answer from RADOS or gave up on it gave
-- up ("timeout": an OSD down or stopped). While it is so, a job that would
-- have to queue for a thread is not run: it answers "timeout" at once. In
-- an outage every thread holds a job that waits out the driver's timeout,
-- and requests queued behind them would each wait a timeout more per job
-- ahead; so they answer 503 within one timeout, and the jobs that find a
-- thread free serve as probes: the first answer clears it.
local rados_down = false

local function note(code)
  if code == "timeout" then rados_down = true elseif code ~= "busy" then rados_down = false end
end

local function finish(p, ok, ...)
  p.sem:post(1)
  if not ok then
    local err = ...
    ngx.log(ngx.ERR, "regstore job failed: ", tostring(err))
    return nil, "regstore: job failed: " .. tostring(err), "io"
  end
  local first, _, code = ...
  note(first == nil and code or nil)
  return ...
end

local function unavailable()
  return nil, "regstore: the storage is not answering (the last call timed out); not queued", "timeout"
end

--- Runs jobs[fn](...) on pool kind ("bulk" or "meta"); returns its results.
function pool.run(kind, fn, ...)
  local p = pools[kind]
  local ok = p.sem:wait(0)
  if not ok then -- every thread busy: queue, unless RADOS is not answering
    if rados_down then return unavailable() end
    local err
    ok, err = p.sem:wait(WAIT)
    if not ok then
      return nil, "regstore: no free thread (" .. tostring(err) .. ")", "busy"
    end
    if rados_down then
      p.sem:post(1)
      return unavailable()
    end
  end
  -- luacheck: ignore 143 (run_worker_thread is newer than luacheck's ngx_lua)
  return finish(p, ngx.run_worker_thread(p.name, "ociregistry.jobs", "run", kind, fn, ...))
end

--- pool.run on the meta pool.
function pool.meta(fn, ...)
  return pool.run("meta", fn, ...)
end

--- pool.run on the bulk pool.
function pool.bulk(fn, ...)
  return pool.run("bulk", fn, ...)
end

return pool
