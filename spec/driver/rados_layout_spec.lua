-- What the rados CLI shows is what the layout comment at the top of
-- engine/include/regstore.h (and the seed's commit message) describes:
--   blob:<uuid>-<n> chunks of chunk_size bytes, "total-size" (decimal) on
--   chunk 0, which always exists; one object per directory named by its
--   path, whose omap maps a child's name to its blob id or "" for a
--   subdirectory; the root "/" always exists; uncommitted writer data is
--   recorded in "pending:<dir>" as "<name>/<blob id>" -> "<bytes>".
local helper = require "helper"

local CHUNK = 65536

describe("RADOS layout #cluster", function()
  local fx = helper.fixture { chunk_size = CHUNK }
  local drv, ns

  setup(function() drv, ns = fx.drv, fx.ns end)

  -- Besides the fixture's empty root: nothing left in RADOS either.
  after_each(function() assert.are.same({}, helper.leftovers(ns)) end)

  it("a fresh namespace holds the root object only, with an empty omap", function()
    -- regstore.h: rs_connect "makes sure the root directory exists", and
    -- "The root "/" always exists".
    local fresh, fresh_ns = helper.connect()
    assert.are.same({ "/" }, helper.rados_ls(fresh_ns))
    assert.are.same({}, helper.omap(fresh_ns, "/"))
    fresh:close()
  end)

  it("the root object stays when everything is deleted", function()
    assert.is_true(drv:put_content("/a/b", "x"))
    assert.is_true(drv:delete("/a"))
    assert.are.same({ "/" }, helper.rados_ls(ns))
    assert.are.same({}, helper.omap(ns, "/"))
  end)

  it("the seed's example tree", function()
    local c1, c2, c3 = helper.bytes(10, 1), helper.bytes(20, 2), helper.bytes(30, 3)
    assert.is_true(drv:put_content("/directory1/object1", c1))
    assert.is_true(drv:put_content("/directory1/object2", c2))
    assert.is_true(drv:put_content("/directory1/directory2/object3", c3))

    local d1 = helper.omap(ns, "/directory1")
    assert.are.same({ "directory2", "object1", "object2" }, helper.keys(d1))
    assert.are.equal("", d1.directory2)
    assert.truthy(helper.is_blob_id(d1.object1), tostring(d1.object1))
    assert.truthy(helper.is_blob_id(d1.object2), tostring(d1.object2))
    assert.are_not.equal(d1.object1, d1.object2)

    local d2 = helper.omap(ns, "/directory1/directory2")
    assert.are.same({ "object3" }, helper.keys(d2))
    assert.truthy(helper.is_blob_id(d2.object3), tostring(d2.object3))

    -- The root maps directory1 to "" and holds no self-reference.
    assert.are.same({ directory1 = "" }, helper.omap(ns, "/"))

    local want = { "/", "/directory1", "/directory1/directory2",
      d1.object1 .. "-0", d1.object2 .. "-0", d2.object3 .. "-0" }
    table.sort(want)
    assert.are.same(want, helper.rados_ls(ns))

    for _, x in ipairs { { d1.object1, c1 }, { d1.object2, c2 }, { d2.object3, c3 } } do
      local chunk0 = x[1] .. "-0"
      assert.are.equal(tostring(#x[2]), helper.xattr(ns, chunk0, "total-size"))
      assert.are.equal(#x[2], helper.obj_size(ns, chunk0))
      assert.are.equal(x[2], helper.obj_get(ns, chunk0))
    end

    -- Directory objects carry no data.
    assert.are.equal(0, helper.obj_size(ns, "/directory1"))
    assert.is_true(drv:delete("/directory1"))
  end)

  it("a 3-chunk file has chunks -0, -1, -2 of the right sizes", function()
    local size = 2 * CHUNK + 1000
    local data = helper.bytes(size, 4)
    assert.is_true(drv:put_content("/three", data))
    local id = helper.omap(ns, "/").three
    assert.truthy(helper.is_blob_id(id), tostring(id))
    assert.are.same({ "/", id .. "-0", id .. "-1", id .. "-2" }, helper.rados_ls(ns))
    assert.are.equal(CHUNK, helper.obj_size(ns, id .. "-0"))
    assert.are.equal(CHUNK, helper.obj_size(ns, id .. "-1"))
    assert.are.equal(1000, helper.obj_size(ns, id .. "-2"))
    assert.are.equal(tostring(size), helper.xattr(ns, id .. "-0", "total-size"))
    -- total-size lives on chunk 0 only.
    assert.is_nil(helper.xattr(ns, id .. "-1", "total-size"))
    local got = helper.obj_get(ns, id .. "-0") .. helper.obj_get(ns, id .. "-1") .. helper.obj_get(ns, id .. "-2")
    assert.is_true(got == data, "the chunks do not concatenate to the file")
    assert.is_true(drv:delete("/three"))
  end)

  it("a file of exactly two chunks has no third chunk", function()
    assert.is_true(drv:put_content("/two", helper.bytes(2 * CHUNK, 5)))
    local id = helper.omap(ns, "/").two
    assert.are.same({ "/", id .. "-0", id .. "-1" }, helper.rados_ls(ns))
    assert.are.equal(CHUNK, helper.obj_size(ns, id .. "-1"))
    assert.is_true(drv:delete("/two"))
  end)

  it("an empty file still has chunk 0 with total-size 0", function()
    assert.is_true(drv:put_content("/empty", ""))
    local id = helper.omap(ns, "/").empty
    assert.truthy(helper.is_blob_id(id), tostring(id))
    assert.are.same({ "/", id .. "-0" }, helper.rados_ls(ns))
    assert.are.equal(0, helper.obj_size(ns, id .. "-0"))
    assert.are.equal("0", helper.xattr(ns, id .. "-0", "total-size"))
    assert.is_true(drv:delete("/empty"))
  end)

  it("a file written through a writer has the same layout", function()
    local w = assert(drv:writer("/w/f"))
    for i = 1, 5 do assert.is_true(w:write(helper.bytes(30000, i))) end
    assert.is_true(w:commit())
    local id = helper.omap(ns, "/w").f
    assert.truthy(helper.is_blob_id(id), tostring(id))
    assert.are.same({ "/", "/w", id .. "-0", id .. "-1", id .. "-2" }, helper.rados_ls(ns))
    assert.are.equal(CHUNK, helper.obj_size(ns, id .. "-0"))
    assert.are.equal(CHUNK, helper.obj_size(ns, id .. "-1"))
    assert.are.equal(150000 - 2 * CHUNK, helper.obj_size(ns, id .. "-2"))
    assert.are.equal("150000", helper.xattr(ns, id .. "-0", "total-size"))
    assert.is_true(drv:delete("/w"))
  end)

  it("a move only changes directory omaps", function()
    local data = helper.bytes(CHUNK + 1, 6)
    assert.is_true(drv:put_content("/a/src", data))
    local id = helper.omap(ns, "/a").src
    local before = helper.rados_ls(ns)

    -- Within one directory: the key is renamed.
    assert.is_true(drv:move("/a/src", "/a/dst"))
    assert.are.same({ dst = id }, helper.omap(ns, "/a"))
    assert.are.same(before, helper.rados_ls(ns))

    -- Across directories: the entry moves, the empty source directory goes.
    assert.is_true(drv:move("/a/dst", "/b/c/moved"))
    assert.is_nil(helper.omap(ns, "/a"))
    assert.are.same({ moved = id }, helper.omap(ns, "/b/c"))
    assert.are.same({ c = "" }, helper.omap(ns, "/b"))
    assert.are.same({ b = "" }, helper.omap(ns, "/"))
    local want = { "/", "/b", "/b/c", id .. "-0", id .. "-1" }
    table.sort(want)
    assert.are.same(want, helper.rados_ls(ns))
    assert.are.equal(tostring(#data), helper.xattr(ns, id .. "-0", "total-size"))
    assert.is_true(drv:delete("/b"))
  end)

  it("an uncommitted writer is recorded in pending:/<top-level directory>", function()
    local w = assert(drv:writer("/up/file"))
    assert.is_true(w:write(helper.bytes(100000, 7)))
    assert.is_true(w:close())

    local rec = helper.omap(ns, "pending:/up")
    assert.is_table(rec, "no object pending:/up")
    local keys = helper.keys(rec)
    assert.are.equal(1, #keys)
    local id = keys[1]:match("^/up/file (.+)$")
    assert.truthy(helper.is_blob_id(id), keys[1])
    -- "<size> <stripe> <owner>": no writer holds it after close.
    assert.are.equal("100000 " .. CHUNK .. " -", rec[keys[1]])
    -- The directory itself does not exist until the commit.
    assert.is_nil(helper.omap(ns, "/up"))
    assert.are.same({}, helper.omap(ns, "/"))
    local blobs = helper.blobs(ns)
    assert.truthy(blobs[id] and blobs[id][0] and blobs[id][1], "the data is in " .. id .. "-0 and -1")

    w = assert(drv:writer("/up/file", true))
    assert.is_true(w:write("tail"))
    assert.is_true(w:commit())
    local committed = helper.omap(ns, "/up").file
    assert.truthy(helper.is_blob_id(committed), tostring(committed))
    assert.are.equal("100004", helper.xattr(ns, committed .. "-0", "total-size"))
    local left = helper.omap(ns, "pending:/up")
    assert.truthy(left == nil or next(left) == nil, "the pending record outlived the commit")
    local _, n = helper.blobs(ns)
    assert.are.equal(1, n)
    assert.is_true(drv:delete("/up"))
  end)

  it("delete removes chunks and directory objects", function()
    assert.is_true(drv:put_content("/x/y/z", helper.bytes(3 * CHUNK, 8)))
    assert.is_true(drv:put_content("/x/y/e", ""))
    assert.is_true(drv:put_content("/x/f", "f"))
    assert.are.equal(8, #helper.rados_ls(ns)) -- /, /x, /x/y and 3 + 1 + 1 chunks
    assert.is_true(drv:delete("/x/y"))
    local id = helper.omap(ns, "/x").f
    assert.are.same({ "/", "/x", id .. "-0" }, helper.rados_ls(ns))
    assert.are.same({ f = id }, helper.omap(ns, "/x"))
    assert.is_true(drv:delete("/x"))
  end)
end)
