--- The four manifest formats the registry stores, parsed and checked as
-- distribution's manifest handlers do (schema2, manifestlist, ocischema):
--
--   Docker schema 2 manifest   application/vnd.docker.distribution.manifest.v2+json
--   Docker manifest list       application/vnd.docker.distribution.manifest.list.v2+json
--   OCI image manifest         application/vnd.oci.image.manifest.v1+json
--   OCI image index            application/vnd.oci.image.index.v1+json
--
-- `parse(content, media_type)` checks the shape and returns a summary: the
-- references the store must find in the repository (config and layers are
-- blobs, the entries of a list or index are manifests), the OCI `subject`,
-- the artifact type and the annotations. Schema 1 (by media type or by
-- `schemaVersion: 1`) answers `unsupported`; everything else that is not a
-- valid manifest of the given media type answers `manifest_invalid`.
-- Pure Lua over cjson.safe: no I/O, no hashing.

local json = require "cjson.safe"
local validate = require "regstore.registry.validate"
local references = require "regstore.registry.references"

local formats = {}

local DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
local DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
local OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
local OCI_INDEX = "application/vnd.oci.image.index.v1+json"
local SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
local SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

formats.DOCKER_MANIFEST = DOCKER_MANIFEST
formats.DOCKER_LIST = DOCKER_LIST
formats.OCI_MANIFEST = OCI_MANIFEST
formats.OCI_INDEX = OCI_INDEX
formats.SCHEMA1 = SCHEMA1
formats.SCHEMA1_SIGNED = SCHEMA1_SIGNED

-- media type -> { list = is a list/index, oci = mediaType optional in content }
local KINDS = {
  [DOCKER_MANIFEST] = { list = false, oci = false },
  [DOCKER_LIST] = { list = true, oci = false },
  [OCI_MANIFEST] = { list = false, oci = true },
  [OCI_INDEX] = { list = true, oci = true },
}

local SCHEMA1_TYPES = { [SCHEMA1] = true, [SCHEMA1_SIGNED] = true }

-- Layers whose data may live elsewhere (distribution skips their existence
-- check when they carry URLs; a Docker foreign layer must carry them).
local DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
local OCI_NONDISTRIBUTABLE = {
  ["application/vnd.oci.image.layer.nondistributable.v1.tar"] = true,
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"] = true,
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"] = true,
}

-- Descriptors with these media types are manifests, not blobs.
local MANIFEST_TYPES = {
  [DOCKER_MANIFEST] = true, [DOCKER_LIST] = true, [OCI_MANIFEST] = true, [OCI_INDEX] = true,
}

--- Whether media_type is one of the four accepted ones.
function formats.accepted(media_type)
  return KINDS[media_type] ~= nil
end

local function invalid(fmt, ...)
  return nil, string.format(fmt, ...), "manifest_invalid"
end

-- JSON null counts as absent, as a Go zero value would.
local function field(t, k)
  local v = t[k]
  if v == json.null then return nil end
  return v
end

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local function is_object(t)
  if type(t) ~= "table" then return false end
  -- cjson decodes {} and [] alike; a non-empty array is not an object
  return next(t) == nil or t[1] == nil
end

local function check_string_map(t, where)
  if not is_object(t) then return false, where .. " must be an object" end
  for k, v in pairs(t) do
    if type(k) ~= "string" or type(v) ~= "string" then
      return false, where .. " must map strings to strings"
    end
  end
  return true
end

-- Checks a descriptor; returns { digest, media_type, size, urls } or nil, why.
local function descriptor(d, where)
  if not is_object(d) or next(d) == nil then return nil, where .. " must be a descriptor object" end
  local dg = field(d, "digest")
  if type(dg) ~= "string" or not validate.digest(dg) then
    return nil, string.format("%s has a malformed digest %s", where, validate.show(dg))
  end
  local mt = field(d, "mediaType")
  if mt ~= nil and type(mt) ~= "string" then return nil, where .. " has a non-string mediaType" end
  local size = field(d, "size")
  if size ~= nil and (type(size) ~= "number" or size < 0 or size ~= math.floor(size)) then
    return nil, where .. " has a bad size"
  end
  local urls = field(d, "urls")
  if urls ~= nil then
    if not is_array(urls) then return nil, where .. " has non-array urls" end
    for _, u in ipairs(urls) do
      if type(u) ~= "string" or not (u:find("^https?://[^#]+$")) then
        return nil, string.format("%s has an invalid url %s", where, validate.show(u))
      end
    end
    if #urls == 0 then urls = nil end
  end
  local ann = field(d, "annotations")
  if ann ~= nil then
    local ok, why = check_string_map(ann, where .. " annotations")
    if not ok then return nil, why end
  end
  return { digest = dg, media_type = mt or "", size = size or 0, urls = urls }
end

-- A layer's reference, or false when distribution would not look it up.
local function layer_ref(desc, oci, where)
  local mt = desc.media_type
  if not oci then
    if mt == DOCKER_FOREIGN then
      if not desc.urls then return nil, where .. " is a foreign layer without urls" end
      return false
    end
    if desc.urls then return nil, where .. " has urls but is not a foreign layer" end
  elseif OCI_NONDISTRIBUTABLE[mt] and desc.urls then
    return false
  end
  if MANIFEST_TYPES[mt] then
    return { digest = desc.digest, media_type = mt, kind = "manifest" }
  end
  return { digest = desc.digest, media_type = mt, kind = "blob" }
end

-- The descriptors of a manifest or a list, checked as distribution's
-- handlers check them (references.walk is the one walk over them).
local function parse_manifest(doc, oci, info)
  if field(doc, "manifests") ~= nil then
    return invalid("expected a manifest but found an index (it has 'manifests')")
  end
  local config, why = descriptor(field(doc, "config"), "config")
  if not config then return invalid("%s", why) end
  info.references[1] = { digest = config.digest, media_type = config.media_type, kind = "blob" }
  info.config_media_type = config.media_type
  local layers = field(doc, "layers")
  if layers ~= nil and not is_array(layers) then return invalid("layers must be an array") end
  local bad = references.walk({ layers = layers }, function(_, l, i)
    local where = string.format("layer %d", i)
    local d, why2 = descriptor(l, where)
    if not d then return why2 end
    local ref, why3 = layer_ref(d, oci, where)
    if ref == nil then return why3 end
    if ref then info.references[#info.references + 1] = ref end
  end)
  if bad then return invalid("%s", bad) end
  info.artifact_type = info.artifact_type or (config.media_type ~= "" and config.media_type or nil)
  return info
end

local function parse_list(doc, oci, info)
  if oci and (field(doc, "config") ~= nil or field(doc, "layers") ~= nil) then
    return invalid("expected an index but found a manifest (it has 'config' or 'layers')")
  end
  local manifests = field(doc, "manifests")
  if manifests == nil and oci then manifests = {} end
  if not is_array(manifests) then return invalid("manifests must be an array") end
  local bad = references.walk({ manifests = manifests }, function(_, m, i)
    local d, why = descriptor(m, string.format("manifest %d", i))
    if not d then return why end
    local platform = field(m, "platform")
    if platform ~= nil and not is_object(platform) then
      return string.format("manifest %d has a bad platform", i)
    end
    info.references[#info.references + 1] =
      { digest = d.digest, media_type = d.media_type, kind = "manifest" }
  end)
  if bad then return invalid("%s", bad) end
  return info
end

--- Parses and checks content as a manifest of media_type.
-- Returns a summary:
--   { media_type, references = { { digest, media_type, kind = "blob"|"manifest" } },
--     subject = { digest, media_type, size } or nil, artifact_type or nil,
--     annotations (a table, empty when none), config_media_type or nil }
-- or nil, reason, code ("manifest_invalid" or "unsupported").
function formats.parse(content, media_type)
  if SCHEMA1_TYPES[media_type] then
    return nil, "schema 1 manifests are not supported", "unsupported"
  end
  local kind = KINDS[media_type]
  if not kind then
    return invalid("media type %s is not a manifest type the registry accepts",
      validate.show(media_type))
  end
  local doc = json.decode(content)
  if type(doc) ~= "table" or not is_object(doc) then
    return invalid("content is not a JSON object")
  end
  local sv = field(doc, "schemaVersion")
  if sv == 1 then return nil, "schema 1 manifests are not supported", "unsupported" end
  if sv ~= 2 then return invalid("schemaVersion must be 2") end
  local mt = field(doc, "mediaType")
  if mt ~= nil and type(mt) ~= "string" then return invalid("mediaType must be a string") end
  if (mt == nil and not kind.oci) or (mt ~= nil and mt ~= media_type) then
    return invalid("content's mediaType %s disagrees with %s", validate.show(mt), media_type)
  end
  local info = { media_type = media_type, references = {}, annotations = {} }
  local ann = field(doc, "annotations")
  if ann ~= nil then
    local ok, why = check_string_map(ann, "annotations")
    if not ok then return invalid("%s", why) end
    info.annotations = ann
  end
  if kind.oci then
    local at = field(doc, "artifactType")
    if at ~= nil and type(at) ~= "string" then return invalid("artifactType must be a string") end
    info.artifact_type = at
    local subject = field(doc, "subject")
    if subject ~= nil then
      local d, why = descriptor(subject, "subject")
      if not d then return invalid("%s", why) end
      info.subject = { digest = d.digest, media_type = d.media_type, size = d.size }
    end
  end
  if kind.list then return parse_list(doc, kind.oci, info) end
  return parse_manifest(doc, kind.oci, info)
end

--- The media type of stored content, as distribution's manifest store
-- decides it on a get: `mediaType` when present, else an OCI index when the
-- content has `manifests`, an OCI manifest otherwise; schema 1 by version.
function formats.detect(content)
  local doc = json.decode(content)
  if type(doc) ~= "table" then return nil end
  if field(doc, "schemaVersion") == 1 then
    return field(doc, "signatures") ~= nil and SCHEMA1_SIGNED or SCHEMA1
  end
  local mt = field(doc, "mediaType")
  if type(mt) == "string" and mt ~= "" then return mt end
  if field(doc, "manifests") ~= nil then return OCI_INDEX end
  return OCI_MANIFEST
end

return formats
