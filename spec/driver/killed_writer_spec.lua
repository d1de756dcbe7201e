-- Crash consistency with the command: a child process streams a
-- file through a driver writer (several writes) and commits; the parent
-- SIGKILLs it at a random point of the stream or of the commit, 20 times.
-- After each kill, a reader with another chunk_size finds the path holding
-- its previous content or the new one whole (self-describing records,
-- spec/support/invariants.lua), never a torn file. Then `regstore fsck
-- --json` (a subprocess) reports what the kills left behind, `fsck --repair
-- --grace 0s` removes it, a second fsck is clean, and every file committed
-- before reads back intact. The seed is printed; REGSTORE_SEED replays it.
local helper = require "helper"
local regstore = require "regstore"
local inv = require "support.invariants"
local cli = require "fixtures.cli"
local json = require "cjson.safe"

local Q = helper.quote
local KILLS = 20
local WRITES = 6 -- records per version, one write each
local RECORD = 90000 -- payload bytes per record: a version spans several 64 KiB chunks

-- The child: connects with 64 KiB chunks, tells its pid's story on stdout
-- line by line (the parent kills it after one of these lines), and after
-- DONE lingers so that the parent's kill always meets a live process.
local CHILD = [=[
local regstore = require "regstore"
local inv = require "support.invariants"
local pool, ns, path, tag, writes, record = arg[1], arg[2], arg[3], arg[4], tonumber(arg[5]), tonumber(arg[6])
io.stdout:setvbuf("no")
local drv = assert(regstore.connect { pool = pool, namespace = ns, chunk_size = inv.chunk(65536) })
local w = assert(drv:writer(path))
for k = 1, writes do
  io.stdout:write("W", k, "\n")
  assert(w:write(inv.record(tag .. "." .. k, record)))
end
io.stdout:write("COMMIT\n")
assert(w:commit())
io.stdout:write("DONE\n")
os.execute("exec sleep 2 >/dev/null 2>&1") -- not holding the parent's pipe open
]=]

-- The new content a child writes.
local function version(tag)
  local t = {}
  for k = 1, WRITES do t[k] = inv.record(tag .. "." .. k, RECORD) end
  return table.concat(t)
end

-- Starts the child through a shell that prints its pid and execs the
-- interpreter (so that pid is the Lua process); returns the pipe and pid.
local function spawn(file, args)
  local pre = string.format("package.path=%q package.cpath=%q", package.path, package.cpath)
  local parts = { Q(helper.lua_bin()), "-e", Q(pre), Q(file) }
  for _, a in ipairs(args) do parts[#parts + 1] = Q(a) end
  local pipe = assert(io.popen("sh -c " .. Q("echo PID $$; exec " .. table.concat(parts, " ")) .. " 2>&1"))
  local pid = tonumber((pipe:read("*l") or ""):match("^PID (%d+)$"))
  assert(pid, "the child did not say its pid")
  return pipe, pid
end

describe("crash consistency: SIGKILL of a streaming writer, then regstore fsck #cluster", function()
  it("leaves old or new content whole; fsck finds and repairs what the kills left", function()
    local seed = tonumber(os.getenv "REGSTORE_SEED" or "") or os.time()
    print(string.format("\n# crash kill: REGSTORE_SEED=%d", seed))
    math.randomseed(seed)
    local drv, ns = helper.connect()
    local reader = inv.connect(ns, 131072) -- another chunk_size than the writers'
    -- committed before: must survive everything
    local before = {}
    for i = 1, 3 do
      before["/keep/f" .. i] = inv.record("keep" .. i, 70000 * i)
      assert(drv:put_content("/keep/f" .. i, before["/keep/f" .. i]))
    end
    local paths = { "/crash/a", "/crash/b/deep" }
    local current = {}
    for _, p in ipairs(paths) do
      current[p] = version("init" .. #p)
      assert(drv:put_content(p, current[p]))
    end
    local file = os.tmpname()
    local fh = assert(io.open(file, "w"))
    fh:write(CHILD)
    fh:close()

    local kills, torn, failures = 0, 0, {}
    local last_kill = regstore.time()
    local outcomes = { ["stream old"] = 0, ["stream new"] = 0, ["commit old"] = 0, ["commit new"] = 0 }
    for i = 1, KILLS do
      local path = paths[math.random(#paths)]
      local tag = string.format("v%d", i)
      -- where to kill: half the time 0-4 ms after one of the writes
      -- began, half the time 0-5 ms after COMMIT (in the commit or just
      -- past it: a commit takes a few ms on the test cluster)
      local marker, delay
      if math.random(2) == 1 then
        marker, delay = "W" .. math.random(WRITES), math.random(0, 4) / 1000
      else
        marker, delay = "COMMIT", math.random(0, 5) / 1000
      end
      local pipe, pid = spawn(file, { helper.pool(), ns, path, tag, tostring(WRITES), tostring(RECORD) })
      local seen = {}
      for line in pipe:lines() do
        seen[#seen + 1] = line
        if line == marker or line == "DONE" then break end
      end
      -- one shell for the pause and the kill: a fork less between them
      local _, rc = helper.sh((delay > 0 and "sleep " .. delay .. "; " or "") .. "kill -9 " .. pid .. " 2>/dev/null")
      local rest = pipe:read("*a")
      pipe:close()
      last_kill = regstore.time()
      assert(rc == 0, "the child was not there to kill: " .. table.concat(seen, " ") .. rest)
      kills = kills + 1
      -- the path reads its previous version or the new one, whole
      local new = version(tag)
      local data, msg, code = inv.read_both(reader, path, 49152)
      local where = marker == "COMMIT" and "commit" or "stream"
      if data == current[path] then
        outcomes[where .. " old"] = outcomes[where .. " old"] + 1
      elseif data == new then
        outcomes[where .. " new"] = outcomes[where .. " new"] + 1
        current[path] = new
      else
        torn = torn + 1
        failures[#failures + 1] = string.format("kill %d (%s +%.3fs) of %s: %s %s", i, marker, delay, path,
          data and inv.describe(data) or tostring(msg), tostring(code))
      end
    end
    os.remove(file)
    inv.assert_none(failures)
    -- A killed writer's last signs of life are chunk mtimes, whole seconds
    -- that fsck takes at their second's end (never older than the write):
    -- with --grace 0s, a writer killed in this very second still counts as
    -- alive, and a second run a moment later, in the next second, would
    -- find what the repair left. One second after the last kill, none is.
    local wait = last_kill + 1.05 - regstore.time()
    if wait > 0 then regstore.sleep(wait) end

    -- the command, as a subprocess with the admin's credentials
    local G = string.format("--pool %s --namespace %s ", Q(helper.pool()), Q(ns))
    local out, err, rc = cli.run(G .. "fsck --grace 0s --json")
    local doc = json.decode(out)
    assert.is_table(doc, out .. err)
    local found = #doc.findings
    assert.equal(found > 0 and 1 or 0, rc, out .. err)
    out, err, rc = cli.run(G .. "fsck --repair --grace 0s --json")
    doc = json.decode(out)
    assert.is_table(doc, out .. err)
    assert.equal(0, rc, out .. err)
    -- (the counts may differ: a repair can settle several findings at once)
    for _, f in ipairs(doc.findings) do assert.is_true(f.repaired, out) end
    assert.is_true(found == 0 or doc.repaired > 0, out)
    out, err, rc = cli.run(G .. "fsck --grace 0s --json")
    assert.equal(0, rc, out .. err)
    assert.same({}, json.decode(out).findings)

    -- everything committed reads back intact, through either chunk size
    for p, want in pairs(before) do
      assert.equal(want, inv.read_both(reader, p, 65536), p)
      assert.equal(want, inv.read_both(drv, p, 30000), p)
    end
    for p, want in pairs(current) do
      assert.equal(want, inv.read_both(reader, p, 65536), p)
    end
    print(string.format("# crash kill: %d kills (in the stream: %d old kept, %d new whole; at the commit: %d old"
      .. " kept, %d new whole), torn = %d; fsck found %d, repaired %d, then clean", kills, outcomes["stream old"],
      outcomes["stream new"], outcomes["commit old"], outcomes["commit new"], torn, found, doc.repaired))
    for _, f in ipairs(inv.delete_repair_only_root(drv, ns)) do error(f) end
    reader:close()
    drv:close()
  end)
end)
