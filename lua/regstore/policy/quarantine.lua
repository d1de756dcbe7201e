--- gc's quarantine: blob data parked at <root>/_gc/<alg>/<hex> between
-- gc's two marks (policy/gc.lua says why). Every step is one driver move or
-- delete, so a crash leaves a blob either at blobs/ or in quarantine, never
-- lost; restore_all (gc's first step, fsck's repair) puts every parked blob
-- back.

local paths = require "regstore.registry.paths"

local quarantine = {}

local function data(ctx, d) return ctx.paths:path_for("blob_data", { digest = d }) end
local function parked(ctx, d) return ctx.paths:path_for("quarantine_blob", { digest = d }) end

--- Moves a blob's data into quarantine: true, false when it was not there
-- (another gc took it, or it is gone), or nil, message, code.
function quarantine.park(ctx, d)
  local ok, msg, code = ctx.drv:move(data(ctx, d), parked(ctx, d))
  if ok then return true end
  if code == "not_found" or code == "not_dir" then return false end
  return nil, msg, code
end

--- Moves a parked blob back, create-only: when a push stored the same
-- digest again meanwhile (same digest, same bytes) the parked copy is
-- dropped instead, and the blob a pull may be reading is never replaced.
function quarantine.unpark(ctx, d)
  local ok, msg, code = ctx.drv:move(parked(ctx, d), data(ctx, d), { replace = false })
  if code == "exists" then ok, msg, code = ctx.drv:delete(parked(ctx, d)) end
  if ok or code == "not_found" then return true end
  return nil, msg, code
end

--- Deletes a parked blob. Second result: true when blobs/ holds the digest
-- again (a push stored it meanwhile), so it is not gone from the registry.
function quarantine.drop(ctx, d)
  local ok, msg, code = ctx.drv:delete(parked(ctx, d))
  if not ok and code ~= "not_found" then return nil, msg, code end
  local info = ctx.drv:stat(data(ctx, d))
  return true, nil, info ~= nil
end

--- The digests in quarantine (with their info), sorted by path.
function quarantine.list(ctx)
  local out = {}
  local ok, msg, code = ctx.drv:walk(ctx.paths:path_for("quarantine"), function(info)
    if not info.is_dir then
      local d = paths.digest_from_path(info.path)
      if d then out[#out + 1] = { digest = d, path = info.path, size = info.size, modtime = info.modtime } end
    end
  end)
  if not ok and code ~= "not_found" then return nil, msg, code end
  return out
end

--- Moves every parked blob back; returns how many.
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
  return n
end

return quarantine
