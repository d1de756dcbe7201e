--- Scheduled maintenance inside nginx (`serve --gc-every 6h ...`): gc and
-- purge-uploads in the background of one worker per node, once per period
-- across every node over the registry (regstore.policy.schedule: a record
-- of the last run and a RADOS lease, renewed as the job goes, so a node
-- that dies hands over when its lease expires).
--
--   thread_pool rs_maint threads=1;                     -- nginx.conf, main
--   maintenance.start{ gc = { every = 21600, grace = 3600, delete_untagged = false, rate = 200 },
--                      purge_uploads = { every = 86400, older_than = 604800 } }  -- init_worker_by_lua
--   maintenance.records()  --> { gc = record or false, purge_uploads = ... }  (for metrics)
--
-- A job runs for its whole length on the maintenance thread pool, never on
-- the event loop nor on the threads that serve requests. `rate` caps the
-- job's steps (reads, stats, moves, deletes) per second: the job sleeps on
-- its own thread between them, so that serving keeps the cluster.

local config = require "regstore.nginx.config"

local maintenance = {}

maintenance.POOL = "rs_maint"
maintenance.LEASE = 60 -- seconds; renewed every 20 s while a job goes
local JOBS = { "gc", "purge_uploads" }

-- The job's options as a plain table (they cross into the thread VM).
local function plain(spec)
  local out = {}
  for k, v in pairs(spec) do
    if type(v) == "number" or type(v) == "boolean" or type(v) == "string" then out[k] = v end
  end
  return out
end

-- A progress callback that renews the lease and keeps to rate steps a second.
local function pacer(renew, rate)
  local pace = require("regstore.policy.context").pacer(rate, 5)
  return function()
    renew()
    pace(1)
  end
end

local SUMMARY = {
  gc = function(r)
    return { blobs_deleted = #r.blobs, bytes_deleted = r.bytes, manifests_deleted = #r.manifests,
      errors = #r.errors }
  end,
  purge_uploads = function(r) return { uploads_deleted = #r.uploads, errors = #r.errors } end,
}

--- In a thread VM (through regstore.nginx.jobs): runs job name when due.
-- Returns plain values: { ran, reason, ok, error, summary }.
function maintenance.run_job(name, spec, owner)
  local jobs = require "regstore.nginx.jobs"
  local schedule = require "regstore.policy.schedule"
  local reg, msg, code = jobs.registry()
  if not reg then return { ran = false, reason = "connect", error = msg, code = code } end
  local r
  r, msg, code = schedule.run_due(reg, {
    job = name, every = spec.every, summary = SUMMARY[name],
    run = function(renew)
      local progress = pacer(renew, spec.rate)
      if name == "gc" then
        return require("regstore.policy.gc").run(reg, {
          grace = spec.grace, delete_untagged = spec.delete_untagged, progress = progress,
        })
      end
      return require("regstore.policy.purge_uploads").run(reg, {
        older_than = spec.older_than, progress = progress,
      })
    end,
  }, { owner = owner, lease = spec.lease or maintenance.LEASE })
  if not r then return { ran = false, reason = "failed", error = msg, code = code } end
  local rec = r.record or {}
  return { ran = r.ran, reason = r.reason, ok = rec.ok, error = rec.error, summary = rec.summary }
end

--- In a thread VM: the last record of every job (false: never ran to its end).
function maintenance.records_job()
  local jobs = require "regstore.nginx.jobs"
  local schedule = require "regstore.policy.schedule"
  local reg, msg, code = jobs.registry()
  if not reg then return nil, msg, code end
  local out = {}
  for _, name in ipairs(JOBS) do
    local rec
    rec, msg, code = schedule.last(reg, name)
    if rec == nil then return nil, msg, code end
    out[name] = rec
  end
  return out
end

local running = {}

local function owner()
  local f = io.open("/proc/sys/kernel/hostname")
  local host = f and f:read("l") or "node"
  if f then f:close() end
  return (host:gsub("[^A-Za-z0-9._-]", "-") .. "." .. ngx.worker.pid()):sub(1, 128)
end

local function run(premature, name, spec)
  if premature or running[name] then return end
  running[name] = true
  -- luacheck: ignore 143 (run_worker_thread is newer than luacheck's ngx_lua)
  local ok, r = ngx.run_worker_thread(maintenance.POOL, "regstore.nginx.jobs", "run", "bulk", config.get().connect,
    "regstore.nginx.maintenance", "run_job", name, plain(spec), owner())
  running[name] = false
  if not ok then
    ngx.log(ngx.ERR, "regstore.nginx.maintenance: ", name, ": ", tostring(r),
      " (nginx.conf needs `thread_pool ", maintenance.POOL, " threads=1;`)")
  elseif r.ran then
    ngx.log(r.ok and ngx.NOTICE or ngx.ERR, "regstore.nginx.maintenance: ", name, r.ok and " ran" or " failed: ",
      r.ok and "" or tostring(r.error))
  elseif r.reason == "failed" or r.reason == "connect" then
    ngx.log(ngx.ERR, "regstore.nginx.maintenance: ", name, ": ", tostring(r.error))
  end
end

--- Starts the schedules in worker 0 (init_worker_by_lua*): opts.gc,
-- opts.purge_uploads (see the top), each checked every `every` / 10
-- seconds (at most 60, at least 1) and run when due; opts.lease: the
-- lease's seconds (default 60: how long a dead node holds its job).
function maintenance.start(opts)
  if ngx.worker.id() ~= 0 then return end
  for _, name in ipairs(JOBS) do
    local spec = opts and opts[name]
    if spec then
      spec.lease = opts.lease
      if type(spec.every) ~= "number" or spec.every <= 0 then
        error("regstore.nginx.maintenance: " .. name .. ".every must be a number of seconds", 2)
      end
      local check = math.max(1, math.min(60, spec.every / 10))
      local ok, err = ngx.timer.at(0, run, name, spec)
      if ok then ok, err = ngx.timer.every(check, run, name, spec) end
      if not ok then ngx.log(ngx.ERR, "regstore.nginx.maintenance: ", err) end
    end
  end
end

--- The jobs' last records (a RADOS read on the meta thread pool), or nil,
-- message, code: what /metrics shows of maintenance, from any node.
function maintenance.records()
  return require("regstore.nginx.threads").run("meta", "regstore.nginx.maintenance", "records_job")
end

--- Sets the maintenance gauges of regstore.nginx.metrics from the records
-- (at a scrape); a failed read leaves the last values and is logged.
function maintenance.export(metrics)
  local recs, msg = maintenance.records()
  if not recs then
    ngx.log(ngx.WARN, "regstore.nginx.maintenance: records: ", tostring(msg))
    return
  end
  for _, name in ipairs(JOBS) do
    local rec = recs[name]
    if rec then
      local l = { job = name }
      local sum = type(rec.summary) == "table" and rec.summary or {}
      metrics.set("regstore_maintenance_last_run_start_timestamp_seconds", l, rec.started or 0)
      metrics.set("regstore_maintenance_last_run_duration_seconds", l, rec.duration or 0)
      metrics.set("regstore_maintenance_last_run_success", l, rec.ok and 1 or 0)
      metrics.set("regstore_maintenance_blobs_deleted", l, sum.blobs_deleted or 0)
      metrics.set("regstore_maintenance_bytes_deleted", l, sum.bytes_deleted or 0)
      metrics.set("regstore_maintenance_errors", l, sum.errors or (rec.ok and 0 or 1))
    end
  end
end

return maintenance
