-- The engine's invariants (docs/design.md, "The invariants"), each through
-- the scenario of an engine defect found in review (NEWS.md) that broke it:
-- the stripe size lives with the blob (I5); a second appender never cuts
-- committed bytes (I2); no name without data after racing moves (I3);
-- bounded calls (I6); no data without a name after deletes (I4); not_found
-- means the path is not there (I7).  Each describe reproduces the scenario
-- and asserts the promise, not the bug.
local regstore = require "regstore"
local helper = require "helper"

local KiB, MiB = helper.KiB, helper.MiB
local clock = regstore.clock

local same_bytes = helper.same_bytes

-- get_content that must succeed: the content, or an error naming the failure.
local function content(drv, path, what)
  local data, msg, code = drv:get_content(path)
  assert(data, string.format("%s: get_content(%s) failed: %s (%s)", what or "", path, tostring(msg),
    tostring(code)))
  return data
end

-- A whole read through a reader opened at offset (0 by default).
local function read_whole(drv, path, offset, what)
  local r, msg, code = drv:reader(path, offset)
  assert(r, string.format("%s: reader(%s) failed: %s (%s)", what or "", path, tostring(msg), tostring(code)))
  local ok, data = pcall(helper.read_all, r, 300000)
  r:close()
  assert(ok, (what or "") .. ": " .. tostring(data))
  return data
end

-- Nothing but the root object "/" in the namespace.  A describe's tests
-- share a namespace: what an earlier (failed) test leaked is recorded before
-- each test (see `baseline`) and not charged to the next one.
local leaked_before = {}
local function assert_only_root(ns)
  local t = {}
  for _, name in ipairs(helper.leftovers(ns)) do
    if not leaked_before[name] then t[#t + 1] = name end
  end
  assert.are.same({}, t)
end

-- Records the objects left by earlier tests of fx's namespace before each test.
local function baseline(fx)
  before_each(function()
    leaked_before = {}
    for _, name in ipairs(helper.leftovers(fx.ns)) do leaked_before[name] = true end
  end)
end

-- The repair step of the engine (drv:fsck), when this build has one.
local function repair(drv)
  local has = drv.fsck
  if type(has) ~= "function" then return false end
  local ok, msg, code = drv:fsck { grace = 0, repair = true }
  assert(ok ~= nil, "fsck failed: " .. tostring(msg) .. " (" .. tostring(code) .. ")")
  return true
end

-------------------------------------------------------------------------------
-- 1. The stripe size is the blob's: a file keeps the chunk size it was
-- created with, whatever driver later reads, appends to, replaces or deletes it.
describe("I5: the stripe size lives with the blob #cluster", function()
  local fx = helper.fixture { chunk_size = MiB } -- fx.drv: 1 MiB stripes
  baseline(fx)
  local dflt                                     -- the same namespace, default stripes
  setup(function() dflt = helper.connect { namespace = fx.ns } end)
  teardown(function() if dflt then dflt:close() end end)

  local function check_both(path, want)
    for name, d in pairs { ["1 MiB driver"] = fx.drv, ["default driver"] = dflt } do
      same_bytes(want, content(d, path, name), name .. " get_content")
      same_bytes(want, read_whole(d, path, 0, name), name .. " reader")
      assert.are.equal(#want, assert(d:stat(path)).size, name .. " stat")
    end
  end

  it("1.5 MiB written with 1 MiB stripes, appended to through a default driver, reads back through both",
    function()
      local a = helper.bytes(MiB + MiB / 2, 11)
      local w = assert(fx.drv:writer("/s/f"))
      assert.is_true(w:write(a))
      assert.is_true(w:commit())
      local more = helper.bytes(700 * KiB + 5, 12)
      w = assert(dflt:writer("/s/f", true))
      assert.are.equal(#a, w:size())
      assert.is_true(w:write(more))
      assert.is_true(w:commit())
      check_both("/s/f", a .. more)
      assert.is_true(dflt:delete("/s"))
      assert_only_root(fx.ns)
    end)

  it("1.5 MiB written with default stripes, appended to through a 1 MiB driver, reads back through both",
    function()
      local a = helper.bytes(MiB + MiB / 2, 13)
      assert.is_true(dflt:put_content("/s/f", a))
      local more = helper.bytes(3 * MiB + 17, 14) -- crosses the default 4 MiB stripe
      local w = assert(fx.drv:writer("/s/f", true))
      assert.are.equal(#a, w:size())
      assert.is_true(w:write(more))
      assert.is_true(w:commit())
      check_both("/s/f", a .. more)
      assert.is_true(fx.drv:delete("/s"))
      assert_only_root(fx.ns)
    end)

  it("an append through a default driver, cancelled, leaves the 1 MiB-striped file as it was", function()
    local a = helper.bytes(MiB + MiB / 2, 15)
    assert.is_true(fx.drv:put_content("/s/f", a))
    local w = assert(dflt:writer("/s/f", true))
    assert.is_true(w:write(helper.bytes(MiB, 16)))
    assert.is_true(w:cancel())
    check_both("/s/f", a)
    local blobs, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    local _, chunks = next(blobs)
    assert.are.same({ 0, 1 }, helper.keys(chunks))
    assert.is_true(dflt:delete("/s"))
    assert_only_root(fx.ns)
  end)

  it("5.5 MiB written with 1 MiB stripes reads whole through a default driver", function()
    local a = helper.bytes(5 * MiB + MiB / 2, 17)
    assert.is_true(fx.drv:put_content("/s/f", a))
    same_bytes(a, content(dflt, "/s/f", "default driver"), "default driver get_content")
    local off = MiB + 12345 -- inside the second stripe
    local r = assert(dflt:reader("/s/f", off))
    assert.are.equal(#a, r:size())
    same_bytes(a:sub(off + 1), helper.read_all(r, 300000), "default driver reader from " .. off)
    r:close()
    assert.are.equal(#a, assert(dflt:stat("/s/f")).size)
    assert.is_true(fx.drv:delete("/s"))
    assert_only_root(fx.ns)
  end)

  it("5.5 MiB with 1 MiB stripes deleted through a default driver leaves no chunk", function()
    assert.is_true(fx.drv:put_content("/s/f", helper.bytes(5 * MiB + MiB / 2, 18)))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(dflt:delete("/s/f"))
    assert.are.same({}, helper.blobs(fx.ns))
    assert_only_root(fx.ns)
  end)

  it("5.5 MiB with 1 MiB stripes deleted (as a tree) through a default driver leaves no chunk", function()
    assert.is_true(fx.drv:put_content("/s/d/f", helper.bytes(5 * MiB + MiB / 2, 19)))
    assert.is_true(dflt:delete("/s"))
    assert_only_root(fx.ns)
  end)

  it("5.5 MiB with 1 MiB stripes replaced by put_content through a default driver leaves no old chunk",
    function()
      assert.is_true(fx.drv:put_content("/s/f", helper.bytes(5 * MiB + MiB / 2, 20)))
      assert.is_true(dflt:put_content("/s/f", "new"))
      check_both("/s/f", "new")
      local blobs, n = helper.blobs(fx.ns)
      assert.are.equal(1, n)
      local _, chunks = next(blobs)
      assert.are.same({ 0 }, helper.keys(chunks))
      assert.is_true(dflt:delete("/s"))
      assert_only_root(fx.ns)
    end)

  it("5.5 MiB with 1 MiB stripes replaced by a writer through a default driver leaves no old chunk",
    function()
      assert.is_true(fx.drv:put_content("/s/f", helper.bytes(5 * MiB + MiB / 2, 21)))
      local w = assert(dflt:writer("/s/f"))
      local b = helper.bytes(MiB + 3, 22)
      assert.is_true(w:write(b))
      assert.is_true(w:commit())
      check_both("/s/f", b)
      local blobs, n = helper.blobs(fx.ns)
      assert.are.equal(1, n)
      local _, chunks = next(blobs)
      assert.are.same({ 0 }, helper.keys(chunks)) -- default stripes: one chunk
      assert.is_true(fx.drv:delete("/s"))
      assert_only_root(fx.ns)
    end)

  it("5.5 MiB with 1 MiB stripes replaced by a move through a default driver leaves no old chunk",
    function()
      assert.is_true(fx.drv:put_content("/s/f", helper.bytes(5 * MiB + MiB / 2, 23)))
      assert.is_true(dflt:put_content("/s/g", "moved"))
      assert.is_true(dflt:move("/s/g", "/s/f"))
      check_both("/s/f", "moved")
      local _, n = helper.blobs(fx.ns)
      assert.are.equal(1, n)
      assert.is_true(dflt:delete("/s"))
      assert_only_root(fx.ns)
    end)
end)

-------------------------------------------------------------------------------
-- 2. A second in-place appender's cancel or failed commit never cuts what
-- another writer committed.  One appender at a time is allowed: a second
-- one may be refused with code "io" and a message naming the path (at open,
-- write or commit; a stale commit may also say not_found), but committed
-- bytes must read back intact whatever the second appender's calls return.
describe("I2: a second appender never cuts committed bytes #cluster", function()
  local fx = helper.fixture { chunk_size = 65536 }
  baseline(fx)
  local P = "/ap/f"

  -- A refusal of a concurrent appender: nil, "regstore: ... path ...", code.
  local function refused(codes, what, ok, msg, code)
    assert(ok == nil, what .. ": returned " .. tostring(ok))
    assert(type(msg) == "string" and msg:find(P, 1, true),
      what .. ": refusal message does not name " .. P .. ": " .. tostring(msg))
    assert(codes[code], what .. ": refused with code " .. tostring(code) .. ": " .. msg)
  end
  local IO = { io = true }
  local IO_OR_GONE = { io = true, not_found = true }

  -- Opens an appender that may be refused; returns it or nil.
  local function open_second(what)
    local w, msg, code = fx.drv:writer(P, true)
    if not w then refused(IO, what .. " writer(p, true)", w, msg, code) end
    return w
  end

  -- Writes then commits (or cancels) through a writer that may be refused;
  -- returns true when the commit returned true.
  local function write_then(w, data, finish, what)
    if data then
      local ok, msg, code = w:write(data)
      if not ok then
        refused(IO, what .. " write", ok, msg, code)
        pcall(w.cancel, w)
        return false
      end
    end
    local ok, msg, code = w[finish](w)
    if finish == "commit" and not ok then refused(IO_OR_GONE, what .. " commit", ok, msg, code) end
    return ok == true
  end

  local function check(want, what)
    for i = 1, 2 do -- "permanently": a second read too
      same_bytes(want, content(fx.drv, P, what), what .. " get_content #" .. i)
    end
    same_bytes(want, read_whole(fx.drv, P, 0, what), what .. " reader")
    assert.are.equal(#want, assert(fx.drv:stat(P)).size, what .. " stat size")
    -- A later appender's cancel does not cut them either.
    local w = open_second("a later appender")
    if w then pcall(w.cancel, w) end
    same_bytes(want, content(fx.drv, P, what), what .. ", then a later appender's cancel")
  end

  it("B opens an append, A appends 10 bytes and commits, B cancels having written nothing", function()
    local want = "0123456789"
    assert.is_true(fx.drv:put_content(P, want))
    local b = assert(fx.drv:writer(P, true))
    assert.are.equal(10, b:size())
    local a = open_second("A")
    if a and write_then(a, "abcdefghij", "commit", "A") then want = want .. "abcdefghij" end
    pcall(b.cancel, b) -- whatever it says
    check(want, "after B's cancel")
    assert.is_true(fx.drv:delete("/ap"))
    assert_only_root(fx.ns)
  end)

  it("B opens an append, A appends 10 bytes and commits, B writes 2 bytes and cancels", function()
    local want = "0123456789"
    assert.is_true(fx.drv:put_content(P, want))
    local b = assert(fx.drv:writer(P, true))
    local a = open_second("A")
    if a and write_then(a, "abcdefghij", "commit", "A") then want = want .. "abcdefghij" end
    local ok, msg, code = b:write("xy")
    if not ok then refused(IO, "B write", ok, msg, code) end
    pcall(b.cancel, b)
    check(want, "after B's cancel")
    assert.is_true(fx.drv:delete("/ap"))
    assert_only_root(fx.ns)
  end)

  it("B picks up A's pending record, A commits 5010 bytes, B writes 2 bytes and commits", function()
    local base, a1, a2 = "0123456789", helper.bytes(1000, 31), helper.bytes(4000, 32)
    local want = base
    assert.is_true(fx.drv:put_content(P, base))
    -- A appends 1000 bytes and closes: its pending record stays.
    local a = assert(fx.drv:writer(P, true))
    assert.is_true(a:write(a1))
    assert.is_true(a:close())
    -- B picks that record up.
    local b = assert(fx.drv:writer(P, true))
    assert.are.equal(1010, b:size())
    -- A (again) goes on with it too and commits 5010 bytes.
    local a2w = open_second("A again")
    local a_committed = false
    if a2w then
      assert.are.equal(1010, a2w:size())
      a_committed = write_then(a2w, a2, "commit", "A again")
      if a_committed then want = base .. a1 .. a2 end
      assert.are.equal(5010, #want)
    end
    -- B writes 2 bytes and commits.
    local b_committed = write_then(b, "xy", "commit", "B")
    if b_committed and not a_committed then want = base .. a1 .. "xy" end
    if a_committed then
      same_bytes(want, content(fx.drv, P, "A's committed data"),
        "A's committed 5010 bytes, after B's commit returned " .. tostring(b_committed))
    end
    check(want, "after B's commit")
    assert.is_true(fx.drv:delete("/ap"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
-- 3. No name without data: three processes put, move across directories,
-- move back and delete over three directories.  Afterwards every listed name
-- stats and reads, no move failed with anything but not_found, and deleting
-- everything (then the repair step, where the engine has one) leaves "/".
local MOVER = [[
local regstore = require "regstore"
local helper = require "helper"
local ns, tag, secs = arg[1], tonumber(arg[2]), tonumber(arg[3])
local drv = helper.connect { namespace = ns, chunk_size = 65536 }
math.randomseed(tag * 7919 + os.time())
local dirs = { "/m/d1", "/m/d2", "/m/d3" }
local function name(d) return dirs[d] .. "/f" .. math.random(3) end
local counts, first = {}, {}
local function note(op, ok, msg, code)
  local k = op .. " " .. (ok and "ok" or tostring(code))
  counts[k] = (counts[k] or 0) + 1
  if not ok and not first[k] then first[k] = tostring(msg) end
  return ok
end
local t0, i = regstore.clock(), 0
while regstore.clock() - t0 < secs do
  i = i + 1
  local r = math.random(10)
  if r <= 3 then
    local n = math.random(0, 3000)
    note("put", drv:put_content(name(math.random(3)), string.format("p%d:%d:%d:", tag, i, n) .. ("z"):rep(n)))
  elseif r <= 9 then
    local d1 = math.random(3)
    local d2 = (d1 + math.random(2) - 1) % 3 + 1
    local src, dst = name(d1), name(d2)
    if note("move", drv:move(src, dst)) then note("move", drv:move(dst, src)) end
  else
    note("delete", drv:delete(name(math.random(3))))
  end
end
for k, v in pairs(counts) do io.write(k, " ", v, first[k] and (" " .. first[k]) or "", "\n") end
io.write("ops ", i, "\n")
drv:close()
]]

describe("I3: no name without data after racing moves #cluster", function()
  local fx = helper.fixture { chunk_size = 65536 }
  baseline(fx)

  local function valid(data)
    local n, rest = data:match("^p%d+:%d+:(%d+):(.*)$")
    return n and tonumber(n) == #rest and not rest:find("[^z]")
  end

  it("three processes putting, moving, moving back and deleting over three directories", function()
    local secs = helper.long and 30 or 8
    local hs = {}
    for i = 1, 3 do hs[i] = helper.spawn_lua(MOVER, { fx.ns, tostring(i), tostring(secs) }) end
    local bad = {}
    for i = 1, 3 do
      local out, rc = helper.wait(hs[i])
      assert.are.equal(0, rc, out)
      assert.truthy(out:match("ops %d+"), out)
      for line in out:gmatch("[^\n]+") do
        local op, code = line:match("^(%a+) (%S+) %d+")
        if op and code ~= "ok" and not (code == "not_found" and op ~= "put") then
          bad[#bad + 1] = "process " .. i .. ": " .. line
        end
      end
    end
    -- Every listed name has data.
    local lost, files = {}, 0
    local top = fx.drv:list("/m")
    for _, d in ipairs(top or {}) do
      for _, p in ipairs(assert(fx.drv:list(d))) do
        files = files + 1
        local st, smsg, scode = fx.drv:stat(p)
        local data, gmsg, gcode = fx.drv:get_content(p)
        if not st then
          lost[#lost + 1] = p .. ": stat " .. tostring(scode) .. " " .. tostring(smsg)
        elseif not data then
          lost[#lost + 1] = p .. ": get_content " .. tostring(gcode) .. " " .. tostring(gmsg)
        elseif #data ~= st.size or not valid(data) then
          lost[#lost + 1] = p .. ": " .. #data .. " bytes, stat says " .. st.size
        end
      end
    end
    assert.are.same({}, lost, "names without data (of " .. files .. ")")
    assert.are.same({}, bad, "calls that failed with a code the race does not explain")
    local ok, msg, code = fx.drv:delete("/m")
    assert(ok or code == "not_found", msg)
    assert.are.same({}, fx.drv:list("/"))
    repair(fx.drv)
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
-- 5. Timeouts do not multiply: with the OSD stopped, every call gives up
-- with "timeout" within the connection's timeout plus a second.
--
-- The OSD is stopped (SIGSTOP) for one call at a time, for STOP_MAX
-- seconds at most (spec/support/osd.lua says why).
describe("I6: every call is bounded by timeout + 1 s #cluster", function()
  local TIMEOUT = 3
  local STOP_MAX = TIMEOUT + 2
  local fx = helper.fixture { chunk_size = 65536, timeout = TIMEOUT }
  baseline(fx)
  local osd -- the stopper, once the cluster is known
  local function resume() if osd then osd:resume() end end
  teardown(resume) -- again, whatever happened

  it("commit, cancel, put, get, stat, list, delete and move with the OSD stopped", function()
    local drv = fx.drv
    local keep = helper.bytes(100000, 41)
    assert.is_true(drv:put_content("/t/keep", keep))
    assert.is_true(drv:put_content("/t/x", "x"))
    assert.is_true(drv:put_content("/t/a", "moved"))
    -- Writers prepared before the stops: new files with 5 bytes to commit
    -- and to cancel; a new file with 1 MiB of closed (landed) data to cancel;
    -- an append of 5 bytes to a committed file to cancel.
    local wc = assert(drv:writer("/t/new"))
    assert.is_true(wc:write("12345"))
    local w5 = assert(drv:writer("/t/five"))
    assert.is_true(w5:write("12345"))
    local wn = assert(drv:writer("/t/gone"))
    assert.is_true(wn:write(helper.bytes(MiB + 5, 42)))
    assert.is_true(wn:close())
    wn = assert(drv:writer("/t/gone", true))
    local wa = assert(drv:writer("/t/keep", true))
    assert.is_true(wa:write("67890"))

    osd = require("support.osd").stopper(STOP_MAX)
    finally(function()
      resume()
      for _, w in ipairs { wc, w5, wn, wa } do pcall(w.close, w) end
    end)
    local report, failed, void, early = {}, false, 0, 0
    -- A cancel may also answer true (what it drops may be the writer's own
    -- buffer); everything else needs the OSD and must say "timeout".  A
    -- wrong answer given while the OSD was running again (another process
    -- resumed it) proves nothing: it is reported, and more than two fail.
    --
    -- Seen twice in about ten runs of the test command (not explained yet,
    -- not reproduced in 40 runs of this spec alone): a stat or a list
    -- right after a timed-out get answered at once and rightly while the
    -- OSD's leader thread was stopped.  The bound is not broken by that;
    -- the answer is checked (right), the call is tried again with a new
    -- stop (which must time out), and the threads' states are reported.
    -- A second such answer in a run fails.
    local function timed(what, f, check, ...)
      local may_succeed = what:find("cancel", 1, true) ~= nil
      for attempt = 1, 2 do
        osd:stop()
        local t0 = clock()
        local ok, msg, code = f(...)
        local dt = clock() - t0
        local held, threads = osd:stopped(), osd:threads()
        resume()
        local got = tostring(ok)
        if type(ok) == "string" then
          got = #ok .. " bytes"
        elseif type(ok) == "table" and ok.size then
          got = string.format("{size = %s, is_dir = %s}", tostring(ok.size), tostring(ok.is_dir))
        elseif type(ok) == "table" then
          got = "{" .. table.concat(ok, ", ") .. "}"
        end
        local line = string.format("%s: %.1f s, %s, %s, %s", what, dt, got, tostring(msg), tostring(code))
        local good = ok == nil and code == "timeout" and type(msg) == "string" or (may_succeed and ok == true)
        local retry = false
        if not good and dt <= TIMEOUT + 1 and not held then
          void = void + 1
          line = line .. "  (the OSD was running again: resumed by another process; not counted)"
          if void > 2 then failed = true end
        elseif ok and check and attempt == 1 and dt < 0.5 and check(ok) then
          early = early + 1
          retry = true
          line = line .. "  (answered at once, and rightly, with the OSD's threads " .. threads .. "; tried again)"
          if early > 1 then failed = true end
        elseif dt > TIMEOUT + 1 or not good then
          failed = true
          line = line .. "  <-- expected nil, msg, \"timeout\"" .. (may_succeed and " (or true)" or "")
            .. " within " .. (TIMEOUT + 1) .. " s"
        end
        report[#report + 1] = line
        os.execute("sleep 0.5") -- the OSD catches up before the next stop
        if not retry then break end
      end
    end
    local function is_keep(info) return info.size == #keep and not info.is_dir end
    local function lists_keep(names)
      for _, n in ipairs(names) do if n == "/t/keep" then return true end end
      return false
    end
    timed("writer commit of 5 bytes", wc.commit, nil, wc)
    timed("writer cancel of 5 bytes", w5.cancel, nil, w5)
    timed("writer cancel (1 MiB of new data)", wn.cancel, nil, wn)
    timed("append cancel", wa.cancel, nil, wa)
    timed("put_content", drv.put_content, nil, drv, "/t/p", "data")
    timed("get_content", drv.get_content, function(s) return s == keep end, drv, "/t/keep")
    timed("stat", drv.stat, is_keep, drv, "/t/keep")
    timed("list", drv.list, lists_keep, drv, "/t")
    timed("delete", drv.delete, nil, drv, "/t/x")
    timed("move", drv.move, nil, drv, "/t/a", "/t/b")

    -- The cluster answers again (bounded), and committed data is intact.
    local t0 = clock()
    local ok = drv:put_content("/t/probe", "p")
    while not ok and clock() - t0 < 30 do ok = drv:put_content("/t/probe", "p") end
    assert(ok, "no put succeeded within 30 s of SIGCONT")
    same_bytes(keep, content(drv, "/t/keep", "after the stops"), "/t/keep after the stops")
    local a, b = drv:get_content("/t/a"), drv:get_content("/t/b")
    assert(a == "moved" or b == "moved", "the moved file is at neither name: " .. tostring(a) .. ", "
      .. tostring(b))
    assert.is_false(failed, "\n" .. table.concat(report, "\n"))
    if void + early > 0 then print("\n# bounded calls: " .. table.concat(report, "\n# ")) end
    assert.is_true(drv:delete("/t"))
    repair(drv)
  end)
end)

-------------------------------------------------------------------------------
-- 6. An in-place append then delete leaves nothing.
describe("I4: an appended file's delete leaves nothing #cluster", function()
  local fx = helper.fixture { chunk_size = 4096 }
  baseline(fx)

  it("put, append 12 KiB, close, delete: only / is left", function()
    assert.is_true(fx.drv:put_content("/f", "x"))
    local w = assert(fx.drv:writer("/f", true))
    assert.is_true(w:write(helper.bytes(12 * KiB, 51)))
    assert.is_true(w:close())
    assert.is_true(fx.drv:delete("/f"))
    helper.fails("not_found", "/f", fx.drv:stat("/f"))
    helper.fails("not_found", "/f", fx.drv:writer("/f", true))
    assert_only_root(fx.ns)
  end)

  it("put, append 12 KiB, delete, commit: the commit is not_found and only / is left", function()
    assert.is_true(fx.drv:put_content("/f", "x"))
    local w = assert(fx.drv:writer("/f", true))
    assert.is_true(w:write(helper.bytes(12 * KiB, 52)))
    assert.is_true(fx.drv:delete("/f"))
    helper.fails("not_found", "/f", w:commit())
    helper.fails("not_found", "/f", fx.drv:stat("/f"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
-- 7. Uncommitted data under a deleted directory goes with it.
describe("I4: uncommitted data under a deleted directory goes #cluster", function()
  local fx = helper.fixture { chunk_size = 4096 }
  baseline(fx)

  it("delete(/a) drops a closed writer's data at /a/b/c", function()
    assert.is_true(fx.drv:put_content("/a/keep", "k"))
    local w = assert(fx.drv:writer("/a/b/c"))
    assert.is_true(w:write(helper.bytes(10000, 61)))
    assert.is_true(w:close())
    assert.is_true(fx.drv:delete("/a"))
    local again, msg, code = fx.drv:writer("/a/b/c", true)
    if again then
      local n = again:size()
      pcall(again.cancel, again)
      error("writer(/a/b/c, true) resumed " .. n .. " bytes after delete(/a)")
    end
    helper.fails("not_found", "/a/b/c", again, msg, code)
    assert_only_root(fx.ns)
  end)

  it("delete(/e) of a directory holding only uncommitted files returns true and leaves nothing", function()
    for i, p in ipairs { "/e/x", "/e/y/z" } do
      local w = assert(fx.drv:writer(p))
      assert.is_true(w:write(helper.bytes(10000, 62 + i)))
      assert.is_true(w:close())
    end
    local ok, msg, code = fx.drv:delete("/e")
    assert(ok == true, "delete(/e): " .. tostring(msg) .. " (" .. tostring(code) .. ")")
    for _, p in ipairs { "/e/x", "/e/y/z" } do
      local again, m, c = fx.drv:writer(p, true)
      if again then
        local n = again:size()
        pcall(again.cancel, again)
        error("writer(" .. p .. ", true) resumed " .. n .. " bytes after delete(/e)")
      end
      helper.fails("not_found", p, again, m, c)
    end
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
-- 8. not_found means the path is not there: a path that exists throughout,
-- replaced again and again by another process, always reads.
local REPUTTER = [[
local regstore = require "regstore"
local helper = require "helper"
local ns, path, secs, big = arg[1], arg[2], tonumber(arg[3]), arg[4] == "big"
local drv = helper.connect { namespace = ns, chunk_size = 65536 }
local t0, i = regstore.clock(), 0
while regstore.clock() - t0 < secs do
  i = i + 1
  local n = (big and i % 2 == 0) and 100000 or 3000 + i % 500
  local ok, msg = drv:put_content(path, string.format("v%d:%d:", i, n) .. string.char(97 + i % 26):rep(n))
  if not ok then io.write("put: ", tostring(msg), "\n") os.exit(1) end
end
io.write("puts ", i, "\n")
drv:close()
]]

describe("I7: get_content and readers never say not_found for a path being replaced #cluster",
  function()
    local fx = helper.fixture { chunk_size = 65536 }
    baseline(fx)
    local SECS = helper.long and 20 or 5
    local P = "/r/f"

    local function valid(data)
      local i, n, rest = data:match("^v(%d+):(%d+):(.*)$")
      if not i then return false end
      return tonumber(n) == #rest and not rest:find("[^" .. string.char(97 + tonumber(i) % 26) .. "]")
    end

    -- Races `once` (returning nil, msg, code on a failure, else the data)
    -- against a child re-putting P for SECS; returns the tallies.
    local function race(once, big)
      assert.is_true(fx.drv:put_content(P, "v0:0:"))
      local h = helper.spawn_lua(REPUTTER, { fx.ns, P, tostring(SECS), big and "big" or "small" })
      local t = { n = 0, not_found = 0, other = 0, bad = 0, first = {} }
      local t0 = clock()
      while clock() - t0 < SECS do
        t.n = t.n + 1
        local data, msg, code = once()
        if data == nil then
          local k = code == "not_found" and "not_found" or "other"
          t[k] = t[k] + 1
          if #t.first < 3 then t.first[#t.first + 1] = tostring(code) .. ": " .. tostring(msg) end
        elseif not valid(data) then
          t.bad = t.bad + 1
        end
      end
      local out, rc = helper.wait(h)
      assert.are.equal(0, rc, out)
      local puts = tonumber(out:match("puts (%d+)"))
      assert(puts and puts > 10, "the child hardly put anything: " .. out)
      local summary = string.format("%d reads against %d puts: %d not_found, %d other failures, %d torn; %s",
        t.n, puts, t.not_found, t.other, t.bad, table.concat(t.first, "; "))
      assert.are.equal(0, t.not_found, summary)
      assert.are.equal(0, t.other, summary)
      assert.are.equal(0, t.bad, summary)
      assert.is_true(fx.drv:delete("/r"))
      assert_only_root(fx.ns)
    end

    it("get_content, versions of one and two chunks", function()
      race(function() return fx.drv:get_content(P) end, true)
    end)

    it("readers reading whole, versions of one chunk", function()
      race(function()
        local r, msg, code = fx.drv:reader(P)
        if not r then return nil, msg, code end
        local t = {}
        while true do
          local s, m, c = r:read(65536)
          if s == nil then
            r:close()
            if m ~= nil then return nil, m, c end
            return table.concat(t)
          end
          t[#t + 1] = s
        end
      end, false)
    end)
  end)
