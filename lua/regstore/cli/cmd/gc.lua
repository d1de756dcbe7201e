--- regstore gc: policy/gc.lua from the command line.
local metrics_file = require "regstore.cli.metrics_file"
local gc = require "regstore.policy.gc"
local duration = require "regstore.cli.duration"
local human = require("regstore.cli.progress").human

return {
  name = "gc",
  summary = "mark and sweep unreferenced blobs (safe while registries take pushes)",
  usage = "regstore gc [--dry-run] [--delete-untagged] [--grace DURATION] [--json] [--metrics-file PATH]",
  help = [[
Marks every manifest of every repository and what it references (config,
layers, schema 1 fsLayers, the children of lists and indexes), then deletes
the blobs and layer links nothing references. With --delete-untagged,
untagged manifests go too, unless kept: by a tag read again just before,
as a child of a kept index, as the subject of a kept referrer, or as a
referrer (signature, SBOM) of a kept manifest. Nothing younger than --grace
(default 1h) is deleted; everything goes through a quarantine (<root>/_gc)
and a second mark, so a push or re-tag racing the sweep keeps its image or
fails cleanly, and a killed gc loses nothing (the next run, or fsck
--repair, puts the quarantine back). A tag, manifest or date that cannot be
read stops the run (exit 1, naming it) before anything is deleted.
JSON: {"dry_run","marked","blobs":[digests],"manifests":[{"repository","digest"}],
"layer_links","bytes","restored","errors":[...]}.]],
  options = {
    { "dry-run", "flag", "delete nothing; list what would be deleted" },
    { "delete-untagged", "flag", "also delete manifests no tag points at (and no kept manifest needs)" },
    { "grace", "duration", "never delete anything younger (default 1h)", "DURATION" },
    { "json", "flag", "print the report as one JSON document" },
    metrics_file.OPTION,
  },
  metrics = function(r)
    local done = r.dry_run and 0 or 1
    return {
      { "dry_run", "1 when the last run was a dry run", r.dry_run and 1 or 0 },
      { "blobs_marked", "blobs the last run's first mark reached", r.marked },
      { "blobs_eligible", "unreferenced blobs the last run found (deleted unless a dry run)", #r.blobs },
      { "blobs_deleted", "blobs the last run deleted", #r.blobs * done },
      { "bytes_deleted", "bytes of blob data the last run deleted", r.bytes * done },
      { "manifests_deleted", "untagged manifests the last run deleted", #r.manifests * done },
      { "layer_links_deleted", "layer links the last run deleted", r.layer_links * done },
      { "restored", "things a dead run had parked that the last run moved back", r.restored },
      { "errors", "errors the last run met and went past", #r.errors },
    }
  end,
  run = function(env)
    local o = env.opts
    local report, msg, code = gc.run(env.reg, {
      dry_run = o.dry_run, delete_untagged = o.delete_untagged, grace = o.grace,
      progress = env.progress,
    })
    if not report then return env.fail(msg, code) end
    env.report = report
    if env.json then
      env.emit(report)
    else
      local verb = report.dry_run and "eligible for deletion" or "deleted"
      for _, m in ipairs(report.manifests) do env.print("manifest %s@%s %s", m.repository, m.digest, verb) end
      for _, d in ipairs(report.blobs) do env.print("blob %s %s", d, verb) end
      env.print("%d blobs marked, %d blobs and %d manifests %s (%s), %d layer links, %d restored, grace %s",
        report.marked, #report.blobs, #report.manifests, verb, human(report.bytes), report.layer_links,
        report.restored, duration.format(o.grace or gc.DEFAULT_GRACE))
      for _, e in ipairs(report.errors) do io.stderr:write("regstore: ", e, "\n") end
    end
    return #report.errors > 0 and 1 or 0
  end,
}
