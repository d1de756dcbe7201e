--- What every policy starts from: the driver and the path mapper of a
-- registry, given either a registry (`regstore.registry.new(drv, ...)`) or
-- a bare driver (then `opts.root`, default /docker/registry/v2, names the
-- tree). Policies read and delete through the driver themselves: the stores
-- of regstore.registry never delete data (distribution's rule: one place
-- deletes, and it is maintenance).

local regstore = require "regstore"
local paths = require "regstore.registry.paths"

local context = {}

--- { drv, paths, root, now } for target, or raises on misuse.
function context.of(target, opts, fname)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(string.format("bad argument #2 to '%s' (table expected, got %s)", fname, type(opts)), 3)
  end
  local drv, mapper
  if type(target) == "table" and target._ctx then
    drv, mapper = target._ctx.drv, target._ctx.paths
    if opts.root and opts.root ~= mapper.root then mapper = paths.new(opts.root) end
  elseif type(target) == "userdata" or type(target) == "table" then
    drv = target
    local ok, m = pcall(paths.new, opts.root)
    if not ok then error(string.format("bad argument #2 to '%s' (%s)", fname, m), 3) end
    mapper = m
  else
    error(string.format("bad argument #1 to '%s' (registry or driver expected, got %s)",
      fname, type(target)), 3)
  end
  local now = opts.now or regstore.time()
  return { drv = drv, paths = mapper, root = mapper.root, now = now }
end

--- A non-negative number of seconds from opts[key], default def; raises.
function context.seconds(opts, key, def, fname)
  local v = opts and opts[key]
  if v == nil then return def end
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    error(string.format("bad argument #2 to '%s' (%s must be a number of seconds, 0 or more)", fname, key), 3)
  end
  return v
end

--- Calls opts.progress(phase, counts) when given (the command draws it).
function context.progress(opts)
  local f = opts and opts.progress
  if type(f) ~= "function" then return function() end end
  return f
end

--- A rate limit for a maintenance run: pace(n) counts n more units (bytes,
-- steps) and sleeps on the calling thread while the run is ahead of rate
-- units a second, at most `longest` seconds a time. No limit when rate is
-- nil or 0.
function context.pacer(rate, longest)
  if not rate or rate <= 0 then return function() end end
  local t0, done = regstore.clock(), 0
  return function(n)
    done = done + n
    local ahead = done / rate - (regstore.clock() - t0)
    if ahead > 0.001 then regstore.sleep(math.min(ahead, longest)) end
  end
end

return context
