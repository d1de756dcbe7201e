-- The Lua binding's own promises: calls on a closed driver and a close
-- inside a walk, connect codes for keyring failures, offsets and other
-- numbers checked before any conversion, the shape of drv:fsck, and
-- regstore.time. Runs under Lua 5.4 and LuaJIT.
local helper = require "helper"
local regstore = require "regstore"

local is54 = math.type ~= nil
local unpack = table.unpack or unpack

local function raises(fn, pattern)
  local ok, err = pcall(fn)
  assert.is_false(ok, "did not raise")
  if pattern then
    assert.truthy(tostring(err):find(pattern, 1, true),
      string.format("error %q lacks %q", tostring(err), pattern))
  end
  return tostring(err)
end

local function raises_arg(fn)
  return raises(fn, "bad argument")
end

-- The secrets in a keyring file.
local function keys_of(file)
  local f = io.open(file)
  if not f then return {} end
  local t = {}
  for key in f:read("*a"):gmatch("key%s*=%s*(%S+)") do t[#t + 1] = key end
  f:close()
  return t
end

-------------------------------------------------------------------------------
describe("a closed driver #cluster", function()
  it("raises on every method; readers and writers opened before go on", function()
    local drv, ns = helper.connect()
    assert.is_true(drv:put_content("/c/f", "0123456789"))
    local r = assert(drv:reader("/c/f", 2))
    local w = assert(drv:writer("/c/g"))
    assert.is_true(w:write("abc"))

    assert.is_true(drv:close())
    local calls = {
      put_content = { "/c/x", "x" }, get_content = { "/c/f" }, reader = { "/c/f" },
      writer = { "/c/x" }, stat = { "/c/f" }, list = { "/" }, move = { "/c/f", "/c/y" },
      delete = { "/c" }, walk = { "/", function() end }, fsck = {}, close = {},
    }
    for name, args in pairs(calls) do
      local fn = drv[name]
      assert.is_function(fn, name)
      local err = raises(function() return fn(drv, unpack(args)) end)
      assert.truthy(err:find("regstore: driver is closed", 1, true), name .. ": " .. err)
    end
    assert.truthy(tostring(drv):find("closed", 1, true))

    -- What was opened before the close keeps its connection.
    assert.are.equal("23456", r:read(5))
    assert.are.equal(10, r:size())
    assert.is_true(r:close())
    assert.is_true(w:write("def"))
    assert.is_true(w:commit())
    assert.is_true(w:close())

    local d2 = helper.connect { namespace = ns }
    assert.are.equal("abcdef", d2:get_content("/c/g"))
    assert.is_true(d2:delete("/c"))
    assert.are.same({}, d2:list("/"))
    d2:close()
  end)

  -- In a process of its own, bounded in time: at the defect, librados
  -- aborted the process (ceph_assert, bad_alloc) or hung in it.
  local function run(script, ns)
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(script)
    f:close()
    local pre = string.format("package.path=%q package.cpath=%q", package.path, package.cpath)
    local out, rc = helper.sh(table.concat({ "timeout 120", helper.quote(helper.lua_bin()), "-e",
      helper.quote(pre), helper.quote(file), helper.quote(ns), "2>&1" }, " "))
    os.remove(file)
    assert.are.equal(0, rc, out)
    return out
  end

  local PRELUDE = [[
local regstore = require "regstore"
local ns = arg[1]
local function connect()
  return assert(regstore.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns })
end
local drv = connect()
for i = 1, 5 do assert(drv:put_content("/w/d" .. i .. "/f", "x")) end
local function cleanup()
  local d = connect()
  assert(d:delete("/w"))
  assert(#d:list("/") == 0)
  d:close()
end
]]

  it("close inside a walk callback: the walk goes on, later calls raise", function()
    local out = run(PRELUDE .. [[
local seen, raised = {}, nil
local ok, msg, code = drv:walk("/", function(info)
  seen[#seen + 1] = info.path
  if #seen == 1 then
    assert(drv:close())
    collectgarbage()
    local pok, err = pcall(drv.stat, drv, "/w")
    raised = not pok and tostring(err) or "did not raise"
    pok, err = pcall(drv.walk, drv, "/", function() end)
    assert(not pok and tostring(err):find("driver is closed", 1, true), tostring(err))
  end
end)
print("walk", tostring(ok), tostring(msg), tostring(code), #seen, raised)
cleanup()
print("done")
]], helper.namespace("walkclose"))
    assert.truthy(out:find("walk\ttrue\tnil\tnil\t11\t", 1, true), out)
    assert.truthy(out:find("regstore: driver is closed", 1, true), out)
    assert.truthy(out:find("done", 1, true), out)
  end)

  it("close inside a walk callback, then stop or raise", function()
    local out = run(PRELUDE .. [[
local ok = drv:walk("/", function() drv:close(); return "stop" end)
print("stopped", tostring(ok))
drv = connect()
local pok, err = pcall(drv.walk, drv, "/w", function() drv:close(); error("boom") end)
print("raised", tostring(pok), tostring(err):find("boom", 1, true) ~= nil)
drv = connect()
-- A walk inside a walk, the inner one closing the driver.
local n = 0
ok = drv:walk("/w", function(info)
  n = n + 1
  if n == 1 then
    assert(drv:walk(info.path, function() drv:close() end))
  end
end)
print("nested", tostring(ok), n)
collectgarbage()
cleanup()
print("done")
]], helper.namespace("walkclose"))
    assert.truthy(out:find("stopped\ttrue", 1, true), out)
    assert.truthy(out:find("raised\tfalse\ttrue", 1, true), out)
    assert.truthy(out:find("nested\ttrue\t10", 1, true), out)
    assert.truthy(out:find("done", 1, true), out)
  end)
end)

-------------------------------------------------------------------------------
describe("connect failures of the keyring #cluster", function()
  local dir
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    local out, rc = helper.sh("mkdir -p " .. helper.quote(dir) .. " 2>&1")
    assert(rc == 0, out)
  end)
  teardown(function()
    helper.sh("rm -rf " .. helper.quote(dir))
  end)

  -- The message never carries a key, neither the wrong one nor the right one.
  local function no_keys(msg, files)
    for _, file in ipairs(files) do
      for _, key in ipairs(keys_of(file)) do
        assert.falsy(msg:find(key, 1, true), "the message carries a key: " .. msg)
      end
    end
  end

  it("a wrong key is permission, naming the keyring file", function()
    local wrong = dir .. "/wrong.keyring"
    local out, rc = helper.sh("ceph-authtool --create-keyring " .. helper.quote(wrong)
      .. " --gen-key -n client.admin 2>&1")
    assert.are.equal(0, rc, out)
    assert.are.equal(1, #keys_of(wrong))
    local drv, msg, code = regstore.connect { pool = helper.pool(), keyring = wrong, timeout = 10 }
    if drv then drv:close() end
    helper.fails("permission", wrong, drv, msg, code)
    no_keys(msg, { wrong, helper.keyring() })
  end)

  it("a missing keyring file is io or permission (never not_found), naming the file", function()
    local missing = dir .. "/no-such.keyring"
    local drv, msg, code = regstore.connect { pool = helper.pool(), keyring = missing, timeout = 10 }
    if drv then drv:close() end
    assert.is_nil(drv)
    assert.truthy(code == "io" or code == "permission", tostring(code) .. ": " .. tostring(msg))
    helper.fails(code, missing, drv, msg, code)
    no_keys(msg, { helper.keyring() })
  end)

  it("a keyring that is a directory is io, naming it", function()
    local drv, msg, code = regstore.connect { pool = helper.pool(), keyring = dir, timeout = 10 }
    if drv then drv:close() end
    helper.fails("io", dir, drv, msg, code)
  end)

  it("the right keyring still connects", function()
    local drv = assert(regstore.connect { pool = helper.pool(), keyring = helper.keyring(),
      namespace = helper.namespace("kr") })
    assert.are.same({}, drv:list("/"))
    drv:close()
  end)
end)

-------------------------------------------------------------------------------
describe("offsets and other numbers #cluster", function()
  local fx = helper.fixture()

  local function bad_offset(off, text)
    local msg = helper.fails("invalid_offset", "/o/f", fx.drv:reader("/o/f", off))
    if text then
      assert.truthy(msg:find(text, 1, true), string.format("message %q does not name %q", msg, text))
    end
  end

  it("reader: an offset that is not a whole number in [0, 2^63) is invalid_offset", function()
    assert.is_true(fx.drv:put_content("/o/f", "0123456789"))
    bad_offset(2 ^ 64, "18446744073709551616")
    bad_offset(1e20, "100000000000000000000")
    bad_offset(2 ^ 63, "9223372036854775808")
    bad_offset(math.huge, "inf")
    bad_offset(-math.huge, "-inf")
    bad_offset(0 / 0, "nan")
    bad_offset(1.5, "1.5")
    bad_offset(-0.5, "-0.5")
    bad_offset(-1, "-1")
    bad_offset(2 ^ 53, "9007199254740992") -- whole, but past the end
    if is54 then
      bad_offset(math.mininteger, tostring(math.mininteger))
      bad_offset(math.maxinteger, tostring(math.maxinteger))
      bad_offset(math.tointeger(-1), "-1")
    end
    -- Whole floats are offsets like integers; -0.0 is 0.
    local r = assert(fx.drv:reader("/o/f", 3.0))
    assert.are.equal("3456789", helper.read_all(r))
    r:close()
    r = assert(fx.drv:reader("/o/f", -0.0))
    assert.are.equal("0123456789", helper.read_all(r))
    r:close()
    -- A wrong type still raises.
    raises_arg(function() fx.drv:reader("/o/f", "3") end)
    raises_arg(function() fx.drv:reader("/o/f", true) end)
    assert.is_true(fx.drv:delete("/o"))
  end)

  it("read(n): n must be a whole number of at least 1; huge n is fine", function()
    assert.is_true(fx.drv:put_content("/o/f", "0123456789"))
    local r = assert(fx.drv:reader("/o/f"))
    raises(function() r:read(0) end)
    raises(function() r:read(-1) end)
    raises(function() r:read(0.5) end)
    raises(function() r:read(1.5) end)
    raises(function() r:read(0 / 0) end)
    raises(function() r:read(math.huge) end)
    raises(function() r:read(-math.huge) end)
    raises_arg(function() r:read("1") end)
    raises_arg(function() r:read() end)
    if is54 then raises(function() r:read(math.mininteger) end) end
    assert.are.equal("0", r:read(1))
    assert.are.equal("12", r:read(2.0))
    assert.are.equal("3456789", r:read(2 ^ 64))
    assert.is_nil(r:read(is54 and math.maxinteger or 2 ^ 53))
    r:close()
    assert.is_true(fx.drv:delete("/o"))
  end)

  it("list's n: a whole number of 0 or more", function()
    assert.is_true(fx.drv:put_content("/l/a", "a"))
    assert.is_true(fx.drv:put_content("/l/b", "b"))
    raises_arg(function() fx.drv:list("/l", { n = math.huge }) end)
    raises_arg(function() fx.drv:list("/l", { n = 0 / 0 }) end)
    raises_arg(function() fx.drv:list("/l", { n = -1 }) end)
    raises_arg(function() fx.drv:list("/l", { n = 1.5 }) end)
    raises_arg(function() fx.drv:list("/l", { n = "1" }) end)
    assert.are.same({ "/l/a", "/l/b" }, fx.drv:list("/l", { n = 2 ^ 70 }))
    assert.are.same({ "/l/a" }, fx.drv:list("/l", { n = 1.0 }))
    assert.are.same({}, fx.drv:list("/l", { n = 0 }))
    assert.is_true(fx.drv:delete("/l"))
  end)

  it("connect options: a wrong type or a bad value raises, clearly", function()
    local pool = helper.pool()
    local function bad(opt, value, text)
      local o = { pool = pool, namespace = helper.namespace("opt") }
      o[opt] = value
      local err = raises(function()
        local d = regstore.connect(o)
        if d then d:close() end
      end)
      assert.truthy(err:find(text or opt, 1, true), err)
    end
    for _, v in ipairs { 0 / 0, math.huge, -math.huge, 0, -1, 2 ^ 31, 2 ^ 64 } do bad("timeout", v) end
    for _, v in ipairs { 0 / 0, math.huge, 4096.5, 4095, 2 ^ 26 + 1, 2 ^ 64, -4096 } do bad("chunk_size", v) end
    for _, v in ipairs { 0 / 0, math.huge, 0, 1.5, 257, 2 ^ 64 } do bad("window", v) end
    bad("timeout", "30")
    bad("chunk_size", {})
    bad("window", true)
    -- Good values of every kind still connect.
    local d = assert(regstore.connect { pool = pool, namespace = helper.namespace("opt"),
      timeout = 0.25e2, chunk_size = 4096.0, window = 256 })
    d:close()
  end)
end)

-------------------------------------------------------------------------------
describe("drv:fsck #cluster", function()
  local fx = helper.fixture()

  local function check_shape(rep)
    assert.is_table(rep)
    assert.is_number(rep.objects)
    assert.truthy(rep.objects >= 0 and rep.objects == math.floor(rep.objects))
    assert.are.equal(0, rep.repaired)
    assert.are.same({}, rep.findings)
  end

  it("on an empty namespace: no findings", function()
    check_shape(fx.drv:fsck())
    check_shape(fx.drv:fsck {})
    check_shape(fx.drv:fsck { grace = 0 })
    check_shape(fx.drv:fsck { grace = 1e300, repair = false })
    check_shape(fx.drv:fsck { grace = 0, repair = true })
  end)

  it("options: a wrong type or a bad value raises", function()
    raises_arg(function() fx.drv:fsck "x" end)
    raises_arg(function() fx.drv:fsck(1) end)
    raises_arg(function() fx.drv:fsck { grace = "1" } end)
    raises_arg(function() fx.drv:fsck { grace = -1 } end)
    raises_arg(function() fx.drv:fsck { grace = 0 / 0 } end)
    raises_arg(function() fx.drv:fsck { grace = math.huge } end)
    raises_arg(function() fx.drv:fsck { repair = 1 } end)
    raises_arg(function() fx.drv:fsck { repair = "yes" } end)
  end)
end)

-------------------------------------------------------------------------------

describe("regstore.time #cluster", function()
  -- The policies date files against it with grace 0 right after writing
  -- them: os.time() (a coarse clock) could answer a second before the
  -- mtime librados had just stamped.
  it("is never behind the mtime of a file written before it, across second boundaries", function()
    local drv = helper.connect()
    local t = regstore.time()
    assert.is_number(t)
    assert.truthy(math.abs(t - os.time()) < 2)
    local crossed, last, n = 0, math.floor(t), 0
    while crossed < 3 do
      n = n + 1
      assert(drv:put_content("/clock/f" .. n % 4, "x"))
      local now = regstore.time()
      local fi = assert(drv:stat("/clock/f" .. n % 4))
      assert.truthy(fi.modtime <= now, string.format("modtime %d > time() %.6f", fi.modtime, now))
      if math.floor(now) ~= last then crossed, last = crossed + 1, math.floor(now) end
    end
    drv:close()
  end)
end)
