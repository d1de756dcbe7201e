--- regstore stat: one path's size, time and type.
local argpaths = require "regstore.cli.paths"

return {
  name = "stat",
  summary = "size, modification time and type of a path",
  usage = "regstore stat [--json] PATH",
  help = 'JSON: {"path","size","modtime","is_dir"}.',
  options = { { "json", "flag", "print one JSON object" } },
  args = { 1, 1 },
  run = function(env)
    local info, msg, code = env.drv:stat(argpaths.resolve(env, env.args[1]))
    if not info then return env.fail(msg, code) end
    if env.json then
      env.emit(info)
    else
      env.print("path: %s\ntype: %s\nsize: %d\nmodtime: %s", info.path, info.is_dir and "directory" or "file",
        info.size, os.date("!%Y-%m-%dT%H:%M:%SZ", info.modtime))
    end
    return 0
  end,
}
