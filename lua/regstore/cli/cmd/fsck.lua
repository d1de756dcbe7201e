--- regstore fsck: policy/fsck.lua from the command line.
local metrics_file = require "regstore.cli.metrics_file"
local fsck = require "regstore.policy.fsck"

return {
  name = "fsck",
  summary = "check the store (engine and registry) and, with --repair, fix it",
  usage = "regstore fsck [--repair] [--grace DURATION] [--json] [--metrics-file PATH]",
  help = [[
Runs the engine's consistency check of the RADOS namespace and the
registry's checks (links to missing blobs, links with bad content, tags to
missing manifests, manifests that are not JSON, blobs left in gc's
quarantine). --repair fixes what is older than --grace (default 1h) and
never touches anything younger. Exit 1 when a finding is left unrepaired.
JSON: {"repair","objects","repaired","findings":[{"kind","path","detail","repaired","object"}]}.]],
  options = {
    { "repair", "flag", "fix what is found (only what is older than --grace)" },
    { "grace", "duration", "leave alone anything younger (default 1h)", "DURATION" },
    { "json", "flag", "print the report as one JSON document" },
    metrics_file.OPTION,
  },
  metrics = function(r)
    return {
      { "objects", "RADOS objects the last run checked", r.objects },
      { "findings", "inconsistencies the last run found", #r.findings },
      { "repaired", "findings the last run repaired", r.repaired },
      { "outstanding", "findings the last run left unrepaired", fsck.outstanding(r) },
    }
  end,
  run = function(env)
    local o = env.opts
    local report, msg, code = fsck.run(env.reg, { repair = o.repair, grace = o.grace, progress = env.progress })
    if not report then return env.fail(msg, code) end
    env.report = report
    if env.json then
      env.emit(report)
    else
      for _, f in ipairs(report.findings) do
        env.print("%s %s: %s%s", f.kind, f.path or f.object or "?", f.detail or "",
          f.repaired and " (repaired)" or "")
      end
      env.print("%d objects, %d findings, %d repaired", report.objects, #report.findings, report.repaired)
    end
    return fsck.outstanding(report) > 0 and 1 or 0
  end,
}
