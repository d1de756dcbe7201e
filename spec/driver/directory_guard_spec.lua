-- A name that became a directory is never overwritten
-- by a file.  A subdirectory's directory entry is "" and an absent key
-- compares as "" too, so a link guarded only by `omap_cmp(name, EQ, "")`
-- used to replace the directory entry with a blob id: the directory was
-- hidden, delete of the parent leaked it, and fsck --repair relinked it
-- (bringing back a deleted child).  A writer commit, a put_content and a
-- move onto such a name must fail with is_dir (naming the path) and change
-- nothing.
local helper = require "helper"

local CHUNK = 65536

describe("links never overwrite a directory entry #cluster", function()
  -- Each test in a namespace of its own, so that one that fails (and
  -- leaves a hidden directory behind) does not fail the others.
  local function fresh()
    local drv, ns = helper.connect { chunk_size = CHUNK }
    finally(function() drv:close() end)
    return { drv = drv, ns = ns }
  end

  -- x/b is a directory holding c (and only that), x nothing else; then
  -- delete(x) leaves nothing in RADOS and fsck finds nothing.
  local function directory_intact(drv, ns, x)
    assert.are.same({ x .. "/b" }, drv:list(x))
    assert.are.same({ x .. "/b/c" }, drv:list(x .. "/b"))
    assert.is_true(drv:stat(x .. "/b").is_dir)
    assert.are.equal("child", drv:get_content(x .. "/b/c"))
    assert.are.equal("", helper.omap(ns, x).b)
    local report = assert(drv:fsck { grace = 0 })
    assert.are.same({}, report.findings)
    assert.is_true(drv:delete(x))
    assert.are.same({}, helper.leftovers(ns))
    report = assert(drv:fsck { grace = 0, repair = true })
    assert.are.same({}, report.findings)
    helper.fails("not_found", x .. "/b/c", drv:stat(x .. "/b/c"))
  end

  it("a writer commit onto a name that became a directory fails is_dir", function()
    local fx = fresh()
    local data = helper.bytes(3 * CHUNK + 5, 1)
    local w = assert(fx.drv:writer("/t1/b"))
    assert.is_true(w:write(data))
    assert.is_true(fx.drv:put_content("/t1/b/c", "child"))
    helper.fails("is_dir", "/t1/b", w:commit())
    assert.is_true(w:close())
    directory_intact(fx.drv, fx.ns, "/t1")
  end)

  it("a small writer commit (whole file in its buffer) fails is_dir too", function()
    local fx = fresh()
    local w = assert(fx.drv:writer("/t2/b"))
    assert.is_true(w:write("tiny"))
    assert.is_true(fx.drv:put_content("/t2/b/c", "child"))
    helper.fails("is_dir", "/t2/b", w:commit())
    directory_intact(fx.drv, fx.ns, "/t2")
  end)

  it("a writer commit whose parent directory appeared meanwhile still works", function()
    local fx = fresh()
    local w = assert(fx.drv:writer("/t3/b"))
    assert.is_true(w:write("mine"))
    assert.is_true(fx.drv:put_content("/t3/other", "o")) -- creates /t3 meanwhile
    assert.is_true(w:commit())
    assert.are.equal("mine", fx.drv:get_content("/t3/b"))
    assert.is_true(fx.drv:delete("/t3"))
  end)

  it("a resumed writer (writer(path, true)) commit onto a directory fails is_dir", function()
    local fx = fresh()
    local w = assert(fx.drv:writer("/t4/b"))
    assert.is_true(w:write(helper.bytes(CHUNK + 3, 2)))
    assert.is_true(w:close())
    w = assert(fx.drv:writer("/t4/b", true))
    assert.is_true(w:write("more"))
    assert.is_true(fx.drv:put_content("/t4/b/c", "child"))
    helper.fails("is_dir", "/t4/b", w:commit())
    directory_intact(fx.drv, fx.ns, "/t4")
  end)

  -- put_content and move decide from a lookup; a directory created between
  -- that lookup and the link is the race.  Its outcome from the outside is
  -- the same as with the directory there first, which is what a single
  -- process can set up: both must answer is_dir and change nothing, in
  -- every mode (replace or not).
  it("put_content onto a directory fails is_dir and changes nothing", function()
    local fx = fresh()
    assert.is_true(fx.drv:put_content("/t5/b/c", "child"))
    helper.fails("is_dir", "/t5/b", fx.drv:put_content("/t5/b", "file"))
    helper.fails("is_dir", "/t5/b", fx.drv:put_content("/t5/b", "file", { replace = false }))
    directory_intact(fx.drv, fx.ns, "/t5")
  end)

  it("move onto a directory fails is_dir and changes nothing (same and other directory)", function()
    local fx = fresh()
    assert.is_true(fx.drv:put_content("/t6/b/c", "child"))
    assert.is_true(fx.drv:put_content("/t6/s", "src"))
    assert.is_true(fx.drv:put_content("/y/s", "src2"))
    helper.fails("is_dir", "/t6/s", fx.drv:move("/t6/s", "/t6/b"))
    helper.fails("is_dir", "/y/s", fx.drv:move("/y/s", "/t6/b"))
    helper.fails("is_dir", "/y/s", fx.drv:move("/y/s", "/t6/b", { replace = false }))
    assert.are.equal("src", fx.drv:get_content("/t6/s"))
    assert.are.equal("src2", fx.drv:get_content("/y/s"))
    assert.is_true(fx.drv:delete("/t6/s"))
    assert.is_true(fx.drv:delete("/y"))
    directory_intact(fx.drv, fx.ns, "/t6")
  end)

  -- A directory a killed put made is flagged until it is linked up (the
  -- engine's `linking` xattr); a name linked into it counts once it is.
  -- When that cannot be done (here a file stands where its parent should
  -- be), a move onto it must fail and keep its source, not drop the source
  -- for a name no reader can reach.
  it("a move whose destination directory cannot be listed fails and keeps its source", function()
    local fx = fresh()
    assert.is_true(fx.drv:put_content("/q", "file"))
    helper.rados(fx.ns, "create /q/d")
    helper.rados(fx.ns, "setxattr /q/d linking killed-put")
    assert.is_true(fx.drv:put_content("/src/f", "data"))
    helper.fails("not_dir", "/src/f", fx.drv:move("/src/f", "/q/d/g"))
    assert.are.equal("data", fx.drv:get_content("/src/f"))
    assert.are.equal("file", fx.drv:get_content("/q"))
    -- the file out of the way, the move again lists /q/d before the source goes
    assert.is_true(fx.drv:delete("/q"))
    assert.is_true(fx.drv:move("/src/f", "/q/d/g"))
    assert.are.equal("data", fx.drv:get_content("/q/d/g"))
    assert.are.same({ "/q/d/g" }, fx.drv:list("/q/d"))
    assert.are.same({ "/q" }, fx.drv:list("/"))
    helper.fails("not_found", "/src/f", fx.drv:get_content("/src/f"))
    assert.is_true(fx.drv:delete("/q"))
    assert(fx.drv:fsck { grace = 0, repair = true })
    assert.are.same({}, helper.leftovers(fx.ns))
  end)

  -- The race itself, in two processes.  Before each call onto /r/<i> this
  -- process puts a marker /go/<i>; the other one waits for it and creates
  -- /r/<i>/c at once, which lands while a put of several chunks is still
  -- writing its data (its lookup of /r/<i> long done) or while a move is
  -- between its lookup and its link.  Whatever the order, /r/<i> ends
  -- either a file (the put or move won, the child's put failed not_dir) or
  -- a directory holding c (the put or move failed is_dir): never a file
  -- with a hidden directory behind it.
  it("put_content and move racing a directory creation never hide it", function()
    local fx = fresh()
    local N = 16
    local child = helper.spawn_lua([[
      local regstore = require "regstore"
      local drv = assert(regstore.connect { pool = arg[1], namespace = arg[2], chunk_size = 65536 })
      for i = 1, tonumber(arg[3]) do
        local t0 = os.time()
        while not drv:stat("/go/" .. i) do assert(os.time() - t0 < 30, "no marker " .. i) end
        local ok, _, code = drv:put_content("/r/" .. i .. "/c", "child")
        io.write(i, " ", tostring(ok or code), "\n")
      end
      drv:close()
    ]], { helper.pool(), fx.ns, tostring(N) })
    local big = helper.bytes(40 * CHUNK, 7)
    local _
    local answers = {}
    for i = 1, N do
      local ok, code
      if i % 2 == 0 then
        assert.is_true(fx.drv:put_content("/go/" .. i, ""))
        ok, _, code = fx.drv:put_content("/r/" .. i, big)
      else
        assert.is_true(fx.drv:put_content("/s/" .. i, "moved"))
        assert.is_true(fx.drv:put_content("/go/" .. i, ""))
        ok, _, code = fx.drv:move("/s/" .. i, "/r/" .. i)
        if not ok then assert.is_true(fx.drv:delete("/s/" .. i)) end
      end
      answers[i] = ok and "ok" or code
    end
    local out, rc = helper.wait(child)
    assert.are.equal(0, rc, out)
    for i = 1, N do
      local p = "/r/" .. i
      local st = assert(fx.drv:stat(p))
      if st.is_dir then
        assert.are.equal("is_dir", answers[i], p)
        assert.are.equal("child", fx.drv:get_content(p .. "/c"))
        assert.are.equal("", helper.omap(fx.ns, "/r")[tostring(i)])
      else
        assert.are.equal("ok", answers[i], p)
        helper.fails("not_dir", p, fx.drv:stat(p .. "/c"))
        assert.are.equal(i % 2 == 0 and big or "moved", fx.drv:get_content(p))
      end
    end
    local report = assert(fx.drv:fsck { grace = 0 })
    assert.are.same({}, report.findings)
    assert.is_true(fx.drv:delete("/r"))
    assert.is_true(fx.drv:delete("/go"))
    pcall(fx.drv.delete, fx.drv, "/s")
    assert.are.same({}, helper.leftovers(fx.ns))
  end)
end)
