-- The test cluster's only OSD, found by its pid file.
--
-- Killed (SIGKILL) and started again (osd.kill, osd.restart): only on a
-- cluster whose OSD keeps its objects on disk (osd.persistent(): started by
-- scripts/cluster.sh with REGSTORE_CLUSTER_STORE=filestore); a memstore OSD
-- comes back empty.
--
-- Stopped (SIGSTOP, osd.stopper) for one call at a time and never for long:
-- a watchdog process sends SIGCONT after max seconds even when the call is
-- still running.  An OSD paused past its PGs' read lease
-- (0.8 x osd_heartbeat_grace = 16 s, renewed every 8 s) comes back with
-- "laggy" PGs whose ops wait "for readable" until the OSD restarts (seen
-- with Ceph 16.2 here; ceph/ceph-container#1682), which would wedge every
-- later spec.
--
-- A stop can also be cut short by another process on the machine that
-- resumes every ceph-osd it finds (a session cleaning up after its own
-- stopped OSD).  A spec that sees a call succeed asks stopped(): when the
-- OSD is running again, the call proved nothing and is tried again, and
-- when it is still stopped, the success is the spec's failure.
local helper = require "helper"
local regstore = require "regstore"

local clock = regstore.clock

local osd = {}
local Stopper = {}
Stopper.__index = Stopper

local function pause(secs) os.execute("sleep " .. secs) end

-- The OSD of the cluster the specs are connected to ($CEPH_CONF), by pid file.
function osd.pid()
  local dir = os.getenv "REGSTORE_CLUSTER_DIR"
  assert(dir and dir ~= "", "REGSTORE_CLUSTER_DIR is not set: start the cluster with scripts/cluster.sh")
  local f = assert(io.open(dir .. "/run/osd.0.pid"))
  local pid = tonumber((f:read "*a"):match("%d+"))
  f:close()
  assert(pid, "no pid in " .. dir .. "/run/osd.0.pid")
  local cf = assert(io.open("/proc/" .. pid .. "/cmdline"))
  local cmd = cf:read("*a"):gsub("%z", " ")
  cf:close()
  local conf = os.getenv "CEPH_CONF" or (dir .. "/ceph.conf")
  assert(cmd:find("ceph-osd", 1, true) and cmd:find(conf, 1, true),
    "pid " .. pid .. " is not the ceph-osd of " .. conf .. ": " .. cmd)
  return pid
end

-- The OSD's object store as the cluster's ceph.conf says ("memstore",
-- "filestore", ...); nil when there is no conf to read.
function osd.store()
  local conf = os.getenv "CEPH_CONF"
  local f = conf and conf ~= "" and io.open(conf)
  if not f then return nil end
  local text = f:read "*a"
  f:close()
  return text:match("\n%s*osd objectstore%s*=%s*(%w+)")
end

-- Whether a killed OSD comes back with its objects (not memstore).
function osd.persistent()
  local s = osd.store()
  return s ~= nil and s ~= "memstore"
end

-- The state letter of a process or thread (/proc/.../stat), nil when gone.
local function state(stat_path)
  local f = io.open(stat_path)
  if not f then return nil end
  local s = f:read "*a" or ""
  f:close()
  return s:match("%) (%a)")
end

local function gone(pid)
  local st = state("/proc/" .. pid .. "/stat")
  return st == nil or st == "Z"
end

-- SIGKILLs the OSD (by pid file) and waits (up to 10 s) until it is gone;
-- returns its pid.  With after (seconds), the kill is sent by a background
-- shell that long after the call, which returns at once: the kill lands in
-- the middle of whatever the caller does next.
function osd.kill(after)
  local pid = osd.pid()
  if after then
    local out, rc = helper.sh(string.format("(sleep %s; kill -KILL %d) >/dev/null 2>&1 & echo \"killer $!\"",
      after, pid))
    assert(rc == 0 and out:match("killer %d+"), "could not start the killer: " .. out)
    return pid
  end
  local out, rc = helper.sh("kill -KILL " .. pid .. " 2>&1")
  assert(rc == 0, "kill -KILL " .. pid .. " failed: " .. out)
  local t0 = clock()
  while not gone(pid) do
    assert(clock() - t0 < 10, "osd pid " .. pid .. " still alive 10 s after SIGKILL")
    pause(0.05)
  end
  return pid
end

-- Waits (up to 10 s) until the OSD of pid is gone (after osd.kill(after)).
function osd.wait_gone(pid)
  local t0 = clock()
  while not gone(pid) do
    assert(clock() - t0 < 10, "osd pid " .. pid .. " still alive 10 s after its kill was due")
    pause(0.05)
  end
end

-- scripts/cluster.sh of this tree (from this file's path).
local function cluster_sh()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = src:match("^(.*)/spec/support/osd%.lua$") or "."
  return root .. "/scripts/cluster.sh"
end

-- Starts the OSD again (scripts/cluster.sh restart-osd: a SIGKILL first if
-- it runs, then ceph-osd, then waits until it is up, its PGs active+clean and
-- a put/get goes through); returns the seconds it took and the script's
-- output.  Fails when the script does.
function osd.restart()
  local dir = os.getenv "REGSTORE_CLUSTER_DIR"
  assert(dir and dir ~= "", "REGSTORE_CLUSTER_DIR is not set: start the cluster with scripts/cluster.sh")
  local t0 = clock()
  local out, rc = helper.sh(helper.quote(cluster_sh()) .. " restart-osd " .. helper.quote(dir) .. " 2>&1")
  assert(rc == 0, "scripts/cluster.sh restart-osd failed (exit " .. tostring(rc) .. "):\n" .. out)
  return clock() - t0, out
end

-- A stopper for that OSD whose stops last max seconds at most.
function osd.stopper(max)
  return setmetatable({ pid = osd.pid(), max = max, stops = 0 }, Stopper)
end

function Stopper:stop()
  local out, rc = helper.sh(string.format(
    "kill -STOP %d && { (sleep %d; kill -CONT %d) >/dev/null 2>&1 & echo \"watchdog $!\"; }",
    self.pid, self.max, self.pid))
  self.t_stop = clock()
  self.watchdog = tonumber(out:match("watchdog (%d+)"))
  assert(rc == 0 and self.watchdog, "kill -STOP " .. self.pid .. " failed: " .. out)
  self.is_stopped = true
  self.stops = self.stops + 1
end

function Stopper:resume()
  if not self.is_stopped then return end
  if clock() - self.t_stop < self.max - 0.5 then
    helper.sh("kill " .. self.watchdog .. " 2>/dev/null") -- still asleep: its SIGCONT must not cut the next stop
  else
    while clock() - self.t_stop < self.max + 0.5 do pause(0.1) end -- it has sent, or is sending, its SIGCONT
  end
  helper.sh("kill -CONT " .. self.pid)
  self.is_stopped = false
end

-- Whether the OSD is stopped now (state T).
function Stopper:stopped()
  return state("/proc/" .. self.pid .. "/stat") == "T"
end

-- How many of the OSD's threads are in each state ("T 60, S 2"): what a
-- report of a call answered while the OSD was stopped needs.
function Stopper:threads()
  local n = {}
  local ls = io.popen("ls /proc/" .. self.pid .. "/task 2>/dev/null")
  for tid in ls:lines() do
    local st = state("/proc/" .. self.pid .. "/task/" .. tid .. "/stat") or "?"
    n[st] = (n[st] or 0) + 1
  end
  ls:close()
  local out = {}
  for st, k in pairs(n) do out[#out + 1] = st .. " " .. k end
  table.sort(out)
  return table.concat(out, ", ")
end

return osd
