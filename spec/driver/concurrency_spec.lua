-- Concurrency: several processes on the same directory and the
-- same paths, each with a connection of its own.
--   - 8 processes x 500 creates in one directory leave exactly 4,000 entries,
--     every one reading back what its creator wrote;
--   - 8 processes putting different contents to one path leave one whole
--     version of it, one blob, and nothing for fsck;
--   - processes racing moves, deletes and puts over the same few paths leave
--     every listed name readable whole, and a tree the repair step brings
--     back to a clean fsck; after deleting everything only "/" is left.
-- REGSTORE_CONCURRENCY_CREATES sets the creates per process (default 500).
local helper = require "helper"

local PROCS = 8
local CREATES = tonumber(os.getenv "REGSTORE_CONCURRENCY_CREATES") or 500

-- Starts PROCS children running source with (ns, id, extra...); returns
-- their outputs after all ended, asserting each exited 0.
local function run_children(source, ns, extra)
  local hs = {}
  for id = 1, PROCS do
    local args = { ns, tostring(id) }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    hs[id] = helper.spawn_lua(source, args)
  end
  local outs = {}
  for id = 1, PROCS do
    local out, rc = helper.wait(hs[id])
    assert(rc == 0, "child " .. id .. " exited " .. tostring(rc) .. ":\n" .. out)
    outs[id] = out
  end
  return outs
end

local findings = helper.finding_lines

local CREATOR = [[
local rs = require "regstore"
local ns, id, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = 4096 })
local failed = {}
for i = 1, n do
  local p = string.format("/dir/w%d-%04d", id, i)
  local ok, msg = d:put_content(p, p)
  if not ok then failed[#failed + 1] = p .. ": " .. tostring(msg) end
end
d:close()
if #failed > 0 then io.write(table.concat(failed, "\n")) os.exit(1) end
]]

-- Contents that say who wrote them and how long they are: a version read
-- back is whole only if every record in it is of one writer and sequence.
local PUTTER = [[
local rs = require "regstore"
local ns, id, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = 4096 })
math.randomseed(id * 7919)
local failed = {}
for i = 1, n do
  local tag = string.format("<w%d-%d>", id, i)
  local reps = math.random(1, 3000)   -- up to ~30 KiB: 1 to 8 chunks
  local data = tag:rep(reps) .. "#" .. reps
  local ok, msg = d:put_content("/one/f", data)
  if not ok then failed[#failed + 1] = tostring(msg) end
end
d:close()
if #failed > 0 then io.write(table.concat(failed, "\n")) os.exit(1) end
]]

local RACER = [[
local rs = require "regstore"
local ns, id, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns,
  chunk_size = ({ 4096, 65536 })[id % 2 + 1] })
math.randomseed(id * 104729)
local P = { "/r/a", "/r/b", "/r/c", "/r/s/d", "/r/s/e", "/q/f" }
local function pick() return P[math.random(#P)] end
local bad, seq = {}, 0
local function check(what, ok, msg, code)
  if not ok and code ~= "not_found" then
    bad[#bad + 1] = what .. ": " .. tostring(msg) .. " (" .. tostring(code) .. ")"
  end
end
for _ = 1, n do
  local k = math.random(10)
  if k <= 3 then
    seq = seq + 1
    local tag = string.format("<w%d-%d>", id, seq)
    local reps = math.random(1, 2000)
    check("put", d:put_content(pick(), tag:rep(reps) .. "#" .. reps))
  elseif k <= 6 then
    check("move", d:move(pick(), pick()))
  elseif k <= 8 then
    check("delete", d:delete(pick()))
  else
    local p = pick()
    local data, msg, code = d:get_content(p)
    if data then
      local tag, reps = data:match("^(<w%d+%-%d+>).-#(%d+)$")
      if not tag or tag:rep(tonumber(reps)) .. "#" .. reps ~= data then bad[#bad + 1] = "torn read of " .. p end
    else
      check("get", nil, msg, code)
    end
  end
end
d:close()
if #bad > 0 then io.write(table.concat(bad, "\n")) os.exit(1) end
]]

local function whole(data)
  local tag, reps = data:match("^(<w%d+%-%d+>).-#(%d+)$")
  return tag ~= nil and tag:rep(tonumber(reps)) .. "#" .. reps == data
end

describe("concurrency: several processes, one directory, one path #cluster", function()
  local drv, ns

  before_each(function() drv, ns = helper.connect { chunk_size = 65536 } end)
  after_each(function()
    if drv then
      helper.clear(drv)
      drv:close()
    end
  end)

  it(PROCS .. " processes x " .. CREATES .. " creates in one directory leave exactly "
    .. PROCS * CREATES .. " entries", function()
    local t0 = os.time()
    run_children(CREATOR, ns, { tostring(CREATES) })
    local names = assert(drv:list("/dir"))
    assert.are.equal(PROCS * CREATES, #names)
    local seen = {}
    for _, p in ipairs(names) do seen[p] = true end
    for id = 1, PROCS do
      for i = 1, CREATES do
        local p = string.format("/dir/w%d-%04d", id, i)
        assert(seen[p], "missing " .. p)
      end
    end
    -- A sample reads back what its creator wrote; walk sees the same set.
    for i = 1, PROCS * CREATES, 97 do assert.are.equal(names[i], drv:get_content(names[i])) end
    local walked = 0
    assert(drv:walk("/dir", function() walked = walked + 1 end))
    assert.are.equal(PROCS * CREATES, walked)
    assert.are.same({}, findings(assert(drv:fsck { grace = 0 })))
    print(string.format("\n# concurrency: %d creates by %d processes in %d s, %d entries",
      PROCS * CREATES, PROCS, os.time() - t0, #names))
    assert.is_true(drv:delete("/dir"))
    assert.are.same({}, helper.leftovers(ns))
  end)

  it(PROCS .. " processes putting to one path leave one whole version and no leaked chunk", function()
    local n = 40
    run_children(PUTTER, ns, { tostring(n) })
    local data = assert(drv:get_content("/one/f"))
    assert(whole(data), "the path holds a torn version (" .. #data .. " bytes)")
    local _, blobs = helper.blobs(ns)
    assert.are.equal(1, blobs, "blobs left in RADOS")
    assert.are.same({}, findings(assert(drv:fsck { grace = 0 })))
    assert.is_true(drv:delete("/one"))
    assert.are.same({}, helper.leftovers(ns))
  end)

  it("moves, deletes and puts racing on the same paths leave a tree fsck finds clean", function()
    local n = 150
    run_children(RACER, ns, { tostring(n) })
    -- Every name there reads whole (no name without data, no torn file).
    local files = 0
    assert(drv:walk("/", function(info)
      if not info.is_dir then
        files = files + 1
        local data = assert(drv:get_content(info.path))
        assert(whole(data), "torn content at " .. info.path)
      end
    end))
    -- What a race may leave (a reference of a move that lost, a blob whose
    -- release raced) is the repair step's; nothing may be a name without
    -- data or damaged metadata, and one repair leaves fsck clean.
    local first = assert(drv:fsck { grace = 0, repair = true })
    for _, f in ipairs(first.findings) do
      assert(f.kind ~= "dangling_name" and f.kind ~= "bad_metadata" and f.kind ~= "dangling_dir",
        "after the race: " .. table.concat(findings(first), "\n"))
    end
    assert.are.same({}, findings(assert(drv:fsck { grace = 0 })))
    print(string.format("\n# concurrency: %d racing ops by %d processes, %d files left, "
      .. "%d leftovers repaired", n * PROCS, PROCS, files, first.repaired))
    helper.clear(drv)
    assert(drv:fsck { grace = 0, repair = true })
    assert.are.same({}, helper.leftovers(ns))
  end)
end)
