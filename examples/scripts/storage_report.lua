-- Storage report: for every repository, the bytes of the blobs it
-- references (through its manifests, and its linked layers), split into
-- those unique to it and those shared with other repositories.
--
--   regstore run examples/scripts/storage_report.lua [--json]
--
-- The same as `regstore du --by-repository`, from a script: policy/usage.lua
-- does the counting; this shows how a script takes its report.
-- Globals (from `regstore run`): reg, arg.

local usage = require "regstore.policy.usage"

local report = assert(usage.run(reg))
if arg[1] == "--json" then
  print(require("regstore.cli.json").encode(report))
else
  print(string.format("%-40s %8s %14s %14s", "REPOSITORY", "BLOBS", "UNIQUE", "SHARED"))
  for _, r in ipairs(report.repositories) do
    print(string.format("%-40s %8d %14d %14d", r.repository, r.blobs, r.unique, r.shared))
  end
  print(string.format("%d bytes referenced in all", report.bytes))
end
