--- regstore put: a file's content from a local file or stdin, streamed.
local argpaths = require "regstore.cli.paths"

local PIECE = 1048576

return {
  name = "put",
  summary = "store a local file (or stdin) at a path",
  usage = "regstore put [--json] PATH [FILE|-]",
  help = [[
Streams FILE (default -, stdin) into PATH through a writer: PATH shows the
new content whole once everything is written, or keeps its old content on a
failure. JSON: {"path","size"}.]],
  options = { { "json", "flag", "print one JSON object" } },
  args = { 1, 2 },
  no_progress = true,
  run = function(env)
    local path = argpaths.resolve(env, env.args[1])
    local file, src = env.args[2] or "-", io.stdin
    if file ~= "-" then
      local err
      src, err = io.open(file, "rb")
      if not src then return env.fail(err, "not_found") end
    end
    local w, msg, code = env.drv:writer(path, false)
    if not w then return env.fail(msg, code) end
    while true do
      local s = src:read(PIECE)
      if not s then break end
      local ok
      ok, msg, code = w:write(s)
      if not ok then
        w:cancel()
        w:close()
        return env.fail(msg, code)
      end
    end
    if src ~= io.stdin then src:close() end
    local size = w:size()
    local ok
    ok, msg, code = w:commit()
    w:close()
    if not ok then return env.fail(msg, code) end
    if env.json then env.emit { path = path, size = size } else env.print("%s: %d bytes", path, size) end
    return 0
  end,
}
