--- Runs a job on nginx's thread pool and waits for it without blocking the
-- worker: the request's coroutine yields until the thread is done
-- (ngx.run_worker_thread). ("Pool" is a RADOS pool in this code base; nginx's
-- pools are called thread pools here.)
--
-- Two thread pools, declared in nginx.conf: the bulk one ("rs_bulk") for the
-- pieces of streams and the meta one ("rs_meta") for everything else, so that
-- a manifest or a status check never queues behind 4 MiB pieces. Each has a
-- semaphore of its size in this worker: a job is posted only when a thread is
-- free, so at most that many thread VMs (each with its own RADOS connection)
-- ever exist, and the requests beyond wait here, in the event loop, costing
-- nothing.

local semaphore = require "ngx.semaphore"
local config = require "regstore.nginx.config"
local metrics = require "regstore.nginx.metrics"

local threads = {}

local WAIT = 120   -- seconds a job may wait for a free thread

local pools -- made on first use, in the worker (from the configuration)

local function get_pools()
  if pools then return pools end
  local s = config.get()
  pools = {
    bulk = { name = s.bulk_pool, size = s.bulk_threads, sem = semaphore.new(s.bulk_threads) },
    meta = { name = s.meta_pool, size = s.meta_threads, sem = semaphore.new(s.meta_threads) },
  }
  return pools
end

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

-- What nginx.conf lacks, said plainly: run_worker_thread's own messages
-- ("no thread pool found", "no available Lua vm") do not name the fix.
local function explain(p, err)
  err = tostring(err)
  if err:find("thread pool", 1, true) then
    return string.format("regstore.nginx: nginx.conf has no thread pool %q: add `thread_pool %s threads=%d;` "
      .. "(main context) (%s)", p.name, p.name, p.size, err)
  end
  if err:find("vm", 1, true) or err:find("VM", 1, true) then
    local s = config.get()
    return string.format("regstore.nginx: no free Lua VM for a thread: set `lua_worker_thread_vm_pool_size %d;` "
      .. "(http context; at least bulk_threads + meta_threads) (%s)", s.bulk_threads + s.meta_threads + 2, err)
  end
  return "regstore.nginx: job failed: " .. err
end

local function finish(p, ok, ...)
  p.sem:post(1)
  if not ok then
    local msg = explain(p, (...))
    ngx.log(ngx.ERR, msg)
    return nil, msg, "io"
  end
  local first, _, code = ...
  note(first == nil and code or nil)
  return ...
end

local BYTES = "regstore.bytes"

local function is_bytes(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == BYTES
end

local function pack(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack -- luacheck: ignore 143

-- Posts the job. Bytes (regstore.bytes) among the arguments are lent to
-- it here, with no yield between the lend and the post: the job borrows
-- them as its first step, and a job that was never posted gives the lend
-- back, so a request that dies while its job waits for a thread leaks
-- nothing.
local function post(pool, kind, module, fn, ...)
  local args, lent = nil, nil
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if is_bytes(v) then
      args = args or pack(...)
      lent = lent or {}
      args[i] = v:lend()
      lent[#lent + 1] = v
    end
  end
  -- luacheck: ignore 143 (run_worker_thread is newer than luacheck's ngx_lua)
  if not args then
    return ngx.run_worker_thread(pool, "regstore.nginx.jobs", "run", kind, config.get().connect, module, fn, ...)
  end
  local r = pack(ngx.run_worker_thread(pool, "regstore.nginx.jobs", "run", kind, config.get().connect,
    module, fn, unpack(args, 1, args.n)))
  for _, v in ipairs(lent) do v:unlend() end -- a no-op for what the job borrowed
  return unpack(r, 1, r.n)
end

-- The job's time (its wait for a thread included) and failures, in
-- regstore.nginx.metrics (when started); passes the results on.
local function measured(fn, t0, ...)
  if t0 then
    ngx.update_time()
    metrics.observe("regstore_rados_call_duration_seconds", { call = fn }, ngx.now() - t0)
    local first, _, code = ...
    if first == nil then metrics.inc("regstore_rados_call_failures_total", { call = fn, code = code or "io" }) end
  end
  return ...
end

local function unavailable()
  return nil, "regstore: the storage is not answering (the last call timed out); not queued", "timeout"
end

--- Runs require(module)[fn](...) in a thread VM of pool kind ("bulk" or
-- "meta"), through regstore.nginx.jobs (which gives it the VM's registry);
-- returns its results, or nil, message, code.
function threads.run(kind, module, fn, ...)
  -- luacheck: ignore 143 (run_worker_thread is newer than luacheck's ngx_lua)
  if not ngx.run_worker_thread then
    error("regstore.nginx: ngx.run_worker_thread is missing (lua-nginx-module 0.10.22 or later is needed)", 2)
  end
  local p = get_pools()[kind]
  local t0
  if metrics.enabled() then -- the clock only for the metrics: update_time is a syscall
    ngx.update_time()
    t0 = ngx.now()
  end
  local ok = p.sem:wait(0)
  if not ok then -- every thread busy: queue, unless RADOS is not answering
    if rados_down then return unavailable() end
    local err
    metrics.inc("regstore_thread_pool_queue", { pool = kind }, 1)
    ok, err = p.sem:wait(WAIT)
    metrics.inc("regstore_thread_pool_queue", { pool = kind }, -1)
    if not ok then
      return nil, "regstore: no free thread (" .. tostring(err) .. ")", "busy"
    end
    if rados_down then
      p.sem:post(1)
      return unavailable()
    end
  end
  return measured(fn, t0, finish(p, post(p.name, kind, module, fn, ...)))
end

return threads
