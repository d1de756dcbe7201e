--- The mark phase of gc (and the reference reading of fsck and the example
-- scripts): which digests a manifest references, read from its stored bytes,
-- and a mark set that follows references recursively, as distribution's
-- markManifestReferences does: a manifest marks its config, its layers (and
-- an OCI artifact's blobs), its subject, and the children of a manifest
-- list or OCI index, whose own references are marked in turn.
--
-- Reading is lenient on purpose: what matters to gc is every digest a
-- manifest could make a client fetch, so any JSON object is read for those
-- fields whatever its media type says (fsck is where bad content is
-- reported). Each manifest is read and parsed once per marker (and once
-- per gc run: gc's second marker shares the first one's), whatever the
-- number of repositories that hold it.

local json = require "cjson.safe"
local validate = require "regstore.registry.validate"

local mark = {}

local function digest_of(desc)
  if type(desc) ~= "table" then return nil end
  local d = desc.digest
  if type(d) == "string" and validate.digest(d) then return d end
  return nil
end

local function each(list, f)
  if type(list) ~= "table" then return end
  for _, desc in ipairs(list) do
    local d = digest_of(desc)
    if d then f(d) end
  end
end

--- The references of manifest content: { blobs = { digests },
-- manifests = { digests } } (children and subject), or nil, why when the
-- content is not a JSON object.
function mark.references(content)
  local doc = json.decode(content)
  if type(doc) ~= "table" then return nil, "not a JSON object" end
  local out = { blobs = {}, manifests = {} }
  local function blob(d) out.blobs[#out.blobs + 1] = d end
  local function manifest(d) out.manifests[#out.manifests + 1] = d end
  local cfg = digest_of(doc.config)
  if cfg then blob(cfg) end
  each(doc.layers, blob)
  each(doc.blobs, blob)
  each(doc.manifests, manifest)
  local subject = digest_of(doc.subject)
  if subject then manifest(subject) end
  return out
end

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
  local path = ctx.paths:path_for("blob_data", { digest = d })
  local refs, why
  local content, msg, code = ctx.drv:get_content(path)
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
    refs, why = mark.references(content)
    if not refs then refs = false end
  end
  -- content never changes under a digest, so what was read can be shared;
  -- a failure is this marker's own (the manifest may be pushed meanwhile)
  if refs then self.parsed[d] = refs else self.failed[d] = why end
  return refs, why
end

--- Marks a digest (no reading).
function Marker:mark(d)
  if not self.marked[d] then
    self.marked[d] = true
    self.count = self.count + 1
  end
end

--- Marks manifest d and everything it references, recursively. Returns
-- true, or nil, message, code when the store failed.
function Marker:manifest(d)
  self:mark(d)
  if self.visited[d] then return true end
  self.visited[d] = true
  local stack = { d }
  while #stack > 0 do
    local m = table.remove(stack)
    local refs, msg, code = self:refs(m)
    if refs == nil then return nil, msg, code end
    if refs then
      for _, b in ipairs(refs.blobs) do self:mark(b) end
      for _, c in ipairs(refs.manifests) do
        self:mark(c)
        if not self.visited[c] then
          self.visited[c] = true
          stack[#stack + 1] = c
        end
      end
    end
  end
  return true
end

--- A new marker over ctx ({ drv, paths }). shared: another marker whose
-- parsed manifests to reuse (gc's second mark reads only manifests new to it).
function mark.new(ctx, shared)
  return setmetatable({
    ctx = ctx, marked = {}, count = 0, visited = {}, read = 0,
    parsed = shared and shared.parsed or {}, failed = {},
  }, Marker)
end

return mark
