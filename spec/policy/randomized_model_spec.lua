-- A randomized model test of the policies against live pushes.
--
-- Child processes run at once for SECS seconds (15; 600 with REGSTORE_LONG=1;
-- REGSTORE_MODEL_SECS overrides):
--   * PUSHERS pushers, each in repositories of its own (m/p<w>a, m/p<w>b), so
--     that its log is the exact order of its operations: images (config and
--     layers through uploads, some layers shared by every pusher, so the same
--     blobs are linked in several repositories), tagged or not; re-tags of an
--     existing manifest by digest; untags; manifest deletes; referrers (OCI
--     manifests whose subject is one of its manifests); multi-arch indexes
--     (two untagged children, then the tagged index); abandoned uploads. Each
--     logs every operation with what it answered, success or not.
--   * a gc child looping gc.run{ delete_untagged, grace = 0 } and a second
--     child looping purge_uploads.run{ older_than = 0 } and fsck.run{ repair,
--     grace = 0 }, all through support/faulty.lua (timeout/io on a fraction
--     of reads: 0, RATE/20, RATE/5 or RATE, changing run by run, so that
--     runs fail at every depth and some go through; one run in three fails
--     30% of the reads of tag links only). A run that fails (nil, msg, code) is allowed; raising
--     is not; losing data is not.
-- Then, with every child stopped, one clean gc (delete_untagged, grace 0)
-- and fsck --repair (grace 0) without faults, and the model's verdict:
--   * every tag whose last successful set was not followed by a delete of
--     its manifest, an untag or a failed set (which may take it back), still
--     points at that manifest, and the image pulls whole;
--   * every manifest pushed successfully and not deleted by a client that is
--     kept at the end (tagged, a child of a kept index, the subject or a
--     referrer of a kept manifest) and was kept continuously since its last
--     confirmation (its push, a tag set on it, an index put naming it: before
--     that, gc with grace 0 may legitimately have deleted it) pulls whole;
--   * registry_check (spec/support/registry_check.lua) finds nothing, and
--     fsck finds nothing.
-- The seed is printed; REGSTORE_SEED replays the choices (not the timing).
local helper = require "helper"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"
local fsck = require "regstore.policy.fsck"
local check = require "support.registry_check"
local util = require "fixtures.registry.util"

local SECS = tonumber(os.getenv "REGSTORE_MODEL_SECS" or "") or (helper.long and 600 or 15)
local PUSHERS = 3
local RATE = 0.07
local R = util.ROOT

local PUSHER = [=[
local rs = require "regstore"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"
local ns, wid, secs, seed, logfile = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), arg[5]
local drv = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns })
local reg = registry.new(drv)
math.randomseed(seed * 7919 + wid)
local rnd = math.random
local unpack = table.unpack or unpack
local log = assert(io.open(logfile, "w"))
local t_end = rs.clock() + secs
local seq = 0
-- seq, clock, op, repo, result, digest, tag, kind, extra, message
local function L(op, repo, ok, d, tag, kind, extra, msg, code)
  seq = seq + 1
  log:write(table.concat({ seq, string.format("%.3f", rs.clock()), op, repo, ok and "ok" or "fail",
    d or "-", tag or "-", kind or "-", extra or "-",
    ok and "-" or (tostring(msg):gsub("[\t\n]", " ") .. " (" .. tostring(code) .. ")") }, "\t"), "\n")
  log:flush()
end
local REPOS = { string.format("m/p%da", wid), string.format("m/p%db", wid) }
local TAGS = { "t1", "t2", "t3", "t4", "latest" }
-- this child's own view, only to choose operations well
local alive, tags = {}, {}
for _, r in ipairs(REPOS) do alive[r] = {} tags[r] = {} end
local n = 0
local function uniq(what) n = n + 1 return string.format("%s-%d-%d-%d", what, seed, wid, n) end
local function upload(repo, data)
  local up, msg, code = repo.blobs:create()
  if not up then return nil, msg, code end
  local ok
  ok, msg, code = up:write(data)
  if not ok then return nil, msg, code end
  return up:commit(util.digest(data), #data)
end
local function pick(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  if #k == 0 then return nil end
  return k[rnd(#k)]
end
-- an image: config and layers uploaded, then the manifest (tag optional)
local function image(name, tag, oci, extra, kind, extra_log)
  local repo = reg:repository(name)
  local config = uniq("cfg")
  local layers = { uniq("layer") .. string.rep("x", rnd(0, 3000)) }
  if rnd() < 0.6 then layers[#layers + 1] = "shared layer " .. rnd(4) end
  for _, b in ipairs({ config, unpack(layers) }) do
    local ok, msg, code = upload(repo, b)
    if not ok then L("upload", name, false, util.digest(b), nil, nil, nil, msg, code) return nil end
  end
  local content, mt = util.image(config, layers, oci, extra)
  local d, msg, code = repo.manifests:put(content, mt, { tag = tag })
  L("push", name, d, util.digest(content), tag, kind or "image", extra_log, msg, code)
  if tag then tags[name][tag] = d or nil end
  if d then alive[name][d] = { kind = kind or "image", content = content, mt = mt } end
  return d, content
end
while rs.clock() < t_end do
  local name = REPOS[rnd(#REPOS)]
  local repo = reg:repository(name)
  local x = rnd()
  if x < 0.35 then
    image(name, rnd() < 0.6 and TAGS[rnd(#TAGS)] or nil, rnd() < 0.5)
  elseif x < 0.50 then -- re-tag an existing manifest by digest
    local d = pick(alive[name])
    if d then
      local tag = TAGS[rnd(#TAGS)]
      local ok, msg, code = repo.tags:tag(tag, d)
      L("tag", name, ok, d, tag, nil, nil, msg, code)
      if ok then tags[name][tag] = d else tags[name][tag] = nil end
      if code == "manifest_unknown" then alive[name][d] = nil end
    end
  elseif x < 0.55 then
    local tag = pick(tags[name])
    if tag then
      local ok, msg, code = repo.tags:untag(tag)
      L("untag", name, ok, nil, tag, nil, nil, msg, code)
      tags[name][tag] = nil
    end
  elseif x < 0.65 then -- delete a manifest that no index of ours names
    local d = pick(alive[name])
    local named = false
    for _, m in pairs(alive[name]) do
      if m.children and (m.children[1] == d or m.children[2] == d) then named = true end
    end
    if d and not named then
      local ok, msg, code = repo.manifests:delete(d)
      L("delete", name, ok, d, nil, alive[name][d].kind, nil, msg, code)
      alive[name][d] = nil
      for t, td in pairs(tags[name]) do if td == d then tags[name][t] = nil end end
    end
  elseif x < 0.75 then -- a referrer of one of our images
    local d = pick(alive[name])
    local m = d and alive[name][d]
    if m and m.kind ~= "index" then
      local subject = { mediaType = m.mt, digest = d, size = #m.content }
      image(name, rnd() < 0.2 and TAGS[rnd(#TAGS)] or nil, true,
        { subject = subject, artifactType = "application/vnd.example.sig" }, "referrer", d)
    end
  elseif x < 0.90 then -- a multi-arch index: two untagged children, the tagged index
    local _, c1 = image(name, nil, true)
    local _, c2 = image(name, nil, true)
    if c1 and c2 then
      local content, mt = util.index({ c1, c2 })
      local tag = TAGS[rnd(#TAGS)]
      local d, msg, code = repo.manifests:put(content, mt, { tag = tag })
      local children = { util.digest(c1), util.digest(c2) }
      L("push", name, d, util.digest(content), tag, "index", table.concat(children, ","), msg, code)
      tags[name][tag] = d or nil
      if d then alive[name][d] = { kind = "index", content = content, mt = mt, children = children } end
    end
  else -- an upload a client abandons
    local up = repo.blobs:create()
    if up then up:write(uniq("abandoned")) up:close() L("abandon", name, true) end
  end
end
log:close()
drv:close()
print("SUMMARY ops=" .. seq)
]=]

local POLICY = [=[
local rs = require "regstore"
local faulty = require "support.faulty"
local gc = require "regstore.policy.gc"
local purge = require "regstore.policy.purge_uploads"
local fsck = require "regstore.policy.fsck"
local ns, which, secs, seed, logfile, rate = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5],
  tonumber(arg[6])
local R = "/docker/registry/v2"
local drv = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns })
-- the fault rate varies per run (0, rate/20, rate/5, rate): at the full
-- rate a run that reads the whole tree fails at its first reads; lower
-- ones make runs fail at every depth, and some runs go through
-- Another kind of run fails 30% of the reads of tag links only (a store
-- slow on one directory): what a policy decides from a tag it could not
-- read is what this checks.
local RATES = { 0, "tags", rate / 20, rate / 5, "tags", rate }
local function on_tags(_, path) return path:find("/_manifests/tags/", 1, true) ~= nil end
local faults = 0
local log = assert(io.open(logfile, "w"))
local t_end = rs.clock() + secs
local counts = { runs = 0, failed = 0, raised = 0, errors = 0, manifests_deleted = 0, blobs_deleted = 0 }
local mode = "-" -- the fault mode of the run, on every line (a loss names the run's faults)
local function L(...)
  log:write(string.format("%.3f", rs.clock()), "\t", table.concat({ ... }, "\t"), "\t[faults: ", mode, "]\n")
  log:flush()
end
local k, f = 0, nil
while rs.clock() < t_end do
  k = k + 1
  local name, fn
  if which == "gc" then
    name, fn = "gc", function() return gc.run(f, { delete_untagged = true, grace = 0, root = R }) end
  elseif k % 2 == 1 then
    name, fn = "purge", function() return purge.run(f, { older_than = 0, root = R }) end
  else
    name, fn = "fsck", function() return fsck.run(f, { repair = true, grace = 0, root = R }) end
  end
  local r = RATES[k % #RATES + 1]
  local fopts = { rate = r, codes = { "timeout", "io" }, seed = seed * 31 + #which * 1000003 + k }
  if r == "tags" then fopts.rate, fopts.when = 0.3, on_tags end
  f = faulty.wrap(drv, fopts)
  mode = r == "tags" and "30% of tag-link reads" or string.format("%.4f of reads", r)
  L("start", name, k)
  local ok, rep, msg, code = pcall(fn)
  faults = faults + #f.failures
  counts.runs = counts.runs + 1
  if not ok then
    counts.raised = counts.raised + 1
    L("RAISED", name, k, tostring(rep):gsub("[\t\n]", " "))
    print("RAISED " .. name .. ": " .. tostring(rep))
  elseif not rep then
    counts.failed = counts.failed + 1
    L("failed", name, k, tostring(msg), tostring(code))
  else
    for _, e in ipairs(rep.errors or {}) do counts.errors = counts.errors + 1 L("error", name, k, e) end
    for _, m in ipairs(rep.manifests or {}) do
      counts.manifests_deleted = counts.manifests_deleted + 1
      L("deleted_manifest", name, k, m.repository, m.digest)
    end
    for _, d in ipairs(rep.blobs or {}) do
      counts.blobs_deleted = counts.blobs_deleted + 1
      L("deleted_blob", name, k, d)
    end
    for _, u in ipairs(rep.uploads or {}) do L("purged_upload", name, k, u.repository, u.id) end
    for _, fi in ipairs(rep.findings or {}) do
      if fi.repaired then L("repaired", name, k, fi.kind, fi.path or "-", tostring(fi.detail)) end
    end
  end
  L("end", name, k)
end
counts.faults = faults
log:close()
drv:close()
local t = { "SUMMARY", which }
local keys = {}
for key in pairs(counts) do keys[#keys + 1] = key end
table.sort(keys)
for _, key in ipairs(keys) do t[#t + 1] = key .. "=" .. counts[key] end
print(table.concat(t, " "))
]=]

local function split(line)
  local t = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do t[#t + 1] = field end
  return t
end

local function read_lines(file)
  local t = {}
  local f = io.open(file)
  if not f then return t end
  for line in f:lines() do t[#t + 1] = line end
  f:close()
  return t
end

-- Replays one pusher's log; returns { [repo] = state } where state has
-- alive = { [d] = info }, tags = { [tag] = { d, certain } }, safe = { [d] = bool }.
local function replay(lines)
  local repos = {}
  local function st(name)
    repos[name] = repos[name] or { alive = {}, tags = {}, safe = {} }
    return repos[name]
  end
  -- what gc must keep now: tagged (certain tags), children of kept indexes,
  -- subjects and referrers of kept manifests
  local function kept(s)
    local K = {}
    for _, t in pairs(s.tags) do
      if t.certain and s.alive[t.d] then K[t.d] = true end
    end
    local changed = true
    while changed do
      changed = false
      for d, m in pairs(s.alive) do
        if not K[d] then
          if m.subject and K[m.subject] then K[d] = true changed = true end
        else
          for _, c in ipairs(m.children or {}) do
            if s.alive[c] and not K[c] then K[c] = true changed = true end
          end
          if m.subject and s.alive[m.subject] and not K[m.subject] then K[m.subject] = true changed = true end
        end
      end
    end
    return K
  end
  for _, line in ipairs(lines) do
    local f = split(line)
    local op, name, ok, d, tag, kind, extra = f[3], f[4], f[5] == "ok", f[6], f[7], f[8], f[9]
    if tag == "-" then tag = nil end
    local s = st(name)
    local confirmed = {}
    if op == "push" then
      if ok then
        local info = { kind = kind }
        if kind == "referrer" then info.subject = extra end
        if kind == "index" then
          info.children = {}
          for c in extra:gmatch("[^,]+") do info.children[#info.children + 1] = c confirmed[c] = true end
        end
        s.alive[d] = info
        confirmed[d] = true
        if tag then s.tags[tag] = { d = d, certain = true, line = line } end
      elseif tag then
        s.tags[tag] = { certain = false, line = line }
      end
    elseif op == "tag" then
      if ok then
        s.tags[tag] = { d = d, certain = true, line = line }
        confirmed[d] = true
      else
        s.tags[tag] = { certain = false, line = line }
      end
    elseif op == "untag" then
      s.tags[tag] = nil
      if not ok then s.tags[tag] = { certain = false, line = line } end
    elseif op == "delete" then
      s.alive[d] = nil
      s.safe[d] = nil
      for t, v in pairs(s.tags) do
        if v.d == d then s.tags[t] = (not ok) and { certain = false, line = line } or nil end
      end
    end
    local K = kept(s)
    for dd in pairs(s.alive) do
      if confirmed[dd] then
        s.safe[dd] = K[dd] or false
      elseif not K[dd] then
        s.safe[dd] = false
      end
    end
    s.K = K
  end
  return repos
end

-- The last max lines of the logs that hold every needle (a digest, a
-- "\trepo\t", a "\ttag\t"), in log order per child.
local function history(logs, needles, max)
  if type(needles) == "string" then needles = { needles } end
  local t = {}
  for _, l in ipairs(logs) do
    local all = true
    for _, n in ipairs(needles) do
      if not l.text:find(n, 1, true) then all = false end
    end
    if all then t[#t + 1] = l.who .. " " .. l.text end
  end
  local from = math.max(1, #t - (max or 20) + 1)
  local out = {}
  for i = from, #t do out[#out + 1] = "      " .. t[i] end
  return table.concat(out, "\n")
end

describe("policies against live pushes: a randomized model #cluster", function()
  it("loses no tag or kept manifest, leaves a clean tree", function()
    local seed = tonumber(os.getenv "REGSTORE_SEED" or "") or os.time()
    print(string.format("\n# model: REGSTORE_SEED=%d, %d s, %d pushers, fault rate %.2f", seed, SECS, PUSHERS, RATE))
    math.randomseed(seed)
    local drv, ns = helper.connect()
    local files, handles = {}, {}
    for w = 1, PUSHERS do
      files[#files + 1] = { who = "p" .. w, file = os.tmpname(), pusher = true }
      handles[#handles + 1] = helper.spawn_lua(PUSHER, { ns, tostring(w), tostring(SECS), tostring(seed),
        files[#files].file })
    end
    for _, which in ipairs { "gc", "purge+fsck" } do
      files[#files + 1] = { who = which, file = os.tmpname() }
      handles[#handles + 1] = helper.spawn_lua(POLICY, { ns, which, tostring(SECS), tostring(seed),
        files[#files].file, tostring(RATE) })
    end
    local outputs, problems = {}, {}
    for i, h in ipairs(handles) do
      local out, rc = helper.wait(h)
      outputs[#outputs + 1] = files[i].who .. ": " .. out:gsub("\n$", "")
      if rc ~= 0 then problems[#problems + 1] = string.format("child %s exits %s: %s", files[i].who, rc, out) end
      for line in out:gmatch("[^\n]+") do
        if line:find("^RAISED") then problems[#problems + 1] = files[i].who .. " policy raised: " .. line end
      end
    end

    -- one clean gc and fsck --repair, without faults
    -- (judged from two seconds on: "older than 0 s" is strictly older, and
    -- the last writes may be of this second)
    local reg = registry.new(drv)
    local later = os.time() + 2
    local rep, msg = gc.run(reg, { delete_untagged = true, grace = 0, now = later })
    if not rep then problems[#problems + 1] = "the clean gc failed: " .. tostring(msg)
    elseif #rep.errors > 0 then problems[#problems + 1] = "the clean gc met errors: " .. table.concat(rep.errors, "; ")
    end
    local clean_deleted = rep and rep.manifests or {}
    rep, msg = fsck.run(reg, { repair = true, grace = 0, now = later })
    if not rep then problems[#problems + 1] = "the clean fsck --repair failed: " .. tostring(msg) end

    -- every log, in one list (policies' lines carry the clock too)
    local logs, counts = {}, { pushes = 0, push_failed = 0, retags = 0, deletes = 0, untags = 0, referrers = 0,
      indexes = 0 }
    local model = {}
    for _, f in ipairs(files) do
      local lines = read_lines(f.file)
      local keep = os.getenv "REGSTORE_MODEL_LOGS" -- a directory: every child's log is kept there
      if keep and keep ~= "" then
        helper.sh(string.format("mkdir -p %s && cp %s %s/%s.log", helper.quote(keep), helper.quote(f.file),
          helper.quote(keep), f.who:gsub("[^%w]", "_")))
      end
      os.remove(f.file)
      for _, l in ipairs(lines) do logs[#logs + 1] = { who = f.who, text = l } end
      if f.pusher then
        for _, l in ipairs(lines) do
          local x = split(l)
          if x[3] == "push" then
            if x[5] == "ok" then counts.pushes = counts.pushes + 1 else counts.push_failed = counts.push_failed + 1 end
            if x[5] == "ok" and x[8] == "referrer" then counts.referrers = counts.referrers + 1 end
            if x[5] == "ok" and x[8] == "index" then counts.indexes = counts.indexes + 1 end
          elseif x[3] == "tag" and x[5] == "ok" then counts.retags = counts.retags + 1
          elseif x[3] == "delete" then counts.deletes = counts.deletes + 1
          elseif x[3] == "untag" then counts.untags = counts.untags + 1
          end
        end
        for name, s in pairs(replay(lines)) do model[name] = s end
      end
    end
    for _, d in ipairs(clean_deleted) do
      logs[#logs + 1] = { who = "clean-gc", text = "deleted_manifest\t" .. d.repository .. "\t" .. d.digest }
    end

    -- the verdict
    local checked_tags, checked_manifests = 0, 0
    for _, name in ipairs(helper.keys(model)) do
      local s = model[name]
      local repo = reg:repository(name)
      for _, tag in ipairs(helper.keys(s.tags)) do
        local t = s.tags[tag]
        if t.certain then
          checked_tags = checked_tags + 1
          local got, gmsg, gcode = repo.tags:get(tag)
          local why
          if got ~= t.d then
            why = string.format("points at %s (%s %s), the model says %s", tostring(got), tostring(gmsg),
              tostring(gcode), t.d)
          else
            local ok, pwhy = check.pullable(reg, name, tag)
            if not ok then why = pwhy end
          end
          if why then
            problems[#problems + 1] = string.format("tag %s:%s (last set: %s): %s\n    history of the tag:\n%s\n"
              .. "    history of %s:\n%s", name, tag, t.line, why,
              history(logs, { "\t" .. name .. "\t", "\t" .. tag .. "\t" }, 15), t.d, history(logs, t.d, 20))
          end
        end
      end
      for _, d in ipairs(helper.keys(s.alive)) do
        if s.safe[d] and s.K[d] then
          checked_manifests = checked_manifests + 1
          local ok, why = check.pullable(reg, name, d)
          if not ok then
            problems[#problems + 1] = string.format("manifest %s@%s (%s, kept since its last confirmation) does not "
              .. "pull: %s\n    history:\n%s", name, d, s.alive[d].kind, why, history(logs, d, 20))
          end
        end
      end
    end
    local history_links = 0
    local ok, err = pcall(function()
      local found, hist = check.check(drv, R)
      for _, p in ipairs(found) do problems[#problems + 1] = "registry_check: " .. p end
      history_links = #hist
    end)
    if not ok then problems[#problems + 1] = "registry_check raised: " .. tostring(err) end
    rep, msg = fsck.run(reg, { grace = 0 })
    if not rep then problems[#problems + 1] = "the last fsck failed: " .. tostring(msg)
    else
      for _, fi in ipairs(rep.findings) do
        problems[#problems + 1] = string.format("fsck: %s %s %s", fi.kind, tostring(fi.path), tostring(fi.detail))
      end
    end

    print(string.format("# model: pushes %d ok / %d failed (referrers %d, indexes %d), re-tags %d, untags %d, "
      .. "deletes %d; checked %d tags, %d kept manifests; %d tag-history links name a deleted manifest (as"
      .. " distribution leaves them after a client's delete; not a failure)", counts.pushes, counts.push_failed,
      counts.referrers, counts.indexes, counts.retags, counts.untags, counts.deletes, checked_tags,
      checked_manifests, history_links))
    for _, o in ipairs(outputs) do print("# model: " .. o) end
    helper.clear(drv)
    drv:close()
    assert(#problems == 0, string.format("REGSTORE_SEED=%d: %d problem(s):\n  %s", seed, #problems,
      table.concat(problems, "\n  ")))
  end)
end)
