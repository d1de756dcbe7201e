--- regstore purge-uploads: policy/purge_uploads.lua from the command line.
local metrics_file = require "regstore.cli.metrics_file"
local purge = require "regstore.policy.purge_uploads"

return {
  name = "purge-uploads",
  summary = "delete uploads started longer ago than --older-than",
  usage = "regstore purge-uploads [--older-than DURATION] [--dry-run] [--json] [--metrics-file PATH]",
  help = [[
Deletes repositories/*/_uploads/<id> whose startedat is older than
--older-than (default 168h, as distribution). An upload whose startedat is
missing or unreadable is dated by the newest modification time of its files
(distribution keeps such uploads forever).
JSON: {"dry_run","uploads":[{"repository","id","started_at","dated_by"}],"errors":[...]}.]],
  options = {
    { "older-than", "duration", "age from which an upload goes (default 168h)", "DURATION" },
    { "dry-run", "flag", "delete nothing; list what would be deleted" },
    { "json", "flag", "print the report as one JSON document" },
    metrics_file.OPTION,
  },
  metrics = function(r)
    return {
      { "dry_run", "1 when the last run was a dry run", r.dry_run and 1 or 0 },
      { "uploads_eligible", "uploads older than --older-than (deleted unless a dry run)", #r.uploads },
      { "uploads_deleted", "uploads the last run deleted", r.dry_run and 0 or #r.uploads },
      { "errors", "errors the last run met and went past", #r.errors },
    }
  end,
  run = function(env)
    local o = env.opts
    local report, msg, code = purge.run(env.reg, {
      older_than = o.older_than, dry_run = o.dry_run, progress = env.progress,
    })
    if not report then return env.fail(msg, code) end
    env.report = report
    if env.json then
      env.emit(report)
    else
      for _, u in ipairs(report.uploads) do
        env.print("upload %s/%s started %s (%s) %s", u.repository, u.id, u.started_at, u.dated_by,
          report.dry_run and "eligible for deletion" or "deleted")
      end
      env.print("%d uploads %s", #report.uploads, report.dry_run and "eligible for deletion" or "deleted")
      for _, e in ipairs(report.errors) do io.stderr:write("regstore: ", e, "\n") end
    end
    return #report.errors > 0 and 1 or 0
  end,
}
