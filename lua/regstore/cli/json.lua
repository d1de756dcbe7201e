--- The command's JSON output: one document, keys sorted (stable output for
-- scripts and diffs), strings and numbers through lua-cjson. An empty table
-- is written as [] (the reports' empty tables are all lists; lua-cjson 2.1
-- would write {}), and integral numbers without an exponent.
--
-- Always valid UTF-8 JSON, whatever the store holds (a garbage link that
-- fsck quotes, a message quoting one): every byte of a string (value or
-- key) that is not part of a valid UTF-8 sequence (stray continuation
-- bytes, overlong forms, surrogates, beyond U+10FFFF, a cut sequence) is
-- written as U+FFFD, one per byte; lua-cjson would pass it through and
-- strict parsers reject the document. A number that is not finite is null.

local cjson = require "cjson"

local json = {}

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local REPLACEMENT = "\239\191\189" -- U+FFFD

-- The length of the valid UTF-8 sequence at s[i], or nil (RFC 3629's table:
-- the second byte's range depends on the first).
local function sequence(s, i)
  local c = s:byte(i)
  if c < 0x80 then return 1 end
  local len, lo, hi
  if c >= 0xC2 and c <= 0xDF then len, lo, hi = 2, 0x80, 0xBF
  elseif c == 0xE0 then len, lo, hi = 3, 0xA0, 0xBF
  elseif c == 0xED then len, lo, hi = 3, 0x80, 0x9F -- no surrogates
  elseif c >= 0xE1 and c <= 0xEF then len, lo, hi = 3, 0x80, 0xBF
  elseif c == 0xF0 then len, lo, hi = 4, 0x90, 0xBF
  elseif c >= 0xF1 and c <= 0xF3 then len, lo, hi = 4, 0x80, 0xBF
  elseif c == 0xF4 then len, lo, hi = 4, 0x80, 0x8F -- up to U+10FFFF
  else return nil end
  local c2 = s:byte(i + 1)
  if not c2 or c2 < lo or c2 > hi then return nil end
  for k = i + 2, i + len - 1 do
    local ck = s:byte(k)
    if not ck or ck < 0x80 or ck > 0xBF then return nil end
  end
  return len
end

--- s with every byte outside a valid UTF-8 sequence replaced by U+FFFD.
function json.utf8(s)
  if not s:find("[\128-\255]") then return s end
  local out, i, n, start = {}, 1, #s, 1
  while i <= n do
    local len = sequence(s, i)
    if len then
      i = i + len
    else
      out[#out + 1] = s:sub(start, i - 1)
      out[#out + 1] = REPLACEMENT
      i = i + 1
      start = i
    end
  end
  out[#out + 1] = s:sub(start)
  return table.concat(out)
end

local function string_of(s)
  return (cjson.encode(json.utf8(s)):gsub("\\/", "/"))
end

local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = string_of(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    out[#out + 1] = "null"
  elseif t == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    out[#out + 1] = string.format("%d", v)
  elseif t == "string" then
    out[#out + 1] = string_of(v)
  elseif t == "number" or t == "boolean" then
    out[#out + 1] = cjson.encode(v)
  else
    out[#out + 1] = "null"
  end
end

--- The JSON text of v.
function json.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

json.decode = require("cjson.safe").decode

return json
