-- Retention: keep the newest KEEP tags matching PATTERN in every repository,
-- untag the others, then let gc delete the manifests they pointed at and
-- what only those referenced.
--
--   regstore run examples/scripts/retention.lua PATTERN KEEP [--dry-run] [--grace DURATION]
--
-- PATTERN is a Lua pattern matched against the whole tag ("^v%d+" for
-- release tags, "." for all). "Newest" is by the time the tag was last
-- pointed (its current link's modification time), ties broken by name.
-- Globals (from `regstore run`): reg, drv, paths, policy, arg, log, progress.
--
-- The script deletes no manifest itself: it hands the digests it untagged
-- to gc (--delete-untagged, `only` those), which keeps whatever a kept
-- manifest still needs (the children of a kept index, the referrers of a
-- kept manifest, a manifest another tag points at, one re-tagged while it
-- runs) and decides only on what it could read: the same rules as
-- `regstore gc --delete-untagged` (regstore.registry.references).

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
  o.pattern, o.keep = pos[1], tonumber(pos[2])
  if not o.pattern or not o.keep or o.keep < 0 or #pos > 2 then return nil, USAGE end
  if not pcall(string.find, "", o.pattern) then return nil, "bad Lua pattern " .. o.pattern end
  return o
end

local o, why = parse(arg)
if not o then
  log("%s", why)
  return 2
end

-- The repositories, a page at a time (the catalog pages without a walk).
local function each_repository(f)
  local last
  while true do
    local page = assert(reg:repositories { n = 100, last = last })
    for _, name in ipairs(page) do f(name) end
    if #page < 100 then return end
    last = page[#page]
  end
end

local removed_tags = 0
local untagged = {} -- repository -> { [digest] = true }: what gc may now delete
each_repository(function(name)
  local repo = assert(reg:repository(name))
  local tags = assert(repo.tags:list())
  local matching = {}
  for _, t in ipairs(tags) do
    if t:find(o.pattern) then
      local link = paths:path_for("tag_current_link", { name = name, tag = t })
      local info = assert(drv:stat(link))
      matching[#matching + 1] = { tag = t, time = info.modtime }
    end
  end
  table.sort(matching, function(a, b)
    if a.time ~= b.time then return a.time > b.time end
    return a.tag > b.tag
  end)
  for i = o.keep + 1, #matching do
    local t = matching[i].tag
    local d = assert(repo.tags:get(t))
    print(string.format("%s %s:%s (%s)", o.dry_run and "would untag" or "untag", name, t, d))
    removed_tags = removed_tags + 1
    if not o.dry_run then
      assert(repo.tags:untag(t))
      untagged[name] = untagged[name] or {}
      untagged[name][d] = true
    end
  end
end)

local r = assert(policy.gc.run(reg, {
  dry_run = o.dry_run, grace = o.grace, progress = progress, delete_untagged = true, only = untagged,
}))
print(string.format("%d tags, %d manifests removed; gc: %d blobs (%d bytes) %s",
  removed_tags, o.dry_run and 0 or #r.manifests, #r.blobs, r.bytes, o.dry_run and "eligible" or "deleted"))
for _, e in ipairs(r.errors) do log("%s", e) end
return #r.errors == 0
