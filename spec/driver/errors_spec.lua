-- Every error code of the driver contract, reached on purpose, and the
-- programming mistakes that must raise instead of returning an error.
local regstore = require "regstore"
local helper = require "helper"

local function noop() end

-- Paths that break ^(/[A-Za-z0-9._-]+)+$.
local BAD_PATHS = { "", "abc", "123.abc", "//bcd", "/abc_123/", "/a//b", "a/b", "/a/",
  "//", "/a b", "/a\tb", "/a\nb", "/\xc3\xa9", "/a:b", "/a*b", "/a~", "/a\0b", "/a/b\0" }

-- A printable rendering of a path for test titles and messages.
local function show(p)
  return (string.format("%q", p):gsub("\\\n", "\\n"))
end

-- Messages must name the path; only check it when the path is printable.
local function subject(p)
  if p ~= "" and not p:find("[%z\1-\31\127-\255]") then return p end
  return nil
end

-------------------------------------------------------------------------------
describe("not_found #cluster", function()
  local fx = helper.fixture()

  local function all_missing(drv, p)
    helper.fails("not_found", p, drv:get_content(p))
    helper.fails("not_found", p, drv:reader(p))
    helper.fails("not_found", p, drv:reader(p, 10))
    helper.fails("not_found", p, drv:stat(p))
    helper.fails("not_found", p, drv:list(p))
    helper.fails("not_found", p, drv:delete(p))
    helper.fails("not_found", p, drv:move(p, "/elsewhere"))
    helper.fails("not_found", p, drv:writer(p, true))
    local calls = 0
    helper.fails("not_found", p, drv:walk(p, function() calls = calls + 1 end))
    assert.are.equal(0, calls)
  end

  it("for a missing top-level name", function()
    all_missing(fx.drv, "/missing")
  end)

  it("for a missing path several levels down", function()
    all_missing(fx.drv, "/missing/deeper/file")
  end)

  it("for a missing name in an existing directory", function()
    assert.is_true(fx.drv:put_content("/d/present", "x"))
    all_missing(fx.drv, "/d/missing")
    all_missing(fx.drv, "/d/missing/deeper")
    assert.are.equal("x", fx.drv:get_content("/d/present"))
    helper.fails("not_found", "/elsewhere", fx.drv:stat("/elsewhere"))
    assert.is_true(fx.drv:delete("/d"))
  end)

  it("after delete", function()
    assert.is_true(fx.drv:put_content("/d/f", "x"))
    assert.is_true(fx.drv:delete("/d/f"))
    all_missing(fx.drv, "/d/f")
    all_missing(fx.drv, "/d")
  end)
end)

-------------------------------------------------------------------------------
describe("invalid_path #cluster", function()
  local fx = helper.fixture()

  describe("with a file /ok", function()
    before_each(function() assert(fx.drv:put_content("/ok", "ok")) end)
    after_each(function()
      -- Nothing else appeared (an embedded NUL must not cut a path short).
      assert.are.same({ "/ok" }, fx.drv:list("/"))
      assert.are.equal("ok", fx.drv:get_content("/ok"))
      assert.is_true(fx.drv:delete("/ok"))
    end)

    for _, p in ipairs(BAD_PATHS) do
      it("for " .. show(p) .. " in every call", function()
        local s = subject(p)
        helper.fails("invalid_path", s, fx.drv:put_content(p, "x"))
        helper.fails("invalid_path", s, fx.drv:get_content(p))
        helper.fails("invalid_path", s, fx.drv:reader(p))
        helper.fails("invalid_path", s, fx.drv:reader(p, 0))
        helper.fails("invalid_path", s, fx.drv:writer(p))
        helper.fails("invalid_path", s, fx.drv:writer(p, true))
        helper.fails("invalid_path", s, fx.drv:stat(p))
        helper.fails("invalid_path", s, fx.drv:list(p))
        helper.fails("invalid_path", s, fx.drv:delete(p))
        helper.fails("invalid_path", s, fx.drv:move(p, "/ok2"))
        helper.fails("invalid_path", nil, fx.drv:move("/ok", p))
        helper.fails("invalid_path", s, fx.drv:walk(p, noop))
      end)
    end

    it("for / where only list, stat and walk accept it", function()
      helper.fails("invalid_path", nil, fx.drv:put_content("/", "x"))
      helper.fails("invalid_path", nil, fx.drv:get_content("/"))
      helper.fails("invalid_path", nil, fx.drv:reader("/"))
      helper.fails("invalid_path", nil, fx.drv:writer("/"))
      helper.fails("invalid_path", nil, fx.drv:writer("/", true))
      helper.fails("invalid_path", nil, fx.drv:delete("/"))
      helper.fails("invalid_path", nil, fx.drv:move("/", "/x"))
      helper.fails("invalid_path", nil, fx.drv:move("/ok", "/"))
      assert.are.same({ "/ok" }, assert(fx.drv:list("/")))
      assert.is_true(assert(fx.drv:stat("/")).is_dir)
      local seen = {}
      assert.is_true(fx.drv:walk("/", function(info) seen[#seen + 1] = info.path end))
      assert.are.same({ "/ok" }, seen)
    end)
  end)
end)

-------------------------------------------------------------------------------
describe("long paths #cluster", function()
  local fx = helper.fixture()

  it("a valid path of 1000 characters works", function()
    local dir = "/" .. string.rep("d", 500)
    local p = dir .. "/" .. string.rep("f", 498)
    assert.are.equal(1000, #p)
    assert.is_true(fx.drv:put_content(p, "long"))
    assert.are.equal("long", fx.drv:get_content(p))
    assert.are.same({ p }, fx.drv:list(dir))
    assert.are.equal(4, assert(fx.drv:stat(p)).size)
    assert.is_true(fx.drv:delete(dir))
  end)

  it("a path too long for a RADOS object name fails cleanly and leaves nothing", function()
    -- The directory object would be named by a 2101-character path, past
    -- osd_max_object_name_len (2048).  The contract's regexp accepts it, so
    -- the failure is io ("File name too long") unless the engine refuses it
    -- up front as invalid_path; either way nothing may be left behind.
    local p = "/" .. string.rep("d", 2100) .. "/f"
    local ok, msg, code = fx.drv:put_content(p, "x")
    assert.is_nil(ok)
    assert.is_string(msg)
    assert.truthy(code == "invalid_path" or code == "io", "code " .. tostring(code) .. ": " .. tostring(msg))
    ok, msg, code = fx.drv:writer(p)
    if ok then ok:cancel() end
    assert.is_nil(ok)
    assert.truthy(code == "invalid_path" or code == "io", "code " .. tostring(code) .. ": " .. tostring(msg))
    assert.are.same({}, fx.drv:list("/"))
    assert.are.same({}, helper.leftovers(fx.ns))
  end)
end)

-------------------------------------------------------------------------------
describe("invalid_offset #cluster", function()
  local fx = helper.fixture()

  it("for a negative offset, naming the path and the offset", function()
    assert.is_true(fx.drv:put_content("/o/f", "0123456789"))
    local msg = helper.fails("invalid_offset", "/o/f", fx.drv:reader("/o/f", -1))
    assert.truthy(msg:find("-1", 1, true), msg)
    msg = helper.fails("invalid_offset", "/o/f", fx.drv:reader("/o/f", -4096))
    assert.truthy(msg:find("-4096", 1, true), msg)
    assert.is_true(fx.drv:delete("/o"))
  end)

  it("for an offset past the end, naming the path and the offset", function()
    assert.is_true(fx.drv:put_content("/o/f", "0123456789"))
    local msg = helper.fails("invalid_offset", "/o/f", fx.drv:reader("/o/f", 11))
    assert.truthy(msg:find("11", 1, true), msg)
    msg = helper.fails("invalid_offset", "/o/f", fx.drv:reader("/o/f", 1099511627776))
    assert.truthy(msg:find("1099511627776", 1, true), msg)
    -- offset == size is fine and reads nothing
    local r = assert(fx.drv:reader("/o/f", 10))
    assert.is_nil(r:read(1))
    r:close()
    assert.is_true(fx.drv:delete("/o"))
  end)

  it("for any offset but 0 on an empty file", function()
    assert.is_true(fx.drv:put_content("/o/empty", ""))
    local msg = helper.fails("invalid_offset", "/o/empty", fx.drv:reader("/o/empty", 1))
    assert.truthy(msg:find("1", 1, true), msg)
    local r = assert(fx.drv:reader("/o/empty", 0))
    assert.is_nil(r:read(1))
    r:close()
    assert.is_true(fx.drv:delete("/o"))
  end)
end)

-------------------------------------------------------------------------------
describe("not_dir #cluster", function()
  local fx = helper.fixture()

  describe("with files /f and /g", function()
    before_each(function()
      assert(fx.drv:put_content("/f", "file"))
      assert(fx.drv:put_content("/g", "other"))
    end)
    after_each(function()
      assert.are.equal("file", fx.drv:get_content("/f"))
      assert.are.equal("other", fx.drv:get_content("/g"))
      assert.are.same({ "/f", "/g" }, fx.drv:list("/"))
      assert.is_true(fx.drv:delete("/f"))
      assert.is_true(fx.drv:delete("/g"))
    end)

    it("list and walk on a file", function()
      helper.fails("not_dir", "/f", fx.drv:list("/f"))
      local calls = 0
      helper.fails("not_dir", "/f", fx.drv:walk("/f", function() calls = calls + 1 end))
      assert.are.equal(0, calls)
    end)

    for _, p in ipairs { "/f/x", "/f/x/y" } do
      it("for every call on a path through a file: " .. p, function()
        helper.fails("not_dir", p, fx.drv:put_content(p, "x"))
        helper.fails("not_dir", p, fx.drv:writer(p))
        helper.fails("not_dir", p, fx.drv:writer(p, true))
        helper.fails("not_dir", p, fx.drv:get_content(p))
        helper.fails("not_dir", p, fx.drv:reader(p))
        helper.fails("not_dir", p, fx.drv:stat(p))
        helper.fails("not_dir", p, fx.drv:list(p))
        helper.fails("not_dir", p, fx.drv:walk(p, noop))
        helper.fails("not_dir", p, fx.drv:delete(p))
        helper.fails("not_dir", p, fx.drv:move(p, "/h"))
        helper.fails("not_dir", "/g", fx.drv:move("/g", p))
      end)
    end
  end)
end)

-------------------------------------------------------------------------------
describe("is_dir #cluster", function()
  local fx = helper.fixture()

  describe("with /dir/child and /file", function()
    before_each(function()
      assert(fx.drv:put_content("/dir/child", "c"))
      assert(fx.drv:put_content("/file", "f"))
    end)
    after_each(function()
      assert.are.equal("c", fx.drv:get_content("/dir/child"))
      assert.are.equal("f", fx.drv:get_content("/file"))
      assert.are.same({ "/dir", "/file" }, fx.drv:list("/"))
      assert.are.same({ "/dir/child" }, fx.drv:list("/dir"))
      assert.is_true(fx.drv:delete("/dir"))
      assert.is_true(fx.drv:delete("/file"))
    end)

    it("get_content, reader, writer and put_content on a directory", function()
      helper.fails("is_dir", "/dir", fx.drv:get_content("/dir"))
      helper.fails("is_dir", "/dir", fx.drv:reader("/dir"))
      helper.fails("is_dir", "/dir", fx.drv:reader("/dir", 0))
      helper.fails("is_dir", "/dir", fx.drv:writer("/dir"))
      helper.fails("is_dir", "/dir", fx.drv:writer("/dir", true))
      helper.fails("is_dir", "/dir", fx.drv:put_content("/dir", "x"))
    end)

    it("move of a directory, naming the source", function()
      helper.fails("is_dir", "/dir", fx.drv:move("/dir", "/moved"))
      helper.fails("is_dir", "/dir", fx.drv:move("/dir", "/file"))
      helper.fails("not_found", "/moved", fx.drv:stat("/moved"))
    end)

    it("move onto a directory, naming the source", function()
      helper.fails("is_dir", "/file", fx.drv:move("/file", "/dir"))
    end)
  end)
end)

-------------------------------------------------------------------------------
describe("exists #cluster", function()
  -- The contract's own calls always replace (put_content, writer, move onto
  -- a file); the create-only extension { replace = false } reaches "exists".
  local fx = helper.fixture()
  it("put_content and move with replace = false onto a file, naming the path", function()
    assert(fx.drv:put_content("/f", "x"))
    assert(fx.drv:put_content("/g", "y"))
    helper.fails("exists", "/f", fx.drv:put_content("/f", "z", { replace = false }))
    helper.fails("exists", "/f", fx.drv:move("/g", "/f", { replace = false }))
    assert.equal("x", fx.drv:get_content("/f"))
    assert(fx.drv:delete("/f"))
    assert(fx.drv:delete("/g"))
  end)
end)

-------------------------------------------------------------------------------
describe("timeout #cluster", function()
  it("connect to a monitor that is not there gives up in time", function()
    local conf = os.tmpname()
    local f = assert(io.open(conf, "w"))
    f:write("[global]\n", "mon host = v2:127.0.0.1:1\n",
      "auth cluster required = cephx\nauth service required = cephx\nauth client required = cephx\n")
    local keyring = helper.keyring()
    if keyring then f:write("keyring = ", keyring, "\n") end
    f:close()
    finally(function() os.remove(conf) end)
    local t0 = helper.now()
    local drv, msg, code = regstore.connect { pool = helper.pool(), conf = conf, keyring = keyring, timeout = 0.5 }
    local dt = helper.now() - t0
    if drv then drv:close() end
    helper.fails("timeout", nil, drv, msg, code)
    assert.truthy(dt < 5, "timeout 0.5 s took " .. dt .. " s")
  end)
end)

-------------------------------------------------------------------------------
describe("permission #cluster", function()
  local user, keyring, allowed_ns, other_ns
  local created = false

  setup(function()
    user = "spec-" .. regstore.uuid():sub(1, 8)
    keyring = os.tmpname()
    allowed_ns = helper.namespace("allowed")
    other_ns = helper.namespace("denied")
    local out, rc = helper.sh(string.format(
      "ceph auth get-or-create client.%s mon 'allow r' osd 'allow rw pool=%s namespace=%s' -o %s 2>&1",
      user, helper.pool(), allowed_ns, helper.quote(keyring)))
    created = rc == 0
    if not created then io.stderr:write("ceph auth get-or-create failed: ", out, "\n") end
  end)

  teardown(function()
    if created then helper.sh("ceph auth del client." .. user .. " 2>&1") end
    os.remove(keyring)
  end)

  it("cephx refuses a namespace outside the user's caps", function()
    assert(created, "could not create a cephx user with the ceph CLI")
    -- The user works where its caps allow.
    local ok_drv, m0 = regstore.connect { pool = helper.pool(), id = user, keyring = keyring, namespace = allowed_ns }
    assert(ok_drv, m0)
    assert.is_true(ok_drv:put_content("/p/f", "allowed"))
    assert.are.equal("allowed", ok_drv:get_content("/p/f"))
    assert.is_true(ok_drv:delete("/p"))
    ok_drv:close()

    -- Elsewhere: connect may already fail (it makes sure the root exists),
    -- else the first operations must.
    local drv, msg, code = regstore.connect { pool = helper.pool(), id = user, keyring = keyring, namespace = other_ns }
    if not drv then
      helper.fails("permission", nil, drv, msg, code)
      return
    end
    helper.fails("permission", "/p/f", drv:put_content("/p/f", "denied"))
    helper.fails("permission", "/p/f", drv:stat("/p/f"))
    helper.fails("permission", "/p/f", drv:get_content("/p/f"))
    helper.fails("permission", "/", drv:list("/"))
    drv:close()
  end)
end)

-------------------------------------------------------------------------------
describe("io #cluster", function()
  it("connect to a pool that does not exist", function()
    -- The contract has no code for a missing pool: not_found (the thing
    -- named does not exist) or io (anything else from RADOS) are both read
    -- from it; anything else is wrong.
    local pool = "no-such-pool-" .. regstore.uuid():sub(1, 8)
    local drv, msg, code = regstore.connect { pool = pool, timeout = 10 }
    if drv then drv:close() end
    assert.is_nil(drv)
    assert.is_string(msg)
    assert.truthy(code == "not_found" or code == "io", "code " .. tostring(code))
    assert.are.equal("regstore: ", msg:sub(1, 10))
  end)

  it("from RADOS itself: a namespace longer than the OSD takes", function()
    -- osd_max_object_namespace_len is 256: RADOS answers ENAMETOOLONG, which
    -- is none of the contract's other codes; connect meets it making the root.
    local drv, msg, code = regstore.connect { pool = helper.pool(), namespace = string.rep("n", 300) }
    if drv then drv:close() end
    assert.is_nil(drv)
    assert.are.equal("io", code)
    assert.are.equal("regstore: ", msg:sub(1, 10))
    assert.truthy(msg:find("File name too long", 1, true), msg)
  end)
end)

-------------------------------------------------------------------------------
describe("programming mistakes raise #cluster", function()
  local fx = helper.fixture()

  local function raises_arg(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "did not raise")
    assert.truthy(tostring(err):find("bad argument", 1, true), "not an argument error: " .. tostring(err))
  end

  local function raises(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "did not raise")
    return err
  end

  it("wrong argument types to driver calls", function()
    local d = fx.drv
    raises_arg(function() d:put_content(1, {}) end)
    raises_arg(function() d:put_content("/x", {}) end)
    raises_arg(function() d:put_content("/x") end)
    raises_arg(function() d:put_content({}, "x") end)
    raises_arg(function() d:get_content({}) end)
    raises_arg(function() d:get_content() end)
    raises_arg(function() d:stat(true) end)
    raises_arg(function() d:list({}) end)
    raises_arg(function() d:delete(nil) end)
    raises_arg(function() d:move("/a") end)
    raises_arg(function() d:move({}, "/b") end)
    raises_arg(function() d:reader("/x", "abc") end)
    raises_arg(function() d:reader("/x", {}) end)
    raises_arg(function() d:walk("/", nil) end)
    raises_arg(function() d:walk("/", "not a function") end)
    raises_arg(function() d.stat(nil, "/") end)
    raises_arg(function() d.stat({}, "/") end)
    raises_arg(function() regstore.connect("pool") end)
    raises(function() regstore.connect { pool = {} } end)
  end)

  it("reader misuse", function()
    assert.is_true(fx.drv:put_content("/r", "content"))
    local r = assert(fx.drv:reader("/r"))
    raises(function() r:read(0) end)
    raises(function() r:read(-1) end)
    raises_arg(function() r:read("x") end)
    raises_arg(function() r:read({}) end)
    assert.are.equal("c", r:read(1))
    assert.is_true(r:close())
    raises(function() r:read(1) end)
    raises(function() r:close() end)
    local w = assert(fx.drv:writer("/w"))
    raises_arg(function() w.write(r, "x") end) -- a reader is not a writer
    raises_arg(function() r.read(w, 1) end)
    assert.is_true(w:cancel())
    assert.is_true(fx.drv:delete("/r"))
  end)

  it("writer misuse after commit", function()
    local w = assert(fx.drv:writer("/w"))
    raises_arg(function() w:write({}) end)
    raises_arg(function() w:write(nil) end)
    assert.is_true(w:write("abc"))
    assert.is_true(w:commit())
    raises(function() w:write("x") end)
    raises(function() w:commit() end)
    raises(function() w:cancel() end)
    assert.are.equal(3, w:size())
    assert.is_true(w:close())
    assert.are.equal(3, w:size())
    raises(function() w:write("x") end)
    assert.are.equal("abc", fx.drv:get_content("/w"))
    assert.is_true(fx.drv:delete("/w"))
  end)

  it("writer misuse after cancel", function()
    local w = assert(fx.drv:writer("/w"))
    assert.is_true(w:write("abc"))
    assert.is_true(w:cancel())
    raises(function() w:write("x") end)
    raises(function() w:commit() end)
    raises(function() w:cancel() end)
    assert.is_number(w:size())
    assert.is_true(w:close())
    helper.fails("not_found", "/w", fx.drv:stat("/w"))
  end)

  it("writer misuse after close", function()
    local w = assert(fx.drv:writer("/w"))
    assert.is_true(w:write("abcd"))
    assert.is_true(w:close())
    assert.are.equal(4, w:size())
    raises(function() w:write("x") end)
    raises(function() w:commit() end)
    raises(function() w:cancel() end)
    raises(function() w:close() end)
    assert.are.equal(4, w:size())
    -- The closed writer's data is still there for an append, and goes with delete.
    w = assert(fx.drv:writer("/w", true))
    assert.are.equal(4, w:size())
    assert.is_true(w:cancel())
    local ok, _, code = fx.drv:delete("/w")
    assert.truthy(ok or code == "not_found")
  end)
end)
