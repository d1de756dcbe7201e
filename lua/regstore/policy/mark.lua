--- The mark phase of gc (and the manifest reading of fsck and the example
-- scripts): a mark set over blobs/ digests, filled from the manifests a
-- repository keeps. What a manifest references is regstore.registry.references
-- (config, layers, artifact blobs, schema 1 fsLayers, children); which
-- manifests a repository keeps is references.keep. A kept manifest marks
-- its own digest, the blobs it names and its children's digests (their
-- data, as distribution's markManifestReferences does); a child's own
-- references are marked when the child is kept as a manifest of the
-- repository, never through a digest that is no longer one.
--
-- Each manifest is read and parsed once per marker (and once per gc run:
-- gc's second marker shares the first one's), whatever the number of
-- repositories that hold it.

local references = require "regstore.registry.references"
local batch = require "regstore.registry.batch"

local mark = {}

local Marker = {}
Marker.__index = Marker

--- The references of a stored manifest (cached), or false when it cannot be
-- read as one (missing, not JSON: `why` says which), or nil, message, code
-- when the store failed.
function Marker:refs(d)
  local hit = self.parsed[d]
  if hit then return hit end
  if self.failed[d] ~= nil then return false, self.failed[d] end
  local ctx = self.ctx
  local refs, why
  local content, msg, code = ctx.drv:get_content(ctx.paths:path_for("blob_data", { digest = d }))
  if not content and code == "not_found" then
    -- parked by gc between its marks: a push that links the manifest
    -- again meanwhile (its data unreferenced, so quarantined, until the
    -- push stores it again) must still have its references marked, or the
    -- second mark drops them under a manifest that is there
    content, msg, code = ctx.drv:get_content(ctx.paths:path_for("quarantine_blob", { digest = d }))
  end
  if not content then
    if code ~= "not_found" and code ~= "is_dir" and code ~= "not_dir" then return nil, msg, code end
    refs, why = false, "missing"
  else
    self.read = self.read + 1
    refs, why = references.of(content)
    if not refs then refs = false end
  end
  -- content never changes under a digest, so what was read can be shared;
  -- a failure is this marker's own (the manifest may be pushed meanwhile)
  if refs then self.parsed[d] = refs else self.failed[d] = why end
  return refs, why
end

--- Reads ahead the manifests of digests this marker has not read, in
-- windows (regstore.registry.batch: the driver's get_many), so that the
-- refs() that follow find them parsed. Only what was read and parsed is
-- kept: anything else (missing, parked, unreadable, not JSON) is left to
-- refs(), which reads it again on its own and decides as it always has,
-- so a failed read here is never taken for an absence.
function Marker:prefetch(digests)
  local ctx, want, paths = self.ctx, {}, {}
  for _, d in ipairs(digests) do
    if not self.parsed[d] and self.failed[d] == nil and not want[d] then
      want[d] = true
      want[#want + 1] = d
      paths[#paths + 1] = ctx.paths:path_for("blob_data", { digest = d })
    end
  end
  local contents = batch.get(ctx.drv, paths)
  for i, d in ipairs(want) do
    if contents[i] then
      local refs = references.of(contents[i])
      if refs then
        self.read = self.read + 1
        self.parsed[d] = refs
      end
    end
  end
end

--- Marks a digest (no reading).
function Marker:mark(d)
  if not self.marked[d] then
    self.marked[d] = true
    self.count = self.count + 1
  end
end

--- Marks kept manifest d: its digest, its blobs and its children's digests.
-- Returns true, or nil, message, code when the store failed.
function Marker:manifest(d)
  self:mark(d)
  local refs, msg, code = self:refs(d)
  if refs == nil then return nil, msg, code end
  if refs then
    for _, b in ipairs(refs.blobs) do self:mark(b) end
    for _, c in ipairs(refs.manifests) do self:mark(c) end
  end
  return true
end

--- What a repository keeps of revisions ({ [digest] = true }) given roots:
-- references.keep over this marker's reading.
function Marker:keep(revisions, roots)
  return references.keep(revisions, roots, function(d) return self:refs(d) end)
end

--- A new marker over ctx ({ drv, paths }). shared: another marker whose
-- parsed manifests to reuse (gc's second mark reads only manifests new to it).
function mark.new(ctx, shared)
  return setmetatable({
    ctx = ctx, marked = {}, count = 0, read = 0,
    parsed = shared and shared.parsed or {}, failed = {},
  }, Marker)
end

return mark
