--- regstore: a container registry's storage on Ceph RADOS.
-- The driver contract lives in the C module; this file is the place for
-- what Lua does better, and keeps `require "regstore"` stable.
local core = require "regstore.core"

local regstore = {}
for k, v in pairs(core) do regstore[k] = v end

return regstore
