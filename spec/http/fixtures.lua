-- Test content for the HTTP specs, built as the OCI conformance suite builds
-- its own (opencontainers/distribution-spec, conformance/setup.go): configs,
-- a layer, one manifest per workflow, a manifest without layers, blobs for
-- streamed and chunked uploads, and artifacts with a subject for referrers.
local cjson = require "cjson"
local http = require "support.http"
local helper = require "helper"

local f = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1, d2 = math.floor(n / 262144) % 64, math.floor(n / 4096) % 64
    local d3, d4 = math.floor(n / 64) % 64, n % 64
    out[#out + 1] = B64:sub(d1 + 1, d1 + 1) .. B64:sub(d2 + 1, d2 + 1)
      .. (b and B64:sub(d3 + 1, d3 + 1) or "=") .. (c and B64:sub(d4 + 1, d4 + 1) or "=")
  end
  return table.concat(out)
end

local function blob(content, media_type)
  return { content = content, digest = http.digest(content), length = tostring(#content),
    media_type = media_type }
end
f.blob = blob

local function desc(b, media_type)
  return string.format('{"mediaType":%s,"digest":"%s","size":%d}',
    cjson.encode(media_type or b.media_type), b.digest, #b.content)
end
f.desc = desc

local OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
local OCI_INDEX = "application/vnd.oci.image.index.v1+json"
local OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
local LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
f.OCI_MANIFEST, f.OCI_INDEX, f.OCI_CONFIG = OCI_MANIFEST, OCI_INDEX, OCI_CONFIG

function f.new(seed)
  local t = {}
  t.configs = {}
  for i = 1, 5 do
    local author = helper.bytes(16, seed + i):gsub("[^%w]", "x")
    t.configs[i] = blob(string.format(
      '{\n\t"author": "%s",\n\t"architecture": "amd64",\n\t"os": "linux",\n' ..
      '\t"rootfs": {"type": "layers", "diff_ids": []}\n}',
      author), OCI_CONFIG)
  end
  t.layer = blob(helper.bytes(1000, seed + 10), LAYER)
  local function config_desc(c)
    return string.format('{"mediaType":"%s","digest":"%s","size":%d,"data":"%s","newUnspecifiedField":"%s"}',
      OCI_CONFIG, c.digest, #c.content, base64(c.content), base64("hello world"))
  end
  t.manifests = {}
  for i = 1, 5 do
    t.manifests[i] = blob(string.format(
      '{\n\t"schemaVersion": 2,\n\t"mediaType": "%s",\n\t"config": %s,\n\t"layers": [%s]\n}',
      OCI_MANIFEST, config_desc(t.configs[i]), desc(t.layer)), OCI_MANIFEST)
  end
  -- no mediaType field, no layers
  t.empty_layer_manifest = blob(string.format('{"schemaVersion":2,"config":%s,"layers":[]}',
    config_desc(t.configs[2])), OCI_MANIFEST)
  t.blob_a = blob(helper.bytes(42, seed + 20))
  t.blob_b = blob(helper.bytes(42, seed + 21))
  t.chunk1 = t.blob_b.content:sub(1, 22)
  t.chunk2 = t.blob_b.content:sub(23)
  t.chunk1_range = "0-21"
  t.chunk2_range = "22-41"
  -- referrers
  t.empty_json = blob("{}", "application/vnd.oci.empty.v1+json")
  t.ref_a = blob("NHL Peanut Butter on my NHL bagel")
  t.ref_b = blob("NBA Strawberry Jam on my NBA croissant")
  t.type_a = "application/vnd.nhl.peanut.butter.bagel"
  t.type_b = "application/vnd.nba.strawberry.jam.croissant"
  t.type_index = "application/vnd.food.stand"
  t.annotation = "org.opencontainers.conformance.test"
  t.annotations = {}
  local function artifact(fields, value)
    local parts = { '"schemaVersion":2', '"mediaType":"' .. OCI_MANIFEST .. '"' }
    for _, p in ipairs(fields) do parts[#parts + 1] = p end
    parts[#parts + 1] = string.format('"annotations":{"%s":"%s"}', t.annotation, value)
    local b = blob("{" .. table.concat(parts, ",") .. "}", OCI_MANIFEST)
    t.annotations[b.digest] = value
    return b
  end
  local function subject(m) return '"subject":' .. desc(m, OCI_MANIFEST) end
  t.refs_a_config = artifact({ '"config":' .. desc(t.ref_a, t.type_a), subject(t.manifests[5]),
    '"layers":[' .. desc(t.empty_json) .. "]" }, "test config a")
  t.refs_b_config = artifact({ '"config":' .. desc(t.ref_b, t.type_b), subject(t.manifests[5]),
    '"layers":[' .. desc(t.empty_json) .. "]" }, "test config b")
  t.refs_a_layer = artifact({ '"artifactType":"' .. t.type_a .. '"', '"config":' .. desc(t.empty_json),
    subject(t.manifests[5]), '"layers":[' .. desc(t.ref_a, t.type_a) .. "]" }, "test layer a")
  t.refs_b_layer = artifact({ '"artifactType":"' .. t.type_b .. '"', '"config":' .. desc(t.empty_json),
    subject(t.manifests[5]), '"layers":[' .. desc(t.ref_b, t.type_b) .. "]" }, "test layer b")
  -- the same as B, on a subject never pushed
  t.refs_c_layer = artifact({ '"artifactType":"' .. t.type_b .. '"', '"config":' .. desc(t.empty_json),
    subject(t.manifests[4]), '"layers":[' .. desc(t.ref_b, t.type_b) .. "]" }, "test layer c")
  t.refs_index = blob(string.format(
    '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","manifests":[%s,%s],"subject":%s,' ..
    '"annotations":{"%s":"test index"}}',
    OCI_INDEX, t.type_index, desc(t.refs_a_config, OCI_MANIFEST), desc(t.refs_a_layer, OCI_MANIFEST),
    desc(t.manifests[5], OCI_MANIFEST), t.annotation), OCI_INDEX)
  t.annotations[t.refs_index.digest] = "test index"
  t.dummy_digest = http.digest("hello world")
  t.nonexistent_manifest = ".INVALID_MANIFEST_NAME"
  return t
end

return f
