--- regstore manifests: a repository's manifests, with their tags and referrers.
local references = require "regstore.registry.references"
local repo_arg = require "regstore.cli.repo"

-- Each manifest of r: { digest, media_type, size, tags, referrers, subject }
-- (error instead of media_type and size when it cannot be read), and how
-- many could not be read; or nil, message, code when the listing failed.
local function describe(r, progress)
  local digests, msg, code = r.manifests:list()
  if not digests then return nil, msg, code end
  local tags
  tags, msg, code = repo_arg.tags(r)
  if not tags then return nil, msg, code end
  local by_digest, out, failed = {}, {}, 0
  for _, t in ipairs(tags) do
    by_digest[t.digest] = by_digest[t.digest] or {}
    table.insert(by_digest[t.digest], t.tag)
  end
  local index = {}
  for i, d in ipairs(digests) do
    local m = { digest = d, tags = by_digest[d] or {}, referrers = {} }
    local content, mt, c = r.manifests:get(d)
    if content then
      m.media_type, m.size = mt, #content
      local refs = references.of(content)
      m.subject = refs and refs.subject
    else
      m.error, m.code, failed = mt, c, failed + 1
    end
    out[i], index[d] = m, m
    progress("read manifests", { done = i, total = #digests })
  end
  for _, m in ipairs(out) do
    local s = m.subject and index[m.subject]
    if s then table.insert(s.referrers, m.digest) end
  end
  return out, failed
end

return {
  name = "manifests",
  summary = "list a repository's manifests: media type, size, tags, referrers",
  usage = "regstore manifests [--json] REPO",
  help = [[
Sorted by digest. referrers are the repository's manifests whose subject is
this one (signatures, SBOMs); subject is the manifest this one refers to.
A manifest that cannot be read is listed with its error, and the exit
status is 1.
JSON: [{"digest","media_type","size","tags":[...],"referrers":[...],"subject"}]
(or {"digest","error","code",...} for one that could not be read).]],
  options = { { "json", "flag", "print one JSON array" } },
  args = { 1, 1 },
  check = repo_arg.check("name"),
  run = function(env)
    local r, msg, code = env.reg:repository(env.args[1])
    if not r then return env.fail(msg, code) end
    local list, failed
    list, failed, code = describe(r, env.progress)
    if not list then return env.fail(failed, code) end
    if env.json then
      env.emit(list)
    else
      for _, m in ipairs(list) do
        if m.error then
          env.print("%s unreadable: %s", m.digest, m.error)
        else
          env.print("%s %s %d%s%s%s", m.digest, m.media_type, m.size,
            #m.tags > 0 and " tags=" .. table.concat(m.tags, ",") or "",
            #m.referrers > 0 and " referrers=" .. table.concat(m.referrers, ",") or "",
            m.subject and " subject=" .. m.subject or "")
        end
      end
    end
    for _, m in ipairs(list) do
      if m.error then io.stderr:write("regstore: ", m.error, "\n") end
    end
    return failed > 0 and 1 or 0
  end,
}
