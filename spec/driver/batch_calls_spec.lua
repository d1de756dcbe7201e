-- The batch calls of the driver (issue 20): drv:get_many, drv:put_many and
-- drv:stat_many. Each item is the single call, with its own result: item i
-- is `res[i] or nil, msgs[i], codes[i]`, exactly what the single call would
-- have answered; a missing path is that item's not_found, a failed read
-- that item's own code (never an absence, never the batch's failure); wrong
-- argument types raise. Runs under Lua 5.4 and LuaJIT.
local helper = require "helper"
local regstore = require "regstore"

local KiB = helper.KiB
local clock = regstore.clock

local function raises(fn, pattern)
  local ok, err = pcall(fn)
  assert.is_false(ok, "did not raise")
  if pattern then
    assert.truthy(tostring(err):find(pattern, 1, true),
      string.format("error %q lacks %q", tostring(err), pattern))
  end
end

-- Item i of a batch's answer, as the single call's triple.
local function item(res, msgs, codes, i)
  if res[i] then return res[i] end
  return nil, msgs[i], codes[i]
end

-- The blob object (chunk 0) a path names, from its directory's omap.
local function blob_of(ns, path)
  local dir, base = path:match("^(.*)/([^/]+)$")
  if dir == "" then dir = "/" end
  return helper.omap(ns, dir)[base]
end

describe("drv:get_many / put_many / stat_many #cluster", function()
  local drv, ns
  before_each(function() drv, ns = helper.connect { timeout = 10 } end)
  after_each(function()
    helper.clear(drv)
    drv:close()
  end)

  it("an empty list gives empty results, for each call", function()
    for _, call in ipairs { "get_many", "stat_many" } do
      local res, msgs, codes = drv[call](drv, {})
      assert.same({}, res)
      assert.same({}, msgs)
      assert.same({}, codes)
    end
    local res, msgs, codes = drv:put_many({}, {})
    assert.same({}, res)
    assert.same({}, msgs)
    assert.same({}, codes)
  end)

  it("puts and reads many files, each as its single call, with any window", function()
    local paths, data = {}, {}
    for i = 1, 300 do
      paths[i] = string.format("/b/d%d/f%03d", i % 9, i)
      data[i] = helper.bytes(i * 37 + (i % 5 == 0 and 70 * KiB or 0), i)
    end
    local ok, msgs, codes = drv:put_many(paths, data, { window = 32 })
    assert.equal(300, #ok)
    for i = 1, 300 do assert.is_true(ok[i], tostring(msgs[i])) end
    assert.same({}, codes)
    for _, w in ipairs { 1, 2, 16, 256 } do
      local res, m, c = drv:get_many(paths, { window = w })
      assert.equal(300, #res)
      for i = 1, 300 do helper.same_bytes(data[i], res[i], paths[i] .. " window " .. w) end
      assert.same({}, m)
      assert.same({}, c)
    end
    -- the default window, and the single calls agree
    local res = drv:get_many(paths)
    for i = 1, 300, 17 do assert.equal(drv:get_content(paths[i]), res[i]) end
    local infos = drv:stat_many(paths, { window = 256 })
    for i = 1, 300, 13 do
      local one = assert(drv:stat(paths[i]))
      assert.same(one, infos[i])
      assert.equal(#data[i], infos[i].size)
    end
    -- replacing them all: new content, no blob left of the old
    for i = 1, 300 do data[i] = "v2-" .. i end
    ok = drv:put_many(paths, data)
    for i = 1, 300 do assert.is_true(ok[i]) end
    res = drv:get_many(paths)
    for i = 1, 300 do assert.equal(data[i], res[i]) end
    assert.is_true(drv:delete("/b"))
    assert.same({}, helper.leftovers(ns))
  end)

  it("missing paths, directories, files in the way and invalid paths are per-item failures", function()
    assert(drv:put_content("/m/file", "content"))
    assert(drv:put_content("/m/dir/x", "x"))
    local paths = {
      "/m/file", "/m/missing", "/m/dir", "/m/file/below", "/nothing/at/all", "relative",
      "/m//file", "/", "/m/file\0hidden", "/m/file",
    }
    local res, msgs, codes = drv:get_many(paths)
    assert.equal(#paths, #res)
    assert.equal("content", item(res, msgs, codes, 1))
    assert.equal("content", item(res, msgs, codes, 10))
    helper.fails("not_found", "/m/missing", item(res, msgs, codes, 2))
    helper.fails("is_dir", "/m/dir", item(res, msgs, codes, 3))
    helper.fails("not_dir", "/m/file/below", item(res, msgs, codes, 4))
    helper.fails("not_found", "/nothing/at/all", item(res, msgs, codes, 5))
    helper.fails("invalid_path", "relative", item(res, msgs, codes, 6))
    helper.fails("invalid_path", "/m//file", item(res, msgs, codes, 7))
    helper.fails("invalid_path", nil, item(res, msgs, codes, 8)) -- "/" is not a file
    helper.fails("invalid_path", "/m/file", item(res, msgs, codes, 9))
    -- the single calls say the same
    for i = 2, 9 do
      local _, _, code = drv:get_content(paths[i])
      assert.equal(code, codes[i], paths[i])
    end
    -- stat: "/" and directories are directories; the rest as get
    local infos, smsgs, scodes = drv:stat_many(paths)
    assert.is_true(infos[3].is_dir)
    assert.is_true(infos[8].is_dir)
    assert.equal(7, infos[1].size)
    assert.equal("/m/file", infos[1].path)
    helper.fails("not_found", "/m/missing", item(infos, smsgs, scodes, 2))
    helper.fails("not_dir", "/m/file/below", item(infos, smsgs, scodes, 4))
    helper.fails("invalid_path", "/m/file", item(infos, smsgs, scodes, 9))
    -- put: a directory there, a file in the way, bad paths fail alone
    local ok, pm, pc = drv:put_many({ "/m/dir", "/m/file/below", "/m/new", "bad", "/m/n\0ul" },
      { "a", "b", "c", "d", "e" })
    helper.fails("is_dir", "/m/dir", item(ok, pm, pc, 1))
    helper.fails("not_dir", "/m/file/below", item(ok, pm, pc, 2))
    assert.is_true(ok[3])
    helper.fails("invalid_path", "bad", item(ok, pm, pc, 4))
    helper.fails("invalid_path", "/m/n", item(ok, pm, pc, 5))
    assert.equal("c", drv:get_content("/m/new"))
    assert.equal("x", drv:get_content("/m/dir/x"))
    assert.equal("content", drv:get_content("/m/file"))
    assert.is_true(drv:delete("/m"))
    assert.same({}, helper.leftovers(ns))
  end)

  it("duplicates are independent items: reads agree, puts race as single puts do", function()
    assert(drv:put_content("/d/f", "one"))
    local paths = {}
    for i = 1, 50 do paths[i] = "/d/f" end
    local res = drv:get_many(paths, { window = 16 })
    for i = 1, 50 do assert.equal("one", res[i]) end
    local contents = {}
    for i = 1, 50 do contents[i] = "v" .. i end
    local ok = drv:put_many(paths, contents, { window = 16 })
    for i = 1, 50 do assert.is_true(ok[i]) end
    local now = drv:get_content("/d/f")
    assert.truthy(now:match("^v%d+$"), now)
    -- create only: exactly one of the racing creators wins
    local np, nc = {}, {}
    for i = 1, 20 do np[i], nc[i] = "/d/once", "c" .. i end
    local ok2, _, codes = drv:put_many(np, nc, { replace = false, window = 20 })
    local won = 0
    for i = 1, 20 do
      if ok2[i] then won = won + 1 else assert.equal("exists", codes[i]) end
    end
    assert.equal(1, won)
    assert.is_true(drv:delete("/d"))
    assert.same({}, helper.leftovers(ns))
  end)

  it("missing hints (rs_put_fresh) give the single put's result, right or wrong", function()
    assert(drv:put_content("/h/dir/x", "x"))
    assert(drv:put_content("/h/file", "content"))
    assert(drv:put_content("/h/old", "old"))
    local paths = { "/n1/n2/n3/f", "/h/dir", "/h/file/below", "/h/old", "/h/new", "/h/a/b/c", "/n1/n2/g",
      "/o1/o2/f", "/r", "/h/sib/f", "/h/dir/y/f", "/h/dir/z/f", "/m1/m2/f" }
    local contents = { "f", "d", "b", "replaced", "new", string.rep("c", 300 * KiB), "g", "o", "r", "s", "y",
      string.rep("z", 200 * KiB), "m" }
    -- right: 3, 2; an existing directory said missing: 1 (is_dir, not_dir,
    -- the replace, the new file); missing levels said present: 1 for /h/a/b;
    -- more levels than the path has: 9; a file at the root: 1. Linked
    -- together (1: new directories of one parent): y and z into /h/dir;
    -- sib with file (whose link fails: a file is there), each on its own
    -- then; m2 into /m1, missing (each on its own again)
    local ok, msgs, codes = drv:put_many(paths, contents,
      { missing = { 3, 1, 1, 1, 1, 1, 2, 9, 1, 1, 1, 1, 1 }, window = 1 })
    assert.is_true(ok[1], msgs[1])
    helper.fails("is_dir", "/h/dir", item(ok, msgs, codes, 2))
    helper.fails("not_dir", "/h/file/below", item(ok, msgs, codes, 3))
    for i = 4, #paths do
      if i ~= 3 then assert.is_true(ok[i], msgs[i]) end
    end
    for i, p in ipairs(paths) do
      if ok[i] then assert.equal(contents[i], drv:get_content(p)) end
    end
    assert.equal("content", drv:get_content("/h/file"))
    assert.equal("x", drv:get_content("/h/dir/x"))
    -- every name is listed where it belongs, nothing else is
    local names = {}
    assert(drv:walk("/", function(info) if not info.is_dir then names[#names + 1] = info.path end end))
    table.sort(names)
    assert.same({ "/h/a/b/c", "/h/dir/x", "/h/dir/y/f", "/h/dir/z/f", "/h/file", "/h/new", "/h/old", "/h/sib/f",
      "/m1/m2/f", "/n1/n2/g", "/n1/n2/n3/f", "/o1/o2/f", "/r" }, names)
    -- the same with every window: the puts run in any order
    for _, w in ipairs { 4, 32 } do
      local wp, wc, wm = {}, {}, {}
      for i = 1, 200 do
        wp[i], wc[i], wm[i] = string.format("/w%d/s%d/d%03d/f", w, i % 3, i), "w" .. i, i <= 3 and 2 or 1
      end
      local wok, wmsgs = drv:put_many(wp, wc, { missing = wm, window = w })
      for i = 1, 200 do
        assert.is_true(wok[i], wmsgs[i])
        assert.equal(wc[i], drv:get_content(wp[i]))
      end
      assert.equal(67, #assert(drv:list("/w" .. w .. "/s1")))
      assert.is_true(drv:delete("/w" .. w))
    end
    -- create only: a file there fails, the rest are made
    local ok2, _, codes2 = drv:put_many({ "/h/old", "/q/x" }, { "no", "yes" }, { replace = false, missing = { 1, 1 } })
    assert.equal("exists", codes2[1])
    assert.is_true(ok2[2])
    assert.equal("replaced", drv:get_content("/h/old"))
    -- the replaced and the refused data are gone: one blob per file
    local _, nblobs = helper.blobs(ns)
    assert.equal(#names + 1, nblobs)
    for _, top in ipairs { "/h", "/n1", "/o1", "/q", "/r", "/m1" } do assert.is_true(drv:delete(top)) end
    assert.same({}, helper.leftovers(ns))
    raises(function() drv:put_many({ "/a" }, { "x" }, { missing = 1 }) end, "missing must be a table")
    raises(function() drv:put_many({ "/a" }, { "x" }, { missing = { -1 } }) end, "missing[k]")
    raises(function() drv:put_many({ "/a" }, { "x" }, { missing = { "x" } }) end, "missing[k]")
    -- in order: each made, linked one after the other (crash_points_spec
    -- checks the order); a failed item does not hold back the next
    assert(drv:put_content("/io/b/f", "there"))
    local ok3, _, codes3 = drv:put_many({ "/io/a/f", "/io/b/f", "/jo/c/g" }, { "1", "2", "3" },
      { replace = false, missing = { 1, 1, 1 }, in_order = true, window = 3 })
    assert.same({ true, false, true }, ok3)
    assert.equal("exists", codes3[2])
    assert.same({ "1", "there", "3" }, { drv:get_content("/io/a/f"), drv:get_content("/io/b/f"),
      drv:get_content("/jo/c/g") })
    assert.same({ "/io/a", "/io/b" }, assert(drv:list("/io")))
    for _, top in ipairs { "/io", "/jo" } do assert.is_true(drv:delete(top)) end
    raises(function() drv:put_many({ "/a" }, { "x" }, { in_order = 1 }) end, "in_order must be a boolean")
  end)

  it("a put told a directory is missing links it again when it finds it: a killed put's is reachable", function()
    for _, w in ipairs { 1, 8 } do
      assert(drv:put_content("/u/d/f", "f"))
      assert(drv:put_content("/u/d/s/f", "f"))
      assert(drv:put_content("/u/e", "e"))
      -- what puts killed after making their directories leave: /u/d, and
      -- /u/d/s, made, not linked (/u/d/s reads, /u/d/f reads, neither listed)
      helper.rados(ns, "rmomapkey /u d")
      helper.rados(ns, "rmomapkey /u/d s")
      assert.same({ "/u/e" }, assert(drv:list("/u")))
      -- said missing, as migrate's index of the destination does: d and s
      local ok, msgs = drv:put_many({ "/u/d/s/g" }, { "g" }, { missing = { 2 }, window = w })
      assert.is_true(ok[1], msgs[1])
      assert.equal("f", drv:get_content("/u/d/f"))
      assert.same({ "/u/d", "/u/e" }, assert(drv:list("/u")))
      assert.same({ "/u/d/f", "/u/d/s" }, assert(drv:list("/u/d")))
      assert.same({ "/u/d/s/f", "/u/d/s/g" }, assert(drv:list("/u/d/s")))
      assert.is_true(drv:delete("/u"))
    end
    assert.same({}, helper.leftovers(ns))
  end)

  it("replace = false fails only the items whose path holds a file", function()
    assert(drv:put_content("/r/a", "old"))
    local ok, msgs, codes = drv:put_many({ "/r/a", "/r/b" }, { "new", "new" }, { replace = false })
    helper.fails("exists", "/r/a", item(ok, msgs, codes, 1))
    assert.is_true(ok[2])
    assert.equal("old", drv:get_content("/r/a"))
    assert.equal("new", drv:get_content("/r/b"))
  end)

  it("a read that fails mid-batch is that item's io, never an absence; the others are read", function()
    local paths = {}
    for i = 1, 40 do
      paths[i] = "/c/f" .. i
      assert(drv:put_content(paths[i], "data " .. i))
    end
    -- damage two of them: a size record that does not parse
    for _, i in ipairs { 7, 31 } do
      helper.rados(ns, "setxattr " .. helper.quote(blob_of(ns, paths[i]) .. "-0") .. " total-size 12x")
    end
    local res, msgs, codes = drv:get_many(paths, { window = 8 })
    for i = 1, 40 do
      if i == 7 or i == 31 then
        helper.fails("io", paths[i], item(res, msgs, codes, i))
      else
        assert.equal("data " .. i, res[i])
      end
    end
    local infos, _, scodes = drv:stat_many(paths)
    assert.equal("io", scodes[7])
    assert.equal("io", scodes[31])
    assert.equal(#"data 1", infos[1].size)
  end)

  it("wrong argument types raise", function()
    raises(function() drv:get_many() end, "bad argument")
    raises(function() drv:get_many("/a") end, "bad argument")
    raises(function() drv:get_many({ "/a", 5 }) end, "paths[2] must be a string")
    raises(function() drv:get_many({ "/a", {} }) end, "paths[2] must be a string")
    raises(function() drv:stat_many({ true }) end, "paths[1] must be a string")
    raises(function() drv:get_many({ "/a" }, 4) end, "bad argument")
    raises(function() drv:get_many({ "/a" }, { window = 0 }) end, "window")
    raises(function() drv:get_many({ "/a" }, { window = 257 }) end, "window")
    raises(function() drv:get_many({ "/a" }, { window = 1.5 }) end, "window")
    raises(function() drv:get_many({ "/a" }, { window = "8" }) end, "window")
    raises(function() drv:put_many({ "/a" }) end, "bad argument")
    raises(function() drv:put_many({ "/a" }, { "x", "y" }) end, "one content per path")
    raises(function() drv:put_many({ "/a", "/b" }, { "x" }) end, "one content per path")
    raises(function() drv:put_many({ "/a" }, { 12 }) end, "contents[1] must be a string")
    raises(function() drv:put_many({ "/a" }, { "x" }, { replace = "no" }) end, "replace")
    raises(function() drv.get_many({}, { "/a" }) end, "bad argument")
    -- nothing was written by the calls that raised
    assert.same({}, drv:list("/"))
    local d2 = helper.connect()
    d2:close()
    raises(function() d2:get_many({ "/a" }) end, "closed")
  end)

  it("drv:batch runs gets, stats and puts together, each as its single call", function()
    assert(drv:put_content("/x/a", "A"))
    local res, msgs, codes = drv:batch({
      { "get", "/x/a" }, { "stat", "/x/a" }, { "put", "/x/b", "B" }, { "get", "/x/missing" },
      { "stat", "/x" }, { "put", "/x/a/under", "U" }, { "get", "bad" },
    }, { window = 4 })
    assert.equal(7, #res)
    assert.equal("A", res[1])
    assert.equal(1, res[2].size)
    assert.equal("/x/a", res[2].path)
    assert.is_true(res[3])
    helper.fails("not_found", "/x/missing", item(res, msgs, codes, 4))
    assert.is_true(res[5].is_dir)
    helper.fails("not_dir", "/x/a/under", item(res, msgs, codes, 6))
    helper.fails("invalid_path", "bad", item(res, msgs, codes, 7))
    assert.equal("B", drv:get_content("/x/b"))
    -- listings, as drv:list answers them
    local ls, lm, lc = drv:batch({ { "list", "/x" }, { "list", "/" }, { "list", "/x/a" }, { "list", "/nope" },
      { "list", "x" } })
    assert.same(drv:list("/x"), ls[1])
    assert.same({ "/x/a", "/x/b" }, ls[1])
    assert.same(drv:list("/"), ls[2])
    helper.fails("not_dir", "/x/a", item(ls, lm, lc, 3))
    helper.fails("not_found", "/nope", item(ls, lm, lc, 4))
    helper.fails("invalid_path", "x", item(ls, lm, lc, 5))
    local ok, _, pc = drv:batch({ { "put", "/x/a", "again" } }, { replace = false })
    assert.is_false(ok[1])
    assert.equal("exists", pc[1])
    assert.same({}, (drv:batch({})))
    raises(function() drv:batch({ { "read", "/x/a" } }) end, "must be")
    raises(function() drv:batch({ { "put", "/x/a" } }) end, "ops[1][3] must be a string")
    raises(function() drv:batch({ "/x/a" }) end, "ops[1] must be a table")
    raises(function() drv:batch({ { "get", 7 } }) end, "must be a string")
    raises(function() drv:batch("x") end, "bad argument")
    assert.equal("A", drv:get_content("/x/a"))
  end)

  it("exists answers from the directory's entry; shallow reads never look above a missing directory", function()
    assert(drv:put_content("/s/f", "F"))
    assert(drv:put_content("/s/d/x", "X"))
    local ops = { { "exists", "/s/f" }, { "exists", "/s/missing" }, { "exists", "/s/d" },
      { "exists", "/s/f/below" }, { "exists", "/nothing/at/all" }, { "exists", "/" }, { "exists", "bad" } }
    local res, msgs, codes = drv:batch(ops)
    assert.is_true(res[1])
    helper.fails("not_found", "/s/missing", item(res, msgs, codes, 2))
    helper.fails("is_dir", "/s/d", item(res, msgs, codes, 3))
    helper.fails("not_found", "/s/f/below", item(res, msgs, codes, 4)) -- absent, ancestors unread
    helper.fails("not_found", "/nothing/at/all", item(res, msgs, codes, 5))
    helper.fails("is_dir", nil, item(res, msgs, codes, 6))
    helper.fails("invalid_path", "bad", item(res, msgs, codes, 7))
    -- shallow gets and stats: a path through a file, or under a missing
    -- directory, is not_found; everything else as without it
    local paths = { "/s/f", "/s/f/below", "/s/f/below/more", "/s/missing", "/s/d", "/none/x/y" }
    for _, shallow in ipairs { true, false } do
      local opts = { shallow = shallow }
      local g, gm, gc = drv:get_many(paths, opts)
      local st, sm, sc = drv:stat_many(paths, opts)
      local b = {}
      for i, p in ipairs(paths) do b[i] = { "get", p } end
      local bg, bm, bc = drv:batch(b, opts)
      assert.equal("F", g[1])
      assert.equal(1, st[1].size)
      assert.equal("F", bg[1])
      local through = shallow and "not_found" or "not_dir"
      for _, r in ipairs { { g, gm, gc }, { st, sm, sc }, { bg, bm, bc } } do
        helper.fails(through, "/s/f/below", item(r[1], r[2], r[3], 2))
        helper.fails(through, "/s/f/below/more", item(r[1], r[2], r[3], 3))
        helper.fails("not_found", "/s/missing", item(r[1], r[2], r[3], 4))
        helper.fails("not_found", "/none/x/y", item(r[1], r[2], r[3], 6))
      end
      helper.fails("is_dir", "/s/d", item(g, gm, gc, 5))
      assert.is_true(st[5].is_dir)
    end
    -- puts in a shallow batch are plain puts (not_dir through a file)
    local ok, pm, pc = drv:batch({ { "put", "/s/f/under", "U" }, { "put", "/s/new/y", "Y" } }, { shallow = true })
    helper.fails("not_dir", "/s/f/under", item(ok, pm, pc, 1))
    assert.is_true(ok[2])
    assert.equal("Y", drv:get_content("/s/new/y"))
    raises(function() drv:batch({ { "exists", "/s/f" } }, { shallow = 1 }) end, "shallow must be a boolean")
    raises(function() drv:get_many({ "/s/f" }, { shallow = "yes" }) end, "shallow must be a boolean")
    raises(function() drv:batch({ { "exists" } }) end, "ops[1][2] must be a string")
    raises(function() drv:batch({ { "get" }, { "get", "/s/f" }, { "get", "/s/f" } }) end, "ops[1][2] must be a string")
    assert.is_true(drv:delete("/s"))
    assert.same({}, helper.leftovers(ns))
  end)

  it("regstore.registry.batch gives the same answers through single calls", function()
    local batch = require "regstore.registry.batch"
    assert(drv:put_content("/y/a", "A"))
    local single = setmetatable({}, { __index = function(_, k)
      if k:find("_many$") or k == "batch" then return nil end
      return function(_, ...) return drv[k](drv, ...) end
    end })
    local paths = { "/y/a", "/y/missing", "/y", "bad" }
    for _, store in ipairs { drv, single } do
      local r, m, c = batch.get(store, paths)
      assert.equal("A", r[1])
      assert.is_false(r[2])
      assert.equal("not_found", c[2])
      assert.equal("is_dir", c[3])
      assert.equal("invalid_path", c[4])
      assert.truthy(m[2]:find("/y/missing", 1, true))
      local st = batch.stat(store, paths)
      assert.equal(1, st[1].size)
      local ls, _, lc = batch.list(store, { "/y", "/nope" })
      assert.same(drv:list("/y"), ls[1])
      assert.equal("not_found", lc[2])
      local ok = batch.put(store, { "/y/p" }, { "P" })
      assert.is_true(ok[1])
      r = batch.mixed(store, { { "get", "/y/p" }, { "stat", "/y/p" }, { "put", "/y/q", "Q" } })
      assert.equal("P", r[1])
      assert.equal(1, r[2].size)
      assert.is_true(r[3])
      local e, _, ec = batch.mixed(store, { { "exists", "/y/p" }, { "exists", "/y" }, { "exists", "/y/nope" },
        { "exists", "/y/p/below" } })
      assert.is_true(e[1])
      assert.same({ "is_dir", "not_found", "not_found" }, { ec[2], ec[3], ec[4] })
    end
    -- long lists go in chunks, in order
    local many = {}
    for i = 1, batch.CHUNK * 2 + 3 do many[i] = (i % 2 == 0) and "/y/a" or "/y/nope" end
    local r, _, c = batch.get(drv, many)
    assert.equal(#many, #r)
    for i = 1, #many do
      if i % 2 == 0 then assert.equal("A", r[i]) else assert.equal("not_found", c[i]) end
    end
  end)

  it("large batches with large windows; more window than items", function()
    local paths, data = {}, {}
    for i = 1, 2000 do
      paths[i] = string.format("/l/%02d/f%04d", i % 50, i)
      data[i] = tostring(i)
    end
    local ok = drv:put_many(paths, data, { window = 256 })
    for i = 1, 2000 do assert.is_true(ok[i]) end
    local res = drv:get_many(paths, { window = 256 })
    for i = 1, 2000 do assert.equal(data[i], res[i]) end
    res = drv:get_many({ paths[1], paths[2] }, { window = 256 })
    assert.same({ "1", "2" }, res)
    assert.is_true(drv:delete("/l"))
    assert.same({}, helper.leftovers(ns))
  end)
end)

describe("a batch while the OSD is stopped #cluster", function()
  local TIMEOUT, STOP_MAX = 2, 5
  local drv, osd
  setup(function()
    drv = helper.connect { timeout = TIMEOUT }
    osd = require("support.osd").stopper(STOP_MAX)
  end)
  teardown(function()
    if osd and osd.is_stopped then osd:resume() end
    os.execute("sleep 0.5")
    helper.clear(drv)
    drv:close()
  end)

  it("answers as a whole within timeout + 1 s; unfinished items fail with timeout", function()
    local paths, data = {}, {}
    for i = 1, 64 do
      paths[i] = "/t/f" .. i
      data[i] = "d" .. i
    end
    assert(drv:put_many(paths, data))
    for _, call in ipairs { "get_many", "put_many", "stat_many" } do
      osd:stop()
      local t0 = clock()
      local res, msgs, codes
      if call == "put_many" then
        res, msgs, codes = drv:put_many(paths, data, { window = 8 })
      else
        res, msgs, codes = drv[call](drv, paths, { window = 8 })
      end
      local took = clock() - t0
      local stopped = osd:stopped()
      osd:resume()
      os.execute("sleep 0.5")
      if stopped then
        assert(took <= TIMEOUT + 1, call .. " took " .. took .. " s")
        for i = 1, 64 do
          helper.fails("timeout", paths[i], item(res, msgs, codes, i))
        end
      end
    end
    -- nothing committed was lost
    local res = drv:get_many(paths)
    for i = 1, 64 do assert.equal(data[i], res[i]) end
  end)
end)
