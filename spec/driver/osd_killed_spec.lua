-- A failing OSD, killed (the engine's part): the cluster's only OSD
-- is SIGKILLed (through the pid file of the cluster this spec runs on) and
-- started again with scripts/cluster.sh restart-osd.  Twice:
--
--   1. killed while nothing runs; then, with the OSD dead, a reader and a
--      writer in the middle of their streams, a writer's commit, reader and
--      writer opens, get_content, put_content and a listing;
--   2. killed (from a background shell) while a reader and a writer stream,
--      then a listing.
--
-- Every call as a whole must return "timeout" (nil, a message naming the
-- path, "timeout") within the connection's timeout plus a second, never
-- hang.  After the restart calls succeed again (within RECOVER s), writers
-- that were in the middle of a stream at the kill commit or cancel, and
-- each path holds its old content or its new one whole, as the commit said;
-- everything committed before reads back byte for byte; fsck's repair
-- leaves it clean and nothing leaks.
--
-- Needs an OSD that keeps its objects across a restart: pending on the
-- default memstore cluster; scripts/test.sh runs it on a cluster of its own
-- started with REGSTORE_CLUSTER_STORE=filestore.
local regstore = require "regstore"
local helper = require "helper"
local osd = require "support.osd"

local KiB, MiB = helper.KiB, helper.MiB
local TIMEOUT = 2
local RECOVER = 60 -- seconds from the restart to the first call that succeeds
local clock = regstore.clock

describe("a killed and restarted OSD: calls time out in time, nothing is lost #cluster", function()
  local drv, ns
  local report, failed = {}, false
  local kills, restarts = 0, {}

  local function note(line, bad)
    if bad then
      failed = true
      line = line .. "  <-- " .. bad
    end
    report[#report + 1] = line
  end

  local function kill()
    osd.kill()
    kills = kills + 1
  end

  -- Starts the OSD again, then calls until a put succeeds (bounded).
  local function restart()
    local t0 = clock()
    local secs = osd.restart()
    local ok = drv:put_content("/probe", "p")
    while not ok and clock() - t0 < RECOVER do
      os.execute("sleep 0.2")
      ok = drv:put_content("/probe", "p")
    end
    local total = clock() - t0
    restarts[#restarts + 1] = string.format("%.1f s (restart-osd %.1f s)", total, secs)
    assert(ok, string.format("no put succeeded within %d s of the restart", RECOVER))
    note(string.format("restart: restart-osd %.2f s, first put through %.2f s after it began", secs, total))
  end

  -- A call made while the OSD is dead: nil, msg naming subject, "timeout",
  -- within TIMEOUT + 1 s.
  local function expect_timeout(what, subject, f, ...)
    local t0 = clock()
    local ok, msg, code = f(...)
    local dt = clock() - t0
    local got = type(ok) == "string" and #ok .. " bytes" or tostring(ok)
    local good = ok == nil and code == "timeout" and type(msg) == "string" and msg:find(subject, 1, true)
    note(string.format("%s: %.2f s, %s, %s, %s", what, dt, got, tostring(msg), tostring(code)),
      (dt > TIMEOUT + 1 or not good)
        and ("expected nil, msg naming " .. subject .. ", \"timeout\" within " .. (TIMEOUT + 1) .. " s"))
    return ok, msg, code
  end

  -- Calls a stream step until it fails: each step within TIMEOUT + 1 s, the
  -- failure a timeout naming subject.
  local function stream_until_timeout(what, subject, step, max_steps)
    for i = 1, max_steps do
      local t0 = clock()
      local ok, msg, code = step()
      local dt = clock() - t0
      if dt > TIMEOUT + 1 then note(string.format("%s: step %d took %.2f s", what, i, dt), "too slow") end
      if not ok then
        local good = code == "timeout" and type(msg) == "string" and msg:find(subject, 1, true)
        note(string.format("%s: step %d: %.2f s, %s, %s", what, i, dt, tostring(msg), tostring(code)),
          not good and ("expected a timeout naming " .. subject))
        return
      end
    end
    note(what .. ": " .. max_steps .. " steps without a failure while the OSD was dead", "no failure")
  end

  -- After the restart: a writer that was mid-stream at the kill finishes
  -- (commit, or cancel); the path holds old or new whole, as it answered.
  local function finish(what, w, how, path, old, new)
    local ok, msg, code = w[how](w)
    local now, gmsg, gcode = drv:get_content(path)
    local holds = (new ~= nil and now == new and "new") or (old ~= nil and now == old and "old")
      or (now == nil and gcode == "not_found" and "nothing")
    local want = how == "commit" and ok and "new" or (old == nil and "nothing" or "old")
    note(string.format("%s: %s %s%s; the path holds %s", what, how, tostring(ok),
      ok and "" or (" (" .. tostring(msg) .. ", " .. tostring(code) .. ")"),
      holds or ("neither old nor new: " .. (now and #now .. " bytes" or tostring(gmsg)))),
      holds ~= want and ("expected the " .. want .. " content whole"))
    if not ok then pcall(w.close, w) end
  end

  setup(function()
    if not osd.persistent() then return end
    drv, ns = helper.connect { chunk_size = 64 * KiB, timeout = TIMEOUT, window = 4 }
  end)
  teardown(function()
    if drv then
      helper.clear(drv)
      drv:close()
    end
    if kills > 0 then
      print(string.format("\n# killed OSD: %d kills and restarts (%s), every call bounded by timeout + 1 s",
        kills, table.concat(restarts, ", ")))
    end
  end)

  it("reads, writes, a commit and listings time out; after the restart nothing committed is lost", function()
    if not osd.persistent() then
      pending("the cluster's OSD is " .. tostring(osd.store()) .. ": a killed memstore OSD comes back empty"
        .. " (start the cluster with REGSTORE_CLUSTER_STORE=filestore; scripts/test.sh does)")
    end
    finally(function()
      -- a failed assertion must not leave the OSD dead for what follows
      if not pcall(osd.pid) then pcall(osd.restart) end
    end)

    -- Committed before the faults: a 4 MiB file, small files, a directory
    -- of 300 entries.
    local big = helper.bytes(4 * MiB, 71)
    assert.is_true(drv:put_content("/k/big", big))
    local small = {}
    for i = 1, 10 do
      small[i] = helper.bytes(i * 997, i)
      assert.is_true(drv:put_content("/k/s" .. i, small[i]))
    end
    for i = 1, 300 do assert.is_true(drv:put_content(string.format("/many/e%03d", i), "e")) end
    local content = { ["/k/big"] = big }
    for i = 1, 10 do content["/k/s" .. i] = small[i] end

    ------------------------------------------------------------ kill 1
    -- Streams in the middle, idle at the kill (what they sent is acked).
    local r = assert(drv:reader("/k/big"))
    local head = {}
    for _ = 1, 4 do head[#head + 1] = assert(r:read(64 * KiB)) end
    assert(table.concat(head) == big:sub(1, 256 * KiB), "the reader's first 256 KiB differ")
    local new1 = helper.bytes(300 * KiB, 72)
    local wa = assert(drv:writer("/k/s1")) -- commits after the restart
    assert(wa:write(new1:sub(1, 200 * KiB)))
    local wb = assert(drv:writer("/k/s2")) -- cancels after the restart
    assert(wb:write(helper.bytes(200 * KiB, 73)))
    local wc = assert(drv:writer("/k/stream")) -- writes on into the dead OSD
    assert(wc:write(helper.bytes(512 * KiB, 74)))
    local new3 = helper.bytes(100 * KiB, 75)
    local wd = assert(drv:writer("/k/s3")) -- commits into the dead OSD
    assert(wd:write(new3))
    os.execute("sleep 0.5")
    kill()

    stream_until_timeout("reader:read mid-stream", "/k/big", function() return r:read(64 * KiB) end, 64)
    local chunk = helper.bytes(64 * KiB, 76)
    stream_until_timeout("writer:write mid-stream", "/k/stream", function() return wc:write(chunk) end, 64)
    expect_timeout("writer:commit", "/k/s3", wd.commit, wd)
    expect_timeout("get_content of 4 MiB", "/k/big", drv.get_content, drv, "/k/big")
    local put = helper.bytes(MiB, 77)
    expect_timeout("put_content of 1 MiB", "/k/new", drv.put_content, drv, "/k/new", put)
    expect_timeout("list of 300 entries", "/many", drv.list, drv, "/many")
    expect_timeout("reader open", "/k/s5", drv.reader, drv, "/k/s5")
    expect_timeout("writer open", "/k/s6", drv.writer, drv, "/k/s6")
    restart()

    r:close()
    assert(wa:write(new1:sub(200 * KiB + 1)))
    finish("writer mid-stream at the kill", wa, "commit", "/k/s1", small[1], new1)
    finish("writer mid-stream at the kill", wb, "cancel", "/k/s2", small[2], nil)
    -- a writer that saw a timeout fails its commit; nothing of it shows
    local ok, msg, code = wc:commit()
    local _, _, gcode = drv:get_content("/k/stream")
    note(string.format("writer that timed out mid-stream: commit %s, %s, %s; /k/stream %s", tostring(ok),
      tostring(msg), tostring(code), gcode or "exists"),
      (ok or gcode ~= "not_found") and "expected the commit to fail and /k/stream absent")
    pcall(wc.close, wc)
    -- the commit that timed out went through or not, whole either way
    local now = drv:get_content("/k/s3")
    note("commit that timed out: /k/s3 holds " .. (now == new3 and "new" or now == small[3] and "old" or "neither"),
      now ~= new3 and now ~= small[3] and "expected old or new whole")
    content["/k/s3"] = now
    pcall(wd.close, wd)
    now = drv:get_content("/k/new")
    note("put that timed out: /k/new holds " .. (now == put and "new" or now == nil and "nothing" or "neither"),
      now ~= put and now ~= nil and "expected nothing or the new content whole")
    content["/k/s1"] = drv:get_content("/k/s1")
    -- calls succeed again: reads of what was committed, a listing, a stream
    for p, want in pairs(content) do assert(drv:get_content(p) == want, p .. " changed") end
    assert.are.equal(300, #assert(drv:list("/many")))
    local r1 = assert(drv:reader("/k/big", MiB))
    assert(helper.read_all(r1, 100 * KiB) == big:sub(MiB + 1), "/k/big from 1 MiB on differs")
    r1:close()

    ------------------------------------------------------------ kill 2
    -- The kill lands while a reader and a writer stream, turn about.
    local new4 = {}
    local we = assert(drv:writer("/k/s4"))
    local r2 = assert(drv:reader("/k/big"))
    local pid = osd.kill(0.5)
    kills = kills + 1
    local t_end = clock() + 20
    local rdone, wdone = false, false
    local n = 0
    while not (rdone and wdone) and clock() < t_end do
      n = n + 1
      if not rdone then
        local t0 = clock()
        local s, rmsg, rcode = r2:read(64 * KiB)
        local dt = clock() - t0
        if dt > TIMEOUT + 1 then note(string.format("reader streaming at the kill: step %d took %.2f s", n, dt),
          "too slow") end
        if s == nil and rmsg == nil then -- the end: read it again (the kill may land in the open)
          r2:close()
          t0 = clock()
          r2, rmsg, rcode = drv:reader("/k/big")
          dt = clock() - t0
          if dt > TIMEOUT + 1 then note(string.format("reader open at the kill: step %d took %.2f s", n, dt),
            "too slow") end
          s = r2 and ""
        end
        if s == nil then
          rdone = true
          note(string.format("reader streaming at the kill: step %d: %.2f s, %s, %s", n, dt, tostring(rmsg),
            tostring(rcode)), (rcode ~= "timeout" or not rmsg:find("/k/big", 1, true))
            and "expected a timeout naming /k/big")
        end
      end
      if not wdone then
        local piece = helper.bytes(64 * KiB, 100 + n)
        local t0 = clock()
        local wok, wmsg, wcode = we:write(piece)
        local dt = clock() - t0
        if dt > TIMEOUT + 1 then note(string.format("writer streaming at the kill: step %d took %.2f s", n, dt),
          "too slow") end
        if wok then
          new4[#new4 + 1] = piece
        else
          wdone = true
          note(string.format("writer streaming at the kill: step %d: %.2f s, %s, %s", n, dt, tostring(wmsg),
            tostring(wcode)), (wcode ~= "timeout" or not wmsg:find("/k/s4", 1, true))
            and "expected a timeout naming /k/s4")
        end
      end
    end
    note(string.format("streams at the kill: %d steps", n),
      not (rdone and wdone) and "a stream did not fail within 20 s of the kill")
    osd.wait_gone(pid)
    expect_timeout("list of /k", "/k", drv.list, drv, "/k")
    restart()

    if r2 then r2:close() end
    finish("writer streaming at the kill", we, "commit", "/k/s4", small[4], table.concat(new4))
    content["/k/s4"] = drv:get_content("/k/s4")

    ------------------------------------------------------------ the end
    assert.is_false(failed, "\n" .. table.concat(report, "\n"))
    for p, want in pairs(content) do assert(drv:get_content(p) == want, p .. " changed") end
    for i = 5, 10 do assert(drv:get_content("/k/s" .. i) == small[i], "/k/s" .. i .. " changed") end
    for _, p in ipairs(assert(drv:list("/many"))) do assert.are.equal("e", drv:get_content(p)) end
    -- the writers that timed out left pending records and blobs behind:
    -- repair removes them and nothing committed
    local fixed = assert(drv:fsck { grace = 0, repair = true })
    note(string.format("fsck repair: %d findings, %d repaired", #fixed.findings, fixed.repaired))
    assert.are.same({}, assert(drv:fsck { grace = 0 }).findings)
    for p, want in pairs(content) do assert(drv:get_content(p) == want, p .. " changed by the repair") end
    assert.are.equal(300, #assert(drv:list("/many")))
    helper.clear(drv)
    assert.are.same({}, assert(drv:fsck { grace = 0 }).findings)
    assert.are.same({}, helper.leftovers(ns))
    print("\n# " .. table.concat(report, "\n# "))
  end)
end)
