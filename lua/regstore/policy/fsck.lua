--- fsck: the engine's consistency check of the RADOS namespace
-- (`drv:fsck`), plus the registry's own checks over the tree.
--
--   local report = require("regstore.policy.fsck").run(reg_or_drv, {
--     repair = false, grace = 3600, root = nil, progress = nil,
--   })
--   --> { repair, objects, repaired, findings = { { kind, path, detail,
--   --     repaired, object? } } }   or nil, message, code
--
-- Engine kinds (see regstore.h): stale_ref, unreferenced_blob,
-- orphan_chunks, stale_pending, dangling_dir, unlinked_dir, dangling_name,
-- bad_metadata; `object` names the RADOS object. Registry kinds:
--   bad_link          a revision, layer or tag link whose content is not the
--                     digest its path names (or not a digest at all)
--   missing_blob      a revision or layer link to a blob whose data is gone
--   bad_manifest      a revision whose blob is not a JSON manifest
--   missing_manifest  a tag whose current link names no manifest revision of
--                     its repository
--   quarantined       blob data gc left in <root>/_gc (a gc died mid-way)
-- With repair: the engine repairs what its kinds allow (anything older than
-- grace); of what is older than grace, a revision or layer link with bad
-- content is rewritten with the digest its path names (what distribution's
-- links hold) when that blob exists, links to missing blobs are deleted, and
-- a tag whose link is bad or names no manifest goes whole (as untag); quarantined
-- data is moved back to blobs/ (gc then decides again). Nothing younger than
-- grace is touched; a bad manifest is only reported (its digest may be
-- named by other manifests: deleting it is the operator's call).
--
-- Costs: the scan is listings (scan.lua); each link is read once (one
-- round trip each: contents are what fsck checks), each manifest once; only
-- what is repaired is stat'ed (its age).

local context = require "regstore.policy.context"
local scan = require "regstore.policy.scan"
local mark = require "regstore.policy.mark"
local quarantine = require "regstore.policy.quarantine"

local fsck = {}

fsck.DEFAULT_GRACE = 3600

local function finding(report, kind, path, detail)
  local f = { kind = kind, path = path, detail = detail, repaired = false }
  report.findings[#report.findings + 1] = f
  return f
end

-- Deletes path (a link's directory) when repairing and the file `dated`
-- (the link) is old enough; with `content`, writes that to path instead (a
-- link rewritten). Only what is repaired is stat'ed.
local function fix(ctx, report, f, path, dated, young, content)
  if not report.repair then return end
  local info = ctx.drv:stat(dated)
  if not info or info.modtime > young then return end
  local ok, code, _
  if content then
    ok, _, code = ctx.drv:put_content(path, content)
  else
    ok, _, code = ctx.drv:delete(path)
  end
  if ok or code == "not_found" then
    f.repaired = true
    report.repaired = report.repaired + 1
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

-- Reads a link: its digest, or nil and a finding's detail.
local function read_link(ctx, path, want)
  local text, msg, code = ctx.drv:get_content(path)
  if not text then
    if code == "not_found" then return nil, nil end -- gone meanwhile
    return nil, "unreadable: " .. tostring(msg)
  end
  if want and text ~= want then
    return nil, string.format("holds %q, not %s", #text > 80 and text:sub(1, 77) .. "..." or text, want)
  end
  if not want and not text:find("^sha256:%x+$") and not text:find("^sha512:%x+$") then
    return nil, string.format("holds %q, not a digest", #text > 80 and text:sub(1, 77) .. "..." or text)
  end
  return text
end

local function check_repo(ctx, report, r, blobs, m, young)
  local P = ctx.paths
  local name = r.name
  for _, d in ipairs(scan.keys(r.revisions)) do
    local f = { name = name, digest = d }
    local link = P:path_for("revision_link", f)
    local got, why = read_link(ctx, link, d)
    if not got and why then
      fix_link(ctx, report, finding(report, "bad_link", link, why), "revision", f, young, blobs)
    elseif got and not blobs[d] then
      fix(ctx, report, finding(report, "missing_blob", link, "manifest " .. d .. " has no blob data"),
        P:path_for("revision", f), link, young)
    elseif got then
      local refs, rwhy = m:refs(d)
      if refs == false then
        finding(report, "bad_manifest", P:path_for("blob_data", f), "manifest " .. d .. " is " .. rwhy)
      end
    end
  end
  for _, d in ipairs(scan.keys(r.layers)) do
    local f = { name = name, digest = d }
    local link = P:path_for("layer_link", f)
    local got, why = read_link(ctx, link, d)
    if not got and why then
      fix_link(ctx, report, finding(report, "bad_link", link, why), "layer", f, young, blobs)
    elseif got and not blobs[d] then
      fix(ctx, report, finding(report, "missing_blob", link, "blob " .. d .. " has no data"),
        P:path_for("layer", f), link, young)
    end
  end
  for _, tag in ipairs(scan.keys(r.tags)) do
    local f = { name = name, tag = tag }
    local link = P:path_for("tag_current_link", f)
    local got, why = read_link(ctx, link)
    if not got and why then
      fix(ctx, report, finding(report, "bad_link", link, why), P:path_for("tag", f), link, young)
    elseif got and not r.revisions[got] then
      fix(ctx, report, finding(report, "missing_manifest", link,
        string.format("tag %s points at %s, not a manifest of %s", tag, got, name)),
        P:path_for("tag", f), link, young)
    end
  end
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
    if repair and quarantine.unpark(ctx, q.digest) then
      f.repaired = true
      report.repaired = report.repaired + 1
    end
  end

  local blobs
  blobs, msg, code = scan.blobs(ctx, function(n) tick("scan blobs", { blobs = n }) end)
  if not blobs then return nil, msg, code end
  local s
  s, msg, code = scan.repositories(ctx, { on_entry = function(n) tick("scan repositories", { repositories = n }) end })
  if not s then return nil, msg, code end
  local m = mark.new(ctx)
  for i, name in ipairs(s.names) do
    check_repo(ctx, report, s.repos[name], blobs, m, young)
    tick("check", { done = i, total = #s.names })
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
