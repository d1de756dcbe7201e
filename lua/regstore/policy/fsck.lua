--- fsck: the engine's consistency check of the RADOS namespace
-- (`drv:fsck`), plus the registry's own checks over the tree.
--
--   local report = require("regstore.policy.fsck").run(reg_or_drv, {
--     repair = false, grace = 3600, root = nil, progress = nil,
--     verify_digests = false, rate = nil, restart = false,  -- scrub.lua's
--   })
--   --> { repair, objects, repaired, findings = { { kind, path, detail,
--   --     repaired, object? } } }   or nil, message, code
--
-- Engine kinds (see regstore.h): stale_ref, unreferenced_blob,
-- orphan_chunks, stale_pending, dangling_dir, unlinked_dir, dangling_name,
-- bad_metadata; `object` names the RADOS object. Registry kinds: every
-- inconsistency a registry read would trip over.
--   bad_link          a revision, layer or tag link whose content is not the
--                     digest its path names (or not a digest at all)
--   missing_blob      a revision or layer link to a blob whose data is gone,
--                     or a manifest naming a blob that has no data
--   unlinked_blob     a manifest names a blob (config, layer) that is there
--                     but that its repository does not link (BLOB_UNKNOWN
--                     on a pull)
--   missing_manifest  a tag, or an index, names a digest that is not a
--                     manifest of its repository
--   bad_manifest      a revision whose blob is not a JSON manifest
--   unreadable        a link or a manifest the store failed to read
--                     (timeout, io, ...): never repaired, always outstanding
--   quarantined       blob data, a revision link or a layer link gc parked
--                     under <root>/_gc (a gc died mid-way, or runs now)
--   digest_mismatch   with verify_digests: blob data whose SHA-256 is not
--                     its name (policy/scrub.lua; never repaired; `used_by`
--                     names the repositories and tags that need it)
-- Repair fixes what it found wrong, never what it failed to read, and
-- never deletes what a client pushed: of what is older than grace, a link
-- with bad content is rewritten with the digest its path names when that
-- blob exists (else the link goes), a link to data that is gone goes (stats
-- say not_found just before, in blobs/ and in gc's quarantine: the data of
-- a blob a running gc parked is not gone), a missing layer link of a manifest and
-- a missing revision link a tag or an index names are written again when
-- the data is there (then the data is checked again, as a push checks
-- it, and the link parked again if it went meanwhile), parked things are
-- moved back (gc then decides again). A tag whose link is garbage, or that
-- names a digest with no data anywhere (blobs/ nor quarantine), goes. Nothing
-- younger than grace is touched; a bad manifest is only reported (its
-- digest may be named by other manifests: deleting it is the operator's
-- call).
--
-- Costs: the scan is listings (scan.lua); each link is read once (one
-- round trip each: contents are what fsck checks), each manifest once; only
-- what is repaired or found missing is stat'ed.

local context = require "regstore.policy.context"
local scan = require "regstore.policy.scan"
local mark = require "regstore.policy.mark"
local quarantine = require "regstore.policy.quarantine"
local validate = require "regstore.registry.validate"
local batch = require "regstore.registry.batch"
local crashpoint = require "regstore.policy.crashpoint"
local scrub = require "regstore.policy.scrub"

local fsck = {}

fsck.DEFAULT_GRACE = 3600

local function finding(report, kind, path, detail)
  local f = { kind = kind, path = path, detail = detail, repaired = false }
  report.findings[#report.findings + 1] = f
  return f
end

local function repaired(report, f)
  f.repaired = true
  report.repaired = report.repaired + 1
  crashpoint.reach("fsck.repaired")
end

-- Whether the file at `dated` is older than young (only what may be
-- repaired is stat'ed; a failed stat is not old).
local function aged(ctx, dated, young)
  local info = ctx.drv:stat(dated)
  return info ~= nil and not info.is_dir and info.modtime <= young
end

-- Whether a path is gone now: true only when the store says not_found.
local function absent(ctx, path)
  local info, _, code = ctx.drv:stat(path)
  return info == nil and (code == "not_found" or code == "not_dir")
end

-- Deletes path (a link's directory) when repairing and the file `dated`
-- (the link) is old enough; with `content`, writes that to path instead (a
-- link rewritten).
local function fix(ctx, report, f, path, dated, young, content)
  if not report.repair or not aged(ctx, dated, young) then return end
  local ok, code, _
  if content then
    ok, _, code = ctx.drv:put_content(path, content)
  else
    ok, _, code = ctx.drv:delete(path)
  end
  if ok or code == "not_found" then repaired(report, f) end
end

-- Whether blob d, whose data was just found missing from blobs/, has none
-- anywhere: not parked by a gc that runs now (whose second mark may still
-- put it back, so a link to it is not broken for good), and not back in
-- blobs/ either (looked at again after the quarantine: a gc may move it
-- back between the two looks). Only then is a link to it repaired.
local function lost(ctx, d)
  local P = ctx.paths
  return absent(ctx, P:path_for("quarantine_blob", { digest = d }))
    and absent(ctx, P:path_for("blob_data", { digest = d }))
end

-- A missing_blob finding for link (of directory `dir`): repaired only when
-- the data is lost (above), else left to the gc that parked it.
local function missing_blob(ctx, report, link, dir, d, detail, young)
  local f = finding(report, "missing_blob", link, detail)
  if lost(ctx, d) then
    fix(ctx, report, f, dir, link, young)
  else
    f.detail = detail .. " (parked by a gc, which decides: not repaired)"
  end
end

-- A link whose content is wrong: rewritten with the digest its path names
-- when that blob exists (distribution's links hold exactly that), else
-- removed with its directory.
local function fix_link(ctx, report, f, kind, fields, young, blobs)
  local P = ctx.paths
  local link = P:path_for(kind .. "_link", fields)
  if blobs[fields.digest] then
    fix(ctx, report, f, link, link, young, fields.digest)
  else
    fix(ctx, report, f, P:path_for(kind, fields), link, young)
  end
end

-- Writes a missing link as a push would, then checks that the blob it
-- makes reachable is still there (as an upload commit and a manifest put
-- do): a gc running beside either sees the link in its second mark and
-- keeps the blob, or parked the blob before this check, which then finds
-- it gone: the link is taken back, PARKED rather than deleted (that gc may
-- have put its own parked copy back meanwhile, found this link there and
-- dropped its copy: a parked link is never lost, the next gc or fsck puts
-- it back and decides again).
local function relink(ctx, kind, name, d)
  local path = ctx.paths:path_for(kind .. "_link", { name = name, digest = d })
  if not ctx.drv:put_content(path, d) then return false end
  if absent(ctx, ctx.paths:path_for("blob_data", { digest = d })) then
    quarantine.park_link(ctx, kind, name, d)
    return false
  end
  return true
end

-- Reads a link: its digest; or nil, nil when it is gone; or nil, why, true
-- when it holds something wrong; or nil, why, false when it could not be
-- read (never repaired: repair fixes what it found wrong, not what it
-- failed to read).
-- pre: contents read ahead ({ [path] = text }, taken once), used only
-- when it is the link expected (no finding); anything else (missing, a read
-- that failed, a content that would be a finding) is read now, on its own,
-- so that every finding and repair is decided on a read made for it.
local function read_link(ctx, path, want, pre)
  local text, msg, code = pre and pre[path], nil, nil
  if pre then pre[path] = nil end
  if text and not (want and text == want) and not (not want and text:find("^sha256:%x+$")) then text = nil end
  if not text then text, msg, code = ctx.drv:get_content(path) end
  if not text then
    if code == "not_found" then return nil, nil end -- gone meanwhile
    return nil, "unreadable: " .. tostring(msg) .. " (" .. tostring(code) .. ")", false
  end
  local show = #text > 80 and text:sub(1, 77) .. "..." or text
  if want and text ~= want then
    return nil, string.format("holds %q, not %s", show, want), true
  end
  if not want and not text:find("^sha256:%x+$") and not text:find("^sha512:%x+$") then
    return nil, string.format("holds %q, not a digest", show), true
  end
  return text
end

-- The registry's checks of one repository. What a manifest references is
-- regstore.registry.references (through the marker): every blob it names
-- must be linked in the repository and there, every child must be one of
-- its manifests, every tag must name one.
local Check = {}
Check.__index = Check

function Check:unreadable(path, why)
  finding(self.report, "unreadable", path, why)
end

-- A revision or layer link (kind): its path when it holds the digest its
-- path names; else nil, after the finding (a bad link is repaired, an
-- unreadable one only reported).
function Check:link(kind, f)
  local link = self.ctx.paths:path_for(kind .. "_link", f)
  local got, why, wrong = read_link(self.ctx, link, f.digest, self.pre)
  if got then return link end
  if wrong then
    fix_link(self.ctx, self.report, finding(self.report, "bad_link", link, why), kind, f, self.young, self.blobs)
  elseif why then
    self:unreadable(link, why)
  end
  return nil
end

-- A manifest of the repository: its link, its blob, what it references.
function Check:revision(d)
  if self.checked[d] then return end
  self.checked[d] = true
  local ctx, report, name, P = self.ctx, self.report, self.r.name, self.ctx.paths
  local f = { name = name, digest = d }
  local link = self:link("revision", f)
  if not link then return end
  if not self.blobs[d] then
    if absent(ctx, P:path_for("blob_data", f)) then
      missing_blob(ctx, report, link, P:path_for("revision", f), d, "manifest " .. d .. " has no blob data",
        self.young)
    end
    return
  end
  local refs, rwhy, code = self.m:refs(d)
  if refs == nil then return self:unreadable(P:path_for("blob_data", f), rwhy .. " (" .. tostring(code) .. ")") end
  if not refs then
    finding(report, "bad_manifest", P:path_for("blob_data", f), "manifest " .. d .. " is " .. rwhy)
    return
  end
  local mine = report.repair and aged(ctx, link, self.young)
  for _, b in ipairs(refs.blobs) do
    if not self.r.layers[b] then
      local lf = { name = name, digest = b }
      if not self.blobs[b] then
        finding(report, "missing_blob", link, string.format("manifest %s names blob %s, which has no data", d, b))
      else
        local fd = finding(report, "unlinked_blob", P:path_for("layer_link", lf),
          string.format("manifest %s of %s names blob %s, which %s does not link", d, name, b, name))
        if mine and relink(ctx, "layer", name, b) then
          self.r.layers[b] = true
          repaired(report, fd)
        end
      end
    end
  end
  for _, c in ipairs(refs.manifests) do
    if not self.r.revisions[c] then self:missing_manifest(link, c, mine, "index " .. d .. " names") end
  end
end

-- A digest that something in the repository names as a manifest (a tag, an
-- index) but that is not one of its manifests: linked again when its data
-- is there (then checked as a manifest in turn); found either way.
function Check:missing_manifest(by, d, mine, who, tag)
  local ctx, report, name = self.ctx, self.report, self.r.name
  local detail = string.format("%s %s, not a manifest of %s", who, d, name)
  local f = finding(report, "missing_manifest", by, detail)
  if not self.blobs[d] then
    -- nothing to link: a tag to no data anywhere goes as untag does (an
    -- index naming it is only reported: its own content is the client's)
    if tag and mine and absent(ctx, ctx.paths:path_for("blob_data", { digest = d })) and lost(ctx, d) then
      fix(ctx, report, f, ctx.paths:path_for("tag", { name = name, tag = tag }), by, self.young)
    end
    return
  end
  if mine and relink(ctx, "revision", name, d) then
    self.r.revisions[d] = true
    repaired(report, f)
    self:revision(d)
  end
end

function Check:layer(d)
  local ctx, report, P = self.ctx, self.report, self.ctx.paths
  local f = { name = self.r.name, digest = d }
  local link = self:link("layer", f)
  if link and not self.blobs[d] and absent(ctx, P:path_for("blob_data", f)) then
    missing_blob(ctx, report, link, P:path_for("layer", f), d, "blob " .. d .. " has no data", self.young)
  end
end

function Check:tag(tag)
  local ctx, report, P = self.ctx, self.report, self.ctx.paths
  local f = { name = self.r.name, tag = tag }
  local link = P:path_for("tag_current_link", f)
  local got, why, wrong = read_link(ctx, link, nil, self.pre)
  if not got then
    if wrong then
      fix(ctx, report, finding(report, "bad_link", link, why), P:path_for("tag", f), link, self.young)
    elseif why then
      self:unreadable(link, why)
    end
  elseif not self.r.revisions[got] then
    self:missing_manifest(link, got, report.repair and aged(ctx, link, self.young), "tag " .. tag .. " points at", tag)
  end
end

local function check_repo(ctx, report, r, blobs, m, young)
  -- every link of the repository read ahead, in windows (get_many): what
  -- was read is used once, anything else is read again on its own
  local paths, P = {}, ctx.paths
  for _, tag in ipairs(scan.keys(r.tags)) do
    if validate.tag(tag) then paths[#paths + 1] = P:path_for("tag_current_link", { name = r.name, tag = tag }) end
  end
  for _, kind in ipairs { "revision", "layer" } do
    for _, d in ipairs(scan.keys(kind == "revision" and r.revisions or r.layers)) do
      paths[#paths + 1] = P:path_for(kind .. "_link", { name = r.name, digest = d })
    end
  end
  local pre, got = {}, batch.get(ctx.drv, paths)
  for i, path in ipairs(paths) do
    if got[i] then pre[path] = got[i] end
  end
  local c = setmetatable({
    ctx = ctx, report = report, r = r, blobs = blobs, m = m, young = young, checked = {}, pre = pre,
  }, Check)
  -- tags first: a manifest a tag names and that is linked again is then
  -- checked with the others
  for _, tag in ipairs(scan.keys(r.tags)) do
    if validate.tag(tag) then c:tag(tag) end
  end
  for _, d in ipairs(scan.keys(r.revisions)) do c:revision(d) end
  for _, d in ipairs(scan.keys(r.layers)) do c:layer(d) end
end

--- Runs the checks. See the top.
function fsck.run(target, opts)
  local ctx = context.of(target, opts, "run")
  opts = opts or {}
  local grace = context.seconds(opts, "grace", fsck.DEFAULT_GRACE, "run")
  local tick = context.progress(opts)
  local repair = opts.repair and true or false
  local report = { repair = repair, objects = 0, repaired = 0, findings = {} }
  local young = ctx.now - grace

  tick("engine", {})
  local eng, msg, code = ctx.drv:fsck { grace = grace, repair = repair }
  if not eng then return nil, msg, code end
  report.objects, report.repaired = eng.objects, eng.repaired
  for _, f in ipairs(eng.findings) do
    report.findings[#report.findings + 1] = {
      kind = f.kind, object = f.object, path = f.path, detail = f.detail, repaired = f.repaired and true or false,
    }
  end

  local parked
  parked, msg, code = quarantine.list(ctx)
  if not parked then return nil, msg, code end
  for _, q in ipairs(parked) do
    local f = finding(report, "quarantined", q.path, "blob " .. q.digest .. " left in quarantine by a gc")
    if repair and quarantine.unpark(ctx, q.digest) then repaired(report, f) end
  end
  for _, kind in ipairs { "revision", "layer" } do
    parked, msg, code = quarantine.list_links(ctx, kind)
    if not parked then return nil, msg, code end
    for _, q in ipairs(parked) do
      local f = finding(report, "quarantined", q.path,
        string.format("%s link %s of %s left parked by a gc", kind, q.digest, q.name))
      if repair and quarantine.unpark_link(ctx, kind, q.name, q.digest) then repaired(report, f) end
    end
  end

  local blobs
  blobs, msg, code = scan.blobs(ctx, function(n) tick("scan blobs", { blobs = n }) end)
  if not blobs then return nil, msg, code end
  local s
  s, msg, code = scan.repositories(ctx, { on_entry = function(n) tick("scan repositories", { repositories = n }) end })
  if not s then return nil, msg, code end
  local m = mark.new(ctx)
  local revs = {}
  for _, name in ipairs(s.names) do
    for d in pairs(s.repos[name].revisions) do
      if blobs[d] then revs[#revs + 1] = d end
    end
  end
  table.sort(revs)
  m:prefetch(revs)
  for i, name in ipairs(s.names) do
    check_repo(ctx, report, s.repos[name], blobs, m, young)
    tick("check", { done = i, total = #s.names })
  end
  if opts.verify_digests then return fsck.verify_digests(target, opts, report) end
  return report
end

--- The scrub's findings added to report: digest_mismatch (with used_by)
-- and unreadable; report.scrub = { blobs, bytes, resumed_after }.
function fsck.verify_digests(target, opts, report)
  local r, msg, code = scrub.run(target, {
    rate = opts.rate, restart = opts.restart, progress = opts.progress, root = opts.root, now = opts.now,
  })
  if not r then return nil, msg, code end
  report.scrub = { blobs = r.blobs, bytes = r.bytes, resumed_after = r.resumed_after }
  for _, c in ipairs(r.corrupt) do
    local names = {}
    for _, u in ipairs(c.used_by or {}) do
      names[#names + 1] = #u.tags > 0 and u.repository .. ":" .. table.concat(u.tags, ",") or u.repository
    end
    local f = finding(report, "digest_mismatch", c.path, string.format("blob %s hashes to %s; used by %s",
      c.digest, c.actual, #names > 0 and table.concat(names, " ") or "no repository"))
    f.digest, f.used_by = c.digest, c.used_by or {}
  end
  for _, e in ipairs(r.errors) do
    finding(report, "unreadable", e.path, string.format("%s (%s)", e.message, e.code or "?"))
  end
  return report
end

--- Findings not repaired (the command's exit status).
function fsck.outstanding(report)
  local n = 0
  for _, f in ipairs(report.findings) do
    if not f.repaired then n = n + 1 end
  end
  return n
end

return fsck
