--- regstore tags: a repository's tags and what each points at.
local repo_arg = require "regstore.cli.repo"

return {
  name = "tags",
  summary = "list a repository's tags and the manifest each points at",
  usage = "regstore tags [--json] REPO",
  help = 'JSON: [{"tag","digest"}], sorted by tag.',
  options = { { "json", "flag", "print one JSON array" } },
  args = { 1, 1 },
  check = repo_arg.check("name"),
  run = function(env)
    local repo, msg, code = env.reg:repository(env.args[1])
    if not repo then return env.fail(msg, code) end
    local tags
    tags, msg, code = repo_arg.tags(repo)
    if not tags then return env.fail(msg, code) end
    if env.json then
      env.emit(tags)
    else
      for _, t in ipairs(tags) do env.print("%s %s", t.tag, t.digest) end
    end
    return 0
  end,
}
