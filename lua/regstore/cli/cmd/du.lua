--- regstore du: bytes and files under a path.
local argpaths = require "regstore.cli.paths"
local human = require("regstore.cli.progress").human

return {
  name = "du",
  summary = "bytes, files and directories under a path",
  usage = "regstore du [--json] [PATH]",
  help = 'JSON: {"path","bytes","files","dirs"}.',
  options = { { "json", "flag", "print one JSON object" } },
  args = { 0, 1 },
  run = function(env)
    local path = argpaths.resolve(env, env.args[1])
    local t = { path = path, bytes = 0, files = 0, dirs = 0 }
    local ok, msg, code = env.drv:walk(path, function(info)
      if info.is_dir then
        t.dirs = t.dirs + 1
      else
        t.files = t.files + 1
        t.bytes = t.bytes + info.size
      end
      env.progress("walk", { files = t.files, bytes = t.bytes })
    end)
    if not ok then return env.fail(msg, code) end
    if env.json then
      env.emit(t)
    else
      env.print("%d bytes (%s), %d files, %d directories: %s", t.bytes, human(t.bytes), t.files, t.dirs, path)
    end
    return 0
  end,
}
