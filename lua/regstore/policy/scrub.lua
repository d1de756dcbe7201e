--- Scrub: every blob's data read again and its SHA-256 checked against its
-- name (`regstore fsck --verify-digests`). RADOS keeps replicas consistent
-- with each other; this checks what was written in the first place, and
-- what was written behind the registry's back.
--
--   scrub.run(reg_or_drv, { rate = bytes_per_second, restart = false, progress = fn })
--   --> { blobs = N, bytes = N, resumed_after = digest or nil, complete = true,
--         corrupt = { { digest, actual, path, used_by = { { repository, tags = {...} } } } },
--         errors = { { digest, path, message, code } } }
--
-- Blobs go in digest order; every few seconds the last digest checked is
-- saved at <root>/_scrub/position, so a scrub that was killed resumes after
-- it (opts.restart starts over), and a scrub that ends removes it. A run
-- reads at most opts.rate bytes a second on average (0 or nil: no limit),
-- sleeping between reads, so that it leaves the cluster to production
-- traffic. A blob that cannot be read is an error of the run, never taken
-- for corrupt nor for fine. For a corrupt blob the repositories that use it
-- (link it as a layer, or hold it as a manifest) are named, with the tags
-- whose image needs it (the tag's manifest, its children, their blobs).
-- Nothing is repaired: the data's owner must push it again.

local context = require "regstore.policy.context"
local mark = require "regstore.policy.mark"
local scan = require "regstore.policy.scan"
local regstore = require "regstore"

local scrub = {}

scrub.SAVE_EVERY = 5 -- seconds between saves of the position
local PIECE = 4 * 1024 * 1024

-- The SHA-256 of path's data as "sha256:<hex>" and its size, or nil,
-- message, code. Sleeps as needed to keep the run's average under rate.
local function digest_of(ctx, path, pace)
  local r, msg, code = ctx.drv:reader(path)
  if not r then return nil, msg, code end
  local h = regstore.sha256()
  local n = 0
  while true do
    local data
    data, msg, code = r:read(PIECE)
    if not data then
      r:close()
      if msg then return nil, msg, code end
      return "sha256:" .. h:hexdigest(), n
    end
    h:update(data)
    n = n + #data
    pace(#data)
  end
end

-- The saved place: the last digest checked, and the digests found corrupt
-- or unreadable before it (checked again on resume, so that a killed run's
-- findings are not lost). false when there is none (or it is garbled).
local function load_position(ctx, path)
  local text, msg, code = ctx.drv:get_content(path)
  if not text then
    if code == "not_found" then return false end
    return nil, msg, code
  end
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    if not line:match("^sha256:%x+$") then return false end
    lines[#lines + 1] = line
  end
  if #lines == 0 then return false end
  return { after = lines[1], recheck = { table.unpack(lines, 2) } }
end

local function save_position(ctx, path, after, report)
  local lines = { after }
  for _, c in ipairs(report.corrupt) do lines[#lines + 1] = c.digest end
  for _, e in ipairs(report.errors) do lines[#lines + 1] = e.digest end
  ctx.drv:put_content(path, table.concat(lines, "\n") .. "\n") -- best effort: a failed save costs a re-read
end

-- Every digest a tag's image needs: its manifest, the children, and what
-- those name ({ [digest] = true }). m: a marker (shared manifest cache).
local function image_of(m, top)
  local needs, stack = {}, { top }
  while #stack > 0 do
    local x = table.remove(stack)
    if not needs[x] then
      needs[x] = true
      local refs = m:refs(x)
      if refs then
        for _, b in ipairs(refs.blobs) do needs[b] = true end
        for _, c in ipairs(refs.manifests) do stack[#stack + 1] = c end
      end
    end
  end
  return needs
end

-- Sets c.used_by for each corrupt blob c: the repositories that link it or
-- hold it as a manifest, with the tags whose image needs it. Each tag is
-- read, and its image walked, once for all of them. s: scan.repositories.
local function name_users(ctx, s, m, corrupt)
  for _, c in ipairs(corrupt) do c.used_by = {} end
  for _, name in ipairs(s.names) do
    local r = s.repos[name]
    local entries = {}
    for i, c in ipairs(corrupt) do
      if r.layers[c.digest] or r.revisions[c.digest] then entries[i] = { repository = name, tags = {} } end
    end
    for tag in pairs(r.tags) do
      local td = ctx.drv:get_content(ctx.paths:path_for("tag_current_link", { name = name, tag = tag }))
      local needs = td and image_of(m, td) or {}
      for i, c in ipairs(corrupt) do
        if needs[c.digest] then
          entries[i] = entries[i] or { repository = name, tags = {} }
          table.insert(entries[i].tags, tag)
        end
      end
    end
    for i, c in ipairs(corrupt) do
      if entries[i] then
        table.sort(entries[i].tags)
        c.used_by[#c.used_by + 1] = entries[i]
      end
    end
  end
end

--- Checks every blob's digest; see the top.
function scrub.run(target, opts)
  local ctx = context.of(target, opts, "run")
  opts = opts or {}
  local rate = opts.rate
  if rate ~= nil and (type(rate) ~= "number" or rate ~= rate or rate < 0) then
    error("bad argument #2 to 'run' (rate must be a number of bytes a second, 0 or more)", 2)
  end
  local tick = context.progress(opts)
  local report = { blobs = 0, bytes = 0, corrupt = {}, errors = {}, complete = false }
  local where = ctx.paths:path_for("scrub_position")
  local pos, msg, code = false
  if not opts.restart then
    pos, msg, code = load_position(ctx, where)
    if pos == nil then return nil, msg, code end
  end
  report.resumed_after = pos and pos.after or nil

  local blobs
  blobs, msg, code = scan.blobs(ctx, function(n) tick("scan blobs", { blobs = n }) end)
  if not blobs then return nil, msg, code end
  local list = {}
  for _, d in ipairs(pos and pos.recheck or {}) do list[#list + 1] = d end
  for _, d in ipairs(scan.keys(blobs)) do
    if not pos or d > pos.after then list[#list + 1] = d end
  end
  local pace, saved = context.pacer(rate, 60), regstore.clock()
  for i, d in ipairs(list) do
    local path = ctx.paths:path_for("blob_data", { digest = d })
    local actual, n, c = digest_of(ctx, path, pace)
    if actual then
      report.blobs, report.bytes = report.blobs + 1, report.bytes + n
      if actual ~= d then
        report.corrupt[#report.corrupt + 1] = { digest = d, actual = actual, path = path }
      end
    elseif c ~= "not_found" then -- not_found: deleted since the scan (gc), nothing to check
      report.errors[#report.errors + 1] = { digest = d, path = path, message = n, code = c }
    end
    if regstore.clock() - saved >= scrub.SAVE_EVERY then
      save_position(ctx, where, (pos and d < pos.after) and pos.after or d, report)
      saved = regstore.clock()
    end
    tick("verify digests", { done = i, total = #list, bytes = report.bytes })
  end
  report.complete = true
  ctx.drv:delete(where)

  if #report.corrupt > 0 then
    local s
    s, msg, code = scan.repositories(ctx)
    if s then
      name_users(ctx, s, mark.new(ctx), report.corrupt)
    else
      report.errors[#report.errors + 1] = { message = msg, code = code }
    end
  end
  return report
end

return scrub
