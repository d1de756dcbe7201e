--- GET /v2/_catalog?n=&last= : repository names, a page at a time, with a
-- Link header to the next page when this one is full.

local call = require "regstore.oci.call"
local errors = require "regstore.oci.errors"
local page = require "regstore.oci.page"

local catalog = {}

function catalog.list()
  local n, last, err = page.args()
  if err then return errors.oci(400, "UNSUPPORTED", err) end
  local list, msg, code = call.meta("catalog", n and n + 1 or nil, last)
  if not list then return errors.send(code, msg) end
  return page.send("/v2/_catalog", "repositories", list, n)
end

return catalog
