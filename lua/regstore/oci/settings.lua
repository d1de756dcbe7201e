--- The settings of the request being handled: what regstore.oci.handle{}
-- was given (kept in ngx.ctx, so that two locations may differ), with the
-- stream piece sizes of regstore.nginx's configuration.

local config = require "regstore.nginx.config"

local settings = {}

local DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024

--- Settles the options of handle{} for this request; returns them.
function settings.set(opts)
  local c = config.get()
  local max = opts.max_manifest
  if max ~= nil and (type(max) ~= "number" or max < 1 or max ~= math.floor(max) or max == math.huge) then
    error("regstore.oci.handle: max_manifest must be a whole number of bytes", 3)
  end
  for _, k in ipairs{ "auth", "on_push", "on_delete", "on_pull" } do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then
      error("regstore.oci.handle: " .. k .. " must be a function", 3)
    end
  end
  local s = {
    auth = opts.auth, on_push = opts.on_push, on_delete = opts.on_delete, on_pull = opts.on_pull,
    read_only = opts.read_only and true or false,
    max_manifest = max or DEFAULT_MAX_MANIFEST,
    read_piece = c.read_piece, upload_piece = c.upload_piece,
  }
  ngx.ctx.regstore_oci = s
  return s
end

--- This request's settings (the defaults outside handle()).
function settings.get()
  return ngx.ctx.regstore_oci or settings.set{}
end

return settings
