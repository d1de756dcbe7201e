--- regstore.oci: the OCI distribution API (v2) as an nginx content
-- handler, over regstore.nginx (every storage call on the thread pool).
--
--   location /v2/ {
--       content_by_lua_block {
--           require("regstore.oci").handle{
--               auth = function(ctx) return true end,   -- or false, 401, challenge / false, 403
--               read_only = false,
--               max_manifest = 4 * 1024 * 1024,
--               on_push = function(repo, digest, tags, ctx) end,   -- after the manifest is stored
--               on_delete = function(repo, reference, ctx) end,    -- manifest, tag or blob deleted
--               on_pull = function(repo, digest, ctx) end,         -- manifest GET answered
--           }
--       }
--   }
--   error_page 400 405 414 494 501 505 ... -> oci.refused(status) (docs/nginx.md)
--
-- Blobs (GET with one byte range, HEAD, DELETE), uploads (POST, monolithic,
-- cross-repository mount, PATCH with Content-Length or chunked bodies,
-- PUT, GET status, DELETE), manifests, tags/list and _catalog with n/last
-- paging, referrers; errors as the spec's JSON. Hooks: regstore/oci/guard.lua.

local settings = require "regstore.oci.settings"
local router = require "regstore.oci.router"
local drain = require "regstore.nginx.drain"

local oci = {}

--- Answers the request (content_by_lua* of `location /v2/`).
function oci.handle(opts)
  settings.set(opts or {})
  drain.enter()
  ngx.ctx.regstore_inflight = true
  return router.handle()
end

--- Runs the auth hook of opts (as handle{} takes them) for a location of
-- your own: true when allowed, else false and the refusal has been sent.
function oci.allow(opts, repository, action)
  settings.set(opts or {})
  return require("regstore.oci.guard").allow(repository, action)
end

--- The log phase of the locations handle{} answers (log_by_lua*): the
-- request is no longer in flight (regstore.nginx.drain), and counts in
-- regstore.nginx.metrics (when started): requests by route, method and
-- status, latency, bytes in and out.
function oci.log()
  if ngx.ctx.regstore_inflight then drain.leave() end
  local metrics = require "regstore.nginx.metrics"
  if not metrics.enabled() then return end
  local route = ngx.ctx.regstore_route or "other"
  local method = ngx.req.get_method()
  metrics.inc("regstore_http_requests_total", { route = route, method = method, status = ngx.status })
  metrics.observe("regstore_http_request_duration_seconds", { route = route },
    tonumber(ngx.var.request_time) or 0)
  metrics.inc("regstore_http_received_bytes_total", { route = route }, tonumber(ngx.var.request_length) or 0)
  metrics.inc("regstore_http_sent_bytes_total", { route = route }, tonumber(ngx.var.bytes_sent) or 0)
  if route == "upload" then
    local st = ngx.status
    if method == "POST" and st == 202 then
      metrics.inc("regstore_upload_sessions_total", { event = "started" })
    elseif (method == "PUT" and st == 201) or (method == "DELETE" and st == 204) then
      metrics.inc("regstore_upload_sessions_total", { event = "finished" })
    end
  end
end

--- Answers a request nginx refused itself, or one outside the API, with the
-- spec's JSON error: status is the one of error_page (400, 405, 414, 431
-- for 494, 501, 505) or 404 for a location outside /v2/.
function oci.refused(status)
  return router.refused(status)
end

return oci
