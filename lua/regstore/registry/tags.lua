--- The tags of one repository (distribution's tagStore): a tag is the
-- directory _manifests/tags/<tag>, whose current/link names the manifest it
-- points at; every digest it ever pointed at keeps a link under index/
-- (the tag's history, as distribution keeps it). Untag removes the whole
-- directory, history included, as distribution does.

local validate = require "regstore.registry.validate"
local errors = require "regstore.registry.errors"
local links = require "regstore.registry.links"
local listing = require "regstore.registry.listing"
local batch = require "regstore.registry.batch"

local tags = {}

--- The digest tag points at (tag validated), or nil, message, code.
function tags.get(ctx, name, tag)
  local d, msg, code = links.read(ctx, "tag_current_link", { name = name, tag = tag })
  if not d then return errors.translate(msg, code, "tag_unknown",
    "tag unknown to repository %s: %s", name, tag) end
  return d
end

-- The links a tag of digest writes, and what they hold now (both read in
-- one batch): index, current (a digest, or nil when missing or unreadable:
-- then it is written).
local function tag_links(ctx, f, extra)
  local list = { { "tag_index_link", f }, { "tag_current_link", f } }
  if extra then list[3] = extra end
  local res, msgs, codes = links.read_many(ctx, list)
  return res[1] or nil, res[2] or nil, res[3] or nil, msgs[3], codes[3]
end

-- Writes a link unless it holds digest already (was: what it held).
-- missing: how many directory levels above the link are known to be
-- missing (put_many's hint: the put skips its lookups; a wrong hint costs
-- a round trip, never another result), or nil.
local function write_link(ctx, kind, f, digest, was, missing)
  if was == digest then return true end
  return batch.put_one(ctx.drv, ctx.paths:path_for(kind, f), digest, missing)
end

--- Points tag at digest (both validated, the manifest known to exist):
-- the history entry first, then the current link; a link that holds the
-- digest already is not rewritten. known: { index, current } as read
-- (tag_links), else both are read here, in one batch.
function tags.set(ctx, name, tag, digest, known)
  local f = { name = name, tag = tag, digest = digest }
  local index, current
  if known then index, current = known.index, known.current else index, current = tag_links(ctx, f) end
  -- Neither link there: a new tag, its directory missing (<tag>, index,
  -- sha256, <hex> above the history link; current, once that is written).
  -- A history link missing beside a current one: a new digest's <hex>.
  local fresh = not index and not current
  if fresh and ctx.drv.put_many then
    -- both links in one batch: the history link's chain made first, the
    -- current link's directory linked into <tag> after it (in_order)
    local res, msgs, codes = ctx.drv:put_many(
      { ctx.paths:path_for("tag_index_link", f), ctx.paths:path_for("tag_current_link", f) },
      { digest, digest }, { missing = { 4, 1 }, in_order = true })
    if res[1] and res[2] then return true end
    if not res[1] and res[2] and tags.get(ctx, name, tag) == digest then
      tags.remove(ctx, name, tag) -- a tag without its history entry: taken back, as before it was written
    end
    if not res[1] then return nil, msgs[1], codes[1] end
    return nil, msgs[2], codes[2]
  end
  local ok, msg, code = write_link(ctx, "tag_index_link", f, digest, index,
    not index and (fresh and 4 or 1) or nil)
  if not ok then return nil, msg, code end
  ok, msg, code = write_link(ctx, "tag_current_link", f, digest, current, fresh and 1 or nil)
  if not ok then return nil, msg, code end
  return true
end

--- tags.set, for a manifest that a delete may be removing right now. The
-- delete removes the revision first and the tags pointing at it after; a
-- tag written after that sweep would point at nothing for good. So the
-- revision is looked at again once the tag is written; if it is gone, the
-- tag is taken back (when it still points at digest) and the call fails
-- with manifest_unknown.
function tags.set_checked(ctx, name, tag, digest, known)
  local ok, msg, code = tags.set(ctx, name, tag, digest, known)
  if not ok then return nil, msg, code end
  ok, msg, code = links.present(ctx, "revision_link", { name = name, digest = digest })
  if ok then return true end
  if ok == nil then return nil, msg, code end
  if tags.get(ctx, name, tag) == digest then
    ok, msg, code = tags.remove(ctx, name, tag)
    if not ok and code ~= "tag_unknown" then return nil, msg, code end
  end
  return errors.new("manifest_unknown", "manifest unknown to repository %s: %s", name, digest)
end

--- Removes a tag (validated) with its history.
function tags.remove(ctx, name, tag)
  local ok, msg, code = ctx.drv:delete(ctx.paths:path_for("tag", { name = name, tag = tag }))
  if not ok then
    if code == "not_dir" then code = "not_found" end
    return errors.translate(msg, code, "tag_unknown", "tag unknown to repository %s: %s", name, tag)
  end
  return true
end

--- All tags, sorted; second result false when the repository has none.
function tags.all(ctx, name)
  local list, msg, code = links.children(ctx, "tags", { name = name })
  if not list then return nil, msg, code end
  return listing.sort(list), msg
end

--- The sorted tags pointing at digest.
function tags.lookup(ctx, name, digest)
  local all, msg, code = tags.all(ctx, name)
  if not all then return nil, msg, code end
  local out = {}
  for _, t in ipairs(all) do
    local d
    d, msg, code = tags.get(ctx, name, t)
    if d == digest then
      out[#out + 1] = t
    elseif not d and code ~= "tag_unknown" then
      return nil, msg, code
    end
  end
  return out
end

-- The public store.
local Store = {}
Store.__index = Store

local function check_tag(tag, fname)
  validate.arg(tag, "string", 1, fname, false, 4)
  return validate.tag(tag)
end

--- The digest the tag points at.
function Store:get(tag)
  local ok, msg, code = check_tag(tag, "get")
  if not ok then return nil, msg, code end
  return tags.get(self._ctx, self._name, tag)
end

--- Points tag at a manifest of this repository.
function Store:tag(tag, digest)
  local ok, msg, code = check_tag(tag, "tag")
  validate.arg(digest, "string", 2, "tag")
  if not ok then return nil, msg, code end
  ok, msg, code = validate.digest(digest)
  if not ok then return nil, msg, code end
  -- the revision, and what the tag's links hold now, in one batch
  local f = { name = self._name, tag = tag, digest = digest }
  local index, current, target
  index, current, target, msg, code = tag_links(self._ctx, f, { "revision_link", f })
  if not target then
    return errors.translate(msg, code, "manifest_unknown",
      "manifest unknown to repository %s: %s", self._name, digest)
  end
  return tags.set_checked(self._ctx, self._name, tag, digest, { index = index, current = current })
end

--- Removes the tag.
function Store:untag(tag)
  local ok, msg, code = check_tag(tag, "untag")
  if not ok then return nil, msg, code end
  return tags.remove(self._ctx, self._name, tag)
end

--- Sorted tags, strictly after `last`, at most `n`.
function Store:list(opts)
  local n, last = listing.options(opts, "list")
  local ctx = self._ctx
  -- The driver pages the tags directory itself (omap order is byte order);
  -- n = 0 still asks for one name, to tell a missing repository.
  local range = (n or last) and { after = last, n = n == 0 and 1 or n } or nil
  local page, found, code = links.children(ctx, "tags", { name = self._name }, range)
  if not page then return nil, found, code end
  if not found then
    local known, msg
    known, msg, code = links.known_repository(ctx, self._name)
    if not known then return nil, msg, code end
  end
  if n == 0 then return {} end
  return page
end

--- The sorted tags pointing at digest ({} when none).
function Store:lookup(digest)
  validate.arg(digest, "string", 1, "lookup")
  local ok, msg, code = validate.digest(digest)
  if not ok then return nil, msg, code end
  return tags.lookup(self._ctx, self._name, digest)
end

function tags.new(ctx, name)
  return setmetatable({ _ctx = ctx, _name = name }, Store)
end

return tags
