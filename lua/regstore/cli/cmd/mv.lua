--- regstore mv: the driver's atomic move of a file.
local argpaths = require "regstore.cli.paths"

return {
  name = "mv",
  summary = "move a file (atomic; replaces the destination)",
  usage = "regstore mv SRC DST",
  args = { 2, 2 },
  run = function(env)
    local ok, msg, code = env.drv:move(argpaths.resolve(env, env.args[1]), argpaths.resolve(env, env.args[2]))
    if not ok then return env.fail(msg, code) end
    return 0
  end,
}
