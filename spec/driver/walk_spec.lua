-- walk: HEAD's TestWalkFallback tree and cases (registry/storage/driver/
-- walk_test.go), against the contract's drv:walk(path, fn).
local helper = require "helper"

local TREE = {
  "/file1",
  "/folder1/file1",
  "/folder1-suffix/file1",
  "/folder2/file1",
  "/folder3/subfolder1/subfolder1/file1",
  "/folder3/subfolder2/subfolder1/file1",
  "/folder4/file1",
}

-- Lexical depth-first: each directory's children sorted by name, a
-- directory followed by its subtree ("/folder1/file1" before "/folder1-suffix").
local ALL = {
  { "/file1", false },
  { "/folder1", true },
  { "/folder1/file1", false },
  { "/folder1-suffix", true },
  { "/folder1-suffix/file1", false },
  { "/folder2", true },
  { "/folder2/file1", false },
  { "/folder3", true },
  { "/folder3/subfolder1", true },
  { "/folder3/subfolder1/subfolder1", true },
  { "/folder3/subfolder1/subfolder1/file1", false },
  { "/folder3/subfolder2", true },
  { "/folder3/subfolder2/subfolder1", true },
  { "/folder3/subfolder2/subfolder1/file1", false },
  { "/folder4", true },
  { "/folder4/file1", false },
}

-- The entries of ALL under prefix (or all of them), minus those for which
-- drop(path) is true.
local function expected(prefix, drop)
  local t = {}
  for _, e in ipairs(ALL) do
    local under = not prefix or e[1]:sub(1, #prefix + 1) == prefix .. "/"
    if under and not (drop and drop(e[1])) then t[#t + 1] = { e[1], e[2] } end
  end
  return t
end

describe("walk #cluster", function()
  local drv

  -- Walks from `from`; fn(info) may return a verdict.  Returns the visited
  -- { path, is_dir } pairs and walk's results.
  local function walk(from, fn)
    local seen = {}
    local ok, msg, code = drv:walk(from, function(info)
      seen[#seen + 1] = { info.path, info.is_dir }
      if fn then return fn(info) end
    end)
    return seen, ok, msg, code
  end

  setup(function()
    drv = helper.connect()
    for i, p in ipairs(TREE) do assert(drv:put_content(p, string.rep("x", i))) end
  end)

  teardown(function()
    if not drv then return end
    helper.clear(drv)
    local names = drv:list("/")
    drv:close()
    assert.are.same({}, names)
  end)

  it("visits everything in lexical depth-first order", function()
    local seen, ok, msg = walk("/")
    assert.is_true(ok, msg)
    assert.are.same(ALL, seen)
  end)

  it("gives each entry the info stat gives", function()
    local count = 0
    assert.is_true(drv:walk("/", function(info)
      count = count + 1
      local st = assert(drv:stat(info.path))
      assert.are.equal(st.path, info.path)
      assert.are.equal(st.size, info.size)
      assert.are.equal(st.is_dir, info.is_dir)
      assert.are.equal(st.modtime, info.modtime)
      assert.is_number(info.modtime)
      if info.is_dir then
        assert.are.equal(0, info.size)
      else
        -- the i-th file of TREE holds i bytes
        for i, p in ipairs(TREE) do
          if p == info.path then assert.are.equal(i, info.size) end
        end
      end
    end))
    assert.are.equal(#ALL, count)
  end)

  it("does not descend into a directory when fn returns skip", function()
    local seen, ok = walk("/", function(info)
      if info.path == "/folder3" then return "skip" end
    end)
    assert.is_true(ok)
    assert.are.same(expected(nil, function(p) return p:find("^/folder3/") end), seen)
  end)

  it("skips a directory without touching its '-suffix' sibling", function()
    local seen, ok = walk("/", function(info)
      if info.path == "/folder1" then return "skip" end
    end)
    assert.is_true(ok)
    assert.are.same(expected(nil, function(p) return p:find("^/folder1/") end), seen)
  end)

  it("skips nested directories", function()
    local seen, ok = walk("/", function(info)
      if info.path == "/folder3/subfolder1/subfolder1" then return "skip" end
    end)
    assert.is_true(ok)
    assert.are.same(expected(nil, function(p) return p == "/folder3/subfolder1/subfolder1/file1" end), seen)
  end)

  it("treats skip on a file as going on", function()
    local seen, ok = walk("/", function(info)
      if not info.is_dir then return "skip" end
    end)
    assert.is_true(ok)
    assert.are.same(ALL, seen)
  end)

  it("ends early on stop and returns true", function()
    local seen, ok, msg = walk("/", function(info)
      if info.path == "/folder2" then return "stop" end
    end)
    assert.is_true(ok, msg)
    assert.are.same({ ALL[1], ALL[2], ALL[3], ALL[4], ALL[5], ALL[6] }, seen)
  end)

  it("ends on a stop deep down, without going on at the upper levels", function()
    local seen, ok = walk("/", function(info)
      if info.path == "/folder3/subfolder1/subfolder1/file1" then return "stop" end
    end)
    assert.is_true(ok)
    local want = {}
    for i = 1, 11 do want[i] = ALL[i] end
    assert.are.same(want, seen)
  end)

  it("ends on a stop at the first entry", function()
    local seen, ok = walk("/", function() return "stop" end)
    assert.is_true(ok)
    assert.are.same({ ALL[1] }, seen)
  end)

  it("walks from a subfolder, without visiting the start", function()
    local seen, ok = walk("/folder3")
    assert.is_true(ok)
    assert.are.same(expected("/folder3"), seen)
    assert.are.equal(6, #seen)

    seen, ok = walk("/folder3/subfolder2")
    assert.is_true(ok)
    assert.are.same({
      { "/folder3/subfolder2/subfolder1", true },
      { "/folder3/subfolder2/subfolder1/file1", false },
    }, seen)

    seen, ok = walk("/folder1")
    assert.is_true(ok)
    assert.are.same({ { "/folder1/file1", false } }, seen)
  end)

  it("fails with not_found on a missing path, without calling fn", function()
    local seen, ok, msg, code = walk("/nonexistent")
    helper.fails("not_found", "/nonexistent", ok, msg, code)
    assert.are.same({}, seen)
    seen, ok, msg, code = walk("/folder3/nonexistent/deeper")
    helper.fails("not_found", "/folder3/nonexistent/deeper", ok, msg, code)
    assert.are.same({}, seen)
  end)

  it("fails with not_dir on a file", function()
    local seen, ok, msg, code = walk("/file1")
    helper.fails("not_dir", "/file1", ok, msg, code)
    assert.are.same({}, seen)
    seen, ok, msg, code = walk("/folder4/file1")
    helper.fails("not_dir", "/folder4/file1", ok, msg, code)
    assert.are.same({}, seen)
  end)

  it("fails with invalid_path on a bad path", function()
    for _, p in ipairs { "", "folder1", "/folder1/", "//folder1" } do
      local seen, ok, msg, code = walk(p)
      helper.fails("invalid_path", nil, ok, msg, code)
      assert.are.same({}, seen)
    end
  end)

  it("lets an error raised in fn end the walk", function()
    local calls = 0
    local pok, ok, msg = pcall(drv.walk, drv, "/", function(info)
      calls = calls + 1
      if info.path == "/folder1" then error("boom from fn") end
    end)
    assert.are.equal(2, calls)
    if pok then
      -- Returned rather than raised: it must still be a failure.
      assert.is_nil(ok)
      assert.truthy(tostring(msg):find("boom from fn", 1, true), tostring(msg))
    else
      assert.truthy(tostring(ok):find("boom from fn", 1, true), tostring(ok))
    end
    -- The driver is still usable.
    local seen, ok2 = walk("/folder1")
    assert.is_true(ok2)
    assert.are.same({ { "/folder1/file1", false } }, seen)
  end)

  it("can call the driver from fn", function()
    local sizes = {}
    assert.is_true(drv:walk("/folder3", function(info)
      if not info.is_dir then sizes[#sizes + 1] = #assert(drv:get_content(info.path)) end
    end))
    assert.are.same({ 5, 6 }, sizes)
  end)

  it("goes on past entries removed during the walk", function()
    finally(function() assert(drv:put_content("/folder2/file1", "xxxx")) end)
    local seen, ok, msg = walk("/", function(info)
      if info.path == "/folder1" then assert(drv:delete("/folder2")) end
    end)
    assert.is_true(ok, msg)
    local paths = {}
    for _, e in ipairs(seen) do paths[e[1]] = true end
    assert.is_nil(paths["/folder2/file1"])
    assert.truthy(paths["/folder3/subfolder2/subfolder1/file1"])
    assert.truthy(paths["/folder4/file1"])
    -- Whatever was visited came in order, among the tree's entries.
    local want = expected(nil, function(p) return p == "/folder2" or p:find("^/folder2/") end)
    local filtered = {}
    for _, e in ipairs(seen) do
      if e[1] ~= "/folder2" then filtered[#filtered + 1] = e end
    end
    assert.are.same(want, filtered)
  end)
end)

describe("walk on an empty namespace #cluster", function()
  it("visits nothing and returns true", function()
    local drv = helper.connect()
    local calls = 0
    assert.is_true(drv:walk("/", function() calls = calls + 1 end))
    assert.are.equal(0, calls)
    drv:close()
  end)
end)

describe("walk over a large directory #cluster", function()
  local drv
  local N = 2000

  setup(function()
    drv = helper.connect()
  end)

  teardown(function()
    if not drv then return end
    helper.clear(drv)
    local names = drv:list("/")
    drv:close()
    assert.are.same({}, names)
  end)

  it("visits 2000 files quickly and in order", function()
    for i = 1, N do
      assert(drv:put_content(string.format("/big/d/f%04d", (i * 7) % N), "x"))
    end
    assert(drv:put_content("/big/z", "last"))
    local seen = {}
    local t0 = helper.now()
    assert.is_true(drv:walk("/big", function(info) seen[#seen + 1] = info end))
    local dt = helper.now() - t0
    assert.are.equal(N + 2, #seen)
    assert.are.equal("/big/d", seen[1].path)
    assert.is_true(seen[1].is_dir)
    for i = 0, N - 1 do
      local info = seen[i + 2]
      assert.are.equal(string.format("/big/d/f%04d", i), info.path)
      assert.is_false(info.is_dir)
      assert.are.equal(1, info.size)
    end
    assert.are.equal("/big/z", seen[N + 2].path)
    assert.truthy(dt < 10, "walk over " .. N .. " files took " .. dt .. " s")

    -- "stop" right away does not read the whole directory's worth of stats.
    local calls = 0
    assert.is_true(drv:walk("/big/d", function() calls = calls + 1; return "stop" end))
    assert.are.equal(1, calls)
    assert.is_true(drv:delete("/big"))
  end)
end)
