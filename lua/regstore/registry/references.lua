--- What a stored manifest references, and what a kept manifest keeps: the
-- one definition that gc's mark, --delete-untagged, fsck's registry checks
-- and retention share.
--
-- `of(content)` reads the digests a manifest names, leniently (any JSON
-- object, whatever its media type: what matters is every digest a client
-- pulling it could fetch):
--   blobs      config, layers, an OCI artifact's blobs, and schema 1's
--              fsLayers[].blobSum (trees imported from an older registry)
--   manifests  the children of a manifest list or OCI index
--   subject    the OCI 1.1 subject (a referrer names the manifest it is about)
--
-- `keep(revisions, roots, refs_of)` is what a repository keeps: the roots
-- (its tagged manifests, and those too young to judge), and, until nothing
-- changes, every child of a kept list or index, the subject of a kept
-- referrer, and every referrer whose subject is kept (signatures and SBOMs
-- are pushed untagged by design). Only manifests of the repository count:
-- a child or a subject that is no longer one of its revisions keeps
-- nothing and is not kept (a deleted image is not brought back by an index
-- or a signature naming it, as in distribution's markManifestReferences).

local json = require "cjson.safe"
local validate = require "regstore.registry.validate"

local references = {}

local function digest_of(desc, field)
  if type(desc) ~= "table" then return nil end
  local d = desc[field or "digest"]
  if type(d) == "string" and validate.digest(d) then return d end
  return nil
end

local function each(list, field, f)
  if type(list) ~= "table" then return end
  for _, desc in ipairs(list) do
    local d = digest_of(desc, field)
    if d then f(d) end
  end
end

--- The references of manifest content: { blobs = { digests }, manifests =
-- { digests }, subject = digest or nil }, or nil, why when the content is
-- not a JSON object.
function references.of(content)
  local doc = json.decode(content)
  if type(doc) ~= "table" then return nil, "not a JSON object" end
  local out = { blobs = {}, manifests = {} }
  local function blob(d) out.blobs[#out.blobs + 1] = d end
  local cfg = digest_of(doc.config)
  if cfg then blob(cfg) end
  each(doc.layers, "digest", blob)
  each(doc.blobs, "digest", blob)
  each(doc.fsLayers, "blobSum", blob)
  each(doc.manifests, "digest", function(d) out.manifests[#out.manifests + 1] = d end)
  out.subject = digest_of(doc.subject)
  return out
end

--- The set of revisions a repository keeps. revisions: { [digest] = true }
-- (its manifests); roots: { [digest] = true } (kept whatever references
-- them; roots that are not revisions are ignored); refs_of(d): the
-- references of revision d, false when it cannot be read as a manifest
-- (it keeps nothing then), or nil, message, code when the store failed.
-- Returns { [digest] = true }, or nil, message, code.
function references.keep(revisions, roots, refs_of)
  local keep, stack = {}, {}
  local function add(d)
    if revisions[d] and not keep[d] then
      keep[d] = true
      stack[#stack + 1] = d
    end
  end
  -- referrers by subject: every revision is read once to know its subject
  local referrers = {}
  for d in pairs(revisions) do
    local refs, msg, code = refs_of(d)
    if refs == nil then return nil, msg, code end
    local s = refs and refs.subject
    if s and s ~= d and revisions[s] then
      referrers[s] = referrers[s] or {}
      referrers[s][#referrers[s] + 1] = d
    end
  end
  for d in pairs(roots) do add(d) end
  while #stack > 0 do
    local d = table.remove(stack)
    local refs, msg, code = refs_of(d)
    if refs == nil then return nil, msg, code end
    if refs then
      for _, c in ipairs(refs.manifests) do add(c) end
      if refs.subject then add(refs.subject) end
    end
    for _, r in ipairs(referrers[d] or {}) do add(r) end
  end
  return keep
end

return references
