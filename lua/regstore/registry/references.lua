--- What a stored manifest references, and what a kept manifest keeps: the
-- one definition that gc's mark, --delete-untagged, fsck's registry checks
-- and retention share.
--
-- `walk(doc, visit)` is the one walk over a manifest's descriptors: the
-- registry's strict parsing of a put (manifest_formats.lua) and this
-- lenient reading both go through it.
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

-- The lists of descriptors a manifest may hold: field, role, digest field.
local LISTS = {
  { "layers", "layer", "digest" },
  { "blobs", "blob", "digest" },        -- an OCI artifact manifest's
  { "fsLayers", "fslayer", "blobSum" }, -- schema 1's
  { "manifests", "child", "digest" },   -- a list's or an index's
}

--- The one walk over a decoded manifest's descriptors, in order: calls
-- visit(role, desc, i, digest_field) for its config ("config"), each entry
-- of layers ("layer"), blobs ("blob"), fsLayers ("fslayer", digest field
-- blobSum) and manifests ("child"), then its subject ("subject"); desc is
-- the raw decoded value (checking it is the caller's). A visit returning
-- anything but nil stops the walk, which returns that.
function references.walk(doc, visit)
  if type(doc) ~= "table" then return nil end
  if doc.config ~= nil then
    local r = visit("config", doc.config, 1, "digest")
    if r ~= nil then return r end
  end
  for _, l in ipairs(LISTS) do
    local list = doc[l[1]]
    if type(list) == "table" then
      for i, desc in ipairs(list) do
        local r = visit(l[2], desc, i, l[3])
        if r ~= nil then return r end
      end
    end
  end
  if doc.subject ~= nil then return visit("subject", doc.subject, 1, "digest") end
  return nil
end

local function digest_of(desc, field)
  if type(desc) ~= "table" then return nil end
  local d = desc[field]
  if type(d) == "string" and validate.digest(d) then return d end
  return nil
end

--- The references of manifest content: { blobs = { digests }, manifests =
-- { digests }, subject = digest or nil }, or nil, why when the content is
-- not a JSON object.
function references.of(content)
  local doc = json.decode(content)
  if type(doc) ~= "table" then return nil, "not a JSON object" end
  local out = { blobs = {}, manifests = {} }
  references.walk(doc, function(role, desc, _, field)
    local d = digest_of(desc, field)
    if not d then return nil end
    if role == "child" then
      out.manifests[#out.manifests + 1] = d
    elseif role == "subject" then
      out.subject = d
    else
      out.blobs[#out.blobs + 1] = d
    end
  end)
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
