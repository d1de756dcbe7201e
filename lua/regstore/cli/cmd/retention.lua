--- regstore retention: policy/retention.lua from the command line.
local metrics_file = require "regstore.cli.metrics_file"
local retention = require "regstore.policy.retention"
local human = require("regstore.cli.progress").human

local function read_file(path)
  local f, msg = io.open(path, "rb")
  if not f then return nil, msg end
  local text = f:read("a")
  f:close()
  return text
end

return {
  name = "retention",
  summary = "remove the tags a retention policy does not keep, then gc what they alone kept",
  usage = "regstore retention --policy FILE [--dry-run] [--grace DURATION] [--json] [--metrics-file PATH]",
  help = [[
FILE is JSON: {"rules":[{"repositories":RE,"tags":RE,"keep_newest":N,
"keep_younger_than":DURATION,"keep_matching":RE}, ...]}. Each repository
takes the first rule whose repositories pattern matches (none: left alone);
of the tags matching the rule's tags pattern (default all), it keeps those
meeting any keep condition and removes the others. Patterns are PCRE2
(lua-rex-pcre2), unanchored. Then gc --delete-untagged runs on the
manifests those tags pointed at only, with gc's rules (another tag, a kept
index or referrer keeps a manifest). A tag or date that cannot be read
stops the run before anything changes; a tag re-pointed meanwhile is kept.
--dry-run lists the tags it would remove.
JSON: {"dry_run","tags":[{"repository","tag","digest","rule"}],"kept",
"manifests":[{"repository","digest"}],"blobs":[...],"bytes","errors":[...]}.]],
  options = {
    { "policy", "string", "the retention policy (JSON)", "FILE" },
    { "dry-run", "flag", "change nothing; list the tags that would be removed" },
    { "grace", "duration", "gc never deletes anything younger (default 1h)", "DURATION" },
    { "json", "flag", "print the report as one JSON document" },
    metrics_file.OPTION,
  },
  check = function(env)
    if not env.opts.policy then return nil, "--policy FILE is required" end
    local text, msg = read_file(env.opts.policy)
    if not text then return nil, "--policy: " .. msg end
    local policy, why = retention.load(text)
    if not policy then return nil, "--policy " .. env.opts.policy .. ": " .. why end
    env.policy = policy
    return true
  end,
  metrics = function(r)
    local done = r.dry_run and 0 or 1
    return {
      { "dry_run", "1 when the last run was a dry run", r.dry_run and 1 or 0 },
      { "tags_removed", "tags the last run removed (would remove, in a dry run)", #r.tags },
      { "tags_kept", "tags the last run's rules judged and kept", r.kept },
      { "manifests_deleted", "manifests the last run's gc deleted", #r.manifests * done },
      { "blobs_deleted", "blobs the last run's gc deleted", #r.blobs * done },
      { "bytes_deleted", "bytes the last run's gc deleted", r.bytes * done },
      { "errors", "errors the last run met and went past", #r.errors },
    }
  end,
  run = function(env)
    local o = env.opts
    local report, msg, code = retention.run(env.reg, env.policy, {
      dry_run = o.dry_run, grace = o.grace, progress = env.progress,
    })
    if not report then return env.fail(msg, code) end
    env.report = report
    if env.json then
      env.emit(report)
    else
      local verb = report.dry_run and "would remove" or "removed"
      for _, t in ipairs(report.tags) do
        env.print("tag %s:%s (%s) %s by rule %d", t.repository, t.tag, t.digest, verb, t.rule)
      end
      for _, m in ipairs(report.manifests) do env.print("manifest %s@%s deleted", m.repository, m.digest) end
      env.print("%d tags %s, %d kept; gc: %d manifests, %d blobs (%s) deleted", #report.tags, verb, report.kept,
        #report.manifests, #report.blobs, human(report.bytes))
      for _, e in ipairs(report.errors) do io.stderr:write("regstore: ", e, "\n") end
    end
    return #report.errors > 0 and 1 or 0
  end,
}
