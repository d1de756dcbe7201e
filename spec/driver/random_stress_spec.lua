-- A randomized stress of several processes over a few shared paths in three
-- directories, each with its own chunk_size, for a bounded time (15 s, or
-- 120 s with REGSTORE_LONG=1; REGSTORE_STRESS_SECS overrides).  Seeded from
-- REGSTORE_SEED or the clock; the seed is printed so a run can be replayed
-- (the interleaving, of course, cannot).
--
-- Every content is a concatenation of self-describing records (see
-- spec/support/invariants.lua): every successful read (get_content, or a
-- reader in random pieces) must parse into whole records, whichever version
-- won, and appended files stay verifiable record by record.  Allowed errors
-- in the children: not_found (a racing delete or move), and a second
-- in-place appender refused with code "io" and a message saying another
-- writer is appending (counted).  Anything else -- a torn read, bytes that
-- are not whole records, any other error code, a name nobody wrote -- fails.
-- Afterwards, through a connection with yet another chunk_size: every name
-- walk("/") finds reads whole (I1/I3); everything is deleted; the repair
-- step drv:fsck{grace = 0, repair = true} runs; `rados ls` holds only "/" (I4).
--
-- REGSTORE_SAME_CHUNK=1 (diagnostic) uses chunk_size 65536 everywhere.
local helper = require "helper"
local inv = require "support.invariants"

local FILES = { "/d1/a", "/d1/b", "/d1/c", "/d2/a", "/d2/b", "/d2/x/y", "/d2/x/z", "/d3/a", "/d3/s/t" }
local DIRS = { "/d1", "/d2", "/d2/x", "/d3", "/d3/s" }

local WORKER = [[
local rs = require "regstore"
local inv = require "support.invariants"
local ns, wid, seed, secs, chunk = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
local FILES, DIRS = {}, {}
for p in arg[6]:gmatch("[^,]+") do FILES[#FILES + 1] = p end
for p in arg[7]:gmatch("[^,]+") do DIRS[#DIRS + 1] = p end
local KNOWN = {}
for _, p in ipairs(FILES) do KNOWN[p] = true end
for _, p in ipairs(DIRS) do KNOWN[p] = true end
local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = chunk })
math.randomseed(seed * 7919 + wid)
local rnd = math.random

local counts, fails, seq = {}, {}, 0
local function count(k) counts[k] = (counts[k] or 0) + 1 end
local function failure(fmt, ...)
  count "failures"
  if #fails < 20 then fails[#fails + 1] = string.format(fmt, ...) end
end

-- A new record of a random size: mostly small, some spanning chunks.
local function record()
  seq = seq + 1
  local r = rnd(10)
  local n = r <= 4 and rnd(1, 3000) or r <= 8 and rnd(3000, 200000) or rnd(200000, 600000)
  return inv.record(string.format("w%ds%d", wid, seq), n)
end

-- An error is allowed (and counted) or a failure.  kind: the operation;
-- appending: a second in-place appender may be refused.
local function allowed(kind, what, msg, code, appending)
  if code == "not_found" then count "not_found" return true end
  -- A reader that handed out bytes of a version that was then replaced
  -- cannot go on with them: the documented io (docs/api.md).
  if kind == "reader" and code == "io" and type(msg) == "string"
    and msg:find("replaced while reading", 1, true) then
    count "reader_replaced"
    return true
  end
  if appending and code == "io" and type(msg) == "string"
    and (msg:find("another", 1, true) or msg:find("append", 1, true)) then
    count "append_refused"
    return true
  end
  failure("%s: %s failed: %s (%s)", kind, what, tostring(msg), tostring(code))
  return false
end

local function verify(kind, p, data)
  if #data == 0 then return failure("%s %s: read an empty file (nothing writes one)", kind, p) end
  local tags, why = inv.parse(data)
  if not tags then return failure("%s %s: torn read: %s", kind, p, why) end
  count "verified_reads"
end

local function pick(t) return t[rnd(#t)] end
local function dir_of(p) return p:match("^(.*)/[^/]+$") end

-- Writes s through w in 1-4 random pieces; returns true, or what failed.
local function write_pieces(w, s)
  local from, k = 1, rnd(4)
  for i = 1, k do
    local to = i == k and #s or rnd(from - 1, #s)
    if to >= from then
      local ok, msg, code = w:write(s:sub(from, to))
      if not ok then return nil, msg, code end
      from = to + 1
    end
  end
  return true
end

-- A writer that failed half way is cancelled (its cancel may find its data deleted).
local function abandon(w, kind)
  local ok, msg, code = w:cancel()
  if not ok then allowed(kind, "cancel after a failure", msg, code, true) end
end

-- Writes 1..n records, then commits or cancels.
local function write_records(kind, w, n, finish, appending)
  for _ = 1, n do
    local ok, msg, code = write_pieces(w, record())
    if not ok then
      allowed(kind, "write", msg, code, appending)
      return abandon(w, kind)
    end
  end
  local ok, msg, code = w[finish](w)
  if ok then count(kind) else allowed(kind, finish, msg, code, appending) end
end

local OPS = {
  { 8, "put", function()
    local p = pick(FILES)
    local ok, msg, code = d:put_content(p, record() .. (rnd(4) == 1 and record() or ""))
    if ok then count "put" else allowed("put", p, msg, code) end
  end },
  { 6, "writer_commit", function()
    local p = pick(FILES)
    local w, msg, code = d:writer(p)
    if not w then return allowed("writer_commit", "open " .. p, msg, code) end
    write_records("writer_commit", w, rnd(2), "commit")
  end },
  { 3, "writer_cancel", function()
    local p = pick(FILES)
    local w, msg, code = d:writer(p)
    if not w then return allowed("writer_cancel", "open " .. p, msg, code) end
    write_records("writer_cancel", w, rnd(2), "cancel")
  end },
  { 4, "close_resume", function()
    local p = pick(FILES)
    local w, msg, code = d:writer(p)
    if not w then return allowed("close_resume", "open " .. p, msg, code) end
    local ok
    ok, msg, code = write_pieces(w, record())
    if not ok then
      allowed("close_resume", "write " .. p, msg, code)
      return abandon(w, "close_resume")
    end
    ok, msg, code = w:close()
    if not ok then return allowed("close_resume", "close " .. p, msg, code) end
    count "closed"
    -- Another writer goes on (in this process; the engine keeps nothing in it).
    w, msg, code = d:writer(p, true)
    if not w then return allowed("close_resume", "resume " .. p, msg, code, true) end
    write_records("close_resume", w, rnd(2), rnd(5) == 1 and "cancel" or "commit", true)
  end },
  { 6, "append", function()
    local p = pick(FILES)
    local w, msg, code = d:writer(p, true)
    if not w then return allowed("append", "open " .. p, msg, code, true) end
    local finish = rnd(3) == 1 and "cancel" or "commit"
    write_records("append_" .. finish, w, 1, finish, true)
  end },
  { 5, "move", function()
    local p, same = pick(FILES), {}
    for _, f in ipairs(FILES) do if dir_of(f) == dir_of(p) then same[#same + 1] = f end end
    local q = rnd(2) == 1 and pick(same) or pick(FILES)
    local ok, msg, code = d:move(p, q)
    if not ok then return allowed("move", p, msg, code) end
    count(dir_of(p) == dir_of(q) and "move_same_dir" or "move_across")
  end },
  { 4, "delete", function()
    local p = pick(FILES)
    local ok, msg, code = d:delete(p)
    if ok then count "delete" else allowed("delete", p, msg, code) end
  end },
  { 1, "delete_dir", function()
    local p = pick(DIRS)
    local ok, msg, code = d:delete(p)
    if ok then count "delete_dir" else allowed("delete_dir", p, msg, code) end
  end },
  { 8, "get", function()
    local p = pick(FILES)
    local data, msg, code = d:get_content(p)
    if data then count "get"; verify("get", p, data) else allowed("get", p, msg, code) end
  end },
  { 5, "reader", function()
    local p = pick(FILES)
    local r, msg, code = d:reader(p)
    if not r then return allowed("reader", "open " .. p, msg, code) end
    local size, t = r:size(), {}
    while true do
      local s, rmsg, rcode = r:read(rnd(1, 200000))
      if s == nil then
        r:close()
        if rmsg ~= nil then return allowed("reader", "read " .. p, rmsg, rcode) end
        break
      end
      t[#t + 1] = s
    end
    local data = table.concat(t)
    if #data ~= size then
      return failure("reader %s: size() said %d at open, the reads gave %d bytes (%s)", p, size, #data,
        inv.describe(data))
    end
    count "reader"
    verify("reader", p, data)
  end },
  { 3, "list", function()
    local p = pick(DIRS)
    local names, msg, code = d:list(p)
    if not names then return allowed("list", p, msg, code) end
    count "list"
    for _, n in ipairs(names) do
      if not KNOWN[n] then failure("list %s: a name nobody writes: %s", p, n) end
    end
  end },
  { 2, "stat", function()
    local p = pick(FILES)
    local info, msg, code = d:stat(p)
    if not info then return allowed("stat", p, msg, code) end
    if info.is_dir then return failure("stat %s: a directory", p) end
    count "stat"
  end },
}
local total = 0
for _, op in ipairs(OPS) do total = total + op[1] end

local t0, ops = rs.clock(), 0
while rs.clock() - t0 < secs do
  local r = rnd(total)
  for _, op in ipairs(OPS) do
    r = r - op[1]
    if r <= 0 then op[3]() break end
  end
  ops = ops + 1
end
d:close()
for _, f in ipairs(fails) do print("FAIL w" .. wid .. " " .. f) end
local t = { "SUMMARY", "ops=" .. ops }
local keys = {}
for k in pairs(counts) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do t[#t + 1] = k .. "=" .. counts[k] end
print(table.concat(t, " "))
]]

describe("randomized processes over shared paths #cluster #stress", function()
  it("keep every read whole, and leave only '/' after a delete and the repair step", function()
    local seed = tonumber(os.getenv "REGSTORE_SEED") or os.time()
    local secs = tonumber(os.getenv "REGSTORE_STRESS_SECS") or (helper.long and 120 or 15)
    local chunks = { 65536, 131072, 4194304 }
    local ns = helper.namespace "rstress"
    io.stderr:write(string.format("\ndriver_random_stress: seed %d (REGSTORE_SEED=%d replays the choices), " ..
      "%d processes for %d s, chunk sizes %s%s\n", seed, seed, #chunks, secs, table.concat(chunks, "/"),
      inv.same_chunk and " [REGSTORE_SAME_CHUNK=1: 65536 everywhere]" or ""))

    local workers = {}
    for i, chunk in ipairs(chunks) do
      workers[i] = inv.spawn(WORKER, { ns, tostring(i), tostring(seed), tostring(secs),
        tostring(inv.chunk(chunk)), table.concat(FILES, ","), table.concat(DIRS, ",") }, nil, nil, secs + 120)
    end
    local failures, totals, ops = {}, {}, 0
    for i = 1, #workers do
      local out, rc = helper.wait(workers[i])
      local summary = out:match("SUMMARY ([^\n]*)")
      if rc ~= 0 or not summary then
        failures[#failures + 1] = string.format("worker %d: %s: %s", i, inv.exit_text(rc), out)
      else
        for k, v in summary:gmatch("(%S+)=(%d+)") do
          if k == "ops" then ops = ops + tonumber(v) else totals[k] = (totals[k] or 0) + tonumber(v) end
        end
        local shown = 0
        for line in out:gmatch("FAIL ([^\n]*)") do
          failures[#failures + 1] = line
          shown = shown + 1
        end
        local counted = tonumber(summary:match("failures=(%d+)")) or 0
        if counted > shown then
          failures[#failures + 1] = string.format("worker %d: %d more failures not shown", i, counted - shown)
        end
      end
    end
    local t = {}
    for _, k in ipairs(helper.keys(totals)) do t[#t + 1] = k .. "=" .. totals[k] end
    io.stderr:write(string.format("driver_random_stress: %d operations; by kind: %s\n", ops, table.concat(t, " ")))

    -- I1/I3 through a connection of another chunk_size, then I4.
    local d = inv.connect(ns, 262144)
    local known = {}
    for _, p in ipairs(FILES) do known[p] = true end
    local files, dirs, wfails = inv.walk_verify(d)
    for _, f in ipairs(wfails) do failures[#failures + 1] = "after the run: " .. f end
    local nfiles = 0
    for p in pairs(files) do
      nfiles = nfiles + 1
      if not known[p] then failures[#failures + 1] = "after the run: walk finds a name nobody wrote: " .. p end
    end
    local f4, report, why = inv.delete_repair_only_root(d, ns, FILES)
    for _, f in ipairs(f4) do failures[#failures + 1] = "after the run: " .. f end
    if why then failures[#failures + 1] = "after the run: " .. why end
    d:close()
    io.stderr:write(string.format("driver_random_stress: afterwards %d files in %d directories read whole; " ..
      "repair: %s; %d failures\n", nfiles, dirs, report and inv.report_line(report) or tostring(why), #failures))
    inv.assert_none(failures)
  end)
end)
