-- A failing OSD, stopped (the engine's part): the cluster's only OSD is
-- stopped (SIGSTOP, through the pid file of the cluster this spec runs on)
-- in the middle of streams -- a reader handing out a file, a writer
-- sending one -- and during a paged listing of a large directory, a walk,
-- fsck, and reader and writer opens.  Every call as a whole must return
-- "timeout" (nil, a message naming the path, "timeout") within the
-- connection's timeout plus a second, never hang; after SIGCONT calls
-- succeed again, and everything committed before reads back intact.
--
-- SIGSTOP/SIGCONT only, no SIGKILL and restart: the test cluster's OSD is a
-- memstore OSD, which keeps objects in memory only -- a killed OSD comes
-- back empty (or not at all: its store has no superblock on disk), so a
-- restart would test memstore, not regstore.  Each stop is short (a
-- watchdog sends SIGCONT after TIMEOUT + 2 s whatever happens; see
-- spec/support/osd.lua).
local regstore = require "regstore"
local helper = require "helper"

local KiB, MiB = helper.KiB, helper.MiB
local TIMEOUT = 2
local STOP_MAX = TIMEOUT + 2
local clock = regstore.clock

describe("a stopped OSD: every call returns timeout in time, nothing is lost #cluster", function()
  local drv, ns
  local report, failed, void = {}, false, 0
  local osd -- the stopper, once connected

  local function stop() osd:stop() end
  local function resume()
    if not osd or not osd.is_stopped then return end
    osd:resume()
    os.execute("sleep 0.5") -- the OSD catches up before the next stop
  end

  -- A wrong answer given while the OSD was running again (another process
  -- resumed it) proves nothing: reported, and more than two fail the spec.
  local function voided(line)
    -- (a stop its watchdog ended is the spec's own)
    if osd:stopped() or clock() - osd.t_stop >= STOP_MAX - 0.1 then return nil end
    void = void + 1
    if void > 2 then failed = true end
    return line .. "  (the OSD was running again: resumed by another process; not counted)"
  end

  -- A call made while the OSD is stopped: must fail with timeout in time.
  local function expect_timeout(what, subject, f, ...)
    local t0 = clock()
    local ok, msg, code = f(...)
    local dt = clock() - t0
    local got = type(ok) == "string" and #ok .. " bytes" or tostring(ok)
    local line = string.format("%s: %.2f s, %s, %s, %s", what, dt, got, tostring(msg), tostring(code))
    local good = ok == nil and code == "timeout" and type(msg) == "string"
      and (not subject or msg:find(subject, 1, true))
    local void_line = not good and dt <= TIMEOUT + 1 and voided(line)
    if void_line then
      line = void_line
    elseif dt > TIMEOUT + 1 or not good then
      failed = true
      line = line .. "  <-- expected nil, msg naming " .. tostring(subject) .. ", \"timeout\" within "
        .. (TIMEOUT + 1) .. " s"
    end
    report[#report + 1] = line
    return ok, msg, code
  end

  -- Calls a stream step until it fails (the stop reaches it once what was
  -- in flight before is used up): each step in time, the failure a timeout.
  local function stream_until_timeout(what, subject, step, max_steps)
    for i = 1, max_steps do
      local t0 = clock()
      local ok, msg, code = step()
      local dt = clock() - t0
      if dt > TIMEOUT + 1 then
        failed = true
        report[#report + 1] = string.format("%s: step %d took %.2f s", what, i, dt)
      end
      if not ok then
        local good = code == "timeout" and type(msg) == "string" and msg:find(subject, 1, true)
        report[#report + 1] = string.format("%s: step %d: %.2f s, %s, %s%s", what, i, dt, tostring(msg),
          tostring(code), good and "" or "  <-- expected a timeout naming " .. subject)
        if not good then failed = true end
        return
      end
    end
    local line = what .. ": " .. max_steps .. " steps without a failure while the OSD was stopped"
    report[#report + 1] = voided(line) or line
    if report[#report] == line then failed = true end
  end

  setup(function()
    drv, ns = helper.connect { chunk_size = 64 * KiB, timeout = TIMEOUT, window = 4 }
    osd = require("support.osd").stopper(STOP_MAX)
  end)
  teardown(function()
    resume()
    if drv then
      helper.clear(drv)
      drv:close()
    end
    print(string.format("\n# failing OSD: %d stops of the OSD, every call bounded by timeout + 1 s",
      osd and osd.stops or 0))
  end)

  it("reads, writes, listings, walk and fsck time out; committed data survives", function()
    finally(resume)
    -- Committed before the faults: a 4 MiB file, small files, a directory
    -- of 2,100 entries (three listing pages).
    local big = helper.bytes(4 * MiB, 91)
    assert.is_true(drv:put_content("/k/big", big))
    local small = {}
    for i = 1, 20 do
      small[i] = helper.bytes(i * 997, i)
      assert.is_true(drv:put_content("/k/s" .. i, small[i]))
    end
    for i = 1, 2100 do assert.is_true(drv:put_content(string.format("/many/e%05d", i), "e")) end

    -- A reader in the middle of the big file: what it asked for ahead is
    -- used up, then a read has to wait for the stopped OSD.
    local r = assert(drv:reader("/k/big"))
    assert(r:read(256 * KiB))
    stop()
    stream_until_timeout("reader:read mid-stream", "/k/big", function() return r:read(64 * KiB) end, 64)
    resume()
    r:close()

    -- A writer in the middle of a stream: its window fills, then a write
    -- has to wait.
    local wr = assert(drv:writer("/k/stream"))
    assert(wr:write(helper.bytes(512 * KiB, 92)))
    stop()
    local chunk = helper.bytes(64 * KiB, 93)
    stream_until_timeout("writer:write mid-stream", "/k/stream", function() return wr:write(chunk) end, 64)
    resume()
    -- Once the OSD is back, the writer that timed out can still be cancelled.
    assert.is_true(wr:cancel())

    -- Listings, walk, fsck, opens and whole-file calls.
    local calls = {
      { "list of 2,100 entries", "/many", drv.list, drv, "/many" },
      { "list page", "/many", drv.list, drv, "/many", { after = "e01000", n = 1500 } },
      { "walk", "/", drv.walk, drv, "/", function() end },
      { "fsck", "/", drv.fsck, drv, { grace = 0 } },
      { "reader open", "/k/big", drv.reader, drv, "/k/big", 1000 },
      { "writer open (append)", "/k/s1", drv.writer, drv, "/k/s1", true },
      { "get_content of 4 MiB", "/k/big", drv.get_content, drv, "/k/big" },
      { "put_content of 1 MiB", "/k/new", drv.put_content, drv, "/k/new", helper.bytes(MiB, 94) },
      { "delete of a tree", "/many", drv.delete, drv, "/many" },
    }
    for _, c in ipairs(calls) do
      stop()
      expect_timeout(c[1], c[2], c[3], (table.unpack or unpack)(c, 4))
      resume()
    end

    -- The cluster answers again (bounded), and committed data is intact.
    local t0 = clock()
    local up = drv:put_content("/k/probe", "p")
    while not up and clock() - t0 < 30 do up = drv:put_content("/k/probe", "p") end
    assert(up, "no put succeeded within 30 s of SIGCONT")
    assert.is_false(failed, "\n" .. table.concat(report, "\n"))
    assert(drv:get_content("/k/big") == big, "/k/big changed")
    for i = 1, 20 do assert(drv:get_content("/k/s" .. i) == small[i], "/k/s" .. i .. " changed") end
    -- The tree delete may have gone through in part before its timeout:
    -- what is left of /many is whole, and deleting it again finishes it.
    local left = drv:list("/many")
    if left then
      for _, p in ipairs(left) do assert.are.equal("e", drv:get_content(p)) end
    end
    helper.clear(drv)
    assert(drv:fsck { grace = 0, repair = true })
    local report2 = assert(drv:fsck { grace = 0 })
    assert.are.same({}, report2.findings)
    assert.are.same({}, helper.leftovers(ns))
    print("\n# " .. table.concat(report, "\n# "))
  end)
end)
