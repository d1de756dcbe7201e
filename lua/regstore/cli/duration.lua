--- DURATION arguments: a number with a unit, or several ("0s", "90m",
-- "1h30m", "7d", "1.5h"); units s, m, h, d. A bare number is refused: a
-- grace of "3600" could mean seconds or hours, and getting it wrong deletes.

local duration = {}

local UNITS = { s = 1, m = 60, h = 3600, d = 86400 }

--- Seconds, or nil and why.
function duration.parse(s)
  if type(s) ~= "string" or s == "" then return nil, "empty duration" end
  local total, pos = 0, 1
  while pos <= #s do
    local num, unit, stop = s:match("^(%d+%.?%d*)([a-z]+)()", pos)
    if not num then
      return nil, string.format("bad duration %q (a number with a unit s, m, h or d, as 90m or 7d)", s)
    end
    local k = UNITS[unit]
    if not k then return nil, string.format("bad duration %q: unknown unit %q (s, m, h or d)", s, unit) end
    total = total + tonumber(num) * k
    pos = stop
  end
  return total
end

--- A duration for humans ("1h30m", "0s").
function duration.format(secs)
  secs = math.floor(secs + 0.5)
  if secs == 0 then return "0s" end
  local out = {}
  for _, u in ipairs { { "d", 86400 }, { "h", 3600 }, { "m", 60 }, { "s", 1 } } do
    if secs >= u[2] then
      out[#out + 1] = math.floor(secs / u[2]) .. u[1]
      secs = secs % u[2]
    end
  end
  return table.concat(out)
end

return duration
