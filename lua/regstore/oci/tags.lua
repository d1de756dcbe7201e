--- GET /v2/<name>/tags/list?n=&last=

local call = require "regstore.oci.call"
local errors = require "regstore.oci.errors"
local page = require "regstore.oci.page"

local tags = {}

function tags.list(name)
  local n, last, err = page.args()
  if err then return errors.oci(400, "UNSUPPORTED", err) end
  local list, msg, code = call.meta("tags_list", name, n and n + 1 or nil, last)
  if not list then return errors.send(code, msg) end
  return page.send("/v2/" .. name .. "/tags/list", "tags", list, n, { name = name })
end

return tags
