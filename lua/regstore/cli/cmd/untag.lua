--- regstore untag: removes a tag (the manifest stays, for gc to judge).
local repo_arg = require "regstore.cli.repo"

return {
  name = "untag",
  summary = "remove a tag from a repository (its manifest stays)",
  usage = "regstore untag [--json] REPO TAG",
  help = [[
The manifest the tag pointed at stays; gc --delete-untagged removes it
later if nothing else keeps it. A tag that is not there is an error
(tag_unknown, exit 1).
JSON: {"repository","tag","digest"} (digest: what the tag pointed at).]],
  options = { { "json", "flag", "print one JSON object" } },
  args = { 2, 2 },
  check = repo_arg.check("name", "tag"),
  run = function(env)
    local name, tag = env.args[1], env.args[2]
    local r, msg, code = env.reg:repository(name)
    if not r then return env.fail(msg, code) end
    local d
    d, msg, code = r.tags:get(tag)
    if not d then return env.fail(msg, code) end
    local ok
    ok, msg, code = r.tags:untag(tag)
    if not ok then return env.fail(msg, code) end
    if env.json then
      env.emit { repository = name, tag = tag, digest = d }
    else
      env.print("untagged %s:%s (was %s)", name, tag, d)
    end
    return 0
  end,
}
