--- GET /v2/<name>/referrers/<digest>[?artifactType=]: an OCI image index of
-- the manifests whose subject is digest (empty for an unknown digest),
-- filtered by artifact type when asked (and then says so in
-- OCI-Filters-Applied).

local cjson = require "cjson.safe"
local validate = require "regstore.registry.validate"
local call = require "regstore.oci.call"
local errors = require "regstore.oci.errors"
local http = require "regstore.oci.http"
local page = require "regstore.oci.page"

local referrers = {}

local INDEX = "application/vnd.oci.image.index.v1+json"

function referrers.list(name, digest)
  local ok, msg, code = validate.digest(digest)
  if not ok then return errors.send(code, msg) end
  local filter = http.arg "artifactType"
  if filter == "" then filter = nil end
  local list
  list, msg, code = call.meta("referrers", name, digest, filter)
  if not list then
    if code ~= "name_unknown" then return errors.send(code, msg) end
    list = {}
  end
  local out = {}
  for i, d in ipairs(list) do
    local desc = { mediaType = d.media_type, digest = d.digest, size = d.size, artifactType = d.artifact_type }
    if next(d.annotations or {}) then desc.annotations = d.annotations end
    out[i] = desc
  end
  local headers = { ["Content-Type"] = INDEX }
  if filter then headers["OCI-Filters-Applied"] = "artifactType" end
  local body = string.format('{"schemaVersion":2,"mediaType":%s,"manifests":%s}',
    cjson.encode(INDEX), page.array(out))
  return http.send(200, headers, body)
end

return referrers
