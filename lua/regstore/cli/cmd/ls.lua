--- regstore ls: the children of a directory.
local argpaths = require "regstore.cli.paths"

return {
  name = "ls",
  summary = "list a directory's children (driver paths)",
  usage = "regstore ls [--long] [--json] [PATH]",
  help = [[
PATH is a driver path (absolute) or a path under --root; default /.
--long adds the type, size and modification time (stats go out in windows).
JSON: [{"path","size","modtime","is_dir"}] (with --long) or [paths].]],
  options = {
    { "long", "flag", "type, size and modification time of each child" },
    { "json", "flag", "print one JSON array" },
  },
  args = { 0, 1 },
  run = function(env)
    local path = argpaths.resolve(env, env.args[1])
    local list, msg, code
    if env.opts.long then
      list = {}
      -- a walk that skips every directory is a listing with windowed stats
      local ok
      ok, msg, code = env.drv:walk(path, function(info)
        list[#list + 1] = info
        return "skip"
      end)
      if not ok then return env.fail(msg, code) end
    else
      list, msg, code = env.drv:list(path)
      if not list then return env.fail(msg, code) end
    end
    if env.json then
      env.emit(list)
    else
      for _, e in ipairs(list) do
        if type(e) == "table" then
          env.print("%s %12d %s %s", e.is_dir and "d" or "-", e.size, os.date("!%Y-%m-%dT%H:%M:%SZ", e.modtime), e.path)
        else
          env.print("%s", e)
        end
      end
    end
    return 0
  end,
}
