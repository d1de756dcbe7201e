--- Garbage collection: distribution's mark and sweep (garbage-collect,
-- with --dry-run and --delete-untagged), made safe while registries take
-- pushes, while the cluster fails reads, and when gc itself is killed.
--
--   local report = require("regstore.policy.gc").run(reg_or_drv, {
--     dry_run = false, delete_untagged = false, grace = 3600, root = nil,
--     only = nil,       -- { [repository] = { [digest] = true } }: with
--                       -- delete_untagged, only these manifests may go
--     progress = nil,   -- function(phase, counts), see regstore.cli.progress
--   })
--   --> { dry_run, marked, blobs = { digests }, manifests = { { repository,
--   --     digest } }, layer_links, bytes, restored, errors = { messages },
--   --     quotas = { { name, limit, used, was } } when quotas are set }
--   --> or nil, message, code when the store failed before anything was deleted
--
-- Distribution's collector deletes what its mark did not see, so a push that
-- links a layer or writes a manifest after the mark loses its blobs
-- (distribution#3045); it asks for a registry in read-only mode. Here
-- nothing is deleted in place: what may go is first PARKED under <root>/_gc
-- (one atomic driver move, quarantine.lua), where no registry read finds it,
-- and deleted only after a look again says nothing needs it:
--
--   0. Whatever a gc that died left parked is moved back.
--   1. List blobs/ and repositories/ (scan.lua, listings only), then mark
--      (mark.lua): what each repository keeps (references.lua: its tagged
--      manifests and, without --delete-untagged, all of them; anything
--      younger than grace; children of a kept index; referrers of a kept
--      manifest) marks its blobs. Unmarked digests are dated (one stat
--      each): a digest a layer link younger than grace names is marked.
--      Every read here is decided on: a tag, a manifest or a date that
--      cannot be read stops gc (nil, message, code) before anything moves.
--   2. --delete-untagged: each repository's untagged manifests to go have
--      their revision link parked; then its tags are listed and read AGAIN,
--      and what a tag names now (or a manifest kept because of it) goes
--      back. A failed read puts them all back. Then old layer links to
--      unmarked digests are parked (each stat'ed again just before).
--   3. Each unmarked blob older than grace is parked.
--   4. A second mark over every revision link and layer link there now: a
--      parked revision or layer link that a manifest there needs goes back,
--      and so does a parked blob the mark reaches; the rest is deleted.
--   5. The quotas' counters are recounted (policy/quota.lua): deletes free
--      quota here, not before.
--
-- Why a racing push is safe. A manifest put writes its revision link, then
-- checks that every blob (and link, and child) it names is there, and
-- takes its link back failing with manifest_blob_unknown when one is not;
-- an upload commit links _layers/<digest>, then checks the blob data. Take
-- anything X deleted in 4: it was parked from 2 or 3 to 4. A put needing X
-- either wrote its link before the second mark read that repository --
-- then the mark saw it and X went back -- or after: then its check ran
-- after X was parked, found it gone, and the put failed cleanly.
--
-- Why a re-tag is safe (a tag never points at a deleted manifest once both
-- calls returned). A tag is written first and the revision checked after
-- (tags.set_checked): if that check ran before step 2 parked the revision,
-- the tag was written before the look again, which finds it and puts the
-- revision back; if after, the setter finds the revision gone and takes
-- its tag back, failing with manifest_unknown.
--
-- Why a kill is safe. Between any two driver calls (crash points, named
-- gc.*) everything is either in place or parked; step 0 of the next gc, or
-- fsck --repair, moves every parked thing back, and the invariants hold
-- again: every tag resolves, every manifest's blobs are linked and there.
-- Nothing younger than grace is ever deleted, so a push whose layers are
-- uploaded but whose manifest is not yet written keeps them (grace must
-- outlast a push; with grace 0 such a push may fail, never leave a broken
-- image). Uploads in progress are not gc's (purge_uploads deletes old ones).

local context = require "regstore.policy.context"
local scan = require "regstore.policy.scan"
local mark = require "regstore.policy.mark"
local quarantine = require "regstore.policy.quarantine"
local crashpoint = require "regstore.policy.crashpoint"
local quota = require "regstore.policy.quota"
local links = require "regstore.registry.links"
local tags = require "regstore.registry.tags"
local validate = require "regstore.registry.validate"

local gc = {}

gc.DEFAULT_GRACE = 3600

-- The digests tag_names (of repository name) point at: { [digest] = true },
-- or nil, message, code when one could not be read. A tag without a
-- current link (half written, or going) points at nothing.
local function tagged(ctx, name, tag_names)
  local set, list, valid = {}, {}, {}
  for _, tag in ipairs(tag_names) do
    if validate.tag(tag) then
      valid[#valid + 1] = tag
      list[#list + 1] = { "tag_current_link", { name = name, tag = tag } }
    end
  end
  local res, msgs, codes = links.read_many(ctx, list)
  for i, tag in ipairs(valid) do
    if res[i] then
      set[res[i]] = true
    elseif codes[i] ~= "not_found" then
      return nil, string.format("gc: tag %s:%s unreadable: %s", name, tag, tostring(msgs[i])), codes[i]
    end
  end
  return set
end

-- The digests the repository's tags point at now (listed and read again).
local function tagged_now(ctx, name)
  local all, msg, code = tags.all(ctx, name)
  if not all then return nil, string.format("gc: tags of %s unreadable: %s", name, tostring(msg)), code end
  return tagged(ctx, name, all)
end

-- Whether the file at kind/fields is older than young: true, false (young
-- or not there), or nil, message, code when it could not be dated.
-- pre: stats read ahead ({ [path] = info or false }, scan.stat_many);
-- a path not in it is stat'ed now.
local function old(ctx, kind, fields, young, pre)
  local info, msg, code
  local path = pre and ctx.paths:path_for(kind, fields)
  if pre and pre[path] ~= nil then
    info = pre[path]
  else
    info, msg, code = scan.stat(ctx, kind, fields)
  end
  if info == nil then return nil, msg, code end
  return info and info.modtime <= young, info
end

-- Step 1 for one repository: marks what it keeps; returns the untagged
-- manifests that may go ({ digests }), or nil, message, code.
local function mark_repository(ctx, m, r, opts, young)
  local name, revs = r.name, r.revisions
  if not opts.delete_untagged then
    for d in pairs(revs) do
      local ok, msg, code = m:manifest(d)
      if not ok then return nil, msg, code end
    end
    return {}
  end
  local set, msg, code = tagged(ctx, name, scan.keys(r.tags))
  if not set then return nil, msg, code end
  local only = opts.only and opts.only[name] or (opts.only and {})
  local roots = {}
  for d in pairs(revs) do
    if set[d] or (only and not only[d]) then
      roots[d] = true
    else
      -- an untagged manifest is dated (one stat) only when it may go
      local is_old
      is_old, msg, code = old(ctx, "revision_link", { name = name, digest = d }, young)
      if is_old == nil then
        return nil, string.format("gc: manifest %s@%s cannot be dated: %s", name, d, tostring(msg)), code
      end
      if not is_old then roots[d] = true end
    end
  end
  local keep
  keep, msg, code = m:keep(revs, roots)
  if not keep then return nil, msg, code end
  local queue = {}
  for _, d in ipairs(scan.keys(revs)) do
    if keep[d] then
      local ok
      ok, msg, code = m:manifest(d)
      if not ok then return nil, msg, code end
    else
      queue[#queue + 1] = d
    end
  end
  return queue, roots
end

-- Every revision of a scan, sorted (what the marks read ahead).
local function all_revisions(s)
  local seen, out = {}, {}
  for _, name in ipairs(s.names) do
    for d in pairs(s.repos[name].revisions) do
      if not seen[d] then
        seen[d] = true
        out[#out + 1] = d
      end
    end
  end
  table.sort(out)
  return out
end

-- Step 1: the first mark. Returns marker, { [name] = { queue, roots } }.
local function mark_all(ctx, s, opts, young, report)
  local m = mark.new(ctx)
  local untagged = {}
  m:prefetch(all_revisions(s))
  for i, name in ipairs(s.names) do
    local queue, roots, code = mark_repository(ctx, m, s.repos[name], opts, young)
    if not queue then return nil, roots, code end
    if #queue > 0 then untagged[name] = { queue = queue, roots = roots } end
    opts.tick("mark", { done = i, total = #s.names, marked = m.count })
  end
  for _, d in ipairs(scan.keys(m.failed)) do
    local why = m.failed[d]
    if why ~= "missing" then report.errors[#report.errors + 1] = "manifest " .. d .. " unreadable: " .. why end
  end
  return m, untagged
end

-- What the first mark left unmarked, dated: a digest any young layer link
-- names (or one that cannot be dated) is marked (a push whose manifest is
-- not written yet); of the rest, the old links to them and the old blob
-- data may go. Only unmarked digests are stat'ed. Returns links
-- { { name, digest } }, candidates { digests }, sizes { [digest] = bytes }.
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
  local out, candidates, sizes = {}, {}, {}
  local list = scan.keys(unmarked)
  -- everything this may date, stat'ed ahead in windows
  local ahead = {}
  for _, d in ipairs(list) do
    for _, name in ipairs(linkers[d] or {}) do
      ahead[#ahead + 1] = ctx.paths:path_for("layer_link", { name = name, digest = d })
    end
    if blobs[d] then ahead[#ahead + 1] = ctx.paths:path_for("blob_data", { digest = d }) end
  end
  local pre = scan.stat_many(ctx, ahead)
  for i, d in ipairs(list) do
    local mine, keep = {}, false
    for _, name in ipairs(linkers[d] or {}) do
      local is_old, info = old(ctx, "layer_link", { name = name, digest = d }, young, pre)
      if is_old then
        mine[#mine + 1] = { name = name, digest = d }
      elseif is_old == nil or info then
        keep = true -- young, or its date unreadable: kept either way
      end
    end
    if keep then
      m:mark(d)
    else
      for _, l in ipairs(mine) do out[#out + 1] = l end
      if blobs[d] then
        local is_old, info = old(ctx, "blob_data", { digest = d }, young, pre)
        if is_old then
          candidates[#candidates + 1] = d
          sizes[d] = info.size
        end
      end
    end
    tick("date", { done = i, total = #list })
  end
  table.sort(out, function(a, b)
    if a.name ~= b.name then return a.name < b.name end
    return a.digest < b.digest
  end)
  return out, candidates, sizes
end

-- Step 2a for one repository: parks its untagged manifests, looks at its
-- tags again, and puts back what is kept now. Marks the rest in gone.
local function park_untagged(ctx, m, name, u, s, gone, report)
  local parked, order = {}, {}
  local failed
  for _, d in ipairs(u.queue) do
    local ok, msg = quarantine.park_link(ctx, "revision", name, d)
    if ok then
      parked[d] = true
      order[#order + 1] = d
      crashpoint.reach("gc.revision_parked")
    elseif ok == nil then
      failed = msg
      break
    end
  end
  local keep
  if not failed then
    local now, msg = tagged_now(ctx, name)
    if now then
      crashpoint.reach("gc.tags_read_again")
      -- kept now: what was kept before, what a tag names now, and what those keep
      local roots = {}
      for d in pairs(u.roots) do roots[d] = true end
      for d in pairs(parked) do
        if now[d] then roots[d] = true end
      end
      keep, msg = m:keep(s.repos[name].revisions, roots)
    end
    failed = not keep and msg
  end
  if failed then report.errors[#report.errors + 1] = failed end
  for _, d in ipairs(order) do
    if failed or keep[d] then
      local ok, msg = quarantine.unpark_link(ctx, "revision", name, d)
      if ok then
        crashpoint.reach("gc.revision_unparked")
      else
        -- still parked: the next gc (or fsck --repair) puts it back; never dropped here
        report.errors[#report.errors + 1] = msg
      end
    else
      gone.revisions[d] = true
    end
  end
end

-- Step 2b: a layer link is parked, if it is still old (stat just before).
local function park_layer_link(ctx, l, young, gone, report)
  local is_old = old(ctx, "layer_link", l, young)
  if not is_old then return end
  local ok, msg = quarantine.park_link(ctx, "layer", l.name, l.digest)
  if ok then
    gone.layers[l.digest] = true
    crashpoint.reach("gc.layer_link_parked")
  elseif ok == nil then
    report.errors[#report.errors + 1] = msg
  end
end

-- Marks manifests of repository `name` that are there now (start) and
-- what they reference, putting back the parked links they need (a child's
-- revision, a layer), and following what goes back in turn. have: the
-- revisions known there. Returns true or nil, message, code.
local function keep_present(ctx, m, name, start, have, g, report)
  local stack = {}
  for _, d in ipairs(start) do
    have[d] = true
    stack[#stack + 1] = d
  end
  while #stack > 0 do
    local d = table.remove(stack)
    local ok, msg, code = m:manifest(d)
    if not ok then return nil, msg, code end
    local refs = g and m:refs(d)
    if refs then
      for _, b in ipairs(refs.blobs) do
        if g.layers[b] then
          g.layers[b] = nil -- back, or left parked for the next gc on failure
          ok, msg = quarantine.unpark_link(ctx, "layer", name, b)
          if ok then report.restored = report.restored + 1 else report.errors[#report.errors + 1] = msg end
        end
      end
      for _, c in ipairs(refs.manifests) do
        if g.revisions[c] and not have[c] then
          g.revisions[c] = nil
          ok, msg = quarantine.unpark_link(ctx, "revision", name, c)
          if ok then
            report.restored = report.restored + 1
            have[c] = true
            stack[#stack + 1] = c
          else
            report.errors[#report.errors + 1] = msg
          end
        end
      end
    end
  end
  return true
end

-- Step 4: the second mark over a new scan: every layer link and revision
-- there now is marked, with what it needs put back. Returns the marker and
-- the scan, or nil, message, code.
local function remark(ctx, first, removed, report)
  local s, msg, code = scan.repositories(ctx)
  if not s then return nil, msg, code end
  local m = mark.new(ctx, first)
  m:prefetch(all_revisions(s))
  for _, name in ipairs(s.names) do
    local r = s.repos[name]
    for d in pairs(r.layers) do m:mark(d) end
    local ok
    ok, msg, code = keep_present(ctx, m, name, scan.keys(r.revisions), {}, removed[name], report)
    if not ok then return nil, msg, code end
  end
  return m, s
end

-- Whether the link of kind/fields is in place now (a failed stat counts
-- as there: nothing is deleted on what could not be read).
local function in_place(ctx, kind, fields)
  local info = scan.stat(ctx, kind, fields)
  return info ~= false
end

-- A manifest gone for good: its parked revision link is deleted, and then
-- its place looked at: a link written there again meanwhile (the same
-- manifest pushed again, or fsck putting back what a tag names, each
-- checking its blobs after writing) keeps what it references. Otherwise its
-- entries in the history of tags not pointing at it go too (best effort,
-- as distribution's RemoveManifest).
local function drop_manifest(ctx, m, name, d, have, g, report)
  local ok, msg = quarantine.drop_link(ctx, "revision", name, d)
  if not ok then
    report.errors[#report.errors + 1] = msg
    return true
  end
  crashpoint.reach("gc.revision_dropped")
  if in_place(ctx, "revision_link", { name = name, digest = d }) then
    return keep_present(ctx, m, name, { d }, have, g, report)
  end
  report.manifests[#report.manifests + 1] = { repository = name, digest = d }
  if not g.tags_now then
    -- what each tag points at now, read once per repository: a tag whose
    -- link could not be read keeps its history
    g.tags_now = {}
    for _, tag in ipairs(tags.all(ctx, name) or {}) do
      if validate.tag(tag) then
        local now, _, code = links.read(ctx, "tag_current_link", { name = name, tag = tag })
        if now or code == "not_found" then g.tags_now[tag] = now or false end
      end
    end
  end
  for tag, now in pairs(g.tags_now) do
    if now ~= d then ctx.drv:delete(ctx.paths:path_for("tag_index_link", { name = name, tag = tag, digest = d })) end
  end
  return true
end

-- Step 4's deletions: the blobs the mark reached go back first; then the
-- parked links nothing put back (each place looked at again after its
-- parked copy goes), then the blobs the mark left (or reached meanwhile).
local function sweep(ctx, removed, s2, parked, m2, sizes, report, tick)
  -- what the second mark needs goes back first: a push that met a parked
  -- blob waits for this, not for the deletions
  local back = {}
  for _, d in ipairs(parked) do
    if m2.marked[d] then
      local ok, msg = quarantine.unpark(ctx, d)
      if ok then report.restored = report.restored + 1 else report.errors[#report.errors + 1] = msg end
      back[d] = true
    end
  end
  for _, name in ipairs(scan.keys(removed)) do
    local g = removed[name]
    local have = {}
    for d in pairs(s2.repos[name] and s2.repos[name].revisions or {}) do have[d] = true end
    for _, d in ipairs(scan.keys(g.revisions)) do
      if g.revisions[d] then
        g.revisions[d] = nil
        local ok, msg, code = drop_manifest(ctx, m2, name, d, have, g, report)
        if not ok then return nil, msg, code end
      end
    end
    for _, d in ipairs(scan.keys(g.layers)) do
      local ok, msg = quarantine.drop_link(ctx, "layer", name, d)
      if ok then
        crashpoint.reach("gc.layer_link_dropped")
        if in_place(ctx, "layer_link", { name = name, digest = d }) then
          m2:mark(d)
        else
          report.layer_links = report.layer_links + 1
        end
      else
        report.errors[#report.errors + 1] = msg
      end
    end
  end
  for i, d in ipairs(parked) do
    if not back[d] then
      local ok, msg
      if m2.marked[d] then -- marked while the links were swept
        ok, msg = quarantine.unpark(ctx, d)
        if ok then report.restored = report.restored + 1 end
      else
        local present
        ok, msg, present = quarantine.drop(ctx, d)
        if ok then crashpoint.reach("gc.blob_dropped") end
        if ok and not present then
          report.blobs[#report.blobs + 1] = d
          report.bytes = report.bytes + sizes[d]
        end
      end
      if not ok then report.errors[#report.errors + 1] = msg end
    end
    tick("sweep", { done = i, total = #parked, bytes = report.bytes })
  end
  return true
end

local function options(opts)
  local only = opts.only
  if only ~= nil and type(only) ~= "table" then
    error("bad argument #2 to 'run' (only must be a table of repositories)", 3)
  end
  return {
    delete_untagged = opts.delete_untagged and true or false, only = only,
    tick = context.progress(opts),
  }
end

--- Runs gc over a registry (or a driver and opts.root). See the top.
function gc.run(target, opts)
  local ctx = context.of(target, opts, "run")
  opts = opts or {}
  local grace = context.seconds(opts, "grace", gc.DEFAULT_GRACE, "run")
  local o = options(opts)
  local tick = o.tick
  local dry = opts.dry_run and true or false
  local report = {
    dry_run = dry, marked = 0, blobs = {}, manifests = {}, layer_links = 0, bytes = 0,
    restored = 0, errors = {},
  }
  local young = ctx.now - grace

  -- 0. what a dead gc left parked goes back before anything is decided
  if not dry then
    local n, msg, code = quarantine.restore_all(ctx)
    if not n then return nil, msg, code end
    report.restored = n
    crashpoint.reach("gc.restored")
  end

  -- 1. scans and the first mark
  local blobs, msg, code = scan.blobs(ctx, function(n) tick("scan blobs", { blobs = n }) end)
  if not blobs then return nil, msg, code end
  local s
  s, msg, code = scan.repositories(ctx, {
    on_entry = function(n) tick("scan repositories", { repositories = n }) end,
  })
  if not s then return nil, msg, code end
  local m, untagged
  m, untagged, code = mark_all(ctx, s, o, young, report)
  if not m then return nil, untagged, code end
  report.marked = m.count
  local old_links, candidates, sizes = date_unmarked(ctx, s, blobs, m, young, tick)

  if dry then
    for _, name in ipairs(scan.keys(untagged)) do
      for _, d in ipairs(untagged[name].queue) do
        report.manifests[#report.manifests + 1] = { repository = name, digest = d }
      end
    end
    report.layer_links = #old_links
    for _, d in ipairs(candidates) do
      report.blobs[#report.blobs + 1] = d
      report.bytes = report.bytes + sizes[d]
    end
    return report
  end

  -- 2. untagged manifests, then unreferenced layer links, parked
  local removed = {}
  local function gone(name)
    removed[name] = removed[name] or { layers = {}, revisions = {} }
    return removed[name]
  end
  local names = scan.keys(untagged)
  for i, name in ipairs(names) do
    park_untagged(ctx, m, name, untagged[name], s, gone(name), report)
    tick("park manifests", { done = i, total = #names })
  end
  for i, l in ipairs(old_links) do
    park_layer_link(ctx, l, young, gone(l.name), report)
    tick("park layer links", { done = i, total = #old_links })
  end

  -- 3. blobs, parked
  local parked = {}
  for i, d in ipairs(candidates) do
    local ok
    ok, msg = quarantine.park(ctx, d)
    if ok then
      parked[#parked + 1] = d
      crashpoint.reach("gc.blob_parked")
    elseif ok == nil then
      report.errors[#report.errors + 1] = msg
    end
    tick("quarantine", { done = i, total = #candidates })
  end

  -- 4. second mark; back what it needs, delete the rest
  local m2, s2
  m2, s2, code = remark(ctx, m, removed, report)
  if m2 then
    crashpoint.reach("gc.marked_again")
    m2, msg, code = sweep(ctx, removed, s2, parked, m2, sizes, report, tick)
  else
    msg = s2
  end
  if not m2 then
    -- the store failed: nothing parked may be deleted without the mark
    local n = quarantine.restore_all(ctx)
    report.restored = report.restored + (n or 0)
    return nil, msg, code
  end

  -- 5. the quotas' counters set to what is left (deletes never lower them)
  local counted
  counted, msg = quota.recount(target, { root = ctx.root })
  if counted then
    if #counted > 0 then report.quotas = counted end
  else
    report.errors[#report.errors + 1] = "quota recount: " .. tostring(msg)
  end
  return report
end

return gc
