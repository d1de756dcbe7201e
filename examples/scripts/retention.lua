-- Retention: keep the newest KEEP tags matching PATTERN in every repository,
-- untag the others, then let gc delete the manifests they pointed at and
-- what only those referenced.
--
--   regstore run examples/scripts/retention.lua PATTERN KEEP [--dry-run] [--grace DURATION]
--
-- PATTERN is a PCRE2 regular expression, unanchored ('^v\d+' for release
-- tags, '.' for all). "Newest" is by the time the tag was last pointed.
-- Globals (from `regstore run`): reg, arg, log, progress.
--
-- A one-rule policy built in code: `regstore retention --policy FILE` runs
-- policy files of many rules. regstore.policy.retention does the work and
-- keeps its promises (docs/policies.md): it decides on what it read, reads
-- each tag again before removing it, and hands the manifests to gc, which
-- keeps whatever a kept manifest still needs.

local json = require "cjson"
local retention = require "regstore.policy.retention"

local USAGE = "usage: regstore run retention.lua PATTERN KEEP [--dry-run] [--grace DURATION]"

local function parse(args)
  local o = { grace = 3600 }
  local pos = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--dry-run" then
      o.dry_run = true
    elseif a == "--grace" then
      i = i + 1
      o.grace = require("regstore.cli.duration").parse(args[i] or "")
      if not o.grace then return nil, "--grace needs a duration (90m, 1h, 7d)" end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  local keep = tonumber(pos[2])
  if not pos[1] or not keep or #pos > 2 then return nil, USAGE end
  local policy, why = retention.load(json.encode { rules = { { tags = pos[1], keep_newest = keep } } })
  if not policy then return nil, why end
  return o, policy
end

local o, policy = parse(arg)
if not o then
  log("%s", policy)
  return 2
end

local r = assert(retention.run(reg, policy, { dry_run = o.dry_run, grace = o.grace, progress = progress }))
for _, t in ipairs(r.tags) do
  print(string.format("%s %s:%s (%s)", o.dry_run and "would untag" or "untag", t.repository, t.tag, t.digest))
end
print(string.format("%d tags, %d manifests removed; gc: %d blobs (%d bytes) %s",
  #r.tags, #r.manifests, #r.blobs, r.bytes, o.dry_run and "eligible" or "deleted"))
for _, e in ipairs(r.errors) do log("%s", e) end
return #r.errors == 0
