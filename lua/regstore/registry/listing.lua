--- Sorted, paginated listings (catalog, tags), as the v2 API pages them:
-- plain byte order of the whole string, entries strictly after `last`, at
-- most `n` of them.

local listing = {}

-- Byte order, whatever the C library's collation: Lua's `<` on strings uses
-- strcoll, which is byte order only in the "C"/"POSIX" locale.
local function byte_less(a, b)
  local n = #a < #b and #a or #b
  for i = 1, n do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
listing.byte_less = byte_less

local function less()
  local loc = os.setlocale(nil, "collate")
  if loc == "C" or loc == "POSIX" then return nil end
  return byte_less
end

--- Sorts an array of strings in place, in byte order; returns it.
function listing.sort(t)
  table.sort(t, less())
  return t
end

--- Checks a `{ n = N, last = S }` argument (nil allowed); raises on misuse.
-- Returns n (nil for all) and last (nil for none).
function listing.options(opts, fname, level)
  level = (level or 2) + 1
  if opts == nil then return nil, nil end
  if type(opts) ~= "table" then
    error(string.format("bad argument #1 to '%s' (table expected, got %s)", fname, type(opts)), level)
  end
  local n, last = opts.n, opts.last
  if n ~= nil and (type(n) ~= "number" or n < 0 or n ~= math.floor(n)) then
    error(string.format("bad argument #1 to '%s' (n must be a non-negative integer)", fname), level)
  end
  if last ~= nil and type(last) ~= "string" then
    error(string.format("bad argument #1 to '%s' (last must be a string)", fname), level)
  end
  return n, last
end

--- The page of a sorted array: the entries strictly after `last`, at most `n`.
function listing.page(sorted, last, n)
  local out = {}
  if n == 0 then return out end
  local lt = less() or function(a, b) return a < b end
  for i = 1, #sorted do
    local v = sorted[i]
    if last == nil or lt(last, v) then
      out[#out + 1] = v
      if n and #out >= n then break end
    end
  end
  return out
end

return listing
