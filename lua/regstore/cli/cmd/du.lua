--- regstore du: bytes and files under a path, or per repository.
local argpaths = require "regstore.cli.paths"
local usage = require "regstore.policy.usage"
local human = require("regstore.cli.progress").human

local function by_repository(env)
  local r, msg, code = usage.run(env.reg, { progress = env.progress })
  if not r then return env.fail(msg, code) end
  if env.json then
    env.emit(r)
    return 0
  end
  env.print("%-40s %8s %12s %12s %12s", "REPOSITORY", "BLOBS", "BYTES", "UNIQUE", "SHARED")
  for _, row in ipairs(r.repositories) do
    env.print("%-40s %8d %12s %12s %12s%s", row.repository, row.blobs, human(row.bytes), human(row.unique),
      human(row.shared), row.missing > 0 and string.format(" (%d missing)", row.missing) or "")
  end
  env.print("%s referenced (%d blobs), %s stored in blobs/ (%d blobs)", human(r.bytes), r.blobs,
    human(r.stored), r.stored_blobs)
  return 0
end

local function under(env)
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
end

return {
  name = "du",
  summary = "bytes, files and directories under a path, or per repository",
  usage = "regstore du [--json] [PATH] | regstore du --by-repository [--json]",
  help = [[
With PATH (default /): the bytes, files and directories under it.
JSON: {"path","bytes","files","dirs"}.
With --by-repository: for every repository, the blobs it references (its
manifests, what they name, its linked layers) and their bytes, split into
unique to it and shared with other repositories; missing counts digests
referenced whose data is not in blobs/. bytes in all counts each blob once;
stored is all the data in blobs/.
JSON: {"repositories":[{"repository","blobs","bytes","unique","shared","missing"}],
"blobs","bytes","stored","stored_blobs"}.]],
  options = {
    { "by-repository", "flag", "bytes per repository, unique and shared" },
    { "json", "flag", "print one JSON object" },
  },
  args = { 0, 1 },
  check = function(env)
    if env.opts.by_repository and env.args[1] then return nil, "--by-repository takes no PATH" end
    return true
  end,
  run = function(env)
    if env.opts.by_repository then return by_repository(env) end
    return under(env)
  end,
}
