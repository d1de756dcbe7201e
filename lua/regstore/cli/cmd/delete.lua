--- regstore delete: deletes a manifest of a repository, and its tags.
local repo_arg = require "regstore.cli.repo"

return {
  name = "delete",
  summary = "delete a manifest from a repository, with the tags pointing at it",
  usage = "regstore delete [--json] REPO DIGEST",
  help = [[
As DELETE /v2/REPO/manifests/DIGEST: the manifest's revision link and the
tags pointing at it go; its blobs stay for gc. A manifest that is not there
is an error (manifest_unknown, exit 1).
JSON: {"repository","digest","tags":[the tags removed]}.]],
  options = { { "json", "flag", "print one JSON object" } },
  args = { 2, 2 },
  check = repo_arg.check("name", "digest"),
  run = function(env)
    local name, digest = env.args[1], env.args[2]
    local r, msg, code = env.reg:repository(name)
    if not r then return env.fail(msg, code) end
    local tags
    tags, msg, code = r.tags:lookup(digest)
    if not tags then return env.fail(msg, code) end
    local ok
    ok, msg, code = r.manifests:delete(digest)
    if not ok then return env.fail(msg, code) end
    if env.json then
      env.emit { repository = name, digest = digest, tags = tags }
    else
      env.print("deleted %s@%s%s", name, digest, #tags > 0 and " and its tags " .. table.concat(tags, ", ") or "")
    end
    return 0
  end,
}
