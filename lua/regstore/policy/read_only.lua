--- The registry-wide read-only switch: while <root>/_config/read-only
-- exists, every `serve` node over the registry answers writes (pushes,
-- deletes) with 405 UNSUPPORTED and the reason, as distribution's
-- maintenance.readonly does; reads go on. Nodes poll it (docs/nginx.md),
-- so it takes effect without a restart, within one poll period.
--
--   read_only.get(reg_or_drv)            --> false, or { reason, since, by }; or nil, msg, code
--   read_only.set(reg_or_drv, reason, by) --> true
--   read_only.clear(reg_or_drv)          --> true (also when it was off)

local context = require "regstore.policy.context"
local json = require "cjson.safe"

local read_only = {}

local function where(target, fname)
  local ctx = context.of(target, nil, fname)
  return ctx, ctx.paths:path_for("read_only_flag")
end

--- Decodes the flag file's content (what get returns for it).
function read_only.decode(text)
  local t = json.decode(text)
  if type(t) ~= "table" then t = {} end -- a flag regstore did not write still means read-only
  return { reason = type(t.reason) == "string" and t.reason or "the registry is read-only",
    since = tonumber(t.since), by = type(t.by) == "string" and t.by or nil }
end

function read_only.get(target)
  local ctx, path = where(target, "get")
  local text, msg, code = ctx.drv:get_content(path)
  if not text then
    if code == "not_found" then return false end
    return nil, msg, code
  end
  return read_only.decode(text)
end

function read_only.set(target, reason, by)
  if reason ~= nil and type(reason) ~= "string" then error("bad argument #2 to 'set' (string expected)", 2) end
  local ctx, path = where(target, "set")
  return ctx.drv:put_content(path, json.encode {
    reason = reason or "the registry is read-only for maintenance", since = os.time(), by = by,
  })
end

function read_only.clear(target)
  local ctx, path = where(target, "clear")
  local ok, msg, code = ctx.drv:delete(path)
  if not ok and code ~= "not_found" then return nil, msg, code end
  return true
end

return read_only
