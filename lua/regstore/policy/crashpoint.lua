--- Crash points of the policies, for the crash specs (as the engine's
-- REGSTORE_CRASH_AT of a crash-point build, but always compiled in: a
-- policy's steps are whole driver calls, so a point costs one comparison).
--
--   REGSTORE_POLICY_CRASH_AT=<point>[:<n>]  the n-th time (default 1) the
--       process reaches <point>, it SIGKILLs itself: no Lua cleanup, no
--       close of the connection, as a kill -9 or a lost node would leave it.
--   REGSTORE_POLICY_CRASH_TRACE=<file>      appends "<point>\n" to file at
--       every point reached (the spec learns the points of a run from it).
--
-- Points are named "<policy>.<step>" (gc.revision_parked, ...); each sits
-- between two driver calls, after the first has returned.

local crashpoint = {}

local AT = os.getenv "REGSTORE_POLICY_CRASH_AT"
local TRACE = os.getenv "REGSTORE_POLICY_CRASH_TRACE"
local at_point, at_n
if AT and AT ~= "" then
  at_point, at_n = AT:match("^([^:]+):?(%d*)$")
  at_n = tonumber(at_n) or 1
end
local seen = {}

local function die()
  io.stdout:flush()
  io.stderr:flush()
  -- the shell's parent is this process: a real SIGKILL, as an operator's
  -- kill -9 would send it; os.exit only if the kill did not land
  os.execute("kill -KILL $PPID")
  os.exit(86, false)
end

--- Marks a step as reached (a no-op unless the environment above asks).
function crashpoint.reach(point)
  if TRACE and TRACE ~= "" then
    local f = io.open(TRACE, "a")
    if f then
      f:write(point, "\n")
      f:close()
    end
  end
  if at_point == point then
    seen[point] = (seen[point] or 0) + 1
    if seen[point] == at_n then die() end
  end
end

return crashpoint
