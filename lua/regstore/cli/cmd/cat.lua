--- regstore cat: a file's bytes to stdout, streamed.
local argpaths = require "regstore.cli.paths"

local PIECE = 1048576

return {
  name = "cat",
  summary = "write a file's content to stdout",
  usage = "regstore cat PATH",
  args = { 1, 1 },
  no_progress = true,
  run = function(env)
    local r, msg, code = env.drv:reader(argpaths.resolve(env, env.args[1]))
    if not r then return env.fail(msg, code) end
    while true do
      local s
      s, msg, code = r:read(PIECE)
      if not s then break end
      io.stdout:write(s)
    end
    r:close()
    if msg then return env.fail(msg, code) end
    return 0
  end,
}
