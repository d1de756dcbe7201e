--- lua5.4 delete.lua PATH...: deletes bench data through the driver; a path
-- that is not there is fine.
local u = require "util"

local drv = u.connect()
for _, path in ipairs(arg) do
  local ok, err, code = drv:delete(path)
  if not ok and code ~= "not_found" then
    error(string.format("delete %s: %s (%s)", path, tostring(err), tostring(code)))
  end
end
drv:close()
