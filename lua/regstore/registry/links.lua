--- Links: how a repository sees content (distribution's linkedBlobStore
-- link functions). A link is a small file holding a digest; the kinds are
--   layer_link      _layers/<alg>/<hex>/link            (repo.blobs)
--   revision_link   _manifests/revisions/<alg>/<hex>/link (repo.manifests)
--   tag_index_link  _manifests/tags/<tag>/index/<alg>/<hex>/link
--   tag_current_link _manifests/tags/<tag>/current/link
-- and whether a repository exists (it has _manifests or _layers content).
-- Failures are the driver's (`not_found`, ...): the stores translate them.

local validate = require "regstore.registry.validate"
local errors = require "regstore.registry.errors"
local batch = require "regstore.registry.batch"

local links = {}

--- What a get of the link at path answered (text, or nil, message, code),
-- as links.read gives it: the digest, or nil, message, code, where a
-- directory or a file on the way, or content that is not a digest, is
-- `not_found`.
function links.answer(path, text, msg, code)
  if not text then
    if code == "is_dir" or code == "not_dir" then code = "not_found" end
    return nil, msg, code
  end
  if not validate.digest(text) then return nil, "regstore: corrupt link " .. path, "not_found" end
  return text
end

-- The digest the link at path holds (links.read); shallow: a level above
-- missing too, or a file, the link is absent either way.
local function read_at(ctx, path)
  return links.answer(path, batch.get_shallow(ctx.drv, path))
end

--- The digest a link holds, or nil, message, driver code. A link whose
-- content is not a digest counts as missing (`not_found`).
function links.read(ctx, kind, fields)
  return read_at(ctx, ctx.paths:path_for(kind, fields))
end

--- Whether a link is there: true, false, or nil, message, code. One
-- lookup (drv:batch's exists), its content unread: for a check made again
-- after a write, of a link read once already.
function links.present(ctx, kind, fields)
  local res, msgs, codes = batch.mixed(ctx.drv, { { "exists", ctx.paths:path_for(kind, fields) } })
  if res[1] then return true end
  if codes[1] == "not_found" or codes[1] == "is_dir" then return false end
  return nil, msgs[1], codes[1]
end

--- links.read of many links at once (the driver's get_many): res[i] the
-- digest or false, msgs[i], codes[i] as links.read answers for list[i] =
-- { kind, fields }.
function links.read_many(ctx, list)
  local p = {}
  for i, l in ipairs(list) do p[i] = ctx.paths:path_for(l[1], l[2]) end
  local res, msgs, codes = batch.get(ctx.drv, p, { shallow = true })
  for i = 1, #p do
    local d, msg, code = links.answer(p[i], res[i] or nil, msgs[i], codes[i])
    res[i], msgs[i], codes[i] = d or false, msg, code
  end
  return res, msgs, codes
end

--- Makes a link hold digest. A link that holds it already is left alone:
-- rewriting it would replace the file under its readers for nothing, and
-- registries re-push the same layers and manifests all day. unlinked:
-- the caller has just read the link and it did not hold digest (a quota's
-- charge_link), so it is not read again. Returns true, and as second
-- result whether it wrote.
function links.write(ctx, kind, fields, digest, unlinked)
  local path = ctx.paths:path_for(kind, fields)
  if not unlinked and read_at(ctx, path) == digest then return true, false end
  local ok, msg, code = ctx.drv:put_content(path, digest)
  if not ok then return nil, msg, code end
  return true, true
end

--- The base names of a directory's children, sorted; {} when it is missing.
-- Second result: false when the directory is missing. range, optional:
-- { after = name, n = N } pages the listing in the driver (byte order).
function links.children(ctx, kind, fields, range)
  local list, msg, code = ctx.drv:list(ctx.paths:path_for(kind, fields), range)
  if not list then
    if code == "not_found" or code == "not_dir" then return {}, false end
    return nil, msg, code
  end
  local out = {}
  for i = 1, #list do out[i] = list[i]:match("([^/]+)$") end
  return out, true
end

local function is_dir(ctx, kind, name)
  local info, msg, code = ctx.drv:stat(ctx.paths:path_for(kind, { name = name }))
  if info then return info.is_dir end
  if code == "not_found" or code == "not_dir" then return false end
  return nil, msg, code
end

--- Whether the repository exists: true, false, or nil, message, code.
function links.repository_exists(ctx, name)
  local yes, msg, code = is_dir(ctx, "manifests", name)
  if yes == nil then return nil, msg, code end
  if yes then return true end
  return is_dir(ctx, "layers", name)
end

--- true when the repository exists; else nil, message, "name_unknown" (or
-- the driver's failure).
function links.known_repository(ctx, name)
  local exists, msg, code = links.repository_exists(ctx, name)
  if exists == nil then return nil, msg, code end
  if not exists then
    return errors.new("name_unknown", "repository name not known to registry: %s", name)
  end
  return true
end

return links
