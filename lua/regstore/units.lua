--- Byte counts for people: 1536 -> "1.5 KiB", and "10GiB", "500 MB",
-- "1048576" -> bytes. Binary units (KiB, MiB, GiB, TiB) are powers of
-- 1024, decimal ones (kB, MB, GB, TB) powers of 1000; a bare number is
-- bytes.

local units = {}

local NAMES = { "B", "KiB", "MiB", "GiB", "TiB" }

local FACTORS = {
  [""] = 1, b = 1,
  k = 1024, kib = 1024, m = 1024 ^ 2, mib = 1024 ^ 2, g = 1024 ^ 3, gib = 1024 ^ 3,
  t = 1024 ^ 4, tib = 1024 ^ 4,
  kb = 1e3, mb = 1e6, gb = 1e9, tb = 1e12,
}

--- "512 B", "1.5 KiB", ... (one decimal past bytes).
function units.bytes(n)
  local i = 1
  while n >= 1024 and i < #NAMES do
    n = n / 1024
    i = i + 1
  end
  return i == 1 and string.format("%d B", n) or string.format("%.1f %s", n, NAMES[i])
end

--- The whole number of bytes text names, or nil and why.
function units.parse_bytes(text)
  if type(text) ~= "string" then return nil, "a size is a string" end
  local num, unit = text:match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  local f = unit and FACTORS[unit:lower()]
  if not num or not f then
    return nil, string.format("%q is not a size (examples: 1048576, 500MB, 10GiB)", text)
  end
  local n = math.floor(tonumber(num) * f + 0.5)
  if n >= 2 ^ 53 then return nil, string.format("%q is too large", text) end
  return n
end

return units
