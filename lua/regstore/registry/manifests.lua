--- The manifests of one repository (distribution's manifestStore and its
-- schema2, manifestlist and ocischema handlers).
--
-- A manifest is stored as a blob (blobs/<alg>/<2hex>/<hex>/data holds its
-- bytes) and made part of the repository by
-- _manifests/revisions/<alg>/<hex>/link. Put checks the content
-- (manifest_formats.lua), that every config and layer it names is linked in
-- the repository and that every manifest a list or index names is a
-- manifest of the repository (manifest_blob_unknown otherwise), as
-- distribution's handlers do; nothing is written before all checks pass.
--
-- Referrers. Distribution keeps nothing on disk for the OCI `subject`, and
-- any index of our own would add paths that a tree written by distribution
-- does not have. So `referrers` scans the repository's revisions and parses
-- each manifest; the parsed summary (subject, artifact type, annotations,
-- media type, size) is cached per digest in the connection's LRU, which is
-- safe because content never changes under a digest. Cost: one list per
-- algorithm plus one read per manifest not in the cache.

local validate = require "regstore.registry.validate"
local errors = require "regstore.registry.errors"
local blobs = require "regstore.registry.blobs"
local batch = require "regstore.registry.batch"
local links = require "regstore.registry.links"
local tags = require "regstore.registry.tags"
local quotas = require "regstore.registry.quotas"
local listing = require "regstore.registry.listing"
local formats = require "regstore.registry.manifest_formats"

local manifests = {}

local SUMMARY = "manifest "   -- cache key prefix of parsed summaries

local function unknown(name, digest)
  return errors.new("manifest_unknown", "manifest unknown to repository %s: %s", name, digest)
end

--- The digest a revision link points at, or nil, message, code
-- (manifest_unknown when the repository has no such manifest).
local function revision(ctx, name, digest)
  local target, msg, code = links.read(ctx, "revision_link", { name = name, digest = digest })
  if not target then
    return errors.translate(msg, code, "manifest_unknown",
      "manifest unknown to repository %s: %s", name, digest)
  end
  return target
end

--- Whether digest is a manifest of the repository (its link and its blob).
function manifests.exists(ctx, name, digest)
  local target, msg, code = revision(ctx, name, digest)
  if not target then
    if code == "manifest_unknown" then return false end
    return nil, msg, code
  end
  return blobs.exists(ctx, target)
end

--- content, media_type of a manifest of the repository.
function manifests.get(ctx, name, digest)
  local target, msg, code = revision(ctx, name, digest)
  if not target then return nil, msg, code end
  local content
  content, msg, code = blobs.get(ctx, target)
  if not content then
    if code == "blob_unknown" then return unknown(name, digest) end
    return nil, msg, code
  end
  return content, formats.detect(content) or blobs.DEFAULT_MEDIA_TYPE
end

-- The parsed summary of a stored manifest, cached by digest.
local function summary(ctx, name, digest)
  local s = ctx.cache:get(SUMMARY .. digest)
  if s then return s end
  local content, media_type, code = manifests.get(ctx, name, digest)
  if not content then return nil, media_type, code end
  local info = formats.parse(content, media_type)
  s = {
    media_type = media_type, size = #content,
    subject = info and info.subject and info.subject.digest or nil,
    artifact_type = info and info.artifact_type or nil,
    annotations = info and info.annotations or {},
  }
  ctx.cache:set(SUMMARY .. digest, s)
  return s
end

--- The sorted digests of the repository's manifests; second result false
-- when it has no revisions directory.
function manifests.all(ctx, name)
  local algs, found, code = links.children(ctx, "revisions", { name = name })
  if not algs then return nil, found, code end
  local out = {}
  for _, alg in ipairs(algs) do
    local hexes, msg
    hexes, msg, code = links.children(ctx, "revisions_alg", { name = name, alg = alg })
    if not hexes then return nil, msg, code end
    for _, hex in ipairs(hexes) do
      local d = alg .. ":" .. hex
      if validate.digest(d) then out[#out + 1] = d end
    end
  end
  return listing.sort(out), found
end

-- The path of the link that makes a reference part of the repository.
local function ref_link_path(ctx, name, ref)
  local kind = ref.kind == "manifest" and "revision_link" or "layer_link"
  return ctx.paths:path_for(kind, { name = name, digest = ref.digest })
end

local function blob_unknown(name, ref)
  return errors.new("manifest_blob_unknown",
    "manifest in repository %s references %s %s, unknown to the repository",
    name, ref.kind == "manifest" and "manifest" or "blob", ref.digest)
end

-- Checks that everything the manifest names is in the repository: every
-- reference's link read and the blobs they name stat'ed (the descriptor
-- cache first), in one batch of the driver (drv:batch, shallow: a missing
-- directory is an absence at once, whatever the levels above it hold)
-- where the blobs are known ahead, then a second batch for blobs a link
-- named that were not. The first reference that fails decides, in the
-- manifest's order, as one check after the other would. opts (optional):
--   extra  one more link ({ kind, fields }) read in the same batch
--   also   one more blob digest stat'ed in the same batch
-- Returns true, then the extra link's target, msg, code, then also's
-- answer (true, false, or { msg, code }), then the references' targets;
-- or nil, message, code.
local function verify_references(ctx, name, info, opts)
  opts = opts or {}
  local ops, stat_of, stat_at = {}, {}, {}
  local function want(t)
    if stat_of[t] ~= nil or stat_at[t] then return end
    if ctx.cache:get(t) then
      stat_of[t] = true
      return
    end
    ops[#ops + 1] = { "stat", ctx.paths:path_for("blob_data", { digest = t }) }
    stat_at[t] = #ops
  end
  local link_at = {}
  for i, ref in ipairs(info.references) do
    ops[#ops + 1] = { "get", ref_link_path(ctx, name, ref) }
    link_at[i] = #ops
  end
  local extra_at
  if opts.extra then
    ops[#ops + 1] = { "get", ctx.paths:path_for(opts.extra[1], opts.extra[2]) }
    extra_at = #ops
  end
  if opts.also then want(opts.also) end
  local res, msgs, codes = batch.mixed(ctx.drv, ops, { shallow = true })
  -- a link's answer as links.read gives it
  local function link(k) return links.answer(ops[k][2], res[k] or nil, msgs[k], codes[k]) end
  local function blob(k)
    local info_, code = res[k], codes[k]
    if info_ and not info_.is_dir then return true, info_ end
    if info_ or code == "not_found" or code == "not_dir" then return false end
    return { msgs[k], code }
  end
  for t, k in pairs(stat_at) do
    local ok, st = blob(k)
    if ok then ctx.cache:set(t, { size = st.size, media_type = blobs.DEFAULT_MEDIA_TYPE }) end
    stat_of[t] = ok
  end
  -- targets no one stat'ed yet: one more batch
  local targets, more = {}, {}
  for i in ipairs(info.references) do
    local t = link(link_at[i])
    targets[i] = t
    if t and stat_of[t] == nil then
      if ctx.cache:get(t) then
        stat_of[t] = true
      elseif not more[t] then
        more[t] = true
        more[#more + 1] = t
      end
    end
  end
  local answers = blobs.stat_many(ctx, more)
  for i, t in ipairs(more) do stat_of[t] = answers[i] end
  for i, ref in ipairs(info.references) do
    local t = targets[i]
    if not t then
      local _, msg, code = link(link_at[i])
      if code ~= "not_found" then return nil, msg, code end
      return blob_unknown(name, ref)
    end
    local ok = stat_of[t]
    if type(ok) == "table" then return nil, ok[1], ok[2] end
    if not ok then return blob_unknown(name, ref) end
  end
  local et, em, ec
  if extra_at then et, em, ec = link(extra_at) end
  return true, et, em, ec, opts.also and stat_of[opts.also], targets
end

-- After the revision link is written: garbage collection running beside
-- this put may have swept a blob the first check saw (an unreferenced one
-- older than its grace) before the link made it referenced. gc quarantines
-- what it sweeps and marks again before it deletes, so a blob found here
-- after the link exists is kept; one missing here fails the put cleanly.
-- Each reference's link, the blob the first check found it naming
-- (targets) and the manifest's own blob are looked at in one batch of
-- exists (one lookup each: a name always has its data), in the manifest's
-- order; the manifest's blob is put again when it is gone.
local function still_there(ctx, name, digest, content, media_type, info, targets)
  local ops = {}
  for i, ref in ipairs(info.references) do
    ops[2 * i - 1] = { "exists", ref_link_path(ctx, name, ref) }
    ops[2 * i] = { "exists", ctx.paths:path_for("blob_data", { digest = targets[i] }) }
  end
  ops[#ops + 1] = { "exists", ctx.paths:path_for("blob_data", { digest = digest }) }
  local res, msgs, codes = batch.mixed(ctx.drv, ops)
  local function gone(k) -- whether item k found nothing; nil, msg, code when unread
    if res[k] then return false end
    if codes[k] == "not_found" or codes[k] == "is_dir" then return true end
    return nil, msgs[k], codes[k]
  end
  for i, ref in ipairs(info.references) do
    for k = 2 * i - 1, 2 * i do
      local g, msg, code = gone(k)
      if g == nil then return nil, msg, code end
      if g then
        ctx.cache:delete(targets[i])
        return blob_unknown(name, ref)
      end
    end
  end
  local g, msg, code = gone(#ops)
  if g == nil then return nil, msg, code end
  if g then return blobs.put_if_absent(ctx, digest, content, media_type, true) end
  ctx.cache:set(digest, { size = #content, media_type = media_type or blobs.DEFAULT_MEDIA_TYPE })
  return true
end

local Store = {}
Store.__index = Store

--- Stores a manifest; tags it when opts.tag is given; verifies opts.digest
-- when given. Returns the manifest's digest.
function Store:put(content, media_type, opts)
  validate.arg(content, "string", 1, "put")
  validate.arg(media_type, "string", 2, "put")
  validate.arg(opts, "table", 3, "put", true)
  local tag, want = opts and opts.tag, opts and opts.digest
  if tag ~= nil and type(tag) ~= "string" then
    error("bad argument #3 to 'put' (tag must be a string)", 2)
  end
  if want ~= nil and type(want) ~= "string" then
    error("bad argument #3 to 'put' (digest must be a string)", 2)
  end
  local ctx, name = self._ctx, self._name
  local ok, msg, code
  if tag then
    ok, msg, code = validate.tag(tag)
    if not ok then return nil, msg, code end
  end
  if want then
    ok, msg, code = validate.digest(want)
    if not ok then return nil, msg, code end
    if ok ~= "sha256" then
      return errors.new("unsupported", "digest algorithm %s is not supported for manifests", ok)
    end
  end
  local info
  info, msg, code = formats.parse(content, media_type)
  if not info then
    return errors.new(code, "%s manifest for repository %s: %s",
      code == "unsupported" and "unsupported" or "invalid", name, msg)
  end
  local digest = blobs.digest_of(content)
  if want and want ~= digest then
    return errors.new("digest_invalid", "manifest put to repository %s: content is %s, not %s",
      name, digest, want)
  end
  -- the references' links and the revision link, read in one batch
  local fields = { name = name, digest = digest }
  -- (and the manifest's own blob stat'ed with the references' blobs)
  local rev, present, targets, rev_code
  ok, rev, msg, rev_code, present, targets = verify_references(ctx, name, info,
    { extra = { "revision_link", fields }, also = digest })
  if not ok then return nil, rev, msg end
  if type(present) == "table" then return nil, present[1], present[2] end
  -- a new revision counts against the quotas that cover the repository
  local token
  if rev ~= digest then
    token, msg, code = quotas.charge(ctx, name, #content)
    if not token then return nil, msg, code end
  end
  local function undo(m, c)
    quotas.refund(ctx, token)
    return nil, m, c
  end
  local wrote, linked = false, false
  local link_path = ctx.paths:path_for("revision_link", fields)
  if not present and rev == nil and rev_code == "not_found" then
    -- a new manifest: its blob and its revision link in one batch, the
    -- blob's directory linked before the link's (batch.put_two_new)
    local blob_ok, link_ok, m1, c1, m2, c2, link_written = batch.put_two_new(ctx.drv,
      { ctx.paths:path_for("blob_data", { digest = digest }), link_path }, { content, digest })
    if blob_ok ~= nil then
      if not blob_ok then
        if link_written then ctx.drv:delete(link_path) end -- never left without its blob
        return undo(m1, c1)
      end
      present = true
      if not link_ok then return undo(m2, c2) end
      wrote, linked = link_written, true
    end
  end
  if present then
    ctx.cache:set(digest, { size = #content, media_type = media_type or blobs.DEFAULT_MEDIA_TYPE })
  else
    ok, msg, code = blobs.put_if_absent(ctx, digest, content, media_type, false, true)
    if not ok then return undo(msg, code) end
  end
  if rev ~= digest and not linked then -- a link that holds the digest already is not rewritten
    -- a revision link not there: its <hex> directory most likely is not either (a hint)
    ok, msg, code = batch.put_one(ctx.drv, link_path, digest, rev == nil and rev_code == "not_found" and 1 or nil)
    if not ok then return undo(msg, code) end
    wrote = true
  end
  ok, msg, code = still_there(ctx, name, digest, content, media_type, info, targets)
  if not ok then
    if wrote then ctx.drv:delete(link_path) end
    return undo(msg, code)
  end
  if tag then
    ok, msg, code = tags.set_checked(ctx, name, tag, digest)
    if not ok then return nil, msg, code end
  end
  return digest
end

--- content, media_type
function Store:get(digest)
  local ok, msg, code = validate.digest_arg(digest, "get")
  if not ok then return nil, msg, code end
  return manifests.get(self._ctx, self._name, digest)
end

--- true or false
function Store:exists(digest)
  local ok, msg, code = validate.digest_arg(digest, "exists")
  if not ok then return nil, msg, code end
  return manifests.exists(self._ctx, self._name, digest)
end

--- Removes the manifest from the repository, and the tags pointing at it.
-- The revision goes first, the tags after: a tag set meanwhile either is
-- found here, or its setter finds the revision gone and takes the tag back
-- (tags.set_checked), so no tag is left pointing at a deleted manifest. A
-- delete of a manifest already gone still sweeps tags pointing at it (what
-- a delete that failed half-way left), then answers manifest_unknown.
function Store:delete(digest)
  local ok, msg, code = validate.digest_arg(digest, "delete")
  if not ok then return nil, msg, code end
  local ctx, name = self._ctx, self._name
  local gone
  ok, msg, code = ctx.drv:delete(ctx.paths:path_for("revision_link", { name = name, digest = digest }))
  if not ok then
    if code ~= "not_found" and code ~= "not_dir" then return nil, msg, code end
    gone = true
  end
  ctx.cache:delete(digest)
  ctx.cache:delete(SUMMARY .. digest)
  local pointing
  pointing, msg, code = tags.lookup(ctx, name, digest)
  if not pointing then return nil, msg, code end
  for _, t in ipairs(pointing) do
    ok, msg, code = tags.remove(ctx, name, t)
    if not ok and code ~= "tag_unknown" then return nil, msg, code end
  end
  if gone then return unknown(name, digest) end
  return true
end

--- Sorted digests of the repository's manifests.
function Store:list()
  local ctx, name = self._ctx, self._name
  local all, found, code = manifests.all(ctx, name)
  if not all then return nil, found, code end
  if not found then
    local known, msg
    known, msg, code = links.known_repository(ctx, name)
    if not known then return nil, msg, code end
  end
  return all
end

--- Descriptors of the manifests whose subject is digest, sorted by digest,
-- optionally only those of one artifact type.
function Store:referrers(digest, artifact_type)
  local ok, msg, code = validate.digest_arg(digest, "referrers")
  validate.arg(artifact_type, "string", 2, "referrers", true)
  if not ok then return nil, msg, code end
  local ctx, name = self._ctx, self._name
  local all
  all, msg, code = manifests.all(ctx, name)
  if not all then return nil, msg, code end
  local out = {}
  for _, d in ipairs(all) do
    local s
    s, msg, code = summary(ctx, name, d)
    if not s then
      if code ~= "manifest_unknown" then return nil, msg, code end
    elseif s.subject == digest and (artifact_type == nil or s.artifact_type == artifact_type) then
      local ann = {}
      for k, v in pairs(s.annotations) do ann[k] = v end
      out[#out + 1] = {
        media_type = s.media_type, digest = d, size = s.size,
        artifact_type = s.artifact_type, annotations = ann,
      }
    end
  end
  return out
end

function manifests.new(ctx, name)
  return setmetatable({ _ctx = ctx, _name = name }, Store)
end

return manifests
