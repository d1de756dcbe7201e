-- The test cluster's only OSD, stopped (SIGSTOP) for one call at a time and
-- never for long: a watchdog process sends SIGCONT after max seconds even
-- when the call is still running.  An OSD paused past its PGs' read lease
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

-- A stopper for that OSD whose stops last max seconds at most.
function osd.stopper(max)
  return setmetatable({ pid = osd.pid(), max = max, stops = 0, cut = 0 }, Stopper)
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

-- Whether the OSD is stopped now (state T); false also counts a cut stop.
function Stopper:stopped()
  local f = io.open("/proc/" .. self.pid .. "/stat")
  local s = f and f:read "*a" or ""
  if f then f:close() end
  local running = s:match("%) (%a)") ~= "T"
  if running and self.is_stopped then self.cut = self.cut + 1 end
  return not running
end

return osd
