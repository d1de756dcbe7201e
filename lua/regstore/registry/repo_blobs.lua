--- The blobs of one repository (distribution's linkedBlobStore): a blob is
-- visible in a repository only through its _layers/<alg>/<hex>/link. Put and
-- upload commits store the data once, globally, and link it; mount links a
-- blob of another repository without copying; delete only unlinks (the data
-- stays for garbage collection).

local validate = require "regstore.registry.validate"
local errors = require "regstore.registry.errors"
local blobs = require "regstore.registry.blobs"
local links = require "regstore.registry.links"
local uploads = require "regstore.registry.uploads"
local quotas = require "regstore.registry.quotas"

local repo_blobs = {}

local function unknown(name, digest)
  return errors.new("blob_unknown", "blob unknown to repository %s: %s", name, digest)
end

--- { digest, size, media_type } of a blob linked into repository name
-- (digest already validated); blob_unknown when it is not linked.
function repo_blobs.stat(ctx, name, digest)
  local target, msg, code = links.read(ctx, "layer_link", { name = name, digest = digest })
  if not target then return errors.translate(msg, code, "blob_unknown",
    "blob unknown to repository %s: %s", name, digest) end
  local d
  d, msg, code = blobs.stat(ctx, target)
  if not d then
    if code == "blob_unknown" then return unknown(name, digest) end
    return nil, msg, code
  end
  return { digest = digest, size = d.size, media_type = d.media_type, target = target }
end

local Store = {}
Store.__index = Store

-- The prologue of the methods on a linked blob: the digest argument of
-- method fname checked (validate.digest_arg, raising at the level of the
-- method's caller), then repo_blobs.stat of it.
local function linked(self, digest, fname)
  validate.arg(digest, "string", 1, fname, false, 4)
  local ok, msg, code = validate.digest(digest)
  if not ok then return nil, msg, code end
  return repo_blobs.stat(self._ctx, self._name, digest)
end

--- { digest, size } of a blob linked into this repository.
function Store:stat(digest)
  local d, msg, code = linked(self, digest, "stat")
  if not d then return nil, msg, code end
  return { digest = d.digest, size = d.size }
end

--- The whole content of a linked blob.
function Store:get(digest)
  local d, msg, code = linked(self, digest, "get")
  if not d then return nil, msg, code end
  local data
  data, msg, code = blobs.get(self._ctx, d.target)
  if not data then
    if code == "blob_unknown" then return unknown(self._name, digest) end
    return nil, msg, code
  end
  return data
end

--- A reader on a linked blob, from offset (default 0).
function Store:reader(digest, offset)
  validate.arg(digest, "string", 1, "reader")
  validate.arg(offset, "number", 2, "reader", true)
  local d, msg, code = linked(self, digest, "reader")
  if not d then return nil, msg, code end
  local r
  r, msg, code = blobs.reader(self._ctx, d.target, offset or 0)
  if not r then
    if code == "blob_unknown" then return unknown(self._name, digest) end
    return nil, msg, code
  end
  return r
end

--- Stores data as a blob of this repository in one call (distribution's
-- linkedBlobStore.Put: no upload directory). Verified against digest when
-- given. Returns { digest, size }.
function Store:put(data, digest)
  validate.arg(data, "string", 1, "put")
  validate.arg(digest, "string", 2, "put", true)
  if digest then
    local alg, msg, code = validate.digest(digest)
    if not alg then return nil, msg, code end
    if alg ~= "sha256" then
      return errors.new("unsupported", "digest algorithm %s is not supported for put", alg)
    end
  end
  local got = blobs.digest_of(data)
  if digest and got ~= digest then
    return errors.new("digest_invalid", "blob put to repository %s: content is %s, not %s",
      self._name, got, digest)
  end
  local ctx = self._ctx
  local fields = { name = self._name, digest = got }
  local token, msg, code = quotas.charge_link(ctx, self._name, "layer_link", fields, got, #data)
  if not token then return nil, msg, code end
  local ok
  ok, msg, code = blobs.put_if_absent(ctx, got, data)
  if ok then ok, msg, code = links.write(ctx, "layer_link", fields, got, token.unlinked) end
  if not ok then
    quotas.refund(ctx, token)
    return nil, msg, code
  end
  return { digest = got, size = #data }
end

--- Links a blob of repository `from` into this one. Returns { digest, size }.
function Store:mount(from, digest)
  validate.arg(from, "string", 1, "mount")
  validate.arg(digest, "string", 2, "mount")
  local ok, msg, code = validate.name(from)
  if not ok then return nil, msg, code end
  ok, msg, code = validate.digest(digest)
  if not ok then return nil, msg, code end
  local ctx = self._ctx
  local d
  d, msg, code = repo_blobs.stat(ctx, from, digest)
  if not d then return nil, msg, code end
  local fields = { name = self._name, digest = digest }
  local token
  token, msg, code = quotas.charge_link(ctx, self._name, "layer_link", fields, d.target, d.size)
  if not token then return nil, msg, code end
  ok, msg, code = links.write(ctx, "layer_link", fields, d.target, token.unlinked)
  if not ok then
    quotas.refund(ctx, token)
    return nil, msg, code
  end
  return { digest = digest, size = d.size }
end

--- Unlinks a blob from this repository; the data stays for gc.
function Store:delete(digest)
  local ok, msg, code = validate.digest_arg(digest, "delete")
  if not ok then return nil, msg, code end
  local ctx = self._ctx
  ok, msg, code = ctx.drv:delete(ctx.paths:path_for("layer_link", { name = self._name, digest = digest }))
  if not ok then
    if code == "not_dir" then code = "not_found" end
    return errors.translate(msg, code, "blob_unknown",
      "blob unknown to repository %s: %s", self._name, digest)
  end
  ctx.cache:delete(digest)
  return true
end

--- A new upload into this repository.
function Store:create()
  return uploads.create(self._ctx, self._name)
end

--- The upload with that id, from any process.
function Store:resume(id)
  validate.arg(id, "string", 1, "resume")
  return uploads.resume(self._ctx, self._name, id)
end

--- { id, size, started_at } of an upload, without opening its writer (a
-- status read never disturbs a PATCH in progress).
function Store:upload_status(id)
  validate.arg(id, "string", 1, "upload_status")
  return uploads.status(self._ctx, self._name, id)
end

function repo_blobs.new(ctx, name)
  return setmetatable({ _ctx = ctx, _name = name }, Store)
end

return repo_blobs
