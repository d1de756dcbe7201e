--- lua5.4 stream.lua write|read KEY PATH WINDOW [PIECE [TOTAL [delete]]]
-- write: one writer, TOTAL bytes (default 1 GiB) in PIECE-byte writes (default
--        4 MiB) of one preallocated string, then commit.
-- read:  one reader, read(4 MiB) until nil; checks the byte count and
--        samples the data.
-- The time runs from opening the writer (reader) to the end of commit (to
-- the nil).  With "delete", PATH is deleted afterwards (not timed).
-- Prints RESULT KEY_mibs, KEY_s, KEY_cpu_s (process CPU, all threads),
-- KEY_hwm_kib (peak RSS of this process, VmHWM, read at the end) and
-- rs_base_hwm_kib (VmHWM once connected, before any data).
local u = require "util"

local mode, key, path = arg[1], arg[2], arg[3]
local window = tonumber(arg[4])
local piece = tonumber(arg[5] or 4 * 1024 * 1024)
local total = tonumber(arg[6] or 1024 * 1024 * 1024)
local delete = arg[7] == "delete"
assert((mode == "write" or mode == "read") and key and path and window,
  "usage: stream.lua write|read KEY PATH WINDOW [PIECE [TOTAL [delete]]]")
assert(total % piece == 0 and piece % 16 == 0, "PIECE must divide TOTAL and be a multiple of 16")

-- The file holds PATTERN over and over; a read checks the first and last
-- bytes of every piece it gets against it (cheap, and catches misplaced,
-- zeroed or missing data).
local PATTERN = "0123456789abcdef"
local PATTERN2 = PATTERN .. PATTERN
local function expect(pos, len) -- len <= 16
  local r = pos % 16
  return PATTERN2:sub(r + 1, r + len)
end

local MiB = 1024 * 1024
local drv = u.connect(window)
u.result("rs_base_hwm_kib", u.hwm_kib())
u.result("lua_clock_is_date", u.clock_name == "date(1)" and 1 or 0)
local overhead = u.clock_overhead()
local t0, c0, t, c

if mode == "write" then
  local data = string.rep(PATTERN, piece // 16)
  t0, c0 = u.now(), os.clock()
  local w = u.check(drv:writer(path))
  for _ = 1, total // piece do u.check(w:write(data)) end
  u.check(w:commit())
  t, c = u.now() - t0, os.clock() - c0
  assert(w:size() == total)
  w:close()
else
  local got = 0
  t0, c0 = u.now(), os.clock()
  local r = u.check(drv:reader(path))
  while true do
    local s, err, code = r:read(4 * MiB)
    if s == nil then
      assert(err == nil, string.format("read: %s (%s)", tostring(err), tostring(code)))
      break
    end
    local n = #s
    local k = n < 16 and n or 16
    if s:sub(1, k) ~= expect(got, k) or s:sub(n - k + 1) ~= expect(got + n - k, k) then
      error(string.format("wrong data in the %d bytes read at offset %d", n, got))
    end
    got = got + n
  end
  t, c = u.now() - t0, os.clock() - c0
  r:close()
  assert(got == total, string.format("read %d bytes, expected %d", got, total))
end

t = t - overhead
u.result(key .. "_mibs", total / MiB / t)
u.result(key .. "_s", t)
u.result(key .. "_cpu_s", c)
u.result(key .. "_hwm_kib", u.hwm_kib())
if delete then u.check(drv:delete(path)) end
drv:close()
