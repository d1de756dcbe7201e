--- regstore walk: every entry under a path, depth first.
local argpaths = require "regstore.cli.paths"

return {
  name = "walk",
  summary = "list every entry under a path, depth first in byte order",
  usage = "regstore walk [--files] [--json] [PATH]",
  help = 'Lines "d|- SIZE MODTIME PATH". JSON: [{"path","size","modtime","is_dir"}].',
  options = {
    { "files", "flag", "files only" },
    { "json", "flag", "print one JSON array" },
  },
  args = { 0, 1 },
  run = function(env)
    local all = {}
    local ok, msg, code = env.drv:walk(argpaths.resolve(env, env.args[1]), function(info)
      if env.opts.files and info.is_dir then return nil end
      if env.json then
        all[#all + 1] = info
      else
        io.stdout:write(string.format("%s %12d %s %s\n", info.is_dir and "d" or "-", info.size,
          os.date("!%Y-%m-%dT%H:%M:%SZ", info.modtime), info.path))
      end
      return nil
    end)
    if not ok then return env.fail(msg, code) end
    if env.json then env.emit(all) end
    return 0
  end,
}
