--- regstore migrate: policy/migrate.lua from the command line.
local migrate = require "regstore.policy.migrate"
local fsdir = require "regstore.policy.fsdir"
local connect = require "regstore.cli.connect"
local human = require("regstore.cli.progress").human

-- distribution's filesystem driver keeps its tree here, under rootdirectory
local FS_ROOT = "/docker/registry/v2"

return {
  name = "migrate",
  summary = "copy the registry to or from a filesystem tree, or to another pool or namespace",
  usage = "regstore migrate (--from-fs DIR | --to-fs DIR | --to-pool POOL [--to-namespace NS]) "
    .. "[--dry-run] [--verify] [--json]",
  help = [[
DIR is the rootdirectory of distribution's filesystem driver (the folder
that holds docker/registry/v2). --from-fs imports it into the store at
--root; --to-fs exports the store's tree into it; --to-pool copies the tree
to another pool (and --to-namespace, default none) with the same
credentials. Streams every file in pieces (bounded memory), skips what is
identical already (resumable), checks each blob's digest as it streams;
--verify also reads back and hashes every blob at the destination.
An upload in progress whose data the source does not show (uncommitted in
RADOS) is not copied: it could not go on (uploads_skipped).
A source or destination that cannot be listed whole fails the run (exit 1,
naming what could not be read) before anything is copied; a file that cannot
be read is an error (exit 1). From a live tree, an upload that ends while it
is copied is skipped with a note. After a kill, running it again completes
the tree, and removes the temporaries the kill left in a --to-fs DIR.
JSON: {"dry_run","files","bytes","skipped","verified","uploads_skipped","errors":[...],"notes":[...]}.]],
  options = {
    { "from-fs", "string", "import from a filesystem-driver tree", "DIR" },
    { "to-fs", "string", "export into a filesystem-driver tree", "DIR" },
    { "to-pool", "string", "copy into another pool", "POOL" },
    { "to-namespace", "string", "namespace in --to-pool (default none)", "NS" },
    { "dry-run", "flag", "copy nothing; count what would be copied" },
    { "verify", "flag", "hash every blob at the destination" },
    { "json", "flag", "print the report as one JSON document" },
  },
  check = function(env)
    local o = env.opts
    local n = (o.from_fs and 1 or 0) + (o.to_fs and 1 or 0) + (o.to_pool and 1 or 0)
    if n ~= 1 then return nil, "give exactly one of --from-fs, --to-fs, --to-pool" end
    if o.to_namespace and not o.to_pool then return nil, "--to-namespace goes with --to-pool" end
    -- a mistyped source would otherwise import an empty tree and succeed
    if o.from_fs and not fsdir.is_dir(o.from_fs) then
      return nil, "--from-fs: no directory " .. o.from_fs
    end
    return true
  end,
  run = function(env)
    local o = env.opts
    local src, dst, sroot, droot = env.drv, env.drv, env.root, env.root
    if o.from_fs then
      src, sroot = migrate.fs(o.from_fs), FS_ROOT
    elseif o.to_fs then
      dst, droot = migrate.fs(o.to_fs), FS_ROOT
    else
      local d, msg, code = connect.driver(env.conn, o.to_pool, o.to_namespace)
      if not d then return env.fail(msg, code) end
      dst = d
    end
    local report, msg, code = migrate.run(src, dst, {
      src_root = sroot, dst_root = droot, dry_run = o.dry_run, verify = o.verify, progress = env.progress,
    })
    if o.to_pool then dst:close() end
    if not report then return env.fail(msg, code) end
    if env.json then
      env.emit(report)
    else
      env.print("%d files (%s) %s, %d identical skipped, %d blobs verified, %d uploads without data skipped",
        report.files, human(report.bytes), report.dry_run and "to copy" or "copied", report.skipped,
        report.verified, report.uploads_skipped)
      for _, n in ipairs(report.notes) do io.stderr:write("regstore: ", (n:gsub("^regstore: ", "")), "\n") end
      for _, e in ipairs(report.errors) do io.stderr:write("regstore: ", (e:gsub("^regstore: ", "")), "\n") end
    end
    return #report.errors > 0 and 1 or 0
  end,
}
