-- A driver that fails on purpose: wraps a real driver (regstore.connect)
-- and makes chosen calls answer nil, message, code as a slow or broken
-- cluster would (timeout, io, permission), without touching the store.
-- The policies take it as any driver (a table with the driver's methods).
--
--   local faulty = require "support.faulty"
--   local f = faulty.wrap(drv, {
--     ops = { get_content = true },     -- which methods may fail (default: reads)
--     when = function(op, path) return path:find("/_manifests/tags/") end,
--     rate = 1,                         -- fraction of matching calls that fail
--     codes = { "timeout" },            -- codes drawn from
--     seed = 42,
--   })
--   f.armed = false                     -- calls pass through while disarmed
--   f.failures                          -- { { op, path, code } } so far
--
-- Streams (reader, writer) pass through unwrapped; a `walk` that fails does
-- so before visiting anything.
local faulty = {}

local READS = { get_content = true, stat = true, list = true, walk = true }
local METHODS = {
  "put_content", "get_content", "reader", "writer", "stat", "list", "move", "delete", "walk", "fsck", "close",
}

function faulty.wrap(drv, opts)
  opts = opts or {}
  local ops = opts.ops or READS
  local when = opts.when or function() return true end
  local rate = opts.rate or 1
  local codes = opts.codes or { "timeout" }
  local x = opts.seed or 1
  local function random() -- our own stream: the caller's math.random is left alone
    x = (x * 1103515245 + 12345) % 2147483648
    return x / 2147483648
  end
  local f = { armed = true, failures = {}, real = drv }
  for _, name in ipairs(METHODS) do
    f[name] = function(self, path, ...)
      if self.armed and ops[name] and type(path) == "string" and when(name, path) and random() < rate then
        local code = codes[math.floor(random() * #codes) + 1]
        self.failures[#self.failures + 1] = { op = name, path = path, code = code }
        return nil, string.format("regstore: %s %s: injected %s", name, path, code), code
      end
      return drv[name](drv, path, ...)
    end
  end
  return f
end

return faulty
