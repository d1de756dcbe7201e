-- The registry layer under several processes sharing one repository:
-- child processes push, tag, delete, pull, resume and list at once, for
-- a bounded time each (4 s, 30 s with REGSTORE_LONG=1, REGSTORE_CONC_SECS
-- overrides), each with its own chunk_size. Rounds meant to collide start
-- at the same instant of the system-wide monotonic clock (rs.clock) in
-- every process; a process waits for it by polling the cluster, not by
-- spinning. Every child prints its counts; the spec prints the totals.
--
-- Afterwards everything is deleted and RADOS must hold nothing but "/",
-- without the repair step: nothing a registry does under races leaks.
local helper = require "helper"
local inv = require "support.invariants"

local SECS = tonumber(os.getenv "REGSTORE_CONC_SECS") or (helper.long and 30 or 4)
local CHUNKS = { 65536, 131072, 4194304, 262144 }

-- Shared by every child: connection, counts, failures, the round clock.
local PRELUDE = [[
local rs = require "regstore"
local registry = require "regstore.registry"
local inv = require "support.invariants"
local util = require "fixtures.registry.util"
local json = require "cjson.safe"
local ns, wid, secs, t0, seed, chunk = arg[1], tonumber(arg[2]), tonumber(arg[3]),
  tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6])
local drv = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = chunk })
local reg = registry.new(drv)
math.randomseed(seed * 7919 + wid)
local rnd = math.random
local counts, fails = {}, {}
local function count(k) counts[k] = (counts[k] or 0) + 1 end
local function failure(fmt, ...)
  count "failures"
  if #fails < 20 then fails[#fails + 1] = string.format(fmt, ...) end
end
local function wait_until(t)
  while rs.clock() < t do drv:stat("/") end
end
local function running() return rs.clock() < t0 + secs end
local digest_of = require("helper").digest
-- Reads a blob of repo to its end in pieces, checks its digest; pause:
-- seconds to wait after the first piece (a slow client).
local function pull_blob(repo, d, what, pause)
  local r, msg, code = repo.blobs:reader(d)
  if not r then return failure("%s: reader(%s): %s (%s)", what, d, tostring(msg), tostring(code)) end
  local h, first = rs.sha256(), true
  while true do
    local s
    s, msg, code = r:read(rnd(4096, 70000))
    if not s then break end
    h:update(s)
    if first and pause then wait_until(rs.clock() + pause) end
    first = false
  end
  r:close()
  if msg then return failure("%s: read %s: %s (%s)", what, d, tostring(msg), tostring(code)) end
  if "sha256:" .. h:hexdigest() ~= d then return failure("%s: %s read back as other bytes", what, d) end
  count "blobs_pulled"
end
-- Uploads data into repo through an upload (closed and resumed once when
-- resume is set), the commit at `at` (a clock instant) when given.
local function upload(repo, data, resume, at)
  local up, msg, code = repo.blobs:create()
  if not up then return nil, msg, code end
  local half = math.floor(#data / 2)
  local ok
  ok, msg, code = up:write(data:sub(1, half))
  if ok and resume then
    ok, msg, code = up:close()
    if ok then
      up, msg, code = repo.blobs:resume(up.id)
      ok = up
    end
  end
  if ok then ok, msg, code = up:write(data:sub(half + 1)) end
  if not ok then return nil, msg, code end
  if at then wait_until(at) end
  return up:commit(digest_of(data), #data)
end
]]

local EPILOGUE = [[
drv:close()
for _, f in ipairs(fails) do print("FAIL w" .. wid .. " " .. f) end
local t = { "SUMMARY" }
local keys = {}
for k in pairs(counts) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. counts[k] end
print(table.concat(t, " "))
]]

-- Each scenario: the body of a child (after PRELUDE), how many children.
local SCENARIOS = {}

-- Defect 1: everyone pushes the same layer in the same round, into one
-- repository (odd children) or another (even ones); child 1 also mounts it
-- into a third while the commits race. Every commit must succeed, and a
-- reader of the blob, started right after a commit, must never see it
-- replaced (a replace would end its stream with io).
SCENARIOS.same_layer = { procs = 4, body = [[
local PERIOD = 0.12
local repo = reg:repository(wid % 2 == 1 and "conc/a" or "conc/b")
local mounted = reg:repository("conc/m")
local round = 0
while running() do
  round = round + 1
  local start = t0 + round * PERIOD
  local data = inv.payload(string.format("layer-%d-%d", seed, round), 90000 + (round * 7717) % 200000)
  local d, msg, code = upload(repo, data, round % 3 == 0, start)
  -- a slow reader of the blob, while the others' commits of it land: a
  -- commit that replaced the blob would end this stream with io
  if d then count "commits" pull_blob(repo, d.digest, "after commit", 0.03)
  else failure("round %d: commit: %s (%s)", round, tostring(msg), tostring(code)) end
  if wid == 1 then
    local m
    m, msg, code = mounted.blobs:mount("conc/b", digest_of(data))
    if m then count "mounts"
    elseif code == "blob_unknown" then count "mount_before_link"
    else failure("round %d: mount: %s (%s)", round, tostring(msg), tostring(code)) end
  end
  wait_until(start + PERIOD * 0.9)
end
counts.rounds = round
]] }

-- Several children re-point one tag among manifests pushed beforehand;
-- the last child reads it: never tag_unknown once it was set, and always a
-- manifest that exists.
SCENARIOS.same_tag = { procs = 4, body = [[
local repo = reg:repository("conc/tag")
if wid < 4 then
  local ds = {}
  for i = 1, 4 do
    local _, _, d = util.push_image(repo, string.format("cfg-%d-%d", wid, i), { "shared layer" })
    ds[i] = d
  end
  assert(repo.tags:tag("latest", ds[1]))
  wait_until(t0 + 0.5)
  while running() do
    local ok, msg, code = repo.tags:tag("latest", ds[rnd(#ds)])
    if ok then count "retags" else failure("tag: %s (%s)", tostring(msg), tostring(code)) end
  end
else
  wait_until(t0 + 0.5)
  while running() do
    local d, msg, code = repo.tags:get("latest")
    if not d then failure("tags:get(latest): %s (%s)", tostring(msg), tostring(code))
    else
      count "tag_reads"
      local m
      m, msg, code = repo.manifests:get(d)
      if m then count "manifest_reads"
      else failure("manifest %s of the tag: %s (%s)", d, tostring(msg), tostring(code)) end
    end
  end
end
]] }

-- Defect 2: in each round child 1 pushes a manifest, then at the round's
-- instant deletes it while child 2 tags it (tags:tag) and child 3 puts it
-- again with a tag (manifests:put{tag}), each after a random few ms. The
-- spec then checks that no tag of the repository points at a manifest
-- that does not exist.
SCENARIOS.tag_vs_delete = { procs = 3, body = [[
local PERIOD = 0.12
local repo = reg:repository("conc/del")
local round, rounds = 0, 0
while running() do
  -- rounds follow the clock, so that a process running late skips one
  -- rather than racing the others' next round with this one's manifest
  round = math.max(round + 1, math.floor((rs.clock() - t0) / PERIOD) + 1)
  rounds = rounds + 1
  wait_until(t0 + round * PERIOD)
  local start = t0 + round * PERIOD + 0.05
  local config = string.format("cfg-%d-%d", seed, round)
  -- written out by hand: every process must make the very same bytes
  -- (cjson's key order follows each process' own string hashing)
  local mt = util.DOCKER_MANIFEST
  local content = string.format('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s",' ..
    '"size":%d,"digest":"%s"},"layers":[]}', mt, util.DOCKER_CONFIG, #config, digest_of(config))
  local d = digest_of(content)
  if wid == 1 then
    assert(repo.blobs:put(config))
    local ok, msg, code = repo.manifests:put(content, mt)
    if not ok then failure("round %d: put: %s (%s)", round, tostring(msg), tostring(code)) end
  end
  -- the deleter draws from a wider range, so that a tag or a put is seen
  -- before, during and after the delete
  wait_until(start + rnd() * (wid == 1 and 0.03 or 0.01))
  if wid == 1 then
    local ok, msg, code = repo.manifests:delete(d)
    if ok then count "deleted"
    elseif code == "manifest_unknown" then count "delete_found_nothing"
    else failure("round %d: delete: %s (%s)", round, tostring(msg), tostring(code)) end
  elseif wid == 2 then
    local ok, msg, code = repo.tags:tag("t" .. round, d)
    if ok then count "tagged"
    elseif code == "manifest_unknown" then count "tag_refused"
    else failure("round %d: tag: %s (%s)", round, tostring(msg), tostring(code)) end
  else
    local ok, msg, code = repo.manifests:put(content, mt, { tag = "u" .. round })
    if ok then count "put_tagged"
    elseif code == "manifest_unknown" or code == "manifest_blob_unknown" then count "put_refused"
    else failure("round %d: put{tag}: %s (%s)", round, tostring(msg), tostring(code)) end
  end
end
counts.rounds = rounds
]] }

-- Pulls during re-pushes: two children push images to one tag (often the
-- very same image again, always sharing a base layer), two pull it: the
-- manifest the tag names, then every blob it names, read to the end and
-- checked. No pull may miss a blob of the manifest it has just read.
SCENARIOS.pull_repush = { procs = 4, body = [[
local repo = reg:repository("conc/pull")
local base = inv.payload("base-" .. seed, 300000)
if wid <= 2 then
  while running() do
    local v = rnd(3)
    local layer = inv.payload(string.format("layer-%d-%d", seed, v), 150000 + v * 1000)
    local config = string.format("config %d %d", seed, v)
    local ok, msg, code = true, nil, nil
    for _, data in ipairs { base, layer, config } do
      local d
      d, msg, code = upload(repo, data, rnd(4) == 1)
      if not d then ok = false break end
    end
    if ok then
      local content, mt = util.image(config, { base, layer })
      ok, msg, code = repo.manifests:put(content, mt, { tag = "latest" })
    end
    if ok then count "pushes" else failure("push: %s (%s)", tostring(msg), tostring(code)) end
  end
else
  while running() do
    local d, msg, code = repo.tags:get("latest")
    if d then
      local content
      content, msg, code = repo.manifests:get(d)
      if not content then failure("manifest %s: %s (%s)", d, tostring(msg), tostring(code))
      else
        local m = json.decode(content)
        pull_blob(repo, m.config.digest, "pull config")
        for _, l in ipairs(m.layers) do pull_blob(repo, l.digest, "pull layer") end
        count "pulls"
      end
    elseif code == "tag_unknown" then count "not_yet_tagged"
    else failure("tags:get: %s (%s)", tostring(msg), tostring(code)) end
  end
end
]] }

-- Uploads started by child 1 and finished by whichever of children 2 and
-- 3 resumes them first (ids pass through /coord), while child 4 lists the
-- uploads and the catalog. Child 1 also starts and cancels uploads in a
-- repository that must therefore never appear in the catalog.
SCENARIOS.uploads_resume = { procs = 4, body = [[
local NAME = "conc/up"
local repo = reg:repository(NAME)
local ghost = reg:repository("conc/ghost")
local function content(id) return inv.payload("up-" .. id, 70000 + #id * 1000) end
if wid == 1 then
  while running() do
    local up, msg, code = repo.blobs:create()
    local ok = up
    if up then
      local data = content(up.id)
      ok, msg, code = up:write(data:sub(1, math.floor(#data / 2)))
      if ok then ok, msg, code = up:close() end
      if ok then ok, msg, code = drv:put_content("/coord/" .. up.id, "") end
    end
    if ok then count "started" else failure("start: %s (%s)", tostring(msg), tostring(code)) end
    local g = ghost.blobs:create()
    if g then g:write("ghost") g:cancel() count "ghost_cancelled" end
    if counts.started and counts.started % 8 == 0 then wait_until(rs.clock() + 0.05) end
  end
elseif wid <= 3 then
  while running() do
    local ids = drv:list("/coord") or {}
    if #ids == 0 then wait_until(rs.clock() + 0.01) else
      local id = ids[rnd(#ids)]:match("([^/]+)$")
      local data = content(id)
      local up, msg, code = repo.blobs:resume(id)
      if not up then
        if code == "blob_upload_unknown" then count "resume_after_commit"
        elseif code == "io" and tostring(msg):find("another", 1, true) then count "resume_refused"
        else failure("resume %s: %s (%s)", id, tostring(msg), tostring(code)) end
      else
        local ok = true
        if up:size() == math.floor(#data / 2) then ok, msg, code = up:write(data:sub(math.floor(#data / 2) + 1)) end
        if ok then ok, msg, code = up:commit(digest_of(data), #data) end
        if ok then
          count "finished"
          drv:delete("/coord/" .. id)
        elseif code == "blob_upload_unknown" then count "finished_by_other"
        elseif code == "io" and tostring(msg):find("another", 1, true) then count "resume_refused"
        else failure("finish %s: %s (%s)", id, tostring(msg), tostring(code)) end
      end
    end
  end
else
  local updir = "/docker/registry/v2/repositories/" .. NAME .. "/_uploads"
  while running() do
    local list, msg, code = drv:list(updir)
    if list then count "upload_lists"
    elseif code ~= "not_found" then failure("list uploads: %s (%s)", tostring(msg), tostring(code)) end
    local names
    names, msg, code = reg:repositories()
    if not names then failure("catalog: %s (%s)", tostring(msg), tostring(code)) else
      count "catalogs"
      for _, n in ipairs(names) do
        if n == "conc/ghost" then failure("catalog lists a repository that only had uploads") end
      end
    end
  end
end
]] }

-- Catalog and tag pagination while child 1 adds repositories and tags:
-- every pass (pages of 3 repositories, of 4 tags) is strictly sorted and
-- holds everything the previous pass held.
SCENARIOS.pagination = { procs = 3, body = [[
local main = reg:repository("pg/main")
if wid == 1 then
  local i = 0
  while running() do
    i = i + 1
    local repo = reg:repository(string.format("pg/r%03d", i))
    local _, _, d = util.push_image(repo, "cfg " .. i, {}, { tag = "v1" })
    local ok, msg, code = true, nil, nil
    if i == 1 then _, _, d = util.push_image(main, "main cfg", {}) end
    if i > 1 then d = assert(main.tags:get("t001")) end
    ok, msg, code = main.tags:tag(string.format("t%03d", i), d)
    if ok then count "added" else failure("add %d: %s (%s)", i, tostring(msg), tostring(code)) end
  end
else
  local function pass(list, n)
    local all, last = {}, nil
    while true do
      local page, msg, code = list(n, last)
      if not page then
        if code ~= "name_unknown" then
          failure("page after %s: %s (%s)", tostring(last), tostring(msg), tostring(code))
        end
        return nil
      end
      for _, x in ipairs(page) do
        if last and x <= last then failure("page not sorted: %s after %s", x, last) end
        all[#all + 1] = x
        last = x
      end
      if #page < n then return all end
    end
  end
  local lists = {
    repos = function(n, last) return reg:repositories { n = n, last = last } end,
    tags = function(n, last) return main.tags:list { n = n, last = last } end,
  }
  local prev = { repos = {}, tags = {} }
  while running() do
    for kind, list in pairs(lists) do
      local all = pass(list, kind == "repos" and 3 or 4)
      if all then
        count(kind .. "_passes")
        local have = {}
        for _, x in ipairs(all) do have[x] = true end
        for _, x in ipairs(prev[kind]) do
          if not have[x] then failure("%s: %s listed by a pass, missing from the next", kind, x) end
        end
        prev[kind] = all
      end
    end
  end
end
]] }

local ORDER = { "same_layer", "same_tag", "tag_vs_delete", "pull_repush", "uploads_resume", "pagination" }

-- Runs a scenario's children; returns the failures and the summed counts.
local function run(name, ns, seed)
  local sc = SCENARIOS[name]
  local t0 = require("regstore").clock() + 1.5
  local kids = {}
  for w = 1, sc.procs do
    kids[w] = inv.spawn(PRELUDE .. sc.body .. EPILOGUE,
      { ns, tostring(w), tostring(SECS), string.format("%.6f", t0), tostring(seed),
        tostring(inv.chunk(CHUNKS[(w - 1) % #CHUNKS + 1])) }, nil, nil, SECS + 90)
  end
  local failures, totals = {}, {}
  for w, k in ipairs(kids) do
    local out, rc = helper.wait(k)
    local summary = out:match("SUMMARY([^\n]*)")
    if rc ~= 0 or not summary then
      failures[#failures + 1] = string.format("%s child %d: %s: %s", name, w, inv.exit_text(rc), out)
    else
      for key, v in summary:gmatch("(%S+)=(%d+)") do totals[key] = (totals[key] or 0) + tonumber(v) end
      for line in out:gmatch("FAIL ([^\n]*)") do failures[#failures + 1] = name .. ": " .. line end
    end
  end
  local t = {}
  for _, key in ipairs(helper.keys(totals)) do t[#t + 1] = key .. "=" .. totals[key] end
  io.stderr:write(string.format("\nregistry_concurrency %s: %d processes, %d s: %s\n", name, sc.procs,
    SECS, table.concat(t, " ")))
  return failures, totals
end

describe("registry under concurrent processes #cluster #stress", function()
  local seed = tonumber(os.getenv "REGSTORE_SEED") or os.time()
  local registry = require "regstore.registry"
  io.stderr:write(string.format("\nregistry_concurrency: seed %d\n", seed))

  for _, name in ipairs(ORDER) do
    it(name .. " keeps the registry's promises, and leaks nothing", function()
      local ns = helper.namespace("conc")
      local failures, totals = run(name, ns, seed)
      local drv = inv.connect(ns, 131072)
      local reg = registry.new(drv)
      if name == "same_layer" then
        assert.is_true((totals.commits or 0) > 0, "no commit ran")
        -- every blob file holds the bytes its path names (content addressed)
        local files = 0
        drv:walk("/docker/registry/v2/blobs", function(info)
          if info.is_dir then return end
          files = files + 1
          local data = drv:get_content(info.path)
          local hex = info.path:match("/(%x+)/data$")
          if not data or require("regstore").sha256():update(data):hexdigest() ~= hex then
            failures[#failures + 1] = "blob file does not hold its digest's bytes: " .. info.path
          end
        end)
        io.stderr:write(string.format("registry_concurrency same_layer: %d blob files, each whole\n", files))
      elseif name == "tag_vs_delete" then
        local repo = reg:repository("conc/del")
        local dangling, kept = 0, 0
        for _, t in ipairs(repo.tags:list() or {}) do
          local d = assert(repo.tags:get(t))
          if repo.manifests:get(d) then kept = kept + 1 else
            dangling = dangling + 1
            failures[#failures + 1] = string.format("tag %s points at deleted manifest %s", t, d)
          end
        end
        io.stderr:write(string.format("registry_concurrency tag_vs_delete: %d tags kept (manifest exists), " ..
          "%d dangling\n", kept, dangling))
      end
      for _, p in ipairs { "/docker", "/coord" } do
        local ok, msg, code = drv:delete(p)
        if not ok and code ~= "not_found" then
          failures[#failures + 1] = string.format("delete %s: %s (%s)", p, tostring(msg), tostring(code))
        end
      end
      for _, f in ipairs(inv.only_root(ns)) do failures[#failures + 1] = f end
      drv:close()
      inv.assert_none(failures)
    end)
  end
end)
