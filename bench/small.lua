--- lua small.lua DIR N: N put_content then N get_content of 4 KiB files
-- (new paths DIR/f<i>) timed as batches: the binding's throughput, ops/s.
-- The clock (date(1), a process start) is read once before and once after
-- each batch, and its own cost taken off.  DIR is deleted at the end (not timed).
local u = require "util"

local dir, n = arg[1], tonumber(arg[2] or 2000)
assert(dir and n, "usage: small.lua DIR [N]")
local drv = u.connect()
local data = string.rep("0123456789abcdef", 4096 // 16)
local paths = {}
for i = 1, n do paths[i] = string.format("%s/f%05d", dir, i) end

-- A few ops first, so that the directory exists and connections are warm.
for i = 1, 10 do u.check(drv:put_content(dir .. "/warm" .. i, data)) end
for i = 1, 10 do u.check(drv:get_content(dir .. "/warm" .. i)) end

local overhead = u.clock_overhead()
local t0 = u.now()
for i = 1, n do u.check(drv:put_content(paths[i], data)) end
u.result("lua_put_ops", n / (u.now() - t0 - overhead))

t0 = u.now()
for i = 1, n do
  local s = u.check(drv:get_content(paths[i]))
  if #s ~= #data then error("get_content " .. paths[i] .. ": " .. #s .. " bytes") end
end
u.result("lua_get_ops", n / (u.now() - t0 - overhead))

u.check(drv:delete(dir))
drv:close()
