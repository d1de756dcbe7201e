--- Helpers shared by the Lua side of the benchmark (Lua 5.4 and LuaJIT).
local regstore = require "regstore"

local M = {}

--- Seconds, for intervals.  The module's monotonic regstore.clock() when it
-- has one; otherwise the wall clock from date(1), as neither Lua 5.4 nor
-- LuaJIT has a monotonic clock in its standard library.  A date(1) call costs
-- a process start (a few ms), which is why every interval timed here spans
-- much more than that, and M.clock_overhead() is taken off.
local function date_now()
  local p = assert(io.popen("date +%s.%N"))
  local s = p:read("l")
  p:close()
  return assert(tonumber(s), "date +%s.%N gave no number")
end
M.now = type(regstore.clock) == "function" and regstore.clock or date_now
M.clock_name = M.now == date_now and "date(1)" or "regstore.clock()"

--- What an empty interval measures with now(): the cost of the clock itself,
-- to take off a measured interval (the least of a few tries).
function M.clock_overhead()
  local least = math.huge
  for _ = 1, 3 do
    local a = M.now()
    least = math.min(least, M.now() - a)
  end
  return least
end

--- Peak resident set size of this process so far, KiB (VmHWM).
function M.hwm_kib()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmHWM:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

--- osd.op from the OSD's perf counters, or nil without BENCH_ASOK.
function M.osd_ops()
  local asok = os.getenv("BENCH_ASOK")
  if not asok or asok == "" then return nil end
  local p = io.popen("ceph --admin-daemon '" .. asok .. "' perf dump 2>/dev/null")
  if not p then return nil end
  local s = p:read("a")
  p:close()
  local osd = s:find('"osd": {', 1, true)
  if not osd then return nil end
  return tonumber(s:match('"op": (%d+)', osd))
end

--- CPU seconds (user + system) process pid ("self" for this one) has used
-- so far, or nil when it cannot be read.
function M.proc_cpu(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  -- the fields after the command's closing parenthesis; utime and stime are
  -- the 14th and 15th of the line, in clock ticks (100 a second on Linux)
  local fields = {}
  for x in (s:match("%) (.*)$") or ""):gmatch("%S+") do fields[#fields + 1] = x end
  local utime, stime = tonumber(fields[12]), tonumber(fields[13])
  return utime and stime and (utime + stime) / 100
end

--- The CPU seconds of the OSD (BENCH_OSD_PID), or nil without it (its share
-- of a measurement: on this machine it shares the client's cores).
function M.osd_cpu()
  local pid = os.getenv("BENCH_OSD_PID")
  return pid and pid ~= "" and M.proc_cpu(pid) or nil
end

function M.connect(window)
  local drv, err = regstore.connect {
    pool = assert(os.getenv("REGSTORE_POOL"), "REGSTORE_POOL is not set"),
    keyring = os.getenv("CEPH_KEYRING") ~= "" and os.getenv("CEPH_KEYRING") or nil,
    window = window,
  }
  return assert(drv, err)
end

function M.result(key, value)
  io.stdout:write(string.format("RESULT %s %.6g\n", key, value))
  io.stdout:flush()
end

function M.check(ok, err, code)
  if not ok then error(string.format("%s (%s)", tostring(err), tostring(code)), 2) end
  return ok
end

return M
