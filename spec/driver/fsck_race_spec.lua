-- drv:fsck{repair = true, grace = 0}
-- running while other processes work on the namespace must never destroy
-- what they committed.  fsck used to decide `unreferenced_blob` from the
-- names it had collected while scanning the directories one by one: a
-- move across directories between two of those reads (the destination
-- read before the link, the source after the unlink) made a named blob
-- look unnamed, and the repair removed its chunks.
--
-- It then failed about 1 run in 4 on false reports: a putter's file
-- replaced during an fsck run, its old blob being released (references
-- cleared, chunks removed, chunk 0 last) while fsck counted the chunks it
-- had seen named, came out as bad_metadata ("... chunks are missing: data
-- is lost") or dangling_name.  fsck now reports lost data only when a name
-- still points at the blob after its data was seen missing.
--
-- MOVERS children move their files back and forth between directories
-- (the way an upload's commit and gc's parking do), PUTTERS children put
-- new files, replace them and commit writers; the parent runs fsck with
-- repair and grace 0 back to back meanwhile.  Afterwards every file whose
-- last operation succeeded reads back byte for byte (self-describing
-- contents, spec/support/invariants.lua), no file a child lost track of
-- exists, and a last fsck with nothing running finds nothing to repair.
-- REGSTORE_FSCK_RACE_SECS sets how long the children work (default 10).
--
-- The repair's own new steps are crash points (fsck.extra_claimed: chunks
-- past a size being cut under fsck's claim; fsck.chunk0_removed: an
-- unreferenced blob's chunk 0 gone, its other chunks not yet): an fsck
-- killed at each leaves what the next repairs finish, and a named file
-- whole.
local helper = require "helper"
local inv = require "support.invariants"

local SECS = tonumber(os.getenv "REGSTORE_FSCK_RACE_SECS") or 10
local MOVERS, PUTTERS = 3, 2

-- Common to both kinds of children: connect, and report what is where.
local PRELUDE = [[
local rs = require "regstore"
local inv = require "support.invariants"
local ns, id, secs = arg[1], tonumber(arg[2]), tonumber(arg[3])
local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns,
  chunk_size = ({ 4096, 65536 })[id % 2 + 1] })
local deadline = os.time() + secs
local where = {}   -- tag -> path holding it (committed), or false (uncertain)
local count = { ok = 0, failed = 0 }
local function report()
  for tag, path in pairs(where) do
    if path then io.write("file ", path, " ", tag, "\n") end
  end
  io.write(string.format("count ok=%d failed=%d\n", count.ok, count.failed))
end
-- After a failed call: where the data is now, looked up at the candidates.
local function find(tag, paths)
  for _, p in ipairs(paths) do
    local data = d:get_content(p)
    if data then
      local tags = inv.parse(data)
      if tags and tags[1] == tag then return p end
    end
  end
  return false
end
]]

local MOVER = PRELUDE .. [[
-- Files of 1 to 40 KiB (several chunks with 4 KiB stripes), each moved
-- between three directories of this child.
local dirs = { "/up/" .. id .. "/", "/blobs/" .. id .. "/", "/gc/" .. id .. "/" }
local files = {}
for i = 1, 4 do
  local tag = string.format("m%d-%d", id, i)
  local path = dirs[1] .. "f" .. i
  assert(d:put_content(path, inv.record(tag, 1024 * (1 + (i * 13 + id) % 40))))
  files[i] = { tag = tag, path = path, name = "f" .. i }
  where[tag] = path
end
math.randomseed(id * 7919)
while os.time() < deadline do
  local f = files[math.random(#files)]
  local to = dirs[math.random(#dirs)] .. f.name
  if to ~= f.path then
    local ok, msg = d:move(f.path, to)
    if ok then
      count.ok = count.ok + 1
      f.path = to
    else
      count.failed = count.failed + 1
      io.write("move failed: ", tostring(msg), "\n")
      local cands = {}
      for _, dir in ipairs(dirs) do cands[#cands + 1] = dir .. f.name end
      f.path = find(f.tag, cands)
      if not f.path then
        io.write("LOST ", f.tag, " after a failed move\n")
        break
      end
    end
    where[f.tag] = f.path
  end
end
report()
]]

local PUTTER = PRELUDE .. [[
-- New files put whole, replaced, committed through writers; each version a
-- new tag, so a reader can tell which one it got.
math.randomseed(id * 104729)
local n = 0
while os.time() < deadline do
  n = n + 1
  local slot = math.random(6)
  local path = string.format("/new/%d/s%d", id, slot)
  local tag = string.format("p%d-%d", id, n)
  local data = inv.record(tag, math.random(1, 90) * 1024)
  local old
  for t, p in pairs(where) do if p == path then old = t end end
  local ok, msg
  if n % 3 == 0 then
    local w
    w, msg = d:writer(path)
    if w then
      ok, msg = w:write(data)
      if ok then ok, msg = w:commit() else w:cancel() end
    end
  else
    ok, msg = d:put_content(path, data)
  end
  if ok then
    count.ok = count.ok + 1
    if old then where[old] = nil end
    where[tag] = path
  else
    -- A writer whose record fsck reclaimed (grace 0: no writer counts as
    -- alive) fails; the old version must still be there whole.
    count.failed = count.failed + 1
    if old and not find(old, { path }) then
      io.write("LOST ", old, " after a failed write of ", tag, ": ", tostring(msg), "\n")
      where[old] = nil
    end
  end
end
report()
]]

describe("fsck --repair --grace 0 while others work", function()
  it("never destroys what moves, puts and writer commits committed", function()
    local drv, ns = helper.connect { chunk_size = 65536 }
    local kids = {}
    for id = 1, MOVERS do kids[#kids + 1] = inv.spawn(MOVER, { ns, tostring(id), tostring(SECS) }) end
    for id = MOVERS + 1, MOVERS + PUTTERS do
      kids[#kids + 1] = inv.spawn(PUTTER, { ns, tostring(id), tostring(SECS) })
    end
    -- fsck back to back while the children work (and a little longer).
    local runs, repaired, kinds, errors = 0, 0, {}, {}
    local stop = helper.now() + SECS + 1
    while helper.now() < stop do
      local report, msg = drv:fsck { repair = true, grace = 0 }
      runs = runs + 1
      if report then
        repaired = repaired + report.repaired
        for _, f in ipairs(report.findings) do
          kinds[f.kind] = (kinds[f.kind] or 0) + 1
          if f.kind == "dangling_name" or f.kind == "bad_metadata" then
            errors[#errors + 1] = string.format("fsck found %s %s %s: %s", f.kind, f.object, f.path, f.detail)
          end
        end
      else
        errors[#errors + 1] = "fsck failed: " .. tostring(msg)
      end
    end
    local files, moves, failed = {}, 0, 0
    for i, h in ipairs(kids) do
      local out, rc = helper.wait(h)
      if rc ~= 0 then errors[#errors + 1] = "child " .. i .. " " .. inv.exit_text(rc) .. ":\n" .. out end
      for line in out:gmatch("[^\n]+") do
        local path, tag = line:match("^file (%S+) (%S+)$")
        if path then files[path] = tag end
        local ok, bad = line:match("^count ok=(%d+) failed=(%d+)$")
        if ok then
          moves = moves + tonumber(ok)
          failed = failed + tonumber(bad)
        end
        if line:match("^LOST") then errors[#errors + 1] = "child " .. i .. ": " .. line end
      end
    end
    local kind_list = {}
    for _, k in ipairs(helper.keys(kinds)) do kind_list[#kind_list + 1] = k .. "=" .. kinds[k] end
    print(string.format("\nfsck race: %d calls succeeded (%d failed), %d fsck runs, %d repairs (%s), %d files",
      moves, failed, runs, repaired, table.concat(kind_list, " "), #helper.keys(files)))
    -- Every file committed last reads back whole, as the version committed.
    for _, path in ipairs(helper.keys(files)) do
      local data, msg = inv.read_both(drv, path)
      local tags = data and inv.parse(data)
      if not data then
        errors[#errors + 1] = string.format("%s (%s): %s", path, files[path], tostring(msg))
      elseif not tags or #tags ~= 1 or tags[1] ~= files[path] then
        errors[#errors + 1] = string.format("%s holds %s, not %s", path, inv.describe(data), files[path])
      end
    end
    -- Quiet now: one repair, then nothing left to find.
    assert(drv:fsck { repair = true, grace = 0 })
    local last = assert(drv:fsck { grace = 0 })
    for _, f in ipairs(last.findings) do
      errors[#errors + 1] = string.format("after the runs: %s %s %s: %s", f.kind, f.object, f.path, f.detail)
    end
    helper.clear(drv)
    assert(drv:fsck { repair = true, grace = 0 })
    local left = helper.leftovers(ns)
    drv:close()
    assert.are.same({}, errors)
    assert.are.same({}, left)
  end)

  it("an fsck killed at its own steps leaves what the next repair finishes", function()
    local cpath, why = inv.crash_cpath()
    if not cpath then
      pending(why)
      return
    end
    local drv, ns = helper.connect { chunk_size = 4096 }
    -- An unreferenced blob of 5 chunks: a put killed right after its seal.
    local PUT = [[
      local rs = require "regstore"
      local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = arg[1], chunk_size = 4096 })
      d:put_content("/x/lost", string.rep("a", 20000))
    ]]
    local out, rc = inv.run(PUT, { ns }, { REGSTORE_CRASH_AT = "put.sealed" }, cpath)
    assert(rc == 86, "put: " .. inv.exit_text(rc) .. ": " .. out)
    -- A named blob with a chunk past its size (an appender's leftover).
    local data = inv.record("kept", 10000)
    assert(drv:put_content("/y/f", data))
    local id = helper.omap(ns, "/y").f
    assert(helper.is_blob_id(id), tostring(id))
    helper.rados(ns, "put " .. helper.quote(id .. "-5") .. " /etc/hostname")
    local FSCK = [[
      local rs = require "regstore"
      local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = arg[1], chunk_size = 4096 })
      assert(d:fsck { repair = true, grace = 0 })
    ]]
    for _, point in ipairs { "fsck.extra_claimed", "fsck.chunk0_removed" } do
      out, rc = inv.run(FSCK, { ns }, { REGSTORE_CRASH_AT = point }, cpath)
      assert(rc == 86, point .. ": " .. inv.exit_text(rc) .. ": " .. out)
    end
    -- The next repairs finish the work: the claim left, then the chunks.
    local runs, report = 0
    repeat
      runs = runs + 1
      report = assert(drv:fsck { repair = true, grace = 0 })
    until report.findings[1] == nil or runs == 4
    assert.are.same({}, report.findings)
    assert.are.equal(data, drv:get_content("/y/f"))
    assert.is_nil(drv:stat("/x/lost"))
    helper.clear(drv)
    assert(drv:fsck { repair = true, grace = 0 })
    local left = helper.leftovers(ns)
    drv:close()
    assert.are.same({}, left)
  end)
end)
