--- Routing of the /v2/ API: the path names the handler, the method its
-- function. Repository names are checked here (pure Lua, no I/O); every
-- handler then gets (name, reference) and answers the request itself.
--
-- The path routed is the one the client sent ($request_uri), not nginx's
-- normalised $uri: nginx resolves "..", "%2e%2e" and "%2F" before the
-- location match, so "/v2/a/manifests/..%2f..%2fb/manifests/t" would reach
-- the handlers as repository "b". Here each "/"-separated segment is
-- percent-decoded on its own, and one that decodes to a "/" or a control
-- byte is kept as sent, so that the check of whatever it stands for (name,
-- tag, digest, upload id) refuses it; "." and ".." fail those checks too.

local validate = require "regstore.registry.validate"
local errors = require "regstore.oci.errors"
local http = require "regstore.oci.http"
local guard = require "regstore.oci.guard"

local router = {}

local blobs = require "regstore.oci.blobs"
local uploads = require "regstore.oci.uploads"
local manifests = require "regstore.oci.manifests"
local tags = require "regstore.oci.tags"
local catalog = require "regstore.oci.catalog"
local referrers = require "regstore.oci.referrers"

-- Patterns on the path after "/v2/", most specific first; `.+` is the
-- repository name (it may hold slashes); then the methods, what the
-- second capture is (for router.refused), and the route's name in metrics.
local ROUTES = {
  { "^(.+)/blobs/uploads/?$", uploads, { POST = "start" }, nil, "upload" },
  { "^(.+)/blobs/uploads/([^/]+)$", uploads,
    { GET = "status", PATCH = "patch", PUT = "finish", DELETE = "cancel" }, "upload", "upload" },
  { "^(.+)/blobs/([^/]+)$", blobs, { GET = "get", HEAD = "head", DELETE = "delete" }, "digest", "blob" },
  { "^(.+)/manifests/([^/]+)$", manifests,
    { GET = "get", HEAD = "head", PUT = "put", DELETE = "delete" }, "reference", "manifest" },
  { "^(.+)/tags/list$", tags, { GET = "list" }, nil, "tags" },
  { "^(.+)/referrers/([^/]+)$", referrers, { GET = "list" }, "digest", "referrers" },
}

-- A segment percent-decoded, or as sent when decoding it gives a "/" or a
-- control byte (NUL included).
local function segment(raw)
  if not raw:find("%", 1, true) then return raw end
  local s = raw:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  if s:find("[%z\1-\31/\127]") then return raw end
  return s
end

--- The request's path as the client sent it, decoded segment by segment.
-- From the request line: $request_uri is empty when nginx refused the URI.
function router.path()
  local target = (ngx.var.request or ""):match("^%S+%s+(%S+)") or ngx.var.request_uri or ""
  local raw = target:gsub("^%a+://[^/]*", ""):match("^[^?#]*")
  local out = {}
  for seg in (raw .. "/"):gmatch("([^/]*)/") do out[#out + 1] = segment(seg) end
  return table.concat(out, "/")
end

-- The route of rest (the path after "/v2/"), the name and the reference.
local function match(rest)
  for _, route in ipairs(ROUTES) do
    local name, ref = rest:match(route[1])
    if name then return route, name, ref end
  end
end

local function not_allowed(methods)
  local allow = {}
  for m in pairs(methods) do allow[#allow + 1] = m end
  table.sort(allow)
  return errors.oci(405, "UNSUPPORTED", "method not allowed", { Allow = table.concat(allow, ", ") })
end

-- What a request does, for the auth hook: by method; an upload's DELETE
-- cancels a push.
local ACTIONS = { GET = "pull", HEAD = "pull", POST = "push", PATCH = "push", PUT = "push", DELETE = "delete" }

local function action_of(route, method)
  if route[2] == uploads then return "push" end
  return ACTIONS[method] or "pull"
end

--- The content handler of location /v2/ (regstore.oci.handle).
function router.handle()
  local uri = router.path()
  local method = ngx.req.get_method()
  if uri == "/v2" or uri == "/v2/" then
    ngx.ctx.regstore_route = "base"
    if not guard.allow(nil, "pull") then return end
    if method ~= "GET" and method ~= "HEAD" then return not_allowed{ GET = true, HEAD = true } end
    return http.send(200, { ["Content-Type"] = "application/json" }, "{}")
  end
  local rest = uri:match("^/v2/(.*)$")
  if rest == "_catalog" then
    ngx.ctx.regstore_route = "catalog"
    if not guard.allow(nil, "catalog") then return end
    if method ~= "GET" then return not_allowed{ GET = true } end
    return catalog.list()
  end
  local route, name, ref = match(rest or "")
  if not route then return errors.oci(404, "NAME_UNKNOWN", "no such endpoint: " .. uri) end
  ngx.ctx.regstore_route = route[5]
  local ok, msg, code = validate.name(name)
  if not ok then return errors.send(code, msg) end
  local action = action_of(route, method)
  if not guard.allow(name, action) then return end
  local fn = route[3][method]
  if not fn then return not_allowed(route[3]) end
  if action ~= "pull" then
    local why = guard.read_only()
    if why then return errors.oci(405, "UNSUPPORTED", why, { Allow = "GET, HEAD" }) end
  end
  return route[2][fn](name, ref)
end

-- What a reference of each route must be: the check and the code to answer.
local function ref_problem(route, ref)
  local kind = route[4]
  if kind == "digest" or (kind == "reference" and ref:find(":", 1, true)) then
    local ok, msg = validate.digest(ref)
    if not ok then return "DIGEST_INVALID", msg end
  elseif kind == "reference" then
    local ok, msg = validate.tag(ref)
    if not ok then return "TAG_INVALID", msg end
  elseif kind == "upload" and not validate.upload_id(ref) then
    return "BLOB_UPLOAD_INVALID", "invalid upload id"
  end
end

--- The answer to requests no route of /v2 runs: those nginx refused itself
-- (error_page: 400 for a NUL or a ".." above the root in the path or a
-- malformed request, 414 for a request line over
-- large_client_header_buffers, 431 for a header line over them, 501 for a
-- Transfer-Encoding other than chunked, 405 for TRACE, 505 for a request
-- line of an HTTP version other than 1.x), and those whose path nginx's
-- normalisation took out of /v2 (404, location /). When the path the
-- client sent names a route, the code is that of its part that is wrong
-- (the repository name, then the reference), with 400; otherwise
-- UNSUPPORTED, or NAME_UNKNOWN for 404. It only classifies: nothing is run
-- for such a request.
function router.refused(status)
  local rest = router.path():match("^/v2/(.*)$")
  local route, name, ref = match(rest or "")
  if route and (status == 400 or status == 404) then
    local ok, why = validate.name(name)
    if not ok then return errors.oci(400, "NAME_INVALID", (why:gsub("^regstore: ", ""))) end
    local code, bad = ref_problem(route, ref)
    if code then return errors.oci(400, code, (bad:gsub("^regstore: ", ""))) end
  end
  if status == 404 then return errors.oci(404, "NAME_UNKNOWN", "not a registry endpoint") end
  if status == 405 then
    return errors.oci(405, "UNSUPPORTED", "method not allowed", { Allow = "GET, HEAD, POST, PUT, PATCH, DELETE" })
  end
  local msg = ({ [414] = "request line too long", [431] = "request header too large",
    [501] = "transfer encoding not supported", [505] = "HTTP version not supported" })[status]
    or "malformed request"
  return errors.oci(status, "UNSUPPORTED", msg)
end

return router
