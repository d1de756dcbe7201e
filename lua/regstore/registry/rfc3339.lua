--- RFC 3339 times as the upload `startedat` files hold them
-- (`YYYY-MM-DDTHH:MM:SSZ`, UTC, distribution's time.RFC3339), and back to
-- epoch seconds. Pure Lua, no dependency on the C library's time zone.

local rfc3339 = {}

--- RFC 3339 UTC text for epoch seconds.
function rfc3339.format(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- Epoch seconds (whole) of an RFC 3339 time, or nil.
function rfc3339.parse(s)
  if type(s) ~= "string" then return nil end
  s = s:gsub("%s+$", "")
  local y, mo, d, h, mi, sec, rest =
    s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  rest = rest:gsub("^%.%d+", "")
  local offset
  if rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60
    if sign == "-" then offset = -offset end
  end
  return math.floor(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset)
end

return rfc3339
