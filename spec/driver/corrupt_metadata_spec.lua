-- Corrupt metadata in RADOS: records on chunk 0, directory omap
-- values, directory objects, pending records, back-references and append
-- claims are damaged behind the driver's back with the rados CLI.  Then
-- every driver call on the damaged path must answer within the timeout
-- plus a second, either with the content as it was (when the damage does
-- not touch what a read needs) or with nil, a message naming the path and
-- the code io or not_found -- never a crash, a hang, another code, or bytes
-- that are not the file's -- and drv:fsck{grace = 0} must report the case
-- with the kind named below.  A repair run afterwards must not remove any
-- chunk of a named blob whose records are damaged (that would turn a bad
-- record into lost data), and after deleting everything and repairing,
-- only the damaged objects fsck reports but never repairs may be left.
local regstore = require "regstore"
local helper = require "helper"

local KiB = helper.KiB
local TIMEOUT = 5
local clock = regstore.clock

local function q(s) return helper.quote(s) end

-- The rados CLI in the spec's namespace; asserts success.
local function rados(ns, args, stdin)
  local cmd = string.format("rados -p %s --namespace %s %s", q(helper.pool()), q(ns), args)
  if stdin then cmd = "printf '%s' " .. q(stdin) .. " | " .. cmd end
  local out, rc = helper.sh(cmd .. " 2>&1")
  assert(rc == 0, "rados " .. args .. " failed: " .. out)
  return out
end

-- printf-escaped bytes (for values with NULs and other control bytes).
local function esc(s)
  return (s:gsub("[%z\1-\31\127-\255%%\\'-]", function(c) return string.format("\\%03o", c:byte()) end))
end

local function set_omap(ns, obj, key, val)
  local cmd = string.format("printf '%s' | rados -p %s --namespace %s setomapval %s %s 2>&1",
    esc(val), q(helper.pool()), q(ns), q(obj), q(key))
  local out, rc = helper.sh(cmd)
  assert(rc == 0, "setomapval failed: " .. out)
end

local function blob_of(ns, path)
  local dir, base = path:match("^(.*)/([^/]+)$")
  local om = assert(helper.omap(ns, dir == "" and "/" or dir), "no directory object for " .. path)
  return assert(om[base], "no entry for " .. path)
end

-- The outcome of one call: ok (and the value), or a failure that must be
-- io or not_found and name the path; and in time.
local function outcome(problems, what, path, t0, ok, msg, code)
  if os.getenv "REGSTORE_CORRUPT_DEBUG" then
    print(what, path, string.format("%.2f", clock() - t0), type(ok) == "string" and #ok or tostring(ok), msg, code)
  end
  local dt = clock() - t0
  if dt > TIMEOUT + 1 then
    problems[#problems + 1] = string.format("%s: took %.1f s", what, dt)
  end
  if ok == nil then
    if (code ~= "io" and code ~= "not_found") or type(msg) ~= "string"
      or not msg:find(path, 1, true) or msg:sub(1, 10) ~= "regstore: " then
      problems[#problems + 1] = string.format("%s: expected nil, msg naming %s, io|not_found; got %s, %s",
        what, path, tostring(msg), tostring(code))
    end
  end
  return ok, msg, code
end

-- Every call on a damaged file path.  content: the file's bytes before the
-- damage; a call that reads must hand out exactly those, or fail.
local function every_call(drv, path, content, problems)
  local calls = 0
  local function call(what, f, ...)
    calls = calls + 1
    local t0 = clock()
    return outcome(problems, what, path, t0, f(...))
  end
  local data = call("get_content", drv.get_content, drv, path)
  if data ~= nil and data ~= content then
    problems[#problems + 1] = string.format("get_content: %d bytes that are not the file's %d", #data, #content)
  end
  local st = call("stat", drv.stat, drv, path)
  if st and st.is_dir then problems[#problems + 1] = "stat: a file became a directory" end
  local r = call("reader", drv.reader, drv, path)
  if r then
    local got, piece = {}
    repeat
      local t0 = clock()
      local msg, code
      piece, msg, code = r:read(7 * KiB)
      outcome(problems, "read", path, t0, piece or (msg == nil) or nil, msg, code)
      if piece then got[#got + 1] = piece end
    until piece == nil
    local all = table.concat(got)
    if all ~= content:sub(1, #all) then
      problems[#problems + 1] = "reader: handed out bytes that are not the file's"
    end
    r:close()
  end
  local w = call("writer(append)", drv.writer, drv, path, true)
  if w then
    call("write", w.write, w, "appended")
    call("cancel", w.cancel, w)
    w:close()
  end
  calls = calls + 2
  local t0 = clock()
  outcome(problems, "walk", "/", t0, drv:walk("/", function() end))
  t0 = clock()
  local dir = path:match("^(.*)/[^/]+$")
  outcome(problems, "list", dir, t0, drv:list(dir == "" and "/" or dir))
  local dst = path .. ".moved"
  local moved = call("move", drv.move, drv, path, dst)
  if moved then
    call("get_content (moved)", drv.get_content, drv, dst)
    path = dst
  end
  call("delete", drv.delete, drv, path)
  -- Whatever the damage, a delete takes the name away: that is how an
  -- operator clears what fsck reported.
  local gone, _, code = drv:stat(path)
  if gone or code ~= "not_found" then
    problems[#problems + 1] = "after delete, stat says " .. tostring(code or "it is there")
  end
  return calls
end

local function kinds(report)
  local t = {}
  for _, f in ipairs(report.findings) do t[f.kind] = (t[f.kind] or 0) + 1 end
  return t
end

local function describe_kinds(report) return table.concat(helper.finding_lines(report), "\n") end

-- Each case damages one thing.  setup(drv, ns) returns the damaged path and
-- the content it had; kind: what fsck must report.
local CASES = {
  { "garbage total-size", "bad_metadata", function(drv, ns)
    local data = helper.bytes(100 * KiB, 1)
    assert(drv:put_content("/c/f", data))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " total-size 12x")
    return "/c/f", data
  end },
  { "negative total-size", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/f", "short"))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " total-size -1")
    return "/c/f", "short"
  end },
  { "total-size past 2^64", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/f", "short"))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " total-size 99999999999999999999")
    return "/c/f", "short"
  end },
  { "total-size of 2^60 (more chunks than a blob may have)", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/f", "short"))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " total-size 1152921504606846976")
    return "/c/f", "short"
  end },
  { "total-size larger than the data", "bad_metadata", function(drv, ns)
    local data = helper.bytes(100 * KiB, 2)
    assert(drv:put_content("/c/f", data))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " total-size 1000000")
    return "/c/f", data, { size_may_lie = true }
  end },
  { "total-size missing", "bad_metadata", function(drv, ns)
    local data = helper.bytes(100 * KiB, 3)
    assert(drv:put_content("/c/f", data))
    rados(ns, "rmxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " total-size")
    return "/c/f", data
  end },
  { "garbage stripe-size", "bad_metadata", function(drv, ns)
    local data = helper.bytes(100 * KiB, 4)
    assert(drv:put_content("/c/f", data))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " stripe-size abc")
    return "/c/f", data
  end },
  { "stripe-size of 0", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/f", "tiny"))
    rados(ns, "setxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " stripe-size 0")
    return "/c/f", "tiny"
  end },
  { "stripe-size missing on a multi-chunk file", "bad_metadata", function(drv, ns)
    local data = helper.bytes(200 * KiB, 5)
    assert(drv:put_content("/c/f", data))
    rados(ns, "rmxattr " .. q(blob_of(ns, "/c/f") .. "-0") .. " stripe-size")
    return "/c/f", data
  end },
  { "a middle chunk missing", "bad_metadata", function(drv, ns)
    local data = helper.bytes(200 * KiB, 6)
    assert(drv:put_content("/c/f", data))
    rados(ns, "rm " .. q(blob_of(ns, "/c/f") .. "-1"))
    return "/c/f", data
  end },
  { "chunk 0 missing", "dangling_name", function(drv, ns)
    local data = helper.bytes(200 * KiB, 7)
    assert(drv:put_content("/c/f", data))
    rados(ns, "rm " .. q(blob_of(ns, "/c/f") .. "-0"))
    return "/c/f", data
  end },
  { "every chunk missing", "dangling_name", function(drv, ns)
    assert(drv:put_content("/c/f", "gone"))
    rados(ns, "rm " .. q(blob_of(ns, "/c/f") .. "-0"))
    return "/c/f", "gone"
  end },
  { "a directory value that is not a blob id", "dangling_name", function(drv, ns)
    assert(drv:put_content("/c/g", "keep"))
    set_omap(ns, "/c", "f", "garbage")
    return "/c/f", ""
  end },
  { "a directory value of a malformed blob id", "dangling_name", function(drv, ns)
    assert(drv:put_content("/c/g", "keep"))
    set_omap(ns, "/c", "f", "blob:" .. ("x"):rep(200))
    return "/c/f", ""
  end },
  { "a directory value with NUL and control bytes", "dangling_dir", function(drv, ns)
    assert(drv:put_content("/c/g", "keep"))
    set_omap(ns, "/c", "f", "\0\1\2\255")
    return "/c/f", ""
  end },
  { "a directory object missing while its parent names it", "dangling_dir", function(drv, ns)
    assert(drv:put_content("/c/d/f", "lost"))
    rados(ns, "rm " .. q("/c/d"))
    return "/c/d/f", "lost"
  end },
  { "a pending record whose data is gone", "stale_pending", function(drv, ns)
    local w = assert(drv:writer("/c/p"))
    assert(w:write(helper.bytes(150 * KiB, 8)))
    assert(w:close())
    for obj in rados(ns, "ls"):gmatch("[^\n]+") do
      if obj:match("^blob:") then rados(ns, "rm " .. q(obj)) end
    end
    return "/c/p", ""
  end },
  { "a pending record of garbage", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/g", "keep"))
    set_omap(ns, "pending:/c", "/c/p blob:" .. regstore.uuid(), "garbage")
    return "/c/p", ""
  end },
  { "a pending record of 2^64 - 1 bytes", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/g", "keep"))
    set_omap(ns, "pending:/c", "/c/p blob:" .. regstore.uuid(), "18446744073709551615 4096 -")
    return "/c/p", ""
  end },
  { "a pending record of a negative size", "bad_metadata", function(drv, ns)
    assert(drv:put_content("/c/g", "keep"))
    set_omap(ns, "pending:/c", "/c/p blob:" .. regstore.uuid(), "-1 4096 -")
    return "/c/p", ""
  end },
  { "a back-reference of a name elsewhere with a garbage stamp", "stale_ref", function(drv, ns)
    local data = helper.bytes(100 * KiB, 9)
    assert(drv:put_content("/c/f", data))
    set_omap(ns, blob_of(ns, "/c/f") .. "-0", "/c/elsewhere", "-9223372036854775808")
    return "/c/f", data
  end },
  { "a back-reference stamped far in the future", "stale_ref", function(drv, ns)
    local data = helper.bytes(100 * KiB, 10)
    assert(drv:put_content("/c/f", data))
    set_omap(ns, blob_of(ns, "/c/f") .. "-0", "/c/elsewhere", "99999999999")
    return "/c/f", data
  end },
  { "an append claim of garbage", "stale_pending", function(drv, ns)
    local data = helper.bytes(100 * KiB, 11)
    assert(drv:put_content("/c/f", data))
    set_omap(ns, blob_of(ns, "/c/f") .. "-0", "\1appender", "\255garbage")
    return "/c/f", data
  end },
}

describe("corrupt metadata in RADOS #cluster", function()
  local drv, ns
  local totals = { cases = 0, calls = 0 }

  before_each(function()
    drv, ns = helper.connect { chunk_size = 64 * KiB, timeout = TIMEOUT }
  end)
  after_each(function()
    if drv then drv:close() end
  end)
  teardown(function()
    print(string.format("\n# corrupt metadata: %d cases, %d driver calls on damaged paths, 0 crashes",
      totals.cases, totals.calls))
  end)

  for _, case in ipairs(CASES) do
    local title, kind, setup = case[1], case[2], case[3]
    it(title .. ": clear errors, fsck reports " .. kind, function()
      local path, content = setup(drv, ns)
      local report = assert(drv:fsck { grace = 0 })
      local found = kinds(report)
      assert(found[kind], "fsck did not report " .. kind .. "; it reported:\n" .. describe_kinds(report))
      local problems = {}
      totals.calls = totals.calls + every_call(drv, path, content, problems)
      assert.are.same({}, problems, title)
      totals.cases = totals.cases + 1
      -- Whatever is left: delete, repair, and the driver still works.
      drv:delete("/c")
      assert(drv:fsck { grace = 0, repair = true })
      assert.is_true(drv:put_content("/after", "fine"))
      assert.are.equal("fine", drv:get_content("/after"))
      assert.is_true(drv:delete("/after"))
    end)
  end

  it("a move of a name whose blob is gone fails at once: io, data is lost", function()
    assert(drv:put_content("/m/f", helper.bytes(100 * KiB, 13)))
    local blob = blob_of(ns, "/m/f")
    rados(ns, "rm " .. q(blob .. "-0"))
    local t0 = clock()
    local ok, msg, code = drv:move("/m/f", "/m/g")
    local dt = clock() - t0
    assert.is_nil(ok)
    assert.are.equal("io", code)
    assert.truthy(msg:find("/m/f", 1, true), msg)
    assert.truthy(msg:find("data is lost", 1, true), msg)
    assert(dt < 1, string.format("took %.2f s", dt))
    -- Nothing changed: the name stays (for fsck to report), dst is absent.
    assert.are.equal(blob, blob_of(ns, "/m/f"))
    assert.is_nil(helper.omap(ns, "/m").g)
    assert.is_true(drv:delete("/m"))
    assert(drv:fsck { grace = 0, repair = true })
  end)

  it("a repair keeps every chunk of a named blob whose stripe record is gone", function()
    local data = helper.bytes(300 * KiB, 12)
    assert(drv:put_content("/k/f", data))
    local blob = blob_of(ns, "/k/f")
    rados(ns, "rmxattr " .. q(blob .. "-0") .. " stripe-size")
    local function chunks()
      local n = 0
      for obj in rados(ns, "ls"):gmatch("[^\n]+") do
        if obj:sub(1, #blob + 1) == blob .. "-" then n = n + 1 end
      end
      return n
    end
    local n = chunks()
    assert.are.equal(5, n)
    local report = assert(drv:fsck { grace = 0, repair = true })
    assert(kinds(report).bad_metadata, describe_kinds(report))
    assert.are.equal(n, chunks(), "the repair removed chunks of a named blob:\n" .. describe_kinds(report))
    -- Once the record is back, the file reads whole again: nothing was lost.
    rados(ns, "setxattr " .. q(blob .. "-0") .. " stripe-size 65536")
    assert.are.equal(data, drv:get_content("/k/f"))
    assert.is_true(drv:delete("/k"))
  end)
end)
