-- Crash points of the maintenance policies: each policy runs as
-- the real command (bin/regstore, a child process), first once with
-- REGSTORE_POLICY_CRASH_TRACE to learn the points it passes
-- (regstore.policy.crashpoint), then once per (point, occurrence) with
-- REGSTORE_POLICY_CRASH_AT, each in a fresh namespace holding the same
-- pre-state: the command SIGKILLs itself there. Then the recovery an
-- operator would do: the same command again, then `fsck --repair --grace
-- 0s`. Then the oracle (spec/support/registry_check.lua, which shares no
-- code with the policies): the tree keeps every registry invariant, every
-- image tagged before still pulls whole, every image the run was meant to
-- keep pulls whole, and a last `fsck` (no repair) exits 0.
--
-- Occurrences tried per point: the first (with REGSTORE_LONG=1 also the
-- second and the last). Cases run within a time budget per command
-- (REGSTORE_CRASH_BUDGET seconds, default 45, none with REGSTORE_LONG=1);
-- the skipped cases are printed. REGSTORE_POLICY_LUA_PATH (optional) is put in front of the
-- command's LUA_PATH, to try a policy under development.
--
-- The pre-state: tagged images (Docker and OCI), an old untagged image, a
-- tagged multi-arch OCI index with untagged children, an untagged index
-- over an untagged child, referrers (OCI manifests with `subject`) of a
-- tagged image, one tagged and one not, a blob linked into another
-- repository by mount, layers linked but referenced by nothing, abandoned
-- uploads; for fsck also findings: a tag naming no manifest, a layer link
-- to a missing blob, a revision link with wrong content, and a tagged
-- image's layer data parked in <root>/_gc as a dead gc leaves it.
local helper = require "helper"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"
local cli = require "fixtures.cli"
local check = require "support.registry_check"
local paths = require "regstore.registry.paths"

local Q = helper.quote
local R = util.ROOT
local LONG = helper.long
local BUDGET = tonumber(os.getenv "REGSTORE_CRASH_BUDGET" or "") or 45

local function G(ns)
  return string.format("--pool %s --namespace %s ", Q(helper.pool()), Q(ns))
end

-- Extra environment of every command run (the optional LUA_PATH prefix).
local EXTRA_ENV = ""
do
  local pre = os.getenv "REGSTORE_POLICY_LUA_PATH"
  if pre and pre ~= "" then
    EXTRA_ENV = "LUA_PATH=" .. Q(pre .. ";" .. cli.ROOT .. "/lua/?.lua;" .. cli.ROOT .. "/lua/?/init.lua;;") .. " "
  end
end

local function run(ns, args, env)
  local out, err, rc = cli.run(G(ns) .. args, EXTRA_ENV .. (env or ""))
  return out, err, rc
end

-- An upload left behind by a client that went away (data written, closed).
local function abandon_upload(repo, data)
  local up = assert(repo.blobs:create())
  assert(up:write(data))
  assert(up:close())
  return up.id
end

local function oci_image(repo, config, layers, opts)
  opts = opts or {}
  opts.oci = true
  return util.push_image(repo, config, layers, opts)
end

-- Builds the pre-state through the registry API; returns what the checks
-- need: tagged = { { name, tag } } (every tag set before, that must still
-- pull), keep = { [command] = { { name, digest, what } } }.
local function build(drv, with_findings)
  local reg = registry.new(drv)
  local P = paths.new(R)
  local st = { tagged = {}, all = {}, keep_tagged = {} }
  local function manifest(name, d, what, tag, kept)
    st.all[#st.all + 1] = { name = name, digest = d, what = what }
    if kept then st.keep_tagged[#st.keep_tagged + 1] = { name = name, digest = d, what = what } end
    if tag then st.tagged[#st.tagged + 1] = { name = name, tag = tag } end
  end

  local app = reg:repository("crash/app")
  local _, _, d1 = util.push_image(app, "cfg-app-1", { "base layer", "app layer 1" }, { tag = "v1" })
  manifest("crash/app", d1, "app:v1", "v1", true)
  local _, _, d2 = util.push_image(app, "cfg-app-2", { "base layer", "app layer 2" }, { tag = "latest" })
  manifest("crash/app", d2, "app:latest", "latest", true)
  local _, _, d0 = util.push_image(app, "cfg-app-0", { "base layer", "app layer 0" })
  manifest("crash/app", d0, "app untagged old image")
  local subject, _, ds = oci_image(app, "cfg-app-oci", { "base layer", "oci layer" }, { tag = "oci" })
  manifest("crash/app", ds, "app:oci (subject of referrers)", "oci", true)
  local sdesc = { mediaType = util.OCI_MANIFEST, digest = ds, size = #subject }
  local _, _, dsig = oci_image(app, "cfg-sig", { "signature bytes" },
    { tag = "sig", extra = { subject = sdesc, artifactType = "application/vnd.example.sig" } })
  manifest("crash/app", dsig, "app:sig (tagged referrer of app:oci)", "sig", true)
  local _, _, dsbom = oci_image(app, "cfg-sbom", { "sbom bytes" },
    { extra = { subject = sdesc, artifactType = "application/vnd.example.sbom" } })
  -- the keep rule: a referrer of a kept manifest is kept
  manifest("crash/app", dsbom, "untagged referrer of app:oci (a referrer of a kept manifest)", nil, true)
  assert(app.blobs:put("linked, referenced by nothing"))
  abandon_upload(app, "abandoned upload of app")

  local multi = reg:repository("crash/multi")
  local c1 = oci_image(multi, "cfg-amd64", { "amd64 layer", "base layer" })
  local c2 = oci_image(multi, "cfg-arm64", { "arm64 layer", "base layer" })
  manifest("crash/multi", util.digest(c1), "child amd64 of multi:v1", nil, true)
  manifest("crash/multi", util.digest(c2), "child arm64 of multi:v1", nil, true)
  local index, mt = util.index({ c1, c2 })
  local di = assert(multi.manifests:put(index, mt, { tag = "v1" }))
  manifest("crash/multi", di, "multi:v1 (index)", "v1", true)
  local c3 = oci_image(multi, "cfg-old", { "old layer" })
  manifest("crash/multi", util.digest(c3), "child of the untagged index")
  local index2, mt2 = util.index({ c3 })
  local di2 = assert(multi.manifests:put(index2, mt2))
  manifest("crash/multi", di2, "untagged index")
  abandon_upload(multi, "abandoned upload of multi")

  local other = reg:repository("crash/other")
  assert(other.blobs:mount("crash/app", util.digest("base layer")))
  assert(other.blobs:put("cfg-other"))
  local content, omt = util.image("cfg-other", { "base layer" })
  local dother = assert(other.manifests:put(content, omt, { tag = "t" }))
  manifest("crash/other", dother, "other:t (a layer mounted from app)", "t", true)
  assert(other.blobs:put("another unreferenced layer"))

  if with_findings then
    -- a tag whose current link names no manifest of the repository
    local bogus = util.digest("no such manifest")
    assert(drv:put_content(P:path_for("tag_current_link", { name = "crash/app", tag = "broken" }), bogus))
    assert(drv:put_content(P:path_for("tag_index_link", { name = "crash/app", tag = "broken", digest = bogus }), bogus))
    -- a layer link to a blob that is not there
    local gone = util.digest("a blob never stored")
    assert(drv:put_content(P:path_for("layer_link", { name = "crash/other", digest = gone }), gone))
    -- a revision link with wrong content (its blob exists: repair rewrites it)
    assert(drv:put_content(P:path_for("revision_link", { name = "crash/app", digest = d0 }), d1))
    -- a tagged image's layer parked by a gc that died
    local parked = util.digest("app layer 2")
    assert(drv:move(P:path_for("blob_data", { digest = parked }), P:path_for("quarantine_blob", { digest = parked })))
  end
  -- "older than 0 s" is strictly older (as distribution's Before): the
  -- uploads started this second are not yet
  helper.sh("sleep 1.1")
  return st
end

-- What a command must keep: tagged images and what they need for
-- gc --delete-untagged, every manifest for the others.
local COMMANDS = {
  { name = "gc --delete-untagged", args = "gc --delete-untagged --grace 0s", keep = "keep_tagged" },
  { name = "gc", args = "gc --grace 0s", keep = "all" },
  { name = "purge-uploads", args = "purge-uploads --older-than 0s", keep = "all" },
  { name = "fsck --repair", args = "fsck --repair --grace 0s", keep = "all", findings = true },
}

-- The checks after a run (and its recovery) on namespace ns; returns a list
-- of problems.
local function verify(drv, ns, st, cmd)
  local problems = {}
  local function add(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
  local ok, err = pcall(function()
    for _, p in ipairs(check.check(drv, R, { history = true })) do add("registry_check: %s", p) end
  end)
  if not ok then add("registry_check raised: %s", tostring(err)) end
  local reg = registry.new(drv)
  for _, t in ipairs(st.tagged) do
    local pulled, why = check.pullable(reg, t.name, t.tag)
    if not pulled then add("tagged before, no longer pulls: %s:%s: %s", t.name, t.tag, why) end
  end
  for _, m in ipairs(st[cmd.keep]) do
    local pulled, why = check.pullable(reg, m.name, m.digest)
    if not pulled then add("meant to be kept, does not pull: %s (%s@%s): %s", m.what, m.name, m.digest, why) end
  end
  local out, e, rc = run(ns, "fsck --grace 0s --json")
  if rc ~= 0 then add("final fsck exits %s: %s%s", tostring(rc), out:sub(1, 1500), e:sub(1, 500)) end
  return problems
end

-- The points a run passes, in order: list of { point, count }.
local function trace_points(file)
  local order, counts = {}, {}
  local f = io.open(file)
  if f then
    for line in f:lines() do
      if line ~= "" then
        if not counts[line] then order[#order + 1] = line end
        counts[line] = (counts[line] or 0) + 1
      end
    end
    f:close()
  end
  local out = {}
  for _, p in ipairs(order) do out[#out + 1] = { point = p, count = counts[p] } end
  return out
end

-- The cases of a trace: the first occurrence of every point; with
-- REGSTORE_LONG=1 also the second and the last (firsts first: they go
-- before the rest when the budget is short).
local function cases_of(points)
  local firsts, rest = {}, {}
  for _, p in ipairs(points) do
    firsts[#firsts + 1] = { point = p.point, n = 1, of = p.count }
    if p.count >= 2 then rest[#rest + 1] = { point = p.point, n = 2, of = p.count } end
    if p.count >= 3 then rest[#rest + 1] = { point = p.point, n = p.count, of = p.count } end
  end
  if LONG then
    for _, c in ipairs(rest) do firsts[#firsts + 1] = c end
  end
  return firsts
end

describe("policy crash points: kill the command at each, recover, nothing lost #cluster", function()
  for _, cmd in ipairs(COMMANDS) do
    it(cmd.name .. " killed at each of its crash points", function()
      local t_start = helper.now()
      -- the trace run: no crash, learns the points; checked as the baseline
      local drv, ns = helper.connect()
      local st = build(drv, cmd.findings)
      local trace = os.tmpname()
      local out, err, rc = run(ns, cmd.args, "REGSTORE_POLICY_CRASH_TRACE=" .. Q(trace) .. " ")
      local failures = {}
      if rc ~= 0 then failures[#failures + 1] = string.format("[no crash] %s exits %s: %s%s", cmd.args,
        tostring(rc), out:sub(1, 1500), err:sub(1, 500)) end
      local _, _, frc = run(ns, "fsck --repair --grace 0s")
      if frc ~= 0 then failures[#failures + 1] = "[no crash] fsck --repair exits " .. tostring(frc) end
      for _, p in ipairs(verify(drv, ns, st, cmd)) do failures[#failures + 1] = "[no crash] " .. p end
      helper.clear(drv)
      drv:close()
      local points = trace_points(trace)
      os.remove(trace)
      print(string.format("\n# crash %s: %d point(s) on the trace: %s", cmd.name, #points, (function()
        local t = {}
        for _, p in ipairs(points) do t[#t + 1] = p.point .. " x" .. p.count end
        return table.concat(t, ", ")
      end)()))
      if #points == 0 then
        assert(#failures == 0, string.format("%s without any crash (%d problem(s)):\n  %s", cmd.name, #failures,
          table.concat(failures, "\n  ")))
        print(string.format("#   !!! %s passes NO crash point: only the run without a crash was checked. PENDING.",
          cmd.name))
        pending(cmd.name .. ": no crash point reached")
        return
      end

      local cases = cases_of(points)
      local done, skipped, per_case = 0, {}, nil
      for _, c in ipairs(cases) do
        local elapsed = helper.now() - t_start
        if not LONG and per_case and elapsed + per_case > BUDGET then
          skipped[#skipped + 1] = string.format("%s:%d", c.point, c.n)
        else
          local t0 = helper.now()
          local label = string.format("%s at %s:%d (of %d)", cmd.name, c.point, c.n, c.of)
          drv, ns = helper.connect()
          st = build(drv, cmd.findings)
          local cout, cerr, crc = run(ns, cmd.args, "REGSTORE_POLICY_CRASH_AT=" .. Q(c.point .. ":" .. c.n) .. " ")
          local note = ""
          if crc ~= 137 then
            note = string.format(" (NOT killed: exit %s; the point was not reached again)", tostring(crc))
          end
          local rout, rerr, rrc = run(ns, cmd.args)
          if rrc ~= 0 then failures[#failures + 1] = string.format("[%s] the run again exits %s: %s%s", label,
            tostring(rrc), rout:sub(1, 1000), rerr:sub(1, 500)) end
          local fout, ferr, frc2 = run(ns, "fsck --repair --grace 0s --json")
          if frc2 ~= 0 then failures[#failures + 1] = string.format("[%s] fsck --repair exits %s: %s%s", label,
            tostring(frc2), fout:sub(1, 1500), ferr:sub(1, 500)) end
          local probs = verify(drv, ns, st, cmd)
          for _, p in ipairs(probs) do failures[#failures + 1] = string.format("[%s] %s", label, p) end
          print(string.format("#   %s: %s%s (%.1fs)", label, #probs == 0 and "ok" or (#probs .. " problem(s)"),
            note, helper.now() - t0))
          if crc ~= 137 and crc ~= 0 and #cerr > 0 then print("#     its stderr: " .. cerr:sub(1, 300)) end
          _ = cout
          helper.clear(drv)
          drv:close()
          done = done + 1
          per_case = (helper.now() - t_start) / (done + 1)
        end
      end
      print(string.format("# crash %s: %d case(s) checked in %.0fs, %d skipped for time%s%s", cmd.name, done,
        helper.now() - t_start, #skipped, #skipped > 0 and ": " or "", table.concat(skipped, " ")))
      assert(#failures == 0, string.format("%s: %d problem(s):\n  %s", cmd.name, #failures,
        table.concat(failures, "\n  ")))
    end)
  end
end)
