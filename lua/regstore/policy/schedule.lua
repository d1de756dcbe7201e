--- Scheduled maintenance, once per period across every process and node
-- that shares a registry: `serve --gc-every 6h` on N nodes runs gc once
-- every 6 hours, not N times, and a runner that dies hands over.
--
--   local schedule = require "regstore.policy.schedule"
--   schedule.run_due(reg_or_drv, {
--     job = "gc", every = 6 * 3600, run = function(renew) ... return report end,
--     summary = function(report) return { blobs_deleted = N, ... } end,  -- optional: kept in the record
--   }, { owner = "node-a.1234", lease = 60, root = nil, now = nil })
--   --> { ran = true, report = ..., record = {...} }
--    or { ran = false, reason = "not due" | "busy", next_at = t, holder = owner }
--    or nil, message, code (a read or the lease failed: nothing ran)
--
-- The protocol, each step safe to die after:
--   1. Read the job's record (<root>/_schedule/<job>: when it last ran to
--      its end). Not due: done. A record that cannot be read: nothing runs.
--   2. Take the lease `<job>.<root>` (drv:lease, `lease` seconds): busy
--      means another runner has it.
--   3. Read the record again: another runner may have just finished.
--   4. Run the job. It gets renew(), which renews the lease (at most every
--      lease/3 seconds): the job calls it as it goes (gc's progress).
--   5. Write the record (started, finished, ok, owner, summary), release.
-- A runner that dies in 4 writes no record and stops renewing: its lease
-- expires after `lease` seconds and the next runner whose turn comes runs
-- the job again. Jobs are themselves safe to run twice or to die in
-- (docs/policies.md), so a runner stalled past its lease, or two runners
-- after a lost renewal, cost work, never data.

local context = require "regstore.policy.context"
local json = require "cjson.safe"
local regstore = require "regstore"

local schedule = {}

schedule.DEFAULT_LEASE = 60

-- <job>.<root with dots for slashes>; a name past the engine's 57
-- characters takes a digest of the root instead, so that two roots never
-- share a lease.
local function lease_name(ctx, job)
  local root = ctx.root:gsub("^/", ""):gsub("[^A-Za-z0-9._-]", ".")
  local name = job .. "." .. root
  if #name <= 57 then return name end
  return job .. "." .. regstore.sha256():update(ctx.root):hexdigest():sub(1, 40)
end

-- The job's record, false when it never ran to its end, or nil, msg, code.
local function read_record(ctx, path)
  local text, msg, code = ctx.drv:get_content(path)
  if not text then
    if code == "not_found" then return false end
    return nil, msg, code
  end
  local rec = json.decode(text)
  if type(rec) ~= "table" or type(rec.started) ~= "number" then
    return nil, "regstore: schedule record is not one regstore wrote: " .. path, "io"
  end
  return rec
end

local function due(rec, every, now)
  if not rec then return true, now end
  local next_at = rec.started + every
  return now >= next_at, next_at
end

local function check(job)
  if type(job) ~= "table" or type(job.job) ~= "string" or type(job.run) ~= "function"
      or type(job.every) ~= "number" or job.every ~= job.every or job.every <= 0 then
    error("bad argument #2 to 'run_due' (a job { job = name, every = seconds, run = function } expected)", 3)
  end
end

--- Runs job when it is due and this owner gets its lease; see the top.
function schedule.run_due(target, job, opts)
  check(job)
  local ctx = context.of(target, opts, "run_due")
  opts = opts or {}
  local owner = opts.owner
  if type(owner) ~= "string" then error("bad argument #3 to 'run_due' (opts.owner must be a string)", 2) end
  local lease = opts.lease or schedule.DEFAULT_LEASE
  local now = opts.now or os.time()
  local path = ctx.paths:path_for("schedule_record", { job = job.job })
  local name = lease_name(ctx, job.job)

  -- 1. due?
  local rec, msg, code = read_record(ctx, path)
  if rec == nil then return nil, msg, code end
  local is_due, next_at = due(rec, job.every, now)
  if not is_due then return { ran = false, reason = "not due", next_at = next_at } end

  -- 2. the lease
  local ok
  ok, msg, code = ctx.drv:lease(name, owner, lease)
  if not ok then
    if code == "busy" then
      return { ran = false, reason = "busy", holder = ctx.drv:lease_holder(name) or nil }
    end
    return nil, msg, code
  end

  -- 3. still due now that it is ours?
  rec, msg, code = read_record(ctx, path)
  if rec ~= nil then is_due, next_at = due(rec, job.every, opts.now or os.time()) end
  if rec == nil or not is_due then
    ctx.drv:release(name, owner)
    if rec == nil then return nil, msg, code end
    return { ran = false, reason = "not due", next_at = next_at }
  end

  -- 4. run, renewing as it goes
  local renewed = regstore.clock()
  local function renew()
    if regstore.clock() - renewed < lease / 3 then return true end
    renewed = regstore.clock()
    return ctx.drv:lease(name, owner, lease)
  end
  local started, t0 = os.time(), regstore.clock()
  local pok, report, rmsg, rcode = pcall(job.run, renew)
  local out = {
    started = started, finished = os.time(), duration = regstore.clock() - t0, owner = owner,
    ok = pok and report ~= nil,
  }
  if not pok then
    out.error = tostring(report)
  elseif report == nil then
    out.error, out.code = rmsg, rcode
  elseif job.summary then
    out.summary = job.summary(report) -- what metrics show of the run (counts)
  end

  -- 5. the record, then the lease back
  local wok, wmsg = ctx.drv:put_content(path, json.encode(out))
  ctx.drv:release(name, owner)
  local result = { ran = true, report = pok and report or nil, record = out }
  if not wok then result.record_error = wmsg end
  return result
end

--- The job's last record (false when it never ran to its end), or nil,
-- message, code: for metrics and `regstore` to show.
function schedule.last(target, job, opts)
  local ctx = context.of(target, opts, "last")
  return read_record(ctx, ctx.paths:path_for("schedule_record", { job = job }))
end

return schedule
