--- Opening the store the command works on: connection options from the
-- global options, else the environment (regstore.env: CEPH_CONF,
-- REGSTORE_ID, REGSTORE_KEYRING, REGSTORE_POOL, REGSTORE_NAMESPACE,
-- REGSTORE_TIMEOUT), then regstore.connect as a Lua program would call it.

local regstore = require "regstore"
local registry = require "regstore.registry"
local env = require "regstore.env"

local connect = {}

--- The connection options (no secret in them: a keyring is a path).
function connect.options(g)
  return env.options { conf = g.conf, id = g.id, keyring = g.keyring, pool = g.pool, namespace = g.namespace }
end

--- A driver for options o, with pool and namespace overridden when given;
-- or nil, message, code ("usage" when no pool is known).
function connect.driver(o, pool, namespace)
  local c = { conf = o.conf, id = o.id, keyring = o.keyring, pool = pool or o.pool,
    namespace = namespace or o.namespace, timeout = o.timeout }
  if pool then c.namespace = namespace end
  if not c.pool then return nil, "no pool: give --pool POOL or set REGSTORE_POOL", "usage" end
  return regstore.connect(c)
end

--- A registry over drv at root.
function connect.registry(drv, root)
  return registry.new(drv, { root = root })
end

--- Removes anything that looks like a cephx secret from a message.
function connect.scrub(msg)
  msg = tostring(msg)
  return (msg:gsub("AQ[A-Za-z0-9+/]+=*", "<secret>"):gsub("(key%s*=%s*)%S+", "%1<secret>"))
end

return connect
