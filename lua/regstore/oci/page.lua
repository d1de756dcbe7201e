--- Pagination of the list endpoints (catalog, tags): `n` and `last` query
-- arguments, a `Link: <...>; rel="next"` header when more follows.

local cjson = require "cjson.safe"
local http = require "regstore.oci.http"

local page = {}

local MAX_PAGE = 2 ^ 31

--- n (nil for all), last (nil for none), or nil, nil, an error message.
function page.args()
  local n, last = http.arg "n", http.arg "last"
  if n ~= nil then
    -- digits only: tonumber would take "inf", "1e999", "0x10" or " 5"
    if not n:match("^%d+$") then return nil, nil, "n must be a non-negative integer" end
    -- a page larger than any listing is the whole listing
    n = math.min(tonumber(n), MAX_PAGE)
  end
  if last == "" then last = nil end
  return n, last
end

--- A JSON array of the values' encodings (Debian's lua-cjson encodes an
-- empty table as an object).
function page.array(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = cjson.encode(v) end
  return "[" .. table.concat(out, ",") .. "]"
end

--- Sends { [key] = list (at most n) } plus extra fields; the job was asked
-- for n + 1 entries, so that a full page knows whether more follows.
function page.send(path, key, list, n, extra)
  local headers = { ["Content-Type"] = "application/json" }
  local more = n ~= nil and #list > n
  if more then
    for i = #list, n + 1, -1 do list[i] = nil end
  end
  if more and n > 0 then
    headers["Link"] = string.format('<%s?n=%d&last=%s>; rel="next"', path, n, http.escape(list[#list]))
  end
  local fields = {}
  for k, v in pairs(extra or {}) do fields[#fields + 1] = cjson.encode(k) .. ":" .. cjson.encode(v) end
  fields[#fields + 1] = cjson.encode(key) .. ":" .. page.array(list)
  return http.send(200, headers, "{" .. table.concat(fields, ",") .. "}")
end

return page
