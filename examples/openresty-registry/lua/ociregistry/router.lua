--- Routing of the /v2/ API: the path names the handler, the method its
-- function. Repository names are checked here (pure Lua, no I/O); every
-- handler then gets (name, reference) and answers the request itself.

local validate = require "regstore.registry.validate"
local errors = require "ociregistry.errors"
local http = require "ociregistry.http"

local router = {}

local blobs = require "ociregistry.blobs"
local uploads = require "ociregistry.uploads"
local manifests = require "ociregistry.manifests"
local tags = require "ociregistry.tags"
local catalog = require "ociregistry.catalog"
local referrers = require "ociregistry.referrers"

-- Patterns on the path after "/v2/", most specific first; `.+` is the
-- repository name (it may hold slashes).
local ROUTES = {
  { "^(.+)/blobs/uploads/?$", uploads, { POST = "start" } },
  { "^(.+)/blobs/uploads/([^/]+)$", uploads,
    { GET = "status", PATCH = "patch", PUT = "finish", DELETE = "cancel" } },
  { "^(.+)/blobs/([^/]+)$", blobs, { GET = "get", HEAD = "head", DELETE = "delete" } },
  { "^(.+)/manifests/([^/]+)$", manifests,
    { GET = "get", HEAD = "head", PUT = "put", DELETE = "delete" } },
  { "^(.+)/tags/list$", tags, { GET = "list" } },
  { "^(.+)/referrers/([^/]+)$", referrers, { GET = "list" } },
}

local function not_allowed(methods)
  local allow = {}
  for m in pairs(methods) do allow[#allow + 1] = m end
  table.sort(allow)
  return errors.oci(405, "UNSUPPORTED", "method not allowed", { Allow = table.concat(allow, ", ") })
end

--- The content handler of location /v2.
function router.handle()
  local uri = ngx.var.uri
  local method = ngx.req.get_method()
  if uri == "/v2" or uri == "/v2/" then
    if method ~= "GET" and method ~= "HEAD" then return not_allowed{ GET = true, HEAD = true } end
    return http.send(200, { ["Content-Type"] = "application/json" }, "{}")
  end
  local rest = uri:match("^/v2/(.*)$")
  if rest == "_catalog" then
    if method ~= "GET" then return not_allowed{ GET = true } end
    return catalog.list()
  end
  for _, route in ipairs(ROUTES) do
    local name, ref = (rest or ""):match(route[1])
    if name then
      local fn = route[3][method]
      if not fn then return not_allowed(route[3]) end
      local ok, msg, code = validate.name(name)
      if not ok then return errors.send(code, msg) end
      return route[2][fn](name, ref)
    end
  end
  return errors.oci(404, "NAME_UNKNOWN", "no such endpoint: " .. uri)
end

return router
