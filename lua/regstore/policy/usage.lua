--- Storage used per repository: the bytes of the blobs each repository
-- references (its manifests, what they name, and its linked layers),
-- split into bytes unique to it and bytes it shares with others. What
-- `regstore du --by-repository` prints, and what quotas would count.
--
-- Reads by listings in batches (policy/scan.lua), the blobs' sizes by
-- stats in windows, and each manifest once, read ahead in windows, whatever
-- the number of repositories holding it (policy/mark.lua's shared cache), so
-- the cost grows with the blobs and manifests, not with repositories
-- times blobs. A store failure stops it (nil, message, code): a report
-- from reads that failed would understate a repository.
--
--   usage.run(reg_or_drv, { root = ..., progress = fn })
--   --> { repositories = { { repository, blobs, bytes, unique, shared, missing } },
--         blobs = N, bytes = N, stored = N, stored_blobs = N }
-- bytes: referenced by any repository; stored: all data in blobs/ (gc's
-- to judge what is not referenced); missing: digests referenced whose data
-- is not in blobs/ (fsck's to report).

local context = require "regstore.policy.context"
local mark = require "regstore.policy.mark"
local scan = require "regstore.policy.scan"

local usage = {}

-- { [digest] = size } of every blob's data: blobs/ listed in batches
-- (scan.blobs), the data files stat'ed in windows (scan.blob_sizes: a
-- failure stops the count, never shrinks it).
local function sizes(ctx, tick)
  local blobs, msg, code = scan.blobs(ctx, function(n) tick("scan blobs", { blobs = n }) end)
  if not blobs then return nil, msg, code end
  return scan.blob_sizes(ctx, scan.keys(blobs), function(i, n) tick("stat blobs", { done = i, total = n }) end)
end

-- What repository r references: { [digest] = true }.
local function referenced(ctx, r, shared)
  local m = mark.new(ctx, shared)
  for d in pairs(r.revisions) do
    local ok, msg, code = m:manifest(d)
    if not ok then return nil, msg, code end
  end
  for d in pairs(r.layers) do m:mark(d) end
  return m.marked, m
end

function usage.run(target, opts)
  local ctx = context.of(target, opts, "run")
  local tick = context.progress(opts or {})
  local size, msg, code = sizes(ctx, tick)
  if not size then return nil, msg, code end
  local s
  s, msg, code = scan.repositories(ctx, {
    on_entry = function(n) tick("scan repositories", { repositories = n }) end,
  })
  if not s then return nil, msg, code end
  -- every manifest read once, ahead, in windows; the markers share it
  local shared = mark.new(ctx)
  local all = {}
  for _, name in ipairs(s.names) do
    for d in pairs(s.repos[name].revisions) do all[#all + 1] = d end
  end
  table.sort(all)
  shared:prefetch(all)
  local users, uses = {}, {}
  for i, name in ipairs(s.names) do
    local refs, m
    refs, m, code = referenced(ctx, s.repos[name], shared)
    if not refs then return nil, m, code end
    uses[name] = refs
    for d in pairs(refs) do users[d] = (users[d] or 0) + 1 end
    tick("read manifests", { done = i, total = #s.names })
  end
  local report = { repositories = {}, blobs = 0, bytes = 0, stored = 0, stored_blobs = 0 }
  for _, n in pairs(size) do
    report.stored = report.stored + n
    report.stored_blobs = report.stored_blobs + 1
  end
  for d in pairs(users) do
    report.blobs = report.blobs + 1
    report.bytes = report.bytes + (size[d] or 0)
  end
  for _, name in ipairs(s.names) do
    local row = { repository = name, blobs = 0, bytes = 0, unique = 0, shared = 0, missing = 0 }
    for d in pairs(uses[name]) do
      local n = size[d]
      row.blobs = row.blobs + 1
      if not n then
        row.missing = row.missing + 1
      else
        row.bytes = row.bytes + n
        if users[d] == 1 then row.unique = row.unique + n else row.shared = row.shared + n end
      end
    end
    report.repositories[#report.repositories + 1] = row
  end
  return report
end

return usage
