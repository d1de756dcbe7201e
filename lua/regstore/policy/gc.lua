--- Garbage collection: distribution's mark and sweep (garbage-collect,
-- with --dry-run and --delete-untagged), made safe while registries take
-- pushes.
--
--   local report = require("regstore.policy.gc").run(reg_or_drv, {
--     dry_run = false, delete_untagged = false, grace = 3600, root = nil,
--     progress = nil,   -- function(phase, counts), see regstore.cli.progress
--   })
--   --> { dry_run, marked, blobs = { digests }, manifests = { { repository,
--   --     digest } }, layer_links, bytes, restored, errors = { messages } }
--   --> or nil, message, code when the store failed before anything was deleted
--
-- Distribution's collector deletes what its mark did not see, so a push that
-- links a layer or writes a manifest after the mark loses its blobs
-- (distribution#3045); it asks for a registry in read-only mode. Here every
-- deletion of data goes through a quarantine and a second mark:
--
--   0. Blobs left in quarantine by a gc that died are moved back (below).
--   1. List blobs/ and repositories/ (revision links, layer links, tags:
--      scan.lua, listings only), then mark: every manifest (with
--      --delete-untagged only tagged ones, and any younger than grace) and
--      what it references, recursively (mark.lua). What is left unmarked is
--      dated (one stat each, only those): a digest that a layer link younger
--      than grace names is marked too.
--   2. --delete-untagged: untagged manifests older than grace that no kept
--      manifest references lose their revision and tag-history links
--      (tags are looked up again just before). Then layer links older than
--      grace to unmarked digests go.
--   3. Each unmarked blob older than grace is QUARANTINED: its data is moved
--      (one atomic driver move) to <root>/_gc/<alg>/<hex>, where no registry
--      read finds it.
--   4. A second mark over every revision link and layer link there now.
--      A quarantined blob it marks is moved back, and so is any link of step
--      2 that a manifest linked now needs; the rest of the quarantine is
--      deleted.
--
-- Why a racing push is safe. A manifest put writes its revision link, then
-- checks that every blob (and link) it names is there, and takes its link
-- back failing with manifest_blob_unknown when one is not; an upload commit
-- links _layers/<digest>, then checks the blob data. Take a blob B deleted
-- in 4: it was in quarantine from 3 to 4. A put naming B either wrote its
-- link before the second mark read that repository — then the mark saw it
-- and B went back — or after: then its check ran after 3 and found B gone,
-- and the put failed cleanly. The same holds for a link of step 2 and for
-- an upload commit. Nothing younger than grace is ever deleted, so a push
-- whose layers are uploaded but whose manifest is not yet written keeps
-- them (grace must outlast a push; with grace 0 such a push may fail, never
-- leave a broken image). Uploads in progress are not gc's: their data lives
-- under _uploads/ until their commit (purge_uploads deletes old ones).
--
-- A crash leaves at most blobs in quarantine (and links of step 2 that a
-- new manifest needed): the next gc moves every quarantined blob back at
-- step 0 and decides again, and fsck reports them ("quarantined") and, with
-- repair, moves them back.
--
-- The marks read each manifest once (shared between the two marks); the
-- scans are listings (1024 names a round trip); stats go only to what is
-- left unmarked.

local context = require "regstore.policy.context"
local scan = require "regstore.policy.scan"
local mark = require "regstore.policy.mark"
local quarantine = require "regstore.policy.quarantine"
local tags = require "regstore.registry.tags"

local gc = {}

gc.DEFAULT_GRACE = 3600

-- The set of digests the repository's tags point at (reads each current link).
local function tagged(ctx, r)
  local set = {}
  for tag in pairs(r.tags) do
    local d = tags.get(ctx, r.name, tag)
    if d then set[d] = true end
  end
  return set
end

-- Whether the file at kind/fields is there and older than young.
local function old(ctx, kind, fields, young)
  local info = scan.stat(ctx, kind, fields)
  return info ~= nil and info.modtime <= young, info
end

-- Step 1: the first mark. Returns marker, queue of untagged manifests.
local function mark_all(ctx, s, opts, young, report)
  local m = mark.new(ctx)
  local queue = {}
  for i, name in ipairs(s.names) do
    local r = s.repos[name]
    local keep = opts.delete_untagged and tagged(ctx, r) or nil
    for _, d in ipairs(scan.keys(r.revisions)) do
      -- an untagged manifest is dated (one stat) only when it may go
      if keep and not keep[d] and old(ctx, "revision_link", { name = name, digest = d }, young) then
        queue[#queue + 1] = { repository = name, digest = d }
      else
        local ok, msg, code = m:manifest(d)
        if not ok then return nil, msg, code end
      end
    end
    opts.tick("mark", { done = i, total = #s.names, marked = m.count })
  end
  for d, why in pairs(m.failed) do
    if why ~= "missing" then report.errors[#report.errors + 1] = "manifest " .. d .. " unreadable: " .. why end
  end
  local out = {}
  for _, q in ipairs(queue) do
    -- a kept manifest references it (a child of a list or index, a subject)
    if not m.marked[q.digest] then out[#out + 1] = q end
  end
  return m, out
end

-- The digests the repository's tags point at now (listed and read again
-- just before its untagged manifests go: a tag set since the scan counts).
local function tagged_now(ctx, name)
  local all, msg, code = tags.all(ctx, name)
  if not all then return nil, msg, code end
  local set = {}
  for _, tag in ipairs(all) do
    local d = tags.get(ctx, name, tag)
    if d then set[d] = true end
  end
  return set, all
end

-- Step 2a: an untagged manifest goes (its tag history entries, its revision).
local function delete_manifest(ctx, name, d, all_tags)
  for _, tag in ipairs(all_tags) do
    -- best effort, as distribution's RemoveManifest (most tags never held d)
    ctx.drv:delete(ctx.paths:path_for("tag_index_link", { name = name, tag = tag, digest = d }))
  end
  local ok, msg, code = ctx.drv:delete(ctx.paths:path_for("revision", { name = name, digest = d }))
  if not ok and code ~= "not_found" then return nil, msg, code end
  return true
end

-- Step 2b: a layer link goes, if it is still old (stat just before).
local function delete_layer_link(ctx, name, d, young)
  local link = ctx.paths:path_for("layer_link", { name = name, digest = d })
  local info = ctx.drv:stat(link)
  if not info or info.modtime > young then return false end
  local ok, msg, code = ctx.drv:delete(ctx.paths:path_for("layer", { name = name, digest = d }))
  if not ok and code ~= "not_found" then return nil, msg, code end
  return true
end

-- What the first mark left unmarked, dated: a digest any young layer link
-- names is marked (a push whose manifest is not written yet); of the rest,
-- the old links to them and the old blob data go. Only unmarked digests are
-- stat'ed. Returns links { { name, digest } }, candidates { digests },
-- sizes { [digest] = bytes }.
local function date_unmarked(ctx, s, blobs, m, young, tick)
  local linkers = {}
  for _, name in ipairs(s.names) do
    for d in pairs(s.repos[name].layers) do
      if not m.marked[d] then
        linkers[d] = linkers[d] or {}
        linkers[d][#linkers[d] + 1] = name
      end
    end
  end
  local unmarked = {}
  for d in pairs(blobs) do
    if not m.marked[d] then unmarked[d] = true end
  end
  for d in pairs(linkers) do unmarked[d] = true end
  local links, candidates, sizes = {}, {}, {}
  local list = scan.keys(unmarked)
  for i, d in ipairs(list) do
    local mine, young_link = {}, false
    for _, name in ipairs(linkers[d] or {}) do
      local is_old, info = old(ctx, "layer_link", { name = name, digest = d }, young)
      if is_old then
        mine[#mine + 1] = { name = name, digest = d }
      elseif info then
        young_link = true
      end
    end
    if young_link then
      m:mark(d)
    else
      for _, l in ipairs(mine) do links[#links + 1] = l end
      if blobs[d] then
        local is_old, info = old(ctx, "blob_data", { digest = d }, young)
        if is_old then
          candidates[#candidates + 1] = d
          sizes[d] = info.size
        end
      end
    end
    tick("date", { done = i, total = #list })
  end
  table.sort(links, function(a, b)
    if a.name ~= b.name then return a.name < b.name end
    return a.digest < b.digest
  end)
  return links, candidates, sizes
end

-- Step 4: the second mark, and the links of step 2 that a manifest linked
-- now needs. Returns the marker.
local function remark(ctx, first, removed, report)
  local s, msg, code = scan.repositories(ctx)
  if not s then return nil, msg, code end
  local m = mark.new(ctx, first)
  for _, name in ipairs(s.names) do
    local r = s.repos[name]
    local gone = removed[name]
    for d in pairs(r.layers) do m:mark(d) end
    for d in pairs(r.revisions) do
      local ok
      ok, msg, code = m:manifest(d)
      if not ok then return nil, msg, code end
    end
    if gone then
      -- follow this repository's manifests to the links it lost in step 2
      local stack, seen = scan.keys(r.revisions), {}
      while #stack > 0 do
        local d = table.remove(stack)
        if not seen[d] then
          seen[d] = true
          local refs = m:refs(d)
          if refs then
            for _, b in ipairs(refs.blobs) do
              if gone.layers[b] then
                ctx.drv:put_content(ctx.paths:path_for("layer_link", { name = name, digest = b }), b)
                gone.layers[b] = nil
                report.restored = report.restored + 1
              end
            end
            for _, c in ipairs(refs.manifests) do
              if gone.revisions[c] then
                ctx.drv:put_content(ctx.paths:path_for("revision_link", { name = name, digest = c }), c)
                gone.revisions[c] = nil
                report.restored = report.restored + 1
              end
              stack[#stack + 1] = c
            end
          end
        end
      end
    end
  end
  return m
end

--- Runs gc over a registry (or a driver and opts.root). See the top.
function gc.run(target, opts)
  local ctx = context.of(target, opts, "run")
  opts = opts or {}
  local grace = context.seconds(opts, "grace", gc.DEFAULT_GRACE, "run")
  local tick = context.progress(opts)
  local o = { delete_untagged = opts.delete_untagged and true or false, tick = tick }
  local dry = opts.dry_run and true or false
  local report = {
    dry_run = dry, marked = 0, blobs = {}, manifests = {}, layer_links = 0, bytes = 0,
    restored = 0, errors = {},
  }
  local young = ctx.now - grace

  -- 0. what a dead gc left in quarantine goes back before anything is decided
  if not dry then
    local n, msg, code = quarantine.restore_all(ctx)
    if not n then return nil, msg, code end
    report.restored = n
  end

  -- 1. scans and the first mark
  local blobs, msg, code = scan.blobs(ctx, function(n) tick("scan blobs", { blobs = n }) end)
  if not blobs then return nil, msg, code end
  local s
  s, msg, code = scan.repositories(ctx, {
    on_entry = function(n) tick("scan repositories", { repositories = n }) end,
  })
  if not s then return nil, msg, code end
  local m, queue = mark_all(ctx, s, o, young, report)
  if not m then return nil, queue, code end
  report.marked = m.count
  local links, candidates, sizes = date_unmarked(ctx, s, blobs, m, young, tick)

  if dry then
    report.manifests = queue
    report.layer_links = #links
    for _, d in ipairs(candidates) do
      report.blobs[#report.blobs + 1] = d
      report.bytes = report.bytes + sizes[d]
    end
    return report
  end

  -- 2. untagged manifests, then unreferenced layer links
  local removed = {}
  local function gone(name)
    removed[name] = removed[name] or { layers = {}, revisions = {} }
    return removed[name]
  end
  local fresh = {}
  for i, q in ipairs(queue) do
    local name = q.repository
    if not fresh[name] then
      local set, all = tagged_now(ctx, name)
      fresh[name] = set and { set = set, all = all } or { failed = all }
    end
    local f = fresh[name]
    if f.failed then
      report.errors[#report.errors + 1] = f.failed
    elseif not f.set[q.digest] then
      local ok
      ok, msg = delete_manifest(ctx, name, q.digest, f.all)
      if ok then
        report.manifests[#report.manifests + 1] = q
        gone(name).revisions[q.digest] = true
      else
        report.errors[#report.errors + 1] = msg
      end
    end
    tick("delete manifests", { done = i, total = #queue })
  end
  for i, l in ipairs(links) do
    local ok
    ok, msg = delete_layer_link(ctx, l.name, l.digest, young)
    if ok then
      report.layer_links = report.layer_links + 1
      gone(l.name).layers[l.digest] = true
    elseif ok == nil then
      report.errors[#report.errors + 1] = msg
    end
    tick("delete layer links", { done = i, total = #links })
  end

  -- 3. quarantine
  local parked = {}
  for i, d in ipairs(candidates) do
    local ok
    ok, msg = quarantine.park(ctx, d)
    if ok then
      parked[#parked + 1] = d
    elseif ok == nil then
      report.errors[#report.errors + 1] = msg
    end
    tick("quarantine", { done = i, total = #candidates })
  end

  -- 4. second mark; back what it marks, delete the rest
  local m2
  m2, msg, code = remark(ctx, m, removed, report)
  if not m2 then
    -- the store failed: nothing parked may be deleted without the mark
    local n = quarantine.restore_all(ctx)
    report.restored = report.restored + (n or 0)
    return nil, msg, code
  end
  for i, d in ipairs(parked) do
    local ok
    if m2.marked[d] then
      ok, msg = quarantine.unpark(ctx, d)
      if ok then report.restored = report.restored + 1 end
    else
      local present
      ok, msg, present = quarantine.drop(ctx, d)
      if ok and not present then
        report.blobs[#report.blobs + 1] = d
        report.bytes = report.bytes + sizes[d]
      end
    end
    if not ok then report.errors[#report.errors + 1] = msg end
    tick("sweep", { done = i, total = #parked, bytes = report.bytes })
  end
  return report
end

return gc
