--- gc's quarantine: what gc may delete is first parked under <root>/_gc,
-- where no registry read finds it, while gc checks that nothing needs it
-- (policy/gc.lua says why):
--   blob data       <root>/_gc/<alg>/<hex>
--   revision links  <root>/_gc/_revisions/<name>/<alg>/<hex>
--   layer links     <root>/_gc/_layers/<name>/<alg>/<hex>
-- Every step is one driver move or delete, so a crash leaves each of them
-- either in place or parked, never lost; restore_all (gc's first step,
-- fsck's repair) puts everything parked back.

local paths = require "regstore.registry.paths"
local scan = require "regstore.policy.scan"
local validate = require "regstore.registry.validate"

local quarantine = {}

local function data(ctx, d) return ctx.paths:path_for("blob_data", { digest = d }) end
local function parked(ctx, d) return ctx.paths:path_for("quarantine_blob", { digest = d }) end

-- A move of src to dst: true, false when src was not there, or nil, msg, code.
local function park_path(ctx, src, dst)
  local ok, msg, code = ctx.drv:move(src, dst)
  if ok then return true end
  if code == "not_found" or code == "not_dir" then return false end
  return nil, msg, code
end

-- Moves a parked file back, create-only: when the same name was written
-- again meanwhile (a push of the same digest: same content) the parked
-- copy is dropped instead, and the file a reader may be reading is never
-- replaced.
local function unpark_path(ctx, src, dst)
  local ok, msg, code = ctx.drv:move(src, dst, { replace = false })
  if code == "exists" then ok, msg, code = ctx.drv:delete(src) end
  if ok or code == "not_found" then return true end
  return nil, msg, code
end

--- Moves a blob's data into quarantine: true, false when it was not there
-- (another gc took it, or it is gone), or nil, message, code.
function quarantine.park(ctx, d)
  return park_path(ctx, data(ctx, d), parked(ctx, d))
end

--- Moves a parked blob back (create-only, see unpark_path).
function quarantine.unpark(ctx, d)
  return unpark_path(ctx, parked(ctx, d), data(ctx, d))
end

--- Deletes a parked blob. Second result: true when blobs/ holds the digest
-- again (a push stored it meanwhile), so it is not gone from the registry.
function quarantine.drop(ctx, d)
  local ok, msg, code = ctx.drv:delete(parked(ctx, d))
  if not ok and code ~= "not_found" then return nil, msg, code end
  local info = ctx.drv:stat(data(ctx, d))
  return true, nil, info ~= nil
end

-- kind "revision" or "layer": the link's place and its parking place.
local function link_paths(ctx, kind, name, d)
  local f = { name = name, digest = d }
  return ctx.paths:path_for(kind .. "_link", f), ctx.paths:path_for("quarantine_" .. kind, f)
end

--- Parks a repository's revision link (kind "revision") or layer link
-- (kind "layer"): true, false when it was not there, or nil, message, code.
function quarantine.park_link(ctx, kind, name, d)
  local link, park = link_paths(ctx, kind, name, d)
  return park_path(ctx, link, park)
end

--- Puts a parked link back (create-only: a link written again meanwhile stays).
function quarantine.unpark_link(ctx, kind, name, d)
  local link, park = link_paths(ctx, kind, name, d)
  return unpark_path(ctx, park, link)
end

--- Deletes a parked link for good.
function quarantine.drop_link(ctx, kind, name, d)
  local _, park = link_paths(ctx, kind, name, d)
  local ok, msg, code = ctx.drv:delete(park)
  if ok or code == "not_found" then return true end
  return nil, msg, code
end

--- The digests in quarantine (with their info), sorted by path.
function quarantine.list(ctx)
  local out = {}
  local ok, msg, code = scan.walk_files(ctx, ctx.paths:path_for("quarantine"), function(info)
    local d = paths.digest_from_path(info.path)
    if d then out[#out + 1] = { digest = d, path = info.path, size = info.size, modtime = info.modtime } end
  end, function(info)
    -- parked links live under _revisions/ and _layers/ (no algorithm's name)
    if paths.base(info.path):sub(1, 1) == "_" then return "skip" end
  end)
  if not ok then return nil, msg, code end
  return out
end

--- The parked links of kind "revision" or "layer": { { name, digest, path } },
-- sorted by path.
function quarantine.list_links(ctx, kind)
  local base = ctx.paths:path_for("quarantine_" .. kind .. "s")
  local out = {}
  local ok, msg, code = scan.walk_files(ctx, base, function(info, rel)
    local name, alg, hex = rel:match("^(.+)/([^/]+)/([^/]+)$")
    local d = alg and alg .. ":" .. hex
    if d and validate.name(name) and validate.digest(d) then
      out[#out + 1] = { name = name, digest = d, path = info.path }
    end
  end)
  if not ok then return nil, msg, code end
  return out
end

--- Moves everything parked back: blobs first, then links (a link back
-- before its blob would show a pull a manifest or layer it cannot read).
-- Returns how many.
function quarantine.restore_all(ctx)
  local list, msg, code = quarantine.list(ctx)
  if not list then return nil, msg, code end
  local n = 0
  for _, q in ipairs(list) do
    local ok
    ok, msg, code = quarantine.unpark(ctx, q.digest)
    if not ok then return nil, msg, code end
    n = n + 1
  end
  for _, kind in ipairs { "revision", "layer" } do
    local links
    links, msg, code = quarantine.list_links(ctx, kind)
    if not links then return nil, msg, code end
    for _, q in ipairs(links) do
      local ok
      ok, msg, code = quarantine.unpark_link(ctx, kind, q.name, q.digest)
      if not ok then return nil, msg, code end
      n = n + 1
    end
  end
  return n
end

return quarantine
