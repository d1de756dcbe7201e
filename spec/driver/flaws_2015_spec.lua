-- Regressions for the 2015 RADOS driver's bugs A-H (docs/design.md, "What is
-- fixed relative to the 2015 driver"; NEWS.md), plus the writer lifecycle of the contract.  A small
-- chunk size (64 KiB) keeps the multi-chunk cases fast; `rados ls` of the
-- driver's namespace checks what the engine left in RADOS.
local helper = require "helper"

local CHUNK = 65536

-- One driver with 64 KiB chunks in a fresh namespace, checked empty after
-- every test (helper.fixture).
local function fixture(opts)
  local o = { chunk_size = CHUNK }
  for k, v in pairs(opts or {}) do o[k] = v end
  return helper.fixture(o)
end

local same_bytes = helper.same_bytes

-- Checks that the blob the directory entry of `path` names has exactly the
-- chunks a file of `size` bytes needs, each of the right size (at most
-- CHUNK bytes), and that total-size says `size`.  Each `rados stat` costs a
-- tenth of a second, so only the first two and last two chunks are sized
-- unless `all` is set.
local function check_chunks(ns, path, size, all)
  size = math.floor(size)
  local dir, base = path:match("^(.*)/([^/]+)$")
  if dir == "" then dir = "/" end
  local omap = assert(helper.omap(ns, dir), "no directory object " .. dir)
  local id = omap[base]
  assert(helper.is_blob_id(id), "entry " .. base .. " of " .. dir .. " is " .. tostring(id))
  local blobs = helper.blobs(ns)
  local chunks = assert(blobs[id], "no chunk of " .. id .. " in rados ls")
  local want = math.max(1, math.ceil(size / CHUNK))
  for i = 0, want - 1 do
    assert(chunks[i], id .. "-" .. i .. " is missing")
    if all or i < 2 or i >= want - 2 then
      local expect = math.min(CHUNK, size - i * CHUNK)
      assert.are.equal(expect, helper.obj_size(ns, id .. "-" .. i), "size of chunk " .. i)
    end
  end
  for i in pairs(chunks) do
    assert(i < want, id .. "-" .. i .. " is past the end of a " .. size .. "-byte file")
  end
  assert.are.equal(tostring(size), helper.xattr(ns, id .. "-0", "total-size"))
  return id
end

-- Asserts that the namespace holds nothing but the root object "/" (whose
-- own existence spec/driver/rados_layout_spec.lua checks).
local function assert_only_root(ns)
  assert.are.same({}, helper.leftovers(ns))
end

-------------------------------------------------------------------------------
describe("A: appends at unaligned offsets #cluster", function()
  local fx = fixture()

  -- Writes `sizes` as successive appends, each from a new writer that closes
  -- (the last commits); returns the expected content.
  local function appends(path, sizes, seed)
    local parts = {}
    for i, n in ipairs(sizes) do
      local w = assert(fx.drv:writer(path, i > 1))
      local done = 0
      for j = 1, i - 1 do done = done + sizes[j] end
      assert.are.equal(done, w:size())
      local data = helper.bytes(n, seed + i)
      parts[#parts + 1] = data
      assert.is_true(w:write(data))
      assert.are.equal(done + n, w:size())
      if i == #sizes then assert.is_true(w:commit()) else assert.is_true(w:close()) end
    end
    return table.concat(parts)
  end

  it("3/4 chunk, close, append 5/4 chunk (offset % chunk > chunk / 2)", function()
    local path = "/a/unaligned"
    local want = appends(path, { 3 * CHUNK / 4, 5 * CHUNK / 4 }, 10)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, 2 * CHUNK, true)
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("the 2015 simulation scaled down: 3 MiB then 5 MiB at 4 MiB chunks is 3/4 + 5/4", function()
    local path = "/a/sim"
    local want = appends(path, { 3 * CHUNK / 4 + 1, 5 * CHUNK / 4 + 7 }, 20)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want)
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("two appends of 7/4 chunk each", function()
    local path = "/a/two"
    local want = appends(path, { 7 * CHUNK / 4, 7 * CHUNK / 4 }, 30)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want)
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("an append crossing several chunk boundaries in one write", function()
    local path = "/a/several"
    local want = appends(path, { 100, 5 * CHUNK + 123, 3 * CHUNK - 1 }, 40)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want, true)
    -- Read back across the boundaries from unaligned offsets too.
    for _, off in ipairs { 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + CHUNK / 2 + 3, #want - 1 } do
      local r = assert(fx.drv:reader(path, off))
      same_bytes(want:sub(off + 1), helper.read_all(r, 10000), "read from " .. off)
      r:close()
    end
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("mixed append sizes around the chunk size", function()
    local path = "/a/mixed"
    local sizes = { 1000, 40000, 70000, CHUNK - 1, 1, CHUNK + 1, 130000, CHUNK / 2 + 1, 3 }
    local want = appends(path, sizes, 50)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want)
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("unaligned writes inside one writer", function()
    local path = "/a/inside"
    local w = assert(fx.drv:writer(path))
    local parts = {}
    for i, n in ipairs { 3 * CHUNK / 4, 5 * CHUNK / 4, 7, CHUNK, 2 * CHUNK + 5, 1, CHUNK - 6 } do
      parts[i] = helper.bytes(n, 60 + i)
      assert.is_true(w:write(parts[i]))
    end
    local want = table.concat(parts)
    assert.are.equal(#want, w:size())
    assert.is_true(w:commit())
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want)
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("many small appends through close and reopen", function()
    local path = "/a/small"
    local parts = {}
    local w = assert(fx.drv:writer(path))
    for i = 1, 150 do
      if i > 1 then w = assert(fx.drv:writer(path, true)) end
      parts[i] = helper.bytes(1000, 1000 + i)
      assert.is_true(w:write(parts[i]))
      if i < 150 then assert.is_true(w:close()) end
    end
    assert.is_true(w:commit())
    local want = table.concat(parts)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want)
    assert.is_true(fx.drv:delete("/a"))
  end)

  it("thousands of tiny writes in one writer", function()
    local path = "/a/tiny"
    local w = assert(fx.drv:writer(path))
    local parts = {}
    for i = 1, 2000 do
      parts[i] = helper.bytes(37, i)
      assert.is_true(w:write(parts[i]))
    end
    assert.is_true(w:commit())
    local want = table.concat(parts)
    same_bytes(want, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #want)
    assert.is_true(fx.drv:delete("/a"))
  end)
end)

-------------------------------------------------------------------------------
describe("B: no chunk grows past the chunk size, no gap fill #cluster", function()
  local fx = fixture()

  it("appends at exact chunk multiples make exactly the chunks needed", function()
    local path = "/b/exact"
    local w = assert(fx.drv:writer(path))
    local a = helper.bytes(CHUNK, 1)
    assert.is_true(w:write(a))
    assert.is_true(w:close())
    w = assert(fx.drv:writer(path, true))
    local b = helper.bytes(2 * CHUNK, 2)
    assert.is_true(w:write(b))
    assert.is_true(w:commit())
    same_bytes(a .. b, fx.drv:get_content(path))
    check_chunks(fx.ns, path, 3 * CHUNK)
    assert.is_true(fx.drv:delete("/b"))
  end)

  it("empty writes change nothing", function()
    local path = "/b/empty-writes"
    local w = assert(fx.drv:writer(path))
    assert.is_true(w:write(""))
    assert.are.equal(0, w:size())
    local a = helper.bytes(CHUNK / 2 + 32, 3)
    assert.is_true(w:write(a))
    assert.is_true(w:write(""))
    assert.is_true(w:close())
    w = assert(fx.drv:writer(path, true))
    assert.is_true(w:write(""))
    assert.are.equal(#a, w:size())
    local b = helper.bytes(96, 4)
    assert.is_true(w:write(b))
    assert.is_true(w:commit())
    same_bytes(a .. b, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #a + #b)
    assert.is_true(fx.drv:delete("/b"))
  end)

  it("a reopened append without writes keeps the size", function()
    local path = "/b/noop"
    local a = helper.bytes(CHUNK + 96, 5)
    local w = assert(fx.drv:writer(path))
    assert.is_true(w:write(a))
    assert.is_true(w:close())
    w = assert(fx.drv:writer(path, true))
    assert.is_true(w:close())
    w = assert(fx.drv:writer(path, true))
    assert.are.equal(#a, w:size())
    assert.is_true(w:commit())
    same_bytes(a, fx.drv:get_content(path))
    check_chunks(fx.ns, path, #a)
    assert.is_true(fx.drv:delete("/b"))
  end)
end)

-------------------------------------------------------------------------------
describe("C: no truncation leak #cluster", function()
  local fx = fixture()

  it("put 3 chunks then 1 byte leaves one blob with one chunk", function()
    local path = "/c/shrink"
    assert.is_true(fx.drv:put_content(path, helper.bytes(3 * CHUNK, 1)))
    assert.is_true(fx.drv:put_content(path, "z"))
    assert.are.equal("z", fx.drv:get_content(path))
    local blobs, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    local id = check_chunks(fx.ns, path, 1)
    assert.are.same({ [0] = true }, blobs[id])
    assert.are.same({}, helper.strays(fx.ns))
    assert.are.same({ "/", "/c", id .. "-0" }, helper.rados_ls(fx.ns))
    assert.is_true(fx.drv:delete("/c"))
    assert_only_root(fx.ns)
  end)

  it("put 3.5 chunks then 2 chunks leaves exactly chunks -0 and -1", function()
    local path = "/c/shrink2"
    assert.is_true(fx.drv:put_content(path, helper.bytes(3 * CHUNK + CHUNK / 2, 2)))
    local small = helper.bytes(2 * CHUNK, 3)
    assert.is_true(fx.drv:put_content(path, small))
    same_bytes(small, fx.drv:get_content(path))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    check_chunks(fx.ns, path, 2 * CHUNK)
    assert.is_true(fx.drv:delete("/c"))
    assert_only_root(fx.ns)
  end)

  it("a writer replacing a larger file leaves only the new blob", function()
    local path = "/c/rewrite"
    assert.is_true(fx.drv:put_content(path, helper.bytes(4 * CHUNK, 4)))
    local w = assert(fx.drv:writer(path, false))
    local data = helper.bytes(math.floor(CHUNK / 3), 5)
    assert.is_true(w:write(data))
    assert.is_true(w:commit())
    same_bytes(data, fx.drv:get_content(path))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    check_chunks(fx.ns, path, #data)
    assert.are.same({}, helper.strays(fx.ns))
    assert.is_true(fx.drv:delete("/c"))
    assert_only_root(fx.ns)
  end)

  it("overwrites leak nothing", function()
    local path = "/c/over"
    for i, n in ipairs { 5 * CHUNK, 1, 2 * CHUNK + 1, 0, CHUNK, 3 } do
      assert.is_true(fx.drv:put_content(path, helper.bytes(n, 10 + i)))
    end
    same_bytes(helper.bytes(3, 16), fx.drv:get_content(path))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    check_chunks(fx.ns, path, 3)
    assert.is_true(fx.drv:delete("/c"))
    assert_only_root(fx.ns)
  end)

  it("delete leaks nothing: afterwards only the root object is left", function()
    assert.is_true(fx.drv:put_content("/c/d1/f1", helper.bytes(3 * CHUNK, 1)))
    assert.is_true(fx.drv:put_content("/c/d1/f2", ""))
    assert.is_true(fx.drv:put_content("/c/d2/d3/f3", helper.bytes(CHUNK + 1, 2)))
    assert.is_true(fx.drv:put_content("/c/f4", "x"))
    local w = assert(fx.drv:writer("/c/d2/uploading"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 3)))
    assert.is_true(w:close())
    assert.is_true(fx.drv:delete("/c/d1/f1"))
    assert.is_true(fx.drv:delete("/c/d2"))
    assert.is_true(fx.drv:delete("/c"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
describe("D: zero-length files #cluster", function()
  local fx = fixture()

  it("put '' then stat, get, read, list and delete", function()
    local path = "/d/empty"
    assert.is_true(fx.drv:put_content(path, ""))
    local st = assert(fx.drv:stat(path))
    assert.are.equal(path, st.path)
    assert.are.equal(0, st.size)
    assert.is_false(st.is_dir)
    assert.is_number(st.modtime)
    assert.are.equal("", fx.drv:get_content(path))
    local r = assert(fx.drv:reader(path))
    local s, msg = r:read(10)
    assert.is_nil(s)
    assert.is_nil(msg)
    assert.is_true(r:close())
    assert.are.same({ path }, fx.drv:list("/d"))
    -- Chunk 0 exists even for an empty file, with total-size 0.
    local id = check_chunks(fx.ns, path, 0)
    assert.are.equal(0, helper.obj_size(fx.ns, id .. "-0"))
    assert.is_true(fx.drv:delete(path))
    helper.fails("not_found", path, fx.drv:stat(path))
    helper.fails("not_found", path, fx.drv:get_content(path))
    helper.fails("not_found", "/d", fx.drv:list("/d"))
    assert_only_root(fx.ns)
  end)

  it("a writer that writes nothing commits an empty file", function()
    local path = "/d/nothing"
    local w = assert(fx.drv:writer(path))
    assert.are.equal(0, w:size())
    assert.is_true(w:commit())
    assert.are.equal(0, assert(fx.drv:stat(path)).size)
    assert.are.equal("", fx.drv:get_content(path))
    check_chunks(fx.ns, path, 0)
    assert.is_true(fx.drv:delete(path))
    assert_only_root(fx.ns)
  end)

  it("an empty file moves, is overwritten and replaces others", function()
    assert.is_true(fx.drv:put_content("/d/e1", ""))
    assert.is_true(fx.drv:put_content("/d/full", helper.bytes(2 * CHUNK, 1)))
    assert.is_true(fx.drv:move("/d/e1", "/d/full"))
    assert.are.equal("", fx.drv:get_content("/d/full"))
    assert.is_true(fx.drv:put_content("/d/full", "abc"))
    assert.are.equal("abc", fx.drv:get_content("/d/full"))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(fx.drv:delete("/d"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
describe("E: move #cluster", function()
  local fx = fixture()

  it("move(p, p) keeps the file", function()
    local data = helper.bytes(CHUNK + 5, 1)
    assert.is_true(fx.drv:put_content("/e/self", data))
    assert.is_true(fx.drv:move("/e/self", "/e/self"))
    same_bytes(data, fx.drv:get_content("/e/self"))
    check_chunks(fx.ns, "/e/self", #data)
    assert.is_true(fx.drv:delete("/e"))
    assert_only_root(fx.ns)
  end)

  it("move onto an existing file reclaims the old destination's chunks", function()
    local src = helper.bytes(CHUNK / 2, 2)
    assert.is_true(fx.drv:put_content("/e/src", src))
    assert.is_true(fx.drv:put_content("/e/dst", helper.bytes(3 * CHUNK, 3)))
    local before = helper.omap(fx.ns, "/e")
    assert.is_true(fx.drv:move("/e/src", "/e/dst"))
    same_bytes(src, fx.drv:get_content("/e/dst"))
    helper.fails("not_found", "/e/src", fx.drv:get_content("/e/src"))
    local blobs, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.truthy(blobs[before.src], "the source blob is the one kept")
    assert.is_nil(blobs[before.dst])
    assert.are.same({ dst = before.src }, helper.omap(fx.ns, "/e"))
    assert.is_true(fx.drv:delete("/e"))
    assert_only_root(fx.ns)
  end)

  it("move of a directory is is_dir and changes nothing", function()
    assert.is_true(fx.drv:put_content("/e/dir/f", "f"))
    helper.fails("is_dir", "/e/dir", fx.drv:move("/e/dir", "/e/other"))
    assert.are.same({ "/e/dir" }, fx.drv:list("/e"))
    assert.are.equal("f", fx.drv:get_content("/e/dir/f"))
    helper.fails("not_found", "/e/other", fx.drv:stat("/e/other"))
    assert.is_true(fx.drv:delete("/e"))
    assert_only_root(fx.ns)
  end)

  it("move onto a directory is is_dir and changes nothing", function()
    assert.is_true(fx.drv:put_content("/e/dir/f", "f"))
    assert.is_true(fx.drv:put_content("/e/file", "x"))
    helper.fails("is_dir", "/e/file", fx.drv:move("/e/file", "/e/dir"))
    assert.are.equal("x", fx.drv:get_content("/e/file"))
    assert.are.equal("f", fx.drv:get_content("/e/dir/f"))
    assert.is_true(fx.drv:delete("/e"))
    assert_only_root(fx.ns)
  end)

  it("move across directories relinks the same blob and prunes the source dirs", function()
    local data = helper.bytes(2 * CHUNK + 9, 4)
    assert.is_true(fx.drv:put_content("/e/a/b/f", data))
    local id = helper.omap(fx.ns, "/e/a/b").f
    assert.is_true(fx.drv:move("/e/a/b/f", "/e/c/d/g"))
    same_bytes(data, fx.drv:get_content("/e/c/d/g"))
    helper.fails("not_found", "/e/a", fx.drv:stat("/e/a"))
    assert.are.same({ "/e/c" }, fx.drv:list("/e"))
    -- No data was copied: the new entry names the old blob.
    assert.are.same({ g = id }, helper.omap(fx.ns, "/e/c/d"))
    local blobs, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.truthy(blobs[id])
    assert.is_nil(helper.omap(fx.ns, "/e/a/b"))
    assert.is_nil(helper.omap(fx.ns, "/e/a"))
    assert.is_true(fx.drv:delete("/e"))
    assert_only_root(fx.ns)
  end)

  it("after a move, deleting the old name fails and the new one stays", function()
    assert.is_true(fx.drv:put_content("/e/x", "data"))
    assert.is_true(fx.drv:move("/e/x", "/e/y"))
    helper.fails("not_found", "/e/x", fx.drv:delete("/e/x"))
    assert.are.equal("data", fx.drv:get_content("/e/y"))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(fx.drv:delete("/e"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
describe("F: file and directory at the same name #cluster", function()
  local fx = fixture()

  it("put /x then put /x/y is not_dir and /x keeps its data", function()
    local data = helper.bytes(CHUNK + 1, 1)
    assert.is_true(fx.drv:put_content("/f", data))
    helper.fails("not_dir", "/f/y", fx.drv:put_content("/f/y", "y"))
    helper.fails("not_dir", "/f/y/z", fx.drv:put_content("/f/y/z", "z"))
    same_bytes(data, fx.drv:get_content("/f"))
    assert.is_false(assert(fx.drv:stat("/f")).is_dir)
    assert.are.same({ "/f" }, fx.drv:list("/"))
    -- The failed puts left no blob behind.
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_nil(helper.omap(fx.ns, "/f"), "a directory object /f exists")
    assert.are.same({}, helper.strays(fx.ns))
    assert.is_true(fx.drv:delete("/f"))
    assert_only_root(fx.ns)
  end)

  it("a writer on /x/y when /x is a file fails at open with not_dir", function()
    assert.is_true(fx.drv:put_content("/f", "file"))
    helper.fails("not_dir", "/f/y", fx.drv:writer("/f/y"))
    helper.fails("not_dir", "/f/y", fx.drv:writer("/f/y", true))
    assert.are.equal("file", fx.drv:get_content("/f"))
    assert.is_true(fx.drv:delete("/f"))
    assert_only_root(fx.ns)
  end)

  it("put /x when /x is a directory is is_dir and the tree stays", function()
    assert.is_true(fx.drv:put_content("/f/y", "y"))
    helper.fails("is_dir", "/f", fx.drv:put_content("/f", "x"))
    helper.fails("is_dir", "/f", fx.drv:writer("/f"))
    assert.is_true(assert(fx.drv:stat("/f")).is_dir)
    assert.are.equal("y", fx.drv:get_content("/f/y"))
    assert.is_true(fx.drv:delete("/f"))
    assert_only_root(fx.ns)
  end)

  it("move onto a path through a file is not_dir", function()
    assert.is_true(fx.drv:put_content("/f", "file"))
    assert.is_true(fx.drv:put_content("/g", "other"))
    helper.fails("not_dir", nil, fx.drv:move("/g", "/f/g"))
    assert.are.equal("file", fx.drv:get_content("/f"))
    assert.are.equal("other", fx.drv:get_content("/g"))
    assert.is_true(fx.drv:delete("/f"))
    assert.is_true(fx.drv:delete("/g"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
-- The child process used by the concurrency and cross-process tests.
local CHILD_RACE = [[
local helper = require "helper"
local ns, tag, n = arg[1], arg[2], tonumber(arg[3])
local drv = helper.connect { namespace = ns, chunk_size = 65536 }
for i = 1, n do
  local p = "/g/race/" .. tag .. "-" .. i
  local ok, msg = drv:put_content(p, tag .. i)
  if not ok then io.write("put ", p, ": ", msg, "\n") os.exit(1) end
  ok, msg = drv:delete(p)
  if not ok then io.write("delete ", p, ": ", msg, "\n") os.exit(1) end
end
local ok, msg = drv:put_content("/g/race/" .. tag .. "-keep", tag)
if not ok then io.write("keep: ", msg, "\n") os.exit(1) end
drv:close()
io.write("done\n")
]]

local CHILD_SAME = [[
local helper = require "helper"
local ns, tag, n = arg[1], arg[2], tonumber(arg[3])
local drv = helper.connect { namespace = ns, chunk_size = 65536 }
for i = 1, n do
  local ok, msg = drv:put_content("/g/same", helper.bytes(65536 + 100, i) .. tag)
  if not ok then io.write("put: ", msg, "\n") os.exit(1) end
end
drv:close()
io.write("done\n")
]]

describe("G: concurrency #cluster", function()
  local fx = fixture()

  it("20 interleaved writers creating files in one directory", function()
    local ws, want = {}, {}
    for i = 1, 20 do
      local p = string.format("/g/dir/f%02d", i)
      ws[i] = { p = p, w = assert(fx.drv:writer(p)), parts = {} }
    end
    for round = 1, 3 do
      for i, x in ipairs(ws) do
        local data = helper.bytes(CHUNK / 2 + i * 100 + round, i * 10 + round)
        x.parts[#x.parts + 1] = data
        assert.is_true(x.w:write(data))
      end
    end
    for i = 20, 1, -1 do assert.is_true(ws[i].w:commit()) end
    for i, x in ipairs(ws) do want[i] = x.p end
    assert.are.same(want, fx.drv:list("/g/dir"))
    for _, x in ipairs(ws) do same_bytes(table.concat(x.parts), fx.drv:get_content(x.p), x.p) end
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(20, n)
    assert.is_true(fx.drv:delete("/g"))
    assert_only_root(fx.ns)
  end)

  it("two writers on the same new path: the last commit wins, one blob remains", function()
    local w1 = assert(fx.drv:writer("/g/same"))
    local w2 = assert(fx.drv:writer("/g/same"))
    local a, b = helper.bytes(2 * CHUNK + 1, 1), helper.bytes(CHUNK + 2, 2)
    assert.is_true(w1:write(a))
    assert.is_true(w2:write(b))
    helper.fails("not_found", "/g/same", fx.drv:stat("/g/same"))
    assert.is_true(w1:commit())
    same_bytes(a, fx.drv:get_content("/g/same"))
    assert.is_true(w2:commit())
    same_bytes(b, fx.drv:get_content("/g/same"))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    check_chunks(fx.ns, "/g/same", #b)
    assert.are.same({}, helper.strays(fx.ns))
    assert.is_true(fx.drv:delete("/g"))
    assert_only_root(fx.ns)
  end)

  it("two processes creating and deleting in one directory lose no entry", function()
    local n = 60
    local h1 = helper.spawn_lua(CHILD_RACE, { fx.ns, "p1", n })
    local h2 = helper.spawn_lua(CHILD_RACE, { fx.ns, "p2", n })
    local out1, rc1 = helper.wait(h1)
    local out2, rc2 = helper.wait(h2)
    assert.are.equal(0, rc1, out1)
    assert.are.equal(0, rc2, out2)
    assert.are.same({ "/g/race/p1-keep", "/g/race/p2-keep" }, fx.drv:list("/g/race"))
    assert.are.same({ "/g/race" }, fx.drv:list("/g"))
    assert.are.same({ "/g" }, fx.drv:list("/"))
    assert.are.equal("p1", fx.drv:get_content("/g/race/p1-keep"))
    assert.are.equal("p2", fx.drv:get_content("/g/race/p2-keep"))
    local _, nb = helper.blobs(fx.ns)
    assert.are.equal(2, nb)
    assert.are.same({}, helper.strays(fx.ns))
    assert.is_true(fx.drv:delete("/g"))
    assert_only_root(fx.ns)
  end)

  it("two processes overwriting one path leave one intact file and one blob", function()
    local h1 = helper.spawn_lua(CHILD_SAME, { fx.ns, "p1", 25 })
    local h2 = helper.spawn_lua(CHILD_SAME, { fx.ns, "p2", 25 })
    local out1, rc1 = helper.wait(h1)
    local out2, rc2 = helper.wait(h2)
    assert.are.equal(0, rc1, out1)
    assert.are.equal(0, rc2, out2)
    local got = assert(fx.drv:get_content("/g/same"))
    local tag = got:sub(-2)
    assert.truthy(tag == "p1" or tag == "p2", "tag " .. tag)
    same_bytes(helper.bytes(65536 + 100, 25) .. tag, got)
    local _, nb = helper.blobs(fx.ns)
    assert.are.equal(1, nb)
    check_chunks(fx.ns, "/g/same", #got)
    assert.is_true(fx.drv:delete("/g"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
describe("H: listing and deleting large directories #cluster", function()
  local fx = fixture()

  it("list of a directory with 3000 entries is complete and sorted, delete takes all", function()
    local want = {}
    for i = 1, 3000 do
      local p = string.format("/h/big/e%05d", (i * 7919) % 3000)
      assert(fx.drv:put_content(p, ""))
      want[#want + 1] = p
    end
    table.sort(want)
    local t0 = helper.now()
    local got = assert(fx.drv:list("/h/big"))
    local dt = helper.now() - t0
    assert.are.equal(3000, #got)
    assert.are.same(want, got)
    assert.truthy(dt < 5, "list of 3000 entries took " .. dt .. " s")
    -- Pages (an extension of list): after a name, at most n, across omap pages.
    local function base(p) return p:match("[^/]+$") end
    assert.are.same({ want[1], want[2] }, fx.drv:list("/h/big", { n = 2 }))
    local page = assert(fx.drv:list("/h/big", { after = base(want[1000]), n = 1500 }))
    assert.are.equal(1500, #page)
    assert.are.equal(want[1001], page[1])
    assert.are.equal(want[2500], page[1500])
    assert.are.equal(2000, #fx.drv:list("/h/big", { after = base(want[1000]) }))
    assert.are.same({}, fx.drv:list("/h/big", { after = "z" }))
    assert.are.same({}, fx.drv:list("/h/big", { n = 0 }))
    helper.fails("not_found", "/h/none", fx.drv:list("/h/none", { n = 5 }))
    assert.is_true(fx.drv:delete("/h"))
    helper.fails("not_found", "/h", fx.drv:list("/h"))
    assert_only_root(fx.ns)
  end)
end)

-------------------------------------------------------------------------------
local CHILD_APPEND = [[
local helper = require "helper"
local ns, path, expect, n, seed = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
local drv = helper.connect { namespace = ns, chunk_size = 65536 }
local w, msg = drv:writer(path, true)
if not w then io.write("writer: ", msg, "\n") os.exit(1) end
if w:size() ~= expect then io.write("size ", w:size(), " expected ", expect, "\n") os.exit(1) end
assert(w:write(helper.bytes(n, seed)))
assert(w:close())
io.write("size ", w:size(), "\n")
drv:close()
]]

describe("writer lifecycle #cluster", function()
  local fx = fixture()

  it("an uncommitted new file is invisible", function()
    assert.is_true(fx.drv:put_content("/w/other", "o"))
    local w = assert(fx.drv:writer("/w/new"))
    assert.is_true(w:write(helper.bytes(CHUNK + 1, 1)))
    helper.fails("not_found", "/w/new", fx.drv:stat("/w/new"))
    helper.fails("not_found", "/w/new", fx.drv:get_content("/w/new"))
    helper.fails("not_found", "/w/new", fx.drv:reader("/w/new"))
    assert.are.same({ "/w/other" }, fx.drv:list("/w"))
    assert.is_true(w:close())
    helper.fails("not_found", "/w/new", fx.drv:stat("/w/new"))
    assert.are.same({ "/w/other" }, fx.drv:list("/w"))
    w = assert(fx.drv:writer("/w/new", true))
    assert.is_true(w:commit())
    assert.are.same({ "/w/new", "/w/other" }, fx.drv:list("/w"))
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("an uncommitted file in a new directory does not show the directory", function()
    local w = assert(fx.drv:writer("/w/deep/er/new"))
    assert.is_true(w:write("data"))
    helper.fails("not_found", "/w", fx.drv:stat("/w"))
    helper.fails("not_found", "/w/deep/er", fx.drv:list("/w/deep/er"))
    assert.are.same({}, fx.drv:list("/"))
    assert.is_true(w:commit())
    assert.are.same({ "/w/deep/er/new" }, fx.drv:list("/w/deep/er"))
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("an existing file keeps its old content until commit", function()
    local old = helper.bytes(2 * CHUNK, 1)
    assert.is_true(fx.drv:put_content("/w/f", old))
    local w = assert(fx.drv:writer("/w/f"))
    assert.are.equal(0, w:size())
    local new = helper.bytes(CHUNK / 2, 2)
    assert.is_true(w:write(new))
    same_bytes(old, fx.drv:get_content("/w/f"))
    assert.are.equal(#old, assert(fx.drv:stat("/w/f")).size)
    local r = assert(fx.drv:reader("/w/f"))
    same_bytes(old, helper.read_all(r))
    r:close()
    assert.is_true(w:commit())
    same_bytes(new, fx.drv:get_content("/w/f"))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("a reader of an overwritten file never returns bytes the file did not hold", function()
    -- Beyond the contract, which says nothing about it: the old blob may be
    -- gone, so a read may fail (nil, msg, code), but it must never hand out
    -- zeros or new bytes as if they were the old file's.  40 chunks are
    -- more than a reader prefetches.
    local old = helper.bytes(40 * CHUNK, 1)
    assert.is_true(fx.drv:put_content("/w/f", old))
    local r = assert(fx.drv:reader("/w/f"))
    local first = assert(r:read(1000))
    assert.are.equal(old:sub(1, 1000), first)
    assert.is_true(fx.drv:put_content("/w/f", "new"))
    local pos = 1000
    while true do
      local s, msg, code = r:read(CHUNK)
      if s == nil then
        if pos < #old then
          assert.is_string(msg, "read ended early at " .. pos .. " without an error")
          assert.is_string(code)
        end
        break
      end
      same_bytes(old:sub(pos + 1, pos + #s), s, "read at " .. pos)
      pos = pos + #s
    end
    r:close()
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("cancel of a new file leaves nothing in RADOS", function()
    local w = assert(fx.drv:writer("/w/cancelled"))
    assert.is_true(w:write(helper.bytes(3 * CHUNK + 5, 1)))
    assert.is_true(w:cancel())
    helper.fails("not_found", "/w/cancelled", fx.drv:stat("/w/cancelled"))
    assert_only_root(fx.ns)
  end)

  it("cancel after close and reopen leaves nothing in RADOS", function()
    local w = assert(fx.drv:writer("/w/cancelled"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK + 5, 1)))
    assert.is_true(w:close())
    w = assert(fx.drv:writer("/w/cancelled", true))
    assert.is_true(w:write(helper.bytes(CHUNK, 2)))
    assert.is_true(w:cancel())
    helper.fails("not_found", "/w/cancelled", fx.drv:stat("/w/cancelled"))
    w = assert(fx.drv:writer("/w/cancelled"))
    assert.is_true(w:cancel())
    assert_only_root(fx.ns)
  end)

  it("cancel of an append to an existing file keeps the old content", function()
    local old = helper.bytes(CHUNK + CHUNK / 2, 1)
    assert.is_true(fx.drv:put_content("/w/f", old))
    local w = assert(fx.drv:writer("/w/f", true))
    assert.are.equal(#old, w:size())
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    assert.is_true(w:cancel())
    same_bytes(old, fx.drv:get_content("/w/f"))
    check_chunks(fx.ns, "/w/f", #old)
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("an append to a committed file commits old and new bytes", function()
    local old = helper.bytes(CHUNK - 10, 1)
    assert.is_true(fx.drv:put_content("/w/f", old))
    local w = assert(fx.drv:writer("/w/f", true))
    local more = helper.bytes(CHUNK, 2)
    assert.is_true(w:write(more))
    same_bytes(old, fx.drv:get_content("/w/f"))
    assert.is_true(w:commit())
    same_bytes(old .. more, fx.drv:get_content("/w/f"))
    check_chunks(fx.ns, "/w/f", #old + #more)
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("append goes on with a closed writer's data, not the committed file", function()
    assert.is_true(fx.drv:put_content("/w/f", "old content"))
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write("new1"))
    assert.is_true(w:close())
    assert.are.equal("old content", fx.drv:get_content("/w/f"))
    w = assert(fx.drv:writer("/w/f", true))
    assert.are.equal(4, w:size())
    assert.is_true(w:write("new2"))
    assert.is_true(w:commit())
    assert.are.equal("new1new2", fx.drv:get_content("/w/f"))
    local _, n = helper.blobs(fx.ns)
    assert.are.equal(1, n)
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("close then writer(path, true) in the same process continues", function()
    local a, b = helper.bytes(CHUNK / 2 + 3, 1), helper.bytes(CHUNK, 2)
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write(a))
    assert.is_true(w:close())
    assert.are.equal(#a, w:size())
    w = assert(fx.drv:writer("/w/f", true))
    assert.are.equal(#a, w:size())
    assert.is_true(w:write(b))
    assert.is_true(w:commit())
    same_bytes(a .. b, fx.drv:get_content("/w/f"))
    check_chunks(fx.ns, "/w/f", #a + #b)
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("close then writer(path, true) in another process continues", function()
    local a = helper.bytes(CHUNK / 2 + 3, 1)
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write(a))
    assert.is_true(w:close())
    local nb = CHUNK + 77
    local out, rc = helper.run_lua(CHILD_APPEND, { fx.ns, "/w/f", #a, nb, 2 })
    assert.are.equal(0, rc, out)
    assert.are.equal("size " .. (#a + nb), (out:match("size %d+")))
    w = assert(fx.drv:writer("/w/f", true))
    assert.are.equal(#a + nb, w:size())
    local c = helper.bytes(100, 3)
    assert.is_true(w:write(c))
    assert.is_true(w:commit())
    same_bytes(a .. helper.bytes(nb, 2) .. c, fx.drv:get_content("/w/f"))
    check_chunks(fx.ns, "/w/f", #a + nb + 100)
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("writer(path, true) on a missing path is not_found", function()
    helper.fails("not_found", "/w/missing", fx.drv:writer("/w/missing", true))
    assert_only_root(fx.ns)
  end)

  it("delete of a file drops a writer's uncommitted data", function()
    assert.is_true(fx.drv:put_content("/w/f", helper.bytes(CHUNK, 1)))
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write(helper.bytes(3 * CHUNK, 2)))
    assert.is_true(w:close())
    assert.is_true(fx.drv:delete("/w/f"))
    assert_only_root(fx.ns)
    helper.fails("not_found", "/w/f", fx.drv:writer("/w/f", true))
    assert_only_root(fx.ns)
  end)

  it("delete of a directory drops uncommitted data under it", function()
    assert.is_true(fx.drv:put_content("/w/d/keep", "k"))
    local w = assert(fx.drv:writer("/w/d/up"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    assert.is_true(w:close())
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("delete of a path only uncommitted data lives at drops it", function()
    assert.is_true(fx.drv:put_content("/w/other", "o"))
    local w = assert(fx.drv:writer("/w/up"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    assert.is_true(w:close())
    -- Nothing is committed at /w/up: delete may say not_found, but the
    -- uncommitted data must go either way.
    local ok, msg, code = fx.drv:delete("/w/up")
    assert.truthy(ok == true or code == "not_found", tostring(msg))
    helper.fails("not_found", "/w/up", fx.drv:writer("/w/up", true))
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("delete of a file drops the data of a writer still open on it", function()
    assert.is_true(fx.drv:put_content("/w/f", "old"))
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    assert.is_true(fx.drv:delete("/w/f"))
    helper.fails("not_found", "/w/f", fx.drv:stat("/w/f"))
    -- Whatever cancel says now, it must not raise nor leave anything.
    pcall(w.cancel, w)
    assert_only_root(fx.ns)
  end)

  it("a commit after a delete dropped the writer's data fails and leaves nothing", function()
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    assert.is_true(fx.drv:delete("/w/f"))
    assert.is_true(w:write(helper.bytes(CHUNK, 3)))
    helper.fails("not_found", "/w/f", w:commit())
    helper.fails("not_found", "/w/f", fx.drv:stat("/w/f"))
    assert_only_root(fx.ns)
  end)

  it("two open writers of one path each keep their own pending record", function()
    local w1 = assert(fx.drv:writer("/w/f"))
    local w2 = assert(fx.drv:writer("/w/f"))
    assert.is_true(w1:write(helper.bytes(2 * CHUNK, 4)))
    assert.is_true(w2:write(helper.bytes(2 * CHUNK, 5)))
    local rec = helper.omap(fx.ns, "pending:/w")
    assert.are.equal(2, #helper.keys(rec))
    assert.is_true(w2:cancel())
    assert.is_true(w1:commit())
    same_bytes(helper.bytes(2 * CHUNK, 4), fx.drv:get_content("/w/f"))
    assert.is_nil(helper.omap(fx.ns, "pending:/w"))
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
  end)

  it("a writer whose path was deleted cannot bring its data back", function()
    assert.is_true(fx.drv:put_content("/w/f", "old"))
    local w = assert(fx.drv:writer("/w/f"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    assert.is_true(w:close())
    assert.is_true(fx.drv:delete("/w"))
    assert_only_root(fx.ns)
    helper.fails("not_found", "/w/f", fx.drv:writer("/w/f", true))
    assert_only_root(fx.ns)
  end)
end)
