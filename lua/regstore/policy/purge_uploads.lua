--- Purging of abandoned uploads: distribution's PurgeUploads.
--
--   local report = require("regstore.policy.purge_uploads").run(reg_or_drv, {
--     older_than = 168 * 3600, dry_run = false, root = nil, progress = nil,
--   })
--   --> { dry_run, uploads = { { repository, id, started_at, dated_by } },
--   --     errors = { messages } }   (uploads: deleted, or eligible in a dry run)
--
-- An upload is repositories/<name>/_uploads/<id>/; it goes (the whole
-- directory, with its data, hash states and any uncommitted data) when its
-- `startedat` (RFC 3339) is older than `older_than` seconds, as distribution
-- decides.
--
-- Missing or unreadable `startedat`. Distribution dates such an upload
-- 10,000 hours in the future, so it is never purged and its data stays
-- forever. Here it is dated by the NEWEST modification time among its
-- files (startedat, hash states, committed data): an upload nobody has
-- touched for `older_than` goes, one still being written to stays. Such
-- uploads are reported with dated_by = "mtime" (and "startedat" otherwise).
-- An upload whose directory holds no visible file at all (only uncommitted
-- data, which a walk cannot see) is dated by nothing: it is left alone, and
-- reported in errors, for the engine's fsck to judge its data. So is an
-- upload whose `startedat` the store failed to read (timeout, io, ...).
-- Each upload is one driver delete (a crash leaves it whole or gone).

local context = require "regstore.policy.context"
local scan = require "regstore.policy.scan"
local rfc3339 = require "regstore.registry.rfc3339"
local validate = require "regstore.registry.validate"
local crashpoint = require "regstore.policy.crashpoint"

local purge = {}

purge.DEFAULT_OLDER_THAN = 168 * 3600

-- When the upload started, and how that was decided; nil when undatable,
-- or nil, message when `startedat` could not be read (then the upload is
-- left alone: a failed read is never taken for a missing file).
local function started(ctx, u)
  local f = u.files.startedat
  if f then
    local text, msg, code = ctx.drv:get_content(f.path)
    if not text and code ~= "not_found" then return nil, msg end
    local t = text and rfc3339.parse(text)
    if t then return t, "startedat" end
  end
  local newest
  for _, info in pairs(u.files) do
    if not newest or info.modtime > newest then newest = info.modtime end
  end
  if newest then return newest, "mtime" end
  return nil
end

-- Purges (or lists, in a dry run) one upload if it is old enough.
local function consider(ctx, report, name, u, limit)
  local t, how = started(ctx, u)
  if not t then
    report.errors[#report.errors + 1] = how or string.format(
      "upload %s in %s has no file to date it by; left alone", u.id, name)
    return
  end
  if t >= limit then return end
  if not report.dry_run then
    local ok, msg, code = ctx.drv:delete(ctx.paths:path_for("upload", { name = name, id = u.id }))
    if not ok and code ~= "not_found" then
      report.errors[#report.errors + 1] = msg
      return
    end
    crashpoint.reach("purge_uploads.deleted")
  end
  report.uploads[#report.uploads + 1] = {
    repository = name, id = u.id, started_at = rfc3339.format(t), dated_by = how,
  }
end

--- Runs the purge. See the top.
function purge.run(target, opts)
  local ctx = context.of(target, opts, "run")
  opts = opts or {}
  local older = context.seconds(opts, "older_than", purge.DEFAULT_OLDER_THAN, "run")
  local tick = context.progress(opts)
  local dry = opts.dry_run and true or false
  local report = { dry_run = dry, uploads = {}, errors = {} }
  local s, msg, code = scan.repositories(ctx, {
    uploads = true, on_entry = function(n) tick("scan repositories", { entries = n }) end,
  })
  if not s then return nil, msg, code end
  local limit = ctx.now - older
  for _, name in ipairs(s.names) do
    local r = s.repos[name]
    for _, id in ipairs(scan.keys(r.uploads)) do
      -- as distribution's, only directories named by a uuid are uploads
      if validate.upload_id(id) then consider(ctx, report, name, r.uploads[id], limit) end
    end
    tick("purge", { uploads = #report.uploads })
  end
  return report
end

return purge
