-- distribution's storage driver conformance suite (registry/storage/driver/
-- testsuites), 2015 and HEAD cases, re-expressed against the Lua contract
-- in docs/design.md ("The driver contract") and docs/api.md.  Every test deletes what it
-- made; after_each then checks that list("/") is empty, as TearDownTest did.
local regstore = require "regstore"
local helper = require "helper"

local MiB = helper.MiB

-- Paths and contents as testsuites.go makes them.
local filename_chars = "abcdefghijklmnopqrstuvwxyz0123456789"
local separator_chars = "._-"

local function pick(s)
  local i = math.random(1, #s)
  return s:sub(i, i)
end

local function random_filename(n)
  local t, was_sep = {}, true
  for i = 1, n do
    if not was_sep and i < n and math.random(1, 4) == 1 then
      t[i] = pick(separator_chars)
      was_sep = true
    else
      t[i] = pick(filename_chars)
      was_sep = false
    end
  end
  return table.concat(t)
end

-- An absolute path of exactly n characters.
local function random_path(n)
  local p = "/"
  while #p < n do
    local chunk = math.random(1, n - #p)
    p = p .. random_filename(chunk)
    local remaining = n - #p
    if remaining == 1 then
      p = p .. random_filename(1)
    elseif remaining > 1 then
      p = p .. "/"
    end
  end
  return p
end

local seed = 0
local function random_contents(n)
  seed = seed + 1
  return helper.bytes(n, 1000 + seed)
end

local function first_part(p)
  return p:match("^(/[^/]+)")
end

local function assert_not_found(ok, msg, code, path)
  helper.fails("not_found", path, ok, msg, code)
end

describe("driver conformance #cluster", function()
  -- TearDownTest: the fixture checks that every test left the root empty.
  local fx = helper.fixture()
  local drv

  setup(function()
    math.randomseed(os.time())
    drv = fx.drv
  end)

  local function delete_path(p)
    local ok, msg, code = drv:delete(p)
    if not ok and code ~= "not_found" then error(msg) end
  end

  local function write_read_compare(path, contents)
    finally(function() delete_path(first_part(path)) end)
    assert.is_true(drv:put_content(path, contents))
    local got = assert(drv:get_content(path))
    assert.is_true(got == contents, "content differs")
  end

  local function write_read_streams_compare(path, contents)
    finally(function() delete_path(first_part(path)) end)
    local w = assert(drv:writer(path, false))
    assert.is_true(w:write(contents))
    assert.are.equal(#contents, w:size())
    assert.is_true(w:commit())
    assert.is_true(w:close())
    local r = assert(drv:reader(path, 0))
    local got = helper.read_all(r, 4096)
    r:close()
    assert.are.equal(#contents, #got)
    assert.is_true(got == contents, "content differs")
  end

  it("TestRootExists: list and stat of / work on a pristine namespace", function()
    local fresh = helper.connect()
    local names, msg = fresh:list("/")
    assert.is_table(names, msg)
    assert.are.same({}, names)
    local st = assert(fresh:stat("/"))
    assert.are.equal("/", st.path)
    assert.are.equal(0, st.size)
    assert.is_true(st.is_dir)
    fresh:close()
  end)

  it("TestValidPaths", function()
    local contents = random_contents(64)
    local paths = { "/a", "/2", "/aa", "/a.a", "/0-9/abcdefg", "/abcdefg/z.75",
      "/abc/1.2.3.4.5-6_zyx/123.z/4", "/docker/docker-registry", "/123.abc",
      "/abc./abc", "/.abc", "/a--b", "/a-.b", "/_.abc", "/Docker/docker-registry", "/Abc/Cba" }
    for _, p in ipairs(paths) do
      local ok, msg = drv:put_content(p, contents)
      assert(ok, msg)
      local got, gmsg = drv:get_content(p)
      assert(got == contents, "content differs at " .. p .. " " .. tostring(gmsg))
      assert(drv:delete(first_part(p)))
    end
  end)

  it("TestInvalidPaths", function()
    local contents = random_contents(64)
    for _, p in ipairs { "", "/", "abc", "123.abc", "//bcd", "/abc_123/" } do
      helper.fails("invalid_path", nil, drv:put_content(p, contents))
      helper.fails("invalid_path", nil, drv:get_content(p))
    end
  end)

  it("TestWriteRead1", function() write_read_compare(random_path(32), "a") end)
  it("TestWriteRead2", function() write_read_compare(random_path(32), "\xc3\x9f") end)
  it("TestWriteRead3", function() write_read_compare(random_path(32), random_contents(32)) end)
  it("TestWriteRead4", function() write_read_compare(random_path(32), random_contents(MiB)) end)
  it("TestWriteReadNonUTF8", function() write_read_compare(random_path(32), "\x80\x80\x80\x80") end)

  it("TestTruncate", function()
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    assert.is_true(drv:put_content(path, random_contents(MiB)))
    local small = random_contents(1024)
    assert.is_true(drv:put_content(path, small))
    local got = assert(drv:get_content(path))
    assert.are.equal(1024, #got)
    assert.is_true(got == small)
  end)

  it("TestReadNonexistent", function()
    local path = random_path(32)
    assert_not_found(drv:get_content(path))
  end)

  it("TestWriteReadStreams1", function() write_read_streams_compare(random_path(32), "a") end)
  it("TestWriteReadStreams2", function() write_read_streams_compare(random_path(32), "\xc3\x9f") end)
  it("TestWriteReadStreams3", function() write_read_streams_compare(random_path(32), random_contents(32)) end)
  it("TestWriteReadStreams4", function() write_read_streams_compare(random_path(32), random_contents(MiB)) end)
  it("TestWriteReadStreamsNonUTF8", function() write_read_streams_compare(random_path(32), "\x80\x80\x80\x80") end)

  it("TestWriteReadLargeStreams (5 GiB when REGSTORE_LONG=1, else 64 MiB)", function()
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    local total = helper.long and 5 * 1024 * MiB or 64 * MiB
    local pieces = math.floor(total / MiB)
    local h_in, h_w = regstore.sha256(), regstore.sha256()
    local w = assert(drv:writer(path, false))
    w:hash(h_w)
    for i = 1, pieces do
      local piece = helper.bytes(MiB, 5000 + i)
      h_in:update(piece)
      local ok, msg = w:write(piece)
      assert(ok, msg)
    end
    assert.are.equal(total, w:size())
    assert.is_true(w:commit())
    assert.are.equal(total, assert(drv:stat(path)).size)
    local r = assert(drv:reader(path, 0))
    local h_out, n = regstore.sha256(), 0
    while true do
      local s, msg = r:read(MiB)
      if not s then assert(msg == nil, msg) break end
      n = n + #s
      h_out:update(s)
    end
    r:close()
    assert.are.equal(total, n)
    assert.are.equal(total, h_in:size())
    assert.are.equal(h_in:hexdigest(), h_w:hexdigest())
    assert.are.equal(h_in:hexdigest(), h_out:hexdigest())
  end)

  it("TestReaderWithOffset", function()
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    local c1, c2, c3 = random_contents(32), random_contents(32), random_contents(32)
    assert.is_true(drv:put_content(path, c1 .. c2 .. c3))

    local r = assert(drv:reader(path, 0))
    assert.is_true(helper.read_all(r) == c1 .. c2 .. c3)
    r:close()
    r = assert(drv:reader(path, 32))
    assert.is_true(helper.read_all(r) == c2 .. c3)
    r:close()
    r = assert(drv:reader(path, 64))
    assert.is_true(helper.read_all(r) == c3)
    r:close()

    -- Offset -1: invalid_offset, the message names the path and the offset.
    local bad, msg, code = drv:reader(path, -1)
    helper.fails("invalid_offset", path, bad, msg, code)
    assert.truthy(msg:find("-1", 1, true), msg)

    -- Offset == size: a reader that reads nothing.
    r = assert(drv:reader(path, 96))
    local s, err = r:read(32)
    assert.is_nil(s)
    assert.is_nil(err)
    r:close()

    -- Offset == size - 1: one byte, then the end.
    r = assert(drv:reader(path, 95))
    s, err = r:read(32)
    assert.are.equal(c3:sub(32), s, err)
    s, err = r:read(32)
    assert.is_nil(s)
    assert.is_nil(err)
    r:close()
  end)

  local function continue_stream_append(chunk)
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    local c1, c2, c3 = random_contents(chunk), random_contents(chunk), random_contents(chunk)
    local full = c1 .. c2 .. c3

    local w = assert(drv:writer(path, false))
    assert.is_true(w:write(c1))
    assert.is_true(w:close())
    local cur = w:size()
    assert.are.equal(chunk, cur)

    w = assert(drv:writer(path, true))
    assert.are.equal(cur, w:size())
    assert.is_true(w:write(c2))
    assert.is_true(w:close())
    cur = w:size()
    assert.are.equal(2 * chunk, cur)

    w = assert(drv:writer(path, true))
    assert.are.equal(cur, w:size())
    assert.is_true(w:write(full:sub(cur + 1)))
    assert.is_true(w:commit())
    assert.is_true(w:close())
    assert.are.equal(3 * chunk, w:size())

    local got = assert(drv:get_content(path))
    assert.are.equal(#full, #got)
    assert.is_true(got == full, "content differs")
  end

  it("TestContinueStreamAppendLarge (10 MiB)", function() continue_stream_append(10 * MiB) end)
  it("TestContinueStreamAppendSmall (32 B)", function() continue_stream_append(32) end)

  it("TestReadNonexistentStream", function()
    local path = random_path(32)
    assert_not_found(drv:reader(path, 0))
    assert_not_found(drv:reader(path, 64))
  end)

  local function zero_then_append(make_empty)
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    local c1 = random_contents(32)

    make_empty(path)

    local r = assert(drv:reader(path, 0))
    local s, err = r:read(32)
    assert.is_nil(s)
    assert.is_nil(err)
    r:close()

    local aw = assert(drv:writer(path, true))
    assert.are.equal(0, aw:size())
    assert.is_true(aw:write(c1))
    assert.is_true(aw:commit())
    assert.is_true(aw:close())
    assert.are.equal(32, aw:size())

    r = assert(drv:reader(path, 0))
    assert.is_true(helper.read_all(r) == c1)
    r:close()
  end

  it("TestWriteZeroByteStreamThenAppend", function()
    zero_then_append(function(path)
      local w = assert(drv:writer(path, false))
      assert.is_true(w:commit())
      assert.is_true(w:close())
      assert.are.equal(0, w:size())
    end)
  end)

  it("TestWriteZeroByteContentThenAppend", function()
    zero_then_append(function(path)
      assert.is_true(drv:put_content(path, ""))
    end)
  end)

  it("TestList", function()
    local root = "/" .. random_filename(math.random(8, 15))
    finally(function() delete_path(root) end)

    local nonexistent = root .. "/nonexistent"
    assert_not_found(drv:list(nonexistent))

    local parent = root .. "/" .. random_filename(math.random(8, 15))
    local children, seen = {}, {}
    for _ = 1, 50 do
      local child = parent .. "/" .. random_filename(math.random(8, 15))
      if not seen[child] then
        seen[child] = true
        children[#children + 1] = child
      end
      assert.is_true(drv:put_content(child, random_contents(32)))
    end
    table.sort(children)

    assert.are.same({ root }, assert(drv:list("/")))
    assert.are.same({ parent }, assert(drv:list(root)))
    -- The contract promises sorted output: no sort here.
    assert.are.same(children, assert(drv:list(parent)))
    assert_not_found(drv:list(nonexistent))
  end)

  it("TestMove", function()
    local contents = random_contents(32)
    local src, dst = random_path(32), random_path(32)
    finally(function()
      delete_path(first_part(src))
      delete_path(first_part(dst))
    end)
    assert.is_true(drv:put_content(src, contents))
    assert.is_true(drv:move(src, dst))
    assert.is_true(assert(drv:get_content(dst)) == contents)
    assert_not_found(drv:get_content(src))
  end)

  it("TestMoveOverwrite", function()
    local src, dst = random_path(32), random_path(32)
    local src_contents, dst_contents = random_contents(32), random_contents(64)
    finally(function()
      delete_path(first_part(src))
      delete_path(first_part(dst))
    end)
    assert.is_true(drv:put_content(src, src_contents))
    assert.is_true(drv:put_content(dst, dst_contents))
    assert.is_true(drv:move(src, dst))
    assert.is_true(assert(drv:get_content(dst)) == src_contents)
    assert_not_found(drv:get_content(src))
  end)

  it("TestMoveNonexistent", function()
    local contents = random_contents(32)
    local src, dst = random_path(32), random_path(32)
    finally(function() delete_path(first_part(dst)) end)
    assert.is_true(drv:put_content(dst, contents))
    local ok, msg, code = drv:move(src, dst)
    helper.fails("not_found", src, ok, msg, code) -- a failed move names the source
    assert.is_true(assert(drv:get_content(dst)) == contents)
  end)

  it("TestMoveInvalid", function()
    local contents = random_contents(32)
    finally(function() delete_path("/notadir") end)
    assert.is_true(drv:put_content("/notadir", contents))
    local ok, msg, code = drv:move("/notadir/foo", "/notadir/bar")
    assert.is_nil(ok)
    assert.is_string(msg)
    assert.truthy(code == "not_dir" or code == "not_found", "code " .. tostring(code))
    assert.is_true(assert(drv:get_content("/notadir")) == contents)
  end)

  it("TestDelete", function()
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    assert.is_true(drv:put_content(path, random_contents(32)))
    assert.is_true(drv:delete(path))
    assert_not_found(drv:get_content(path))
  end)

  it("TestDeleteNonexistent", function()
    local path = random_path(32)
    assert_not_found(drv:delete(path))
  end)

  it("TestDeleteFolder", function()
    local dir = random_path(32)
    local f1, f2, f3 = random_path(32), random_path(32), random_path(32)
    local contents = random_contents(32)
    finally(function() delete_path(first_part(dir)) end)
    assert.is_true(drv:put_content(dir .. f1, contents))
    assert.is_true(drv:put_content(dir .. f2, contents))
    assert.is_true(drv:put_content(dir .. f3, contents))

    assert.is_true(drv:delete(dir .. f1))
    assert_not_found(drv:stat(dir .. f1))
    assert.is_table(drv:stat(dir .. f2))
    assert.is_table(drv:stat(dir .. f3))

    assert.is_true(drv:delete(dir))
    assert_not_found(drv:stat(dir .. f1))
    assert_not_found(drv:stat(dir .. f2))
    assert_not_found(drv:stat(dir .. f3))
  end)

  it("TestDeleteOnlyDeletesSubpaths", function()
    local dir = "/" .. random_filename(32)
    local name = random_filename(32)
    local contents = random_contents(32)
    finally(function() delete_path(dir) end)
    local sub = dir:sub(2)
    assert.is_true(drv:put_content(dir .. "/" .. name, contents))
    assert.is_true(drv:put_content(dir .. "/" .. name .. "suffix", contents))
    assert.is_true(drv:put_content(dir .. "/" .. sub .. "/" .. name, contents))
    assert.is_true(drv:put_content(dir .. "/" .. sub .. "suffix/" .. name, contents))

    assert.is_true(drv:delete(dir .. "/" .. name))
    assert_not_found(drv:get_content(dir .. "/" .. name))
    assert.is_true(assert(drv:get_content(dir .. "/" .. name .. "suffix")) == contents)

    assert.is_true(drv:delete(dir .. "/" .. sub))
    assert_not_found(drv:get_content(dir .. "/" .. sub .. "/" .. name))
    assert.is_true(assert(drv:get_content(dir .. "/" .. sub .. "suffix/" .. name)) == contents)
  end)

  it("TestStatCall", function()
    local content = random_contents(4096)
    local dir = random_path(32)
    local file = dir .. "/" .. random_filename(32)
    finally(function() delete_path(first_part(dir)) end)

    assert_not_found(drv:stat(dir))
    assert_not_found(drv:stat(file))

    local before = os.time()
    assert.is_true(drv:put_content(file, content))
    local fi = assert(drv:stat(file))
    assert.are.equal(file, fi.path)
    assert.are.equal(4096, fi.size)
    assert.is_false(fi.is_dir)
    assert.is_number(fi.modtime)
    -- The OSDs share this host's clock: allow a little skew either way.
    assert.truthy(fi.modtime >= before - 5 and fi.modtime <= os.time() + 5,
      "modtime " .. fi.modtime .. " is far from now " .. os.time())
    local created = fi.modtime

    -- No 10 s sleep: a re-put must not go back in time.
    assert.is_true(drv:put_content(file, random_contents(4096)))
    fi = assert(drv:stat(file))
    assert.truthy(fi.modtime >= created, "modtime went back: " .. fi.modtime .. " < " .. created)

    fi = assert(drv:stat(dir))
    assert.are.equal(dir, fi.path)
    assert.are.equal(0, fi.size)
    assert.is_true(fi.is_dir)

    -- The registry's health check does exactly this; the contract says the
    -- root always exists.
    fi = assert(drv:stat("/"))
    assert.are.equal("/", fi.path)
    assert.are.equal(0, fi.size)
    assert.is_true(fi.is_dir)
  end)

  it("TestPutContentMultipleTimes", function()
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    assert.is_true(drv:put_content(path, random_contents(4096)))
    local contents = random_contents(2048)
    assert.is_true(drv:put_content(path, contents))
    local got = assert(drv:get_content(path))
    assert.are.equal(2048, #got)
    assert.is_true(got == contents)
  end)

  it("TestConcurrentStreamReads (128 MiB when long, else 16 MiB)", function()
    local size = helper.long and 128 * MiB or 16 * MiB
    local path = random_path(32)
    finally(function() delete_path(first_part(path)) end)
    local contents = random_contents(size)
    assert.is_true(drv:put_content(path, contents))

    -- Ten readers at random offsets, interleaved with random read sizes.
    local readers = {}
    for i = 1, 10 do
      local off = math.random(0, size - 1)
      readers[i] = { r = assert(drv:reader(path, off)), pos = off }
    end
    local open = #readers
    while open > 0 do
      for _, rd in ipairs(readers) do
        if rd.r then
          local n = math.random(1, 2 * MiB)
          local s, msg = rd.r:read(n)
          if s == nil then
            assert(msg == nil, msg)
            assert.are.equal(size, rd.pos)
            rd.r:close()
            rd.r = nil
            open = open - 1
          else
            assert(#s >= 1 and #s <= n)
            assert(s == contents:sub(rd.pos + 1, rd.pos + #s), "reader data differs at " .. rd.pos)
            rd.pos = rd.pos + #s
          end
        end
      end
    end
  end)

  it("TestConcurrentFileStreams (32 x 32 MiB when long, else 4 x 4 MiB)", function()
    local streams = helper.long and 32 or 4
    local size = helper.long and 32 * MiB or 4 * MiB
    local piece = 256 * 1024
    local files = {}
    finally(function()
      for _, f in ipairs(files) do
        if f.w then pcall(f.w.cancel, f.w) end
        delete_path(first_part(f.path))
      end
    end)
    for i = 1, streams do
      local f = { path = random_path(32), h = regstore.sha256(), written = 0 }
      f.w = assert(drv:writer(f.path, false))
      files[i] = f
    end
    -- Round robin: one piece to each writer in turn.
    local left = streams
    local round = 0
    while left > 0 do
      round = round + 1
      for i, f in ipairs(files) do
        if f.written < size then
          local n = math.min(piece, size - f.written)
          local data = helper.bytes(n, i * 100000 + round)
          f.h:update(data)
          local ok, msg = f.w:write(data)
          assert(ok, msg)
          f.written = f.written + n
          if f.written == size then
            assert.is_true(f.w:commit())
            f.w = nil
            left = left - 1
          end
        end
      end
    end
    for _, f in ipairs(files) do
      assert.are.equal(size, assert(drv:stat(f.path)).size)
      local r = assert(drv:reader(f.path, 0))
      local h = regstore.sha256()
      while true do
        local s, msg = r:read(MiB)
        if not s then assert(msg == nil, msg) break end
        h:update(s)
      end
      r:close()
      assert.are.equal(f.h:hexdigest(), h:hexdigest())
    end
  end)
end)
