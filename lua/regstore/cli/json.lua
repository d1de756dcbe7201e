--- The command's JSON output: one document, keys sorted (stable output for
-- scripts and diffs), strings and numbers through lua-cjson. An empty table
-- is written as [] (the reports' empty tables are all lists; lua-cjson 2.1
-- would write {}), and integral numbers without an exponent.

local cjson = require "cjson"

local json = {}

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
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
        out[#out + 1] = cjson.encode(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then
    out[#out + 1] = string.format("%d", v)
  elseif t == "string" then
    out[#out + 1] = (cjson.encode(v):gsub("\\/", "/"))
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
