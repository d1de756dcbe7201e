--- The OCI distribution specification's error body and status for each of
-- the registry layer's codes.
--
--   errors.send(code, message [, detail])     -- a registry code ("blob_unknown")
--   errors.oci(status, OCI_CODE, message)     -- a code of the spec directly

local cjson = require "cjson.safe"
local http = require "regstore.oci.http"

local errors = {}

-- registry code -> HTTP status, OCI code
local MAP = {
  name_invalid = { 400, "NAME_INVALID" },
  tag_invalid = { 400, "TAG_INVALID" },
  digest_invalid = { 400, "DIGEST_INVALID" },
  size_invalid = { 400, "SIZE_INVALID" },
  manifest_invalid = { 400, "MANIFEST_INVALID" },
  manifest_blob_unknown = { 400, "MANIFEST_BLOB_UNKNOWN" },
  unsupported = { 400, "UNSUPPORTED" },
  name_unknown = { 404, "NAME_UNKNOWN" },
  blob_unknown = { 404, "BLOB_UNKNOWN" },
  blob_upload_unknown = { 404, "BLOB_UPLOAD_UNKNOWN" },
  manifest_unknown = { 404, "MANIFEST_UNKNOWN" },
  tag_unknown = { 404, "MANIFEST_UNKNOWN" },
  range = { 416, "BLOB_UPLOAD_INVALID" },
  denied = { 403, "DENIED" }, -- over a quota
  busy = { 503, "TOOMANYREQUESTS" },
  -- RADOS did not answer within the driver's timeout (an OSD down or
  -- stopped): distribution's code for 503; the client may retry. `io` and
  -- anything else unknown stay 500 UNKNOWN (and are logged).
  timeout = { 503, "UNAVAILABLE", { ["Retry-After"] = "5" } },
}

--- Sends the spec's JSON error body with the given status and OCI code.
function errors.oci(status, code, message, headers)
  local body = cjson.encode{ errors = { { code = code, message = message or code, detail = cjson.null } } }
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return http.send(status, h, body)
end

--- A request body that could not be read (malformed chunked encoding, the
-- client gone, or silent past --client-timeout): 400 with the route's code
-- (BLOB_UPLOAD_INVALID, MANIFEST_INVALID). On the raw socket of a chunked
-- body too: without an answer there the client would see the connection
-- just close.
function errors.body(code, message)
  ngx.log(ngx.INFO, "regstore: ", tostring(message))
  return errors.oci(400, code, tostring(message))
end

--- Sends the error for a registry failure (message, code as the layer returns them).
function errors.send(code, message, headers)
  local m = MAP[code]
  if not m then
    ngx.log(ngx.ERR, "regstore: ", tostring(message), " (", tostring(code), ")")
    return errors.oci(500, "UNKNOWN", "internal error: " .. tostring(code), headers)
  end
  local msg = tostring(message or m[2]):gsub("^regstore: ", "")
  if m[3] then
    local h = {}
    for k, v in pairs(m[3]) do h[k] = v end
    for k, v in pairs(headers or {}) do h[k] = v end
    headers = h
  end
  return errors.oci(m[1], m[2], msg, headers)
end

return errors
