--- The configuration of regstore.nginx in this nginx: what configure{} was
-- given, with the environment's fall-backs (regstore.env, as the `regstore`
-- command has them) and the defaults. Set in init_by_lua* (the master
-- process; the workers inherit it) or init_worker_by_lua*; a worker that
-- never configured gets the defaults and the environment on first use.

local env = require "regstore.env"

local config = {}

local current

local function count(v, name, default)
  if v == nil then return default end
  v = tonumber(v)
  if not v or v < 1 or v ~= math.floor(v) or v == math.huge then
    error(string.format("regstore.nginx.configure: %s must be a whole number, 1 or more", name), 3)
  end
  return v
end

local function str(v, name, default)
  if v == nil then return default end
  if type(v) ~= "string" or v == "" then
    error(string.format("regstore.nginx.configure: %s must be a non-empty string", name), 3)
  end
  return v
end

--- Validates and keeps opts (see regstore/nginx.lua); returns the settings.
function config.set(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("regstore.nginx.configure: a table of options expected", 2) end
  local o = env.options{ pool = opts.pool, conf = opts.conf, id = opts.id, keyring = opts.keyring,
    namespace = opts.namespace, timeout = opts.timeout }
  o.pool = o.pool or "regstore"
  o.timeout = o.timeout or 30
  o.window = count(opts.window or env.get "REGSTORE_SERVE_WINDOW", "window", 4)
  o.thread_nice = tonumber(opts.thread_nice or env.get "REGSTORE_SERVE_THREAD_NICE" or "") or 10
  current = {
    connect = o, -- what each thread VM connects with (plain values: it crosses to the VM)
    bulk_pool = str(opts.bulk_pool, "bulk_pool", "rs_bulk"),
    meta_pool = str(opts.meta_pool, "meta_pool", "rs_meta"),
    bulk_threads = count(opts.bulk_threads or env.get "REGSTORE_SERVE_BULK_THREADS", "bulk_threads", 4),
    meta_threads = count(opts.meta_threads or env.get "REGSTORE_SERVE_META_THREADS", "meta_threads", 2),
    -- request bodies are written, and blobs read, in pieces of this many bytes
    upload_piece = count(opts.upload_piece or env.get "REGSTORE_SERVE_UPLOAD_PIECE", "upload_piece", 4194304),
    read_piece = count(opts.read_piece or env.get "REGSTORE_SERVE_READ_PIECE", "read_piece", 2097152),
  }
  return current
end

--- The settings (configured, or the defaults and the environment).
function config.get()
  return current or config.set{}
end

return config
