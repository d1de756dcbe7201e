-- Crash consistency (docs/design.md invariants I1-I4).  For each multi-object
-- protocol: set up a pre-state in a fresh namespace (this process, normal
-- build); run the protocol once in a child with the crash-point build
-- (REGSTORE_CRASH_CPATH) and REGSTORE_CRASH_TRACE to learn the points it
-- passes; then for every (point, occurrence n) of that trace, in a fresh
-- namespace with the same pre-state, run the child with
-- REGSTORE_CRASH_AT=point:n (it must _exit(86) there) and check, through a
-- connection with a different chunk_size than the child's:
--   I1/I2  the protocol's paths read (get_content and a reader, which must
--          agree) one of the protocol's allowed joint states: old content
--          whole, new content whole, or absent where absence is a
--          legitimate outcome; every other file of the pre-state reads its
--          content whole;
--   I3     every name walk("/") finds stats and reads whole (and is a
--          known name holding what the direct read gave);
--   repair drv:fsck{grace = 0, repair = true} changes no content, and
--          afterwards every readable name is listed by walk;
--   I2     deleting the names one by one leaves every other name whole
--          (two names sharing a blob after a half-done move must not lose
--          data to the other's delete);
--   I4     after deleting everything and the repair step, `rados ls` of the
--          namespace holds only "/".
-- The uncrashed trace run is checked the same way, and must end in the
-- protocol's done state.  A protocol that traces no point is pending (loud
-- on stderr) until the engine has its crash points.
--
-- REGSTORE_SAME_CHUNK=1 (diagnostic) uses chunk_size 65536 everywhere.
local helper = require "helper"
local inv = require "support.invariants"

-- Contents by label, the same in this process and in the children.
local CONTENT_SRC = [[
local inv = require "support.invariants"
local SIZES = {
  small = 1000, big = 300000, big2 = 150000, w = 250000, part1 = 100000, part2 = 150000,
  app = 150000, keep1 = 500, keep2 = 200000, sib = 300, mv = 130000, dst = 90000,
  t1 = 100, t2 = 140000, t3 = 5000, t4 = 70000, t5 = 10,
}
local cache = {}
-- "a+b" is record a followed by record b.
local function C(label)
  if not cache[label] then
    local t = {}
    for l in label:gmatch("[^+]+") do t[#t + 1] = inv.record(l, assert(SIZES[l], l)) end
    cache[label] = table.concat(t)
  end
  return cache[label]
end
return C, SIZES
]]
local C, SIZES = assert((loadstring or load)(CONTENT_SRC))()

local CHILD_HEAD = [[
local rs = require "regstore"
local ns, chunk, name = arg[1], tonumber(arg[2]), arg[3]
local C = assert((loadstring or load)(]] .. string.format("%q", CONTENT_SRC) .. [[))()
local function must(ok, msg, code)
  if not ok then error(name .. ": " .. tostring(msg) .. " (" .. tostring(code) .. ")", 2) end
  return ok
end
-- Writes s through w in pieces cut at the given offsets.
local function pieces(w, s, cuts)
  local from = 1
  for _, at in ipairs(cuts) do
    must(w:write(s:sub(from, at)))
    from = at + 1
  end
  must(w:write(s:sub(from)))
end
local op = function(d)
]]
local CHILD_TAIL = [[
end
local d = must(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = chunk })
op(d)
d:close()
print "protocol done"
os.exit(0)
]]

-- Files every pre-state holds besides the protocol's own.
local KEEP = { { "/keep/k1", "keep1" }, { "/keep/sub/k2", "keep2" } }

local function move_states(src, dst, S, D)
  return { { [src] = S, [dst] = D or false }, { [src] = S, [dst] = S }, { [src] = false, [dst] = S } }
end

-- name; pre = { {path, label} } (after KEEP); setup(d) more pre-state;
-- op: the child's code (d is its driver); paths: the protocol's own paths;
-- states: the allowed joint states ({ [path] = label or false (absent) }),
-- or each: { [path] = { allowed labels or false } } chosen independently;
-- done: the state after an uncrashed run.
local PROTOCOLS = {
  {
    name = "put of a new small file",
    pre = { { "/p/sib", "sib" } },
    op = [[must(d:put_content("/p/new", C"small"))]],
    paths = { "/p/new" },
    states = { { ["/p/new"] = false } },
    done = { ["/p/new"] = "small" },
  },
  {
    name = "put of a new multi-chunk file",
    pre = { { "/p/sib", "sib" } },
    op = [[must(d:put_content("/p/new", C"big"))]],
    paths = { "/p/new" },
    states = { { ["/p/new"] = false } },
    done = { ["/p/new"] = "big" },
  },
  {
    name = "put replacing a file",
    pre = { { "/p/f", "big" }, { "/p/sib", "sib" } },
    op = [[must(d:put_content("/p/f", C"big2"))]],
    paths = { "/p/f" },
    states = { { ["/p/f"] = "big" } },
    done = { ["/p/f"] = "big2" },
  },
  {
    name = "put creating missing parent directories",
    pre = {},
    op = [[must(d:put_content("/n1/n2/n3/f", C"small"))]],
    paths = { "/n1/n2/n3/f" },
    states = { { ["/n1/n2/n3/f"] = false } },
    done = { ["/n1/n2/n3/f"] = "small" },
  },
  {
    -- put_many told what is missing (rs_put_fresh): no lookups, the
    -- directories made by the link chain; one hint right, one wrong
    name = "put_many into directories said missing",
    pre = { { "/p/sib", "sib" } },
    op = [[
      local ok, msgs = d:put_many({ "/n1/n2/f", "/p/g" }, { C"small", C"big" },
        { missing = { 2, 1 }, window = 1 })
      must(ok[1], msgs[1])
      must(ok[2], msgs[2])]],
    paths = { "/n1/n2/f", "/p/g" },
    each = { ["/n1/n2/f"] = { false, "small" }, ["/p/g"] = { false, "big" } },
    done = { ["/n1/n2/f"] = "small", ["/p/g"] = "big" },
  },
  {
    -- new directories of one parent, said missing: sealed and made each,
    -- then linked into /p together (one op), the state between being a
    -- single put's at link.entry_set
    name = "put_many into new sibling directories, linked together",
    pre = { { "/p/sib", "sib" } },
    op = [[
      local ok, msgs = d:put_many({ "/p/d1/f", "/p/d2/f" }, { C"small", C"big" },
        { missing = { 1, 1 }, window = 1 })
      must(ok[1], msgs[1])
      must(ok[2], msgs[2])]],
    paths = { "/p/d1/f", "/p/d2/f" },
    each = { ["/p/d1/f"] = { false, "small" }, ["/p/d2/f"] = { false, "big" } },
    done = { ["/p/d1/f"] = "small", ["/p/d2/f"] = "big" },
  },
  {
    -- put_many in_order: the second put's directory is linked only after
    -- the first's, so the second is never read without the first (a
    -- manifest's revision link without its blob)
    name = "put_many in order into new directories of two parents",
    pre = { { "/p/sib", "sib" }, { "/q/sib", "sib" } },
    op = [[
      local ok, msgs = d:put_many({ "/p/d1/f", "/q/d2/g" }, { C"small", C"big" },
        { missing = { 1, 1 }, window = 2, in_order = true })
      must(ok[1], msgs[1])
      must(ok[2], msgs[2])]],
    paths = { "/p/d1/f", "/q/d2/g" },
    states = { { ["/p/d1/f"] = false, ["/q/d2/g"] = false }, { ["/p/d1/f"] = "small", ["/q/d2/g"] = false } },
    done = { ["/p/d1/f"] = "small", ["/q/d2/g"] = "big" },
  },
  {
    name = "writer new + commit",
    pre = { { "/p/sib", "sib" } },
    op = [[
      local w = must(d:writer("/p/w"))
      pieces(w, C"w", { 1000, 140000 })
      must(w:commit())]],
    paths = { "/p/w" },
    states = { { ["/p/w"] = false } },
    done = { ["/p/w"] = "w" },
  },
  {
    name = "writer commit replacing a file",
    pre = { { "/p/f", "small" } },
    op = [[
      local w = must(d:writer("/p/f"))
      pieces(w, C"w", { 70000 })
      must(w:commit())]],
    paths = { "/p/f" },
    states = { { ["/p/f"] = "small" } },
    done = { ["/p/f"] = "w" },
  },
  {
    name = "writer cancel of a new file",
    pre = { { "/p/sib", "sib" } },
    op = [[
      local w = must(d:writer("/p/w"))
      pieces(w, C"w", { 1000, 140000 })
      must(w:cancel())]],
    paths = { "/p/w" },
    states = {},
    done = { ["/p/w"] = false },
  },
  {
    name = "writer cancel over an existing file",
    pre = { { "/p/f", "small" } },
    op = [[
      local w = must(d:writer("/p/f"))
      pieces(w, C"w", { 1000, 140000 })
      must(w:cancel())]],
    paths = { "/p/f" },
    states = {},
    done = { ["/p/f"] = "small" },
  },
  {
    name = "writer close, then another process' writer(path, true) + commit",
    pre = { { "/p/sib", "sib" } },
    setup = function(d)
      local w = assert(d:writer("/p/r"))
      assert(w:write(C"part1"))
      assert(w:close())
    end,
    op = [[
      local w = must(d:writer("/p/r", true))
      if w:size() ~= #C"part1" then error("resumed writer has size " .. w:size()) end
      pieces(w, C"part2", { 5 })
      must(w:commit())]],
    paths = { "/p/r" },
    states = { { ["/p/r"] = false } },
    done = { ["/p/r"] = "part1+part2" },
  },
  {
    name = "in-place append + commit",
    pre = { { "/p/f", "part1" } },
    op = [[
      local w = must(d:writer("/p/f", true))
      if w:size() ~= #C"part1" then error("append writer has size " .. w:size()) end
      pieces(w, C"app", { 30000 })
      must(w:commit())]],
    paths = { "/p/f" },
    states = { { ["/p/f"] = "part1" } },
    done = { ["/p/f"] = "part1+app" },
  },
  {
    name = "in-place append + cancel",
    pre = { { "/p/f", "part1" } },
    op = [[
      local w = must(d:writer("/p/f", true))
      pieces(w, C"app", { 30000 })
      must(w:cancel())]],
    paths = { "/p/f" },
    states = {},
    done = { ["/p/f"] = "part1" },
  },
  {
    name = "move within a directory to a new name",
    pre = { { "/m/src", "mv" }, { "/m/sib", "sib" } },
    op = [[must(d:move("/m/src", "/m/dst"))]],
    paths = { "/m/src", "/m/dst" },
    states = move_states("/m/src", "/m/dst", "mv"),
    done = { ["/m/src"] = false, ["/m/dst"] = "mv" },
  },
  {
    name = "move within a directory onto an existing file",
    pre = { { "/m/src", "mv" }, { "/m/dst", "dst" } },
    op = [[must(d:move("/m/src", "/m/dst"))]],
    paths = { "/m/src", "/m/dst" },
    states = move_states("/m/src", "/m/dst", "mv", "dst"),
    done = { ["/m/src"] = false, ["/m/dst"] = "mv" },
  },
  {
    name = "move across directories into a new directory (src directory pruned)",
    pre = { { "/a/src", "mv" } },
    op = [[must(d:move("/a/src", "/b/c/dst"))]],
    paths = { "/a/src", "/b/c/dst" },
    states = move_states("/a/src", "/b/c/dst", "mv"),
    done = { ["/a/src"] = false, ["/b/c/dst"] = "mv" },
  },
  {
    name = "move across directories onto an existing file",
    pre = { { "/a/src", "mv" }, { "/a/sib", "sib" }, { "/b/dst", "dst" } },
    op = [[must(d:move("/a/src", "/b/dst"))]],
    paths = { "/a/src", "/b/dst" },
    states = move_states("/a/src", "/b/dst", "mv", "dst"),
    done = { ["/a/src"] = false, ["/b/dst"] = "mv" },
  },
  {
    name = "delete of the last file of a directory (directories pruned)",
    pre = { { "/x/y/f", "big" } },
    op = [[must(d:delete("/x/y/f"))]],
    paths = { "/x/y/f" },
    states = { { ["/x/y/f"] = "big" } },
    done = { ["/x/y/f"] = false },
  },
  {
    name = "delete of a tree",
    pre = { { "/t/a", "t1" }, { "/t/b", "t2" }, { "/t/s1/c", "t3" }, { "/t/s1/s2/d", "t4" },
      { "/t/s3/e", "t5" } },
    op = [[must(d:delete("/t"))]],
    paths = { "/t/a", "/t/b", "/t/s1/c", "/t/s1/s2/d", "/t/s3/e" },
    each = { ["/t/a"] = { "t1" }, ["/t/b"] = { "t2" }, ["/t/s1/c"] = { "t3" },
      ["/t/s1/s2/d"] = { "t4" }, ["/t/s3/e"] = { "t5" } },
    done = { ["/t/a"] = false, ["/t/b"] = false, ["/t/s1/c"] = false, ["/t/s1/s2/d"] = false,
      ["/t/s3/e"] = false },
  },
}

local CHILD_CHUNK = 65536
local CHECK_CHUNK = 131072

-- Label of every known content, by its bytes.
local LABEL_OF = {}
for label in pairs(SIZES) do LABEL_OF[C(label)] = label end
for _, l in ipairs { "part1+part2", "part1+app" } do LABEL_OF[C(l)] = l end

-- What a path reads: a label (a string), false (not_found), or { bad = what }
-- for an error or unknown bytes (never allowed).
local function outcome(drv, path)
  local data, msg, code = inv.read_both(drv, path)
  if data then return LABEL_OF[data] or { bad = "unknown content: " .. inv.describe(data) } end
  if code == "not_found" then return false end
  return { bad = string.format("error %s: %s", tostring(code), tostring(msg)) }
end

local function show(v)
  if v == false then return "absent" end
  if type(v) == "table" then return "<" .. v.bad .. ">" end
  return tostring(v)
end

local function show_state(paths, state)
  local t = {}
  for _, p in ipairs(paths) do t[#t + 1] = p .. "=" .. show(state[p]) end
  return "{" .. table.concat(t, ", ") .. "}"
end

-- Does the state read fit the protocol's allowed outcomes?  After an
-- uncrashed run (done), only the done state does.
local function allowed(p, state, done)
  local function is(s)
    for _, path in ipairs(p.paths) do
      if state[path] ~= s[path] then return false end
    end
    return true
  end
  if done then return is(p.done) end
  if p.each then
    for _, path in ipairs(p.paths) do
      local v = state[path]
      local ok = v == false or v == p.done[path]
      for _, l in ipairs(p.each[path]) do ok = ok or v == l end
      if not ok then return false end
    end
    return true
  end
  if is(p.done) then return true end
  for _, s in ipairs(p.states) do
    if is(s) then return true end
  end
  return false
end

-- A fresh namespace holding the protocol's pre-state (normal build).
local function prestate(p)
  local ns = helper.namespace "crash"
  local d = inv.connect(ns, CHILD_CHUNK)
  for _, list in ipairs { KEEP, p.pre } do
    for _, e in ipairs(list) do assert(d:put_content(e[1], C(e[2]))) end
  end
  if p.setup then p.setup(d) end
  d:close()
  return ns
end

local function all_paths(p)
  local t, seen = {}, {}
  for _, list in ipairs { KEEP, p.pre } do
    for _, e in ipairs(list) do
      if not seen[e[1]] then seen[e[1]] = true; t[#t + 1] = e[1] end
    end
  end
  for _, path in ipairs(p.paths) do
    if not seen[path] then seen[path] = true; t[#t + 1] = path end
  end
  return t, seen
end

-- Checks a namespace after the protocol ran (done: it completed) or
-- crashed (where: "point:n").  Appends failures to `failures`, prefixed;
-- returns a message when the repair step is missing.
local function check(p, ns, where, done, failures)
  local function fail(fmt, ...)
    failures[#failures + 1] = string.format("[%s @ %s] " .. fmt, p.name, where, ...)
  end
  local d = inv.connect(ns, CHECK_CHUNK)
  local paths, known = all_paths(p)
  local own = {}
  for _, path in ipairs(p.paths) do own[path] = true end
  local pre_label = {}
  for _, list in ipairs { KEEP, p.pre } do
    for _, e in ipairs(list) do pre_label[e[1]] = e[2] end
  end

  -- I1/I2: the protocol's paths, then every other file of the pre-state.
  local function read_state()
    local s = {}
    for _, path in ipairs(paths) do s[path] = outcome(d, path) end
    return s
  end
  local state = read_state()
  if not allowed(p, state, done) then
    fail("I1/I2: the protocol's paths read %s, not an allowed %s state", show_state(p.paths, state),
      done and "done" or "crash")
  end
  for _, path in ipairs(paths) do
    if not own[path] and state[path] ~= pre_label[path] then
      fail("I2: %s, untouched by the protocol, reads %s instead of %s", path, show(state[path]), pre_label[path])
    end
  end

  -- I3: every name the walk finds reads whole, and is one we know.
  local function listed_check(after_repair)
    local files, _, wfails = inv.walk_verify(d)
    for _, f in ipairs(wfails) do fail("%s", f) end
    for path, data in pairs(files) do
      if not known[path] then
        fail("I3: walk finds %s, a name nobody wrote (%s)", path, inv.describe(data))
      elseif LABEL_OF[data] ~= state[path] then
        fail("I1: %s reads %s in the walk but %s directly", path,
          show(LABEL_OF[data] or { bad = inv.describe(data) }), show(state[path]))
      end
    end
    for _, path in ipairs(paths) do
      if type(state[path]) == "string" and not files[path] then
        if after_repair then
          fail("%s reads %s but walk('/') does not list it, even after the repair step", path, show(state[path]))
        else
          io.stderr:write(string.format("  note [%s @ %s]: %s reads but is not listed (before repair)\n",
            p.name, where, path))
        end
      end
    end
  end
  listed_check(false)

  -- The repair step changes no content, and leaves every name listed. It
  -- may finish the operation, though: a name in a directory the killed
  -- call made but did not link up reads as absent (the call did not
  -- finish), and the repair links the directory (an unlinked_dir finding).
  local report, rmsg = inv.repair(d)
  if report then
    local again = read_state()
    local finished = inv.report_line(report):find("unlinked_dir", 1, true)
    for _, path in ipairs(paths) do
      local rolled = finished and state[path] == false and p.done and again[path] == p.done[path]
      if show(again[path]) ~= show(state[path]) and not rolled then
        fail("I2: the repair step changed %s from %s to %s (%s)", path, show(state[path]), show(again[path]),
          inv.report_line(report))
      end
    end
    state = again
    listed_check(true)
  elseif rmsg ~= "drv:fsck missing" then
    fail("%s", rmsg)
  end

  -- I2: deleting one name leaves every other whole.
  local present = {}
  for _, path in ipairs(paths) do
    if type(state[path]) == "string" then present[#present + 1] = path end
  end
  for i, path in ipairs(present) do
    local ok, msg, code = d:delete(path)
    if not ok then
      fail("delete(%s) of a readable file: %s (%s)", path, tostring(msg), tostring(code))
    elseif outcome(d, path) ~= false then
      fail("%s still reads %s after its delete", path, show(outcome(d, path)))
    end
    for j = i + 1, #present do
      local v = outcome(d, present[j])
      if v ~= state[present[j]] then
        fail("I2: after delete(%s), %s reads %s instead of %s", path, present[j], show(v), show(state[present[j]]))
      end
    end
  end

  -- I4: delete everything, repair, nothing but "/".
  local f4, _, why = inv.delete_repair_only_root(d, ns, paths)
  for _, f in ipairs(f4) do fail("%s", f) end
  d:close()
  if why and not why:find("drv:fsck missing", 1, true) then fail("%s", why) end
  return why
end

-- The child for protocol p: returns its output and exit status.
local function child(p, ns, cpath, env)
  local src = CHILD_HEAD .. p.op .. "\n" .. CHILD_TAIL
  return inv.run(src, { ns, tostring(inv.chunk(CHILD_CHUNK)), p.name }, env, cpath, 90)
end

-- Runs protocol p's child in ns with REGSTORE_CRASH_TRACE: its output, exit
-- status and the list of points it passed.
local function traced(p, ns, cpath)
  local trace = os.tmpname()
  local out, rc = child(p, ns, cpath, { REGSTORE_CRASH_TRACE = trace })
  local points = {}
  local tf = io.open(trace)
  if tf then
    for line in tf:lines() do points[#points + 1] = line end
    tf:close()
  end
  os.remove(trace)
  return out, rc, points
end

-- Whether the crash build has any crash point: a protocol without one is
-- then a failure, else (before the engine has them) pending.  Known from
-- the protocols run so far, else from traced runs of every protocol.
local has_points
local function engine_has_points(cpath)
  if has_points == nil then
    has_points = false
    for _, p in ipairs(PROTOCOLS) do
      local _, _, points = traced(p, prestate(p), cpath)
      if #points > 0 then has_points = true break end
    end
  end
  return has_points
end

local totals = { protocols = 0, points = 0, cases = 0, failed_cases = 0, no_repair = 0, pointless = {} }

describe("crash at every point of a protocol #cluster #crash", function()
  local cpath, why = inv.crash_cpath()

  teardown(function()
    io.stderr:write(string.format(
      "\ncrash_points_spec: %d protocols, %d distinct crash points, %d crash cases exercised, %d failed, " ..
      "%d runs without the repair step (drv:fsck missing)%s%s\n",
      totals.protocols, totals.points, totals.cases, totals.failed_cases, totals.no_repair,
      #totals.pointless > 0 and string.format("; %d protocols with NO crash points (%s): %s",
        #totals.pointless, has_points and "failed" or "pending", table.concat(totals.pointless, "; ")) or "",
      inv.same_chunk and " [REGSTORE_SAME_CHUNK=1: one chunk_size everywhere]" or ""))
  end)

  for _, p in ipairs(PROTOCOLS) do
    it(p.name, function()
      if not cpath then pending(why) end
      totals.protocols = totals.protocols + 1
      local failures = {}

      -- The traced, uncrashed run.
      local ns = prestate(p)
      local out, rc, points = traced(p, ns, cpath)
      if #points > 0 then has_points = true end
      local missing = {} -- cases that could not run the repair step
      local function note(where, msg)
        if msg then
          missing[#missing + 1] = where .. ": " .. msg
          totals.no_repair = totals.no_repair + 1
        end
      end
      if rc ~= 0 or not out:find("protocol done", 1, true) then
        failures[#failures + 1] = string.format("[%s] the uncrashed run failed (%s): %s", p.name,
          inv.exit_text(rc), out)
      else
        note("no crash", check(p, ns, "no crash", true, failures))
      end

      -- Every (point, occurrence) of the trace.
      local seen, cases = {}, {}
      for _, point in ipairs(points) do
        seen[point] = (seen[point] or 0) + 1
        cases[#cases + 1] = point .. ":" .. seen[point]
        if seen[point] == 1 then totals.points = totals.points + 1 end
      end
      for _, at in ipairs(cases) do
        totals.cases = totals.cases + 1
        local before = #failures
        local cns = prestate(p)
        local cout, crc = child(p, cns, cpath, { REGSTORE_CRASH_AT = at })
        if crc ~= 86 then
          failures[#failures + 1] = string.format("[%s @ %s] the child ended with %s, not 86 (the crash " ..
            "point was not reached as traced): %s", p.name, at, inv.exit_text(crc), cout)
        else
          note(at, check(p, cns, at, false, failures))
        end
        if #failures > before then totals.failed_cases = totals.failed_cases + 1 end
      end
      io.stderr:write(string.format("  %s: %d crash cases (%s)\n", p.name, #cases, table.concat(cases, " ")))
      if #points == 0 then
        totals.pointless[#totals.pointless + 1] = p.name
        if engine_has_points(cpath) then
          failures[#failures + 1] = "no crash points in " .. p.name
        else
          -- Before the engine has its crash points (and its repair step): pending, loudly.
          inv.assert_none(failures)
          io.stderr:write(string.format("\n*** crash_points_spec: NO CRASH POINTS in '%s': the crash build has " ..
            "no RS_CRASH at all; pending until the engine has them%s ***\n", p.name,
            #missing > 0 and " (and drv:fsck is missing)" or ""))
          pending("no crash points in " .. p.name)
        end
      end
      if #missing > 0 then
        failures[#failures + 1] = string.format("[%s] drv:fsck missing: the repair step could not run in %d " ..
          "case(s): %s", p.name, #missing, table.concat(missing, "; "))
      end
      inv.assert_none(failures)
    end)
  end
end)
