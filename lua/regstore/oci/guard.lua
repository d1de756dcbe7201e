--- The auth hook of regstore.oci.handle{ auth = function(ctx) ... end } and
-- the event hooks (on_push, on_delete, on_pull).
--
-- auth(ctx) gets ctx.repository (nil for /v2/ and the catalog), ctx.action
-- ("pull", "push", "delete", "catalog"), ctx.method, ctx.uri and
-- ctx.headers (ngx.req.get_headers()); it returns true to allow, or false,
-- status, challenge: 401 answers UNAUTHORIZED with WWW-Authenticate:
-- challenge, 403 (and a bare false) DENIED, both as the spec's JSON. It may
-- yield (cosockets, regstore.nginx) and may leave fields in ctx (a user
-- name) for the event hooks, which get the same ctx last.

local errors = require "regstore.oci.errors"
local settings = require "regstore.oci.settings"

local guard = {}

local function ask(auth, repository, action)
  local ctx = { repository = repository, action = action, method = ngx.req.get_method(),
    uri = ngx.var.uri, headers = ngx.req.get_headers() }
  return ctx, pcall(auth, ctx)
end

--- Whether the auth hook allows action on repository, asked quietly (the
-- source of a cross-repository mount: refused, the mount is not done).
function guard.permits(repository, action)
  local auth = settings.get().auth
  if not auth then return true end
  local _, ok, allowed = ask(auth, repository, action)
  return ok and allowed and true or false
end

--- Whether the request may go on; when not, the refusal has been sent.
function guard.allow(repository, action)
  local s = settings.get()
  if not s.auth then return true end
  local ctx, ok, allowed, status, challenge = ask(s.auth, repository, action)
  ngx.ctx.regstore_auth = ctx
  if not ok then
    ngx.log(ngx.ERR, "regstore.oci: the auth hook failed: ", tostring(allowed))
    errors.oci(500, "UNKNOWN", "internal error: the auth hook failed")
    return false
  end
  if allowed then return true end
  if status == 401 then
    errors.oci(401, "UNAUTHORIZED", "authentication required",
      challenge and { ["WWW-Authenticate"] = challenge } or nil)
  else
    errors.oci(403, "DENIED", "requested access to the resource is denied")
  end
  return false
end

--- false, or why writes are refused: handle{ read_only = true }, or the
-- registry-wide switch (`regstore read-only on`) as regstore.nginx.watch
-- last saw it (nothing when the watch is not started).
function guard.read_only()
  if settings.get().read_only then return "the registry is read-only" end
  return require("regstore.nginx.watch").read_only()
end

--- Calls hook name (on_push, on_delete, on_pull) with the arguments and the
-- auth ctx; a failing hook is logged, never the request's failure: the
-- storage has committed already.
function guard.event(name, ...)
  local hook = settings.get()[name]
  if not hook then return end
  local ok, err = pcall(hook, ...)
  if not ok then ngx.log(ngx.ERR, "regstore.oci: the ", name, " hook failed: ", tostring(err)) end
end

--- The auth ctx of this request (nil without an auth hook).
function guard.ctx()
  return ngx.ctx.regstore_auth
end

return guard
