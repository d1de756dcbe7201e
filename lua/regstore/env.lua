--- Connection options from the environment: the one mapping of CEPH_CONF
-- and REGSTORE_* to `regstore.connect` options, shared by the `regstore`
-- command and the OpenResty registry's jobs (an empty variable counts as
-- unset).
--
--   local opts = require("regstore.env").options({ pool = "mine" })
--   --> { conf, id, keyring, pool, namespace, timeout }: what is given
--   --  wins, then the environment; absent stays nil
--
--   CEPH_CONF           conf       a ceph.conf (else librados' search)
--   REGSTORE_ID         id         the cephx user (else admin)
--   REGSTORE_KEYRING    keyring    a keyring file (else the conf's)
--   REGSTORE_POOL       pool
--   REGSTORE_NAMESPACE  namespace
--   REGSTORE_TIMEOUT    timeout    seconds a RADOS call may take

local env = {}

env.VARIABLES = {
  conf = "CEPH_CONF", id = "REGSTORE_ID", keyring = "REGSTORE_KEYRING",
  pool = "REGSTORE_POOL", namespace = "REGSTORE_NAMESPACE", timeout = "REGSTORE_TIMEOUT",
}

--- An environment variable, nil when unset or empty.
function env.get(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

--- The connect options: given[k] when not nil, else the environment's.
-- timeout is a number (a variable that is not one is ignored).
function env.options(given)
  given = given or {}
  local o = {}
  for k, var in pairs(env.VARIABLES) do
    local v = given[k]
    if v == nil then v = env.get(var) end
    o[k] = v
  end
  if type(o.timeout) == "string" then o.timeout = tonumber(o.timeout) end
  return o
end

return env
