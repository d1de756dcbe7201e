--- regstore fsck: policy/fsck.lua from the command line.
local metrics_file = require "regstore.cli.metrics_file"
local fsck = require "regstore.policy.fsck"

return {
  name = "fsck",
  summary = "check the store (engine and registry) and, with --repair, fix it",
  usage = "regstore fsck [--repair] [--grace DURATION] [--verify-digests [--rate MB/s] [--restart]] [--json]"
    .. " [--metrics-file PATH]",
  help = [[
Runs the engine's consistency check of the RADOS namespace and the
registry's checks (links to missing blobs, links with bad content, tags to
missing manifests, manifests that are not JSON, blobs left in gc's
quarantine). --repair fixes what is older than --grace (default 1h) and
never touches anything younger. Exit 1 when a finding is left unrepaired.
--verify-digests also reads every blob again and checks its SHA-256
against its name (digest_mismatch findings name the repositories and tags
that use it; never repaired), at most --rate MB/s (default 100; 0: no
limit), resuming after the last blob an interrupted scrub checked unless
--restart.
JSON: {"repair","objects","repaired","findings":[{"kind","path","detail","repaired","object"}],
"scrub":{"blobs","bytes","resumed_after"} (with --verify-digests; digest_mismatch findings add
"digest" and "used_by":[{"repository","tags"}])}.]],
  options = {
    { "repair", "flag", "fix what is found (only what is older than --grace)" },
    { "grace", "duration", "leave alone anything younger (default 1h)", "DURATION" },
    { "verify-digests", "flag", "read every blob again and check its SHA-256 (a scrub)" },
    { "rate", "string", "the scrub reads at most this many MB (10^6 bytes) a second (default 100; 0: none)",
      "MB/s" },
    { "restart", "flag", "start the scrub over instead of resuming an interrupted one" },
    { "json", "flag", "print the report as one JSON document" },
    metrics_file.OPTION,
  },
  check = function(env)
    local o = env.opts
    if (o.rate or o.restart) and not o.verify_digests then
      return nil, "--rate and --restart go with --verify-digests"
    end
    local mb = tonumber(o.rate or "100")
    if not mb or mb < 0 or mb ~= mb or mb == math.huge then return nil, "--rate: a number of MB/s, 0 or more" end
    env.rate = mb * 1e6
    return true
  end,
  metrics = function(r)
    return {
      { "objects", "RADOS objects the last run checked", r.objects },
      { "findings", "inconsistencies the last run found", #r.findings },
      { "repaired", "findings the last run repaired", r.repaired },
      { "outstanding", "findings the last run left unrepaired", fsck.outstanding(r) },
      { "scrub_blobs", "blobs whose digest the last run checked (--verify-digests)", r.scrub and r.scrub.blobs or 0 },
      { "scrub_bytes", "bytes the last run's scrub read", r.scrub and r.scrub.bytes or 0 },
    }
  end,
  run = function(env)
    local o = env.opts
    local report, msg, code = fsck.run(env.reg, {
      repair = o.repair, grace = o.grace, progress = env.progress,
      verify_digests = o.verify_digests, rate = env.rate, restart = o.restart,
    })
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
