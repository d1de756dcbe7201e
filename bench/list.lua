--- lua list.lua DIR: drv:list of a big directory from Lua (time, OSD ops),
-- then drv:delete of the whole directory (time).
local u = require "util"

local dir = assert(arg[1], "usage: list.lua DIR")
local reps = 20
local drv = u.connect()

local ops0 = u.osd_ops()
local names = u.check(drv:list(dir))
local ops1 = u.osd_ops()
if ops0 and ops1 then u.result("lua_list_ops", ops1 - ops0) end
u.result("lua_list_entries", #names)

-- The clock costs a process start (date(1)); an empty interval measures
-- that cost, which is taken off, and reps lists share one interval.
local empty = u.clock_overhead()
local t0 = u.now()
for _ = 1, reps do u.check(drv:list(dir)) end
u.result("lua_list_ms", math.max(0, u.now() - t0 - empty) * 1e3 / reps)

t0 = u.now()
u.check(drv:delete(dir))
u.result("lua_delete_dir_s", u.now() - t0)
drv:close()
