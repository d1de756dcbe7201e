-- Writers that outlive the Lua state that opened them (issue 20): sibling
-- connections, gathered writes, and the lot that hands an open writer, its
-- connection and its hasher from one job to the next. Correctness only.
local regstore = require "regstore"
local registry = require "regstore.registry"
local uploads = require "regstore.registry.uploads"
local helper = require "helper"

describe("sibling connections", function()
  it("see the same namespace, and outlive the driver they came from", function()
    local drv, ns = helper.connect()
    assert(drv:put_content("/a/f", "one"))
    local sib = assert(drv:sibling())
    assert.equal("one", sib:get_content("/a/f"))
    drv:close()
    assert(sib:put_content("/a/g", "two"))
    assert.equal("two", sib:get_content("/a/g"))
    local w = assert(sib:writer("/a/h"))
    sib:close()
    assert(w:write("three"))
    assert(w:commit())
    local again = helper.connect{ namespace = ns }
    assert.equal("three", again:get_content("/a/h"))
    helper.clear(again)
    again:close()
  end)
end)

describe("writer:writev of an array of strings", function()
  it("writes the strings in order, as one write, hashed as one", function()
    local drv = helper.connect()
    local parts, n = {}, 0
    for i = 1, 40 do
      parts[i] = helper.bytes(37 * 1024 + i, i)
      n = n + #parts[i]
    end
    local h = regstore.sha256()
    local w = assert(drv:writer("/v/data"))
    w:hash(h)
    assert(w:writev(parts))
    assert(w:writev({}))
    assert(w:writev{ "tail" })
    assert.equal(n + 4, w:size())
    assert(w:commit())
    local all = table.concat(parts) .. "tail"
    helper.same_bytes(all, drv:get_content("/v/data"), "gathered write")
    assert.equal(helper.digest(all), "sha256:" .. h:hexdigest())
    local bad = assert(drv:writer("/v/bad"))
    assert.has_error(function() bad:writev{ "a", 1 } end)
    assert.has_error(function() bad:write{ "a" } end) -- write takes a string only
    assert.has_error(function() bad:writev("a") end)
    bad:cancel()
    helper.clear(drv)
  end)
end)

describe("the lot", function()
  local drv, reg, ns
  before_each(function()
    drv, ns = helper.connect()
    reg = registry.new(drv)
  end)
  after_each(function()
    helper.clear(drv)
    drv:close()
  end)

  local function ctx_on(d)
    return { drv = d, paths = reg._ctx.paths, cache = reg._ctx.cache }
  end

  it("hands an upload's writer and hasher over, and the upload commits", function()
    local lot = regstore.lot(4)
    local handle = lot:handle()
    local repo = assert(reg:repository("a/b"))
    local up = assert(repo.blobs:create())
    local id = up.id
    assert(up:close())
    local data, key = {}, id .. "#1"
    for i = 1, 6 do
      local piece = helper.bytes(700 * 1024 + i, i)
      data[i] = piece
      local d, w, h, fields = regstore.take(handle, key)
      local u, sib
      if d then
        sib = d
        u = uploads.adopt(ctx_on(d), "a/b", id, w, h or nil, fields)
      else
        assert.equal(1, i)
        sib = assert(drv:sibling())
        u = assert(uploads.resume(ctx_on(sib), "a/b", id))
      end
      assert(u:writev{ piece:sub(1, 1000), piece:sub(1001) })
      local ww, hh, states, f = u:detach()
      assert.is_truthy(hh)
      assert.is_true(regstore.park(handle, key, sib, ww, hh, f, states))
      assert.equal(1, lot:count())
      -- what was handed over is no longer usable here
      assert.has_error(function() ww:write("x") end)
      assert.has_error(function() hh:size() end)
      assert.has_error(function() sib:stat("/") end)
      collectgarbage()
    end
    -- another request of the same upload cannot take it meanwhile
    local other = drv:writer("/docker/registry/v2/repositories/a/b/_uploads/" .. id .. "/data", true)
    assert.is_nil(other)
    local d, w, h, fields = regstore.take(handle, key)
    assert.is_nil(regstore.take(handle, key))
    local u = uploads.adopt(ctx_on(d), "a/b", id, w, h, fields)
    local all = table.concat(data)
    assert.equal(#all, u:size())
    local desc = assert(u:commit(helper.digest(all)))
    assert.equal(#all, desc.size)
    d:close()
    helper.same_bytes(all, assert(drv:get_content("/docker/registry/v2/blobs/sha256/" ..
      desc.digest:sub(8, 9) .. "/" .. desc.digest:sub(8) .. "/data")), "committed upload")
    assert.equal(0, lot:count())
  end)

  it("refuses a key it holds and a full lot, moving nothing", function()
    local lot = regstore.lot(1)
    local handle = lot:handle()
    local s1, s2 = assert(drv:sibling()), assert(drv:sibling())
    local w1, w2 = assert(s1:writer("/x/one")), assert(s2:writer("/x/two"))
    assert(w1:write("1"))
    assert(w2:write("2"))
    assert.is_true(regstore.park(handle, "k", s1, w1, nil, "m1"))
    assert.is_false(regstore.park(handle, "k2", s2, w2, nil, "m2"))
    assert(w2:write("2")) -- still here, still open
    assert(w2:commit())
    local d, w, h, meta = regstore.take(handle, "k")
    assert.is_false(h)
    assert.equal("m1", meta)
    assert(w:write("1"))
    assert(w:commit())
    d:close()
    assert.equal("11", drv:get_content("/x/one"))
    assert.equal("22", drv:get_content("/x/two"))
    assert.has_error(function() regstore.take("not a handle", "k") end)
    assert.has_error(function() regstore.sweep(nil, 0) end)
  end)

  it("sweeps what waits too long, and closes the rest when collected, leaving it resumable", function()
    local lot = regstore.lot(8)
    local handle = lot:handle()
    local repo = assert(reg:repository("c/d"))
    local ids, datas = {}, {}
    for i = 1, 2 do
      local up = assert(repo.blobs:create())
      ids[i] = up.id
      assert(up:close())
      local sib = assert(drv:sibling())
      local u = assert(uploads.resume(ctx_on(sib), "c/d", up.id))
      datas[i] = helper.bytes(300 * 1024 + i, 10 + i)
      assert(u:write(datas[i]))
      local w, h, states, f = u:detach()
      assert.is_true(regstore.park(handle, "k" .. i, sib, w, h, f, states))
    end
    assert.equal(0, regstore.sweep(handle, 3600))
    assert.equal(2, lot:count())
    assert.equal(2, regstore.sweep(handle, -1))
    assert.equal(0, lot:count())
    -- both closed with their hash state: a resume anywhere goes on and commits
    for i = 1, 2 do
      local st = assert(repo.blobs:upload_status(ids[i]))
      assert.equal(#datas[i], st.size)
      local u = assert(repo.blobs:resume(ids[i]))
      assert(u:write("more"))
      assert(u:commit(helper.digest(datas[i] .. "more")))
    end
    -- collected with an upload parked: closed the same way
    local up = assert(repo.blobs:create())
    assert(up:close())
    local lot2 = regstore.lot()
    local sib = assert(drv:sibling())
    local u = assert(uploads.resume(ctx_on(sib), "c/d", up.id))
    assert(u:write("abc"))
    local w, h, states, f = u:detach()
    assert.is_true(regstore.park(lot2:handle(), "k", sib, w, h, f, states))
    lot2 = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    assert.equal(3, assert(repo.blobs:upload_status(up.id)).size)
    local again = assert(repo.blobs:resume(up.id))
    assert(again:commit(helper.digest("abc")))
    assert.is_string(ns)
  end)
end)

describe("the lot with readers", function()
  it("keeps a reader open, read-ahead and all, from one holder to the next", function()
    local drv, ns = helper.connect()
    local data = helper.bytes(5 * 1024 * 1024 + 17, 3)
    assert(drv:put_content("/r/blob", data))
    local lot = regstore.lot(2)
    local handle = lot:handle()
    local sib = assert(drv:sibling())
    local r = assert(sib:reader("/r/blob", 1000))
    local got = { assert(r:read(4096)) }
    assert.is_true(regstore.park(handle, "g", sib, r, nil, "meta"))
    assert.has_error(function() r:read(1) end)
    collectgarbage()
    local pos = 1000 + 4096
    while true do
      local d, rd, h, meta = regstore.take(handle, "g")
      assert.is_false(h)
      assert.equal("meta", meta)
      assert.equal(#data, rd:size())
      local s = rd:read(1024 * 1024 + 3)
      if not s then
        rd:close()
        d:close()
        break
      end
      got[#got + 1] = s
      pos = pos + #s
      assert.is_true(regstore.park(handle, "g", d, rd, nil, "meta"))
    end
    helper.same_bytes(data:sub(1001), table.concat(got), "reader handed over")
    assert.equal(#data, pos)
    -- a parked reader is simply freed by a sweep
    local s2 = assert(drv:sibling())
    assert.is_true(regstore.park(handle, "h", s2, assert(s2:reader("/r/blob")), nil, ""))
    assert.equal(1, regstore.sweep(handle, -1))
    assert.equal(0, lot:count())
    helper.clear(drv)
    assert.is_string(ns)
  end)
end)

describe("bytes", function()
  it("are written by a writer from where they are, lent and borrowed once", function()
    local drv = helper.connect()
    local b = regstore.bytes(100)
    b:append("hello "):append("world")
    assert.equal(11, b:size())
    assert.has_error(function() b:append(string.rep("x", 90)) end)
    local h = regstore.sha256()
    local w = assert(drv:writer("/b/f"))
    w:hash(h)
    local lent = b:lend()
    local mine = regstore.borrow(lent)
    assert.is_true(b:taken())
    assert.has_error(function() regstore.borrow(lent) end)
    b:unlend() -- a no-op: it was borrowed
    assert(w:writev(mine))
    assert(w:writev(b:clear():append("!")))
    assert(w:commit())
    assert.equal("hello world!", drv:get_content("/b/f"))
    assert.equal(helper.digest("hello world!"), "sha256:" .. h:hexdigest())
    -- a lend nobody took is given back; the owner's copy stays usable
    b:lend()
    assert.is_false(b:taken())
    b:unlend()
    assert.equal(1, b:size())
    -- freed with the last reference, whichever goes last
    b = nil -- luacheck: ignore 311
    collectgarbage()
    assert(mine:size() == 12 or mine:size() == 1)
    mine = nil -- luacheck: ignore 311
    collectgarbage()
    assert.has_error(function() regstore.borrow(nil) end)
    helper.clear(drv)
  end)
end)

describe("a reader's read_into", function()
  it("appends to bytes what the reader reads, up to n and what the bytes hold, and sub cuts them", function()
    local drv = helper.connect { chunk_size = 65536 }
    local data = helper.bytes(3 * 65536 + 123, 7)
    assert(drv:put_content("/ri/f", data))
    local r = assert(drv:reader("/ri/f", 5))
    local b = regstore.bytes(100000)
    assert.equal(70000, r:read_into(b, 70000)) -- across a chunk boundary
    helper.same_bytes(data:sub(6, 70005), b:sub(1), "first piece")
    assert.equal(30000, r:read_into(b, 99999)) -- no more than the bytes hold
    assert.equal(100000, b:size())
    helper.same_bytes(data:sub(6, 100005), b:sub(1, -1), "appended")
    assert.equal(data:sub(6, 6), b:sub(1, 1))
    assert.equal(data:sub(100005, 100005), b:sub(-1))
    assert.equal("", b:sub(10, 9))
    assert.equal(data:sub(99996, 100005), b:sub(99991, 200000))
    b:clear()
    assert.equal(#data - 100005, r:read_into(b, 1e9)) -- the rest
    helper.same_bytes(data:sub(100006), b:sub(1), "the rest")
    assert.equal(0, r:read_into(b:clear(), 10)) -- the end
    assert.equal("", b:sub(1))
    assert.has_error(function() r:read_into(b, 0) end)
    assert.has_error(function() r:read_into("x", 10) end)
    r:close()
    assert.has_error(function() r:read_into(b, 10) end)
    -- a reader of a file that is gone fails cleanly, keeping what it had
    r = assert(drv:reader("/ri/f"))
    assert(drv:delete("/ri/f"))
    local got, msg, code = r:read_into(b:clear(), 1e9)
    if got == nil then
      assert.equal("not_found", code)
      assert.matches("/ri/f", msg, 1, true)
    end
    r:close()
    helper.clear(drv)
  end)
end)
