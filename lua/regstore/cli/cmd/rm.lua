--- regstore rm: deletes files, and directories with --recursive.
local argpaths = require "regstore.cli.paths"

return {
  name = "rm",
  summary = "delete paths (a directory only with --recursive)",
  usage = "regstore rm [--recursive] PATH...",
  help = "Deletes through the driver: nothing of the registry's rules is checked.",
  options = { { "recursive", "flag", "also delete directories, with everything under them" } },
  args = { 1, -1 },
  run = function(env)
    local status = 0
    for _, a in ipairs(env.args) do
      local path = argpaths.resolve(env, a)
      local info, msg, code = env.drv:stat(path)
      if info and info.is_dir and not env.opts.recursive then
        env.fail(path .. " is a directory (use --recursive)", "is_dir")
        status = 1
      else
        local ok = info ~= nil
        if ok then ok, msg, code = env.drv:delete(path) end
        if not ok then
          env.fail(msg, code)
          status = 1
        end
      end
    end
    return status
  end,
}
