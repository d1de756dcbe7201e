--- Manifests: GET, HEAD, PUT, DELETE of /v2/<name>/manifests/<reference>,
-- the reference a tag or a digest. PUT takes at most max_manifest
-- bytes (413 beyond), answers OCI-Subject when the manifest has a subject.
-- DELETE by digest removes the manifest and its tags; by tag, only the tag.

local call = require "regstore.oci.call"
local errors = require "regstore.oci.errors"
local http = require "regstore.oci.http"
local body = require "regstore.oci.body"
local settings = require "regstore.oci.settings"

local guard = require "regstore.oci.guard"

local manifests = {}

local function fetch(name, ref)
  local content, mt, digest = call.meta("manifest_get", name, ref)
  if not content then return errors.send(digest, mt) end
  return content, {
    ["Content-Type"] = mt,
    ["Docker-Content-Digest"] = digest,
    ["ETag"] = '"' .. digest .. '"',
    ["Content-Length"] = #content,
  }
end

function manifests.get(name, ref)
  local content, h = fetch(name, ref)
  guard.event("on_pull", name, h["Docker-Content-Digest"], guard.ctx())
  return http.send(200, h, content)
end

function manifests.head(name, ref)
  local _, h = fetch(name, ref)
  return http.send(200, h, "")
end

function manifests.put(name, ref)
  local max = settings.get().max_manifest
  local b, err = body.open()
  if not b then return errors.body("MANIFEST_INVALID", "manifest body: " .. tostring(err)) end
  if b.length and b.length > max then
    return errors.oci(413, "SIZE_INVALID", string.format("manifest larger than %d bytes", max))
  end
  local content
  content, err = b:read(max + 1)
  if not content then return errors.body("MANIFEST_INVALID", "manifest body: " .. tostring(err)) end
  if #content > max then
    return errors.oci(413, "SIZE_INVALID", string.format("manifest larger than %d bytes", max))
  end
  local mt = ngx.var.http_content_type or ""
  mt = mt:match("^%s*([^;%s]+)") or ""
  local digest, msg, code = call.meta("manifest_put", name, ref, content, mt)
  if not digest then return errors.send(code, msg) end
  local h = {
    Location = "/v2/" .. name .. "/manifests/" .. digest,
    ["Docker-Content-Digest"] = digest,
  }
  if msg then h["OCI-Subject"] = msg end -- manifest_put's second value: the subject
  guard.event("on_push", name, digest, ref:find(":", 1, true) and {} or { ref }, guard.ctx())
  return http.send(201, h, "")
end

function manifests.delete(name, ref)
  local ok, msg, code = call.meta("manifest_delete", name, ref)
  if not ok then return errors.send(code, msg) end
  guard.event("on_delete", name, ref, guard.ctx())
  return http.send(202, {}, "")
end

return manifests
