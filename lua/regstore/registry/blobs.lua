--- The global blob store (distribution's blobStore + blobStatter): content
-- addressed data at blobs/<alg>/<2hex>/<hex>/data, shared by every
-- repository. Repositories see blobs through their links (repo_blobs.lua); this
-- store never deletes (deletion belongs to the maintenance policies).
--
-- The module functions take the registry context ({ drv, paths, cache });
-- `blobs.new(ctx)` makes the public `reg.blobs` object (stat, reader).

local regstore = require "regstore"
local validate = require "regstore.registry.validate"
local errors = require "regstore.registry.errors"
local batch = require "regstore.registry.batch"

local blobs = {}

blobs.DEFAULT_MEDIA_TYPE = "application/octet-stream"

--- "sha256:<hex>" of data, computed by the engine.
function blobs.digest_of(data)
  return "sha256:" .. regstore.sha256():update(data):hexdigest()
end

local function unknown(digest)
  return errors.new("blob_unknown", "blob unknown to registry: %s", digest)
end

--- { digest, size, media_type } of a blob (digest already validated).
function blobs.stat(ctx, digest)
  local hit = ctx.cache:get(digest)
  if hit then return { digest = digest, size = hit.size, media_type = hit.media_type } end
  local info, msg, code = ctx.drv:stat(ctx.paths:path_for("blob_data", { digest = digest }))
  if not info then
    if code == "not_found" or code == "not_dir" then return unknown(digest) end
    return nil, msg, code
  end
  if info.is_dir then return unknown(digest) end
  local d = { size = info.size, media_type = blobs.DEFAULT_MEDIA_TYPE }
  ctx.cache:set(digest, d)
  return { digest = digest, size = d.size, media_type = d.media_type }
end

--- Whether each of digests is there, in one batch (the driver's
-- stat_many): out[i] true (recorded in the cache), false (unknown), or
-- { message, code } when its stat failed. fresh: the cache is forgotten
-- for each first (the store is asked anyway).
function blobs.stat_many(ctx, digests, fresh)
  local list = {}
  for i, d in ipairs(digests) do
    if fresh then ctx.cache:delete(d) end
    list[i] = ctx.paths:path_for("blob_data", { digest = d })
  end
  local infos, msgs, codes = batch.stat(ctx.drv, list)
  local out = {}
  for i, d in ipairs(digests) do
    local info = infos[i]
    if info and not info.is_dir then
      ctx.cache:set(d, { size = info.size, media_type = blobs.DEFAULT_MEDIA_TYPE })
      out[i] = true
    elseif info or codes[i] == "not_found" or codes[i] == "not_dir" then
      out[i] = false
    else
      out[i] = { msgs[i], codes[i] }
    end
  end
  return out
end

--- true, false, or nil, message, code.
function blobs.exists(ctx, digest)
  local d, msg, code = blobs.stat(ctx, digest)
  if d then return true end
  if code == "blob_unknown" then return false end
  return nil, msg, code
end

--- Like exists, but asks the store, never the cache: for the checks made
-- after a link is written, which must see a blob that garbage collection
-- took away since (see manifests.lua and uploads.lua).
function blobs.exists_now(ctx, digest)
  ctx.cache:delete(digest)
  return blobs.exists(ctx, digest)
end

--- The whole content of a blob.
function blobs.get(ctx, digest)
  local data, msg, code = ctx.drv:get_content(ctx.paths:path_for("blob_data", { digest = digest }))
  if not data then
    if code == "is_dir" or code == "not_dir" then code = "not_found" end
    return errors.translate(msg, code, "blob_unknown", "blob unknown to registry: %s", digest)
  end
  return data
end

--- A driver reader on a blob, at offset.
function blobs.reader(ctx, digest, offset)
  local r, msg, code = ctx.drv:reader(ctx.paths:path_for("blob_data", { digest = digest }), offset)
  if not r then
    if code == "is_dir" or code == "not_dir" then code = "not_found" end
    return errors.translate(msg, code, "blob_unknown", "blob unknown to registry: %s", digest)
  end
  return r
end

--- Stores data under its digest unless a blob is there already (content
-- addressed: same digest, same bytes). Records it in the cache. Two
-- processes storing the same blob at once: one creates it, the other finds
-- it (`replace = false`); a blob is never replaced under its readers.
-- fresh: ask the store rather than the cache whether it is there.
-- absent: the caller just saw it missing (the create-only put decides).
function blobs.put_if_absent(ctx, digest, data, media_type, fresh, absent)
  local exists, msg, code = false, nil, nil
  if not absent then exists, msg, code = (fresh and blobs.exists_now or blobs.exists)(ctx, digest) end
  if exists == nil then return nil, msg, code end
  if not exists then
    local ok
    -- known absent: its <hex> directory is most likely missing too (a hint)
    ok, msg, code = batch.put_one(ctx.drv, ctx.paths:path_for("blob_data", { digest = digest }), data,
      absent and 1 or nil, { replace = false })
    if not ok and code ~= "exists" then return nil, msg, code end
  end
  ctx.cache:set(digest, { size = #data, media_type = media_type or blobs.DEFAULT_MEDIA_TYPE })
  return true
end

-- The public, registry-wide view.
local Store = {}
Store.__index = Store

--- { digest = d, size = n } for a blob anywhere in the registry.
function Store:stat(digest)
  validate.arg(digest, "string", 1, "stat")
  local ok, msg, code = validate.digest(digest)
  if not ok then return nil, msg, code end
  local d
  d, msg, code = blobs.stat(self._ctx, digest)
  if not d then return nil, msg, code end
  return { digest = d.digest, size = d.size }
end

--- A reader on a blob, from offset (default 0).
function Store:reader(digest, offset)
  validate.arg(digest, "string", 1, "reader")
  validate.arg(offset, "number", 2, "reader", true)
  local ok, msg, code = validate.digest(digest)
  if not ok then return nil, msg, code end
  return blobs.reader(self._ctx, digest, offset or 0)
end

function blobs.new(ctx)
  return setmetatable({ _ctx = ctx }, Store)
end

return blobs
