-- A writer whose blob is dropped under it (a delete, a put or a move onto
-- its path released it) must not bring any of its chunks back.  A send past
-- a chunk's start used to be a plain write: on a removed chunk it created
-- the chunk again, zeros up to its offset, so that a reader that had found
-- the blob before the drop read those zeros as the file (I1: the random
-- stress saw "torn read: no record header at byte 0"), and the chunk was
-- left with nobody referring to it (I4).  Now such a send fails (the chunk
-- must exist), the writer fails with not_found (as a commit in place whose
-- file was deleted, replaced or moved does, docs/api.md) and takes back
-- what it wrote.
local helper = require "helper"

local CHUNK = 65536

describe("a writer whose blob is dropped under it #cluster", function()
  local fx = helper.fixture { chunk_size = CHUNK }
  local other

  before_each(function() other = helper.connect { namespace = fx.ns, chunk_size = CHUNK } end)
  after_each(function() other:close() end)

  -- Bytes that take an appender at `size` to the end of its I/O unit, so
  -- that they are sent at once (at an offset > 0 of the chunk).
  local function fill(size, seed) return helper.bytes(CHUNK - size % CHUNK, seed) end

  -- w's write of data, or the commit after it (the failure may come with
  -- either), fails with not_found.
  local function refused(w, data)
    local ok, msg, code = w:write(data)
    if ok then ok, msg, code = w:commit() end
    assert.is_nil(ok)
    assert.are.equal("not_found", code, msg)
  end

  -- /a/f holds want, whole; then nothing is left once it is deleted.
  local function holds(want)
    assert.are.equal(want, fx.drv:get_content("/a/f"))
    assert.is_true(fx.drv:delete("/a/f"))
    assert.are.same({}, helper.leftovers(fx.ns))
  end

  it("appending in place to a deleted file creates no chunk again; commit says not_found", function()
    local old = helper.bytes(900, 1)
    assert.is_true(fx.drv:put_content("/a/f", old))
    local w = assert(fx.drv:writer("/a/f", true))
    assert.is_true(other:delete("/a/f"))
    refused(w, fill(#old, 2))
    assert.are.same({}, helper.leftovers(fx.ns))
    assert.is_true(w:close())
  end)

  it("a reader that found the blob before the drop fails, and never reads zeros", function()
    local old = helper.bytes(CHUNK + 500, 3)
    assert.is_true(fx.drv:put_content("/a/f", old))
    local slow = helper.connect { namespace = fx.ns, chunk_size = CHUNK, window = 1 }
    local r = assert(slow:reader("/a/f"))
    local w = assert(fx.drv:writer("/a/f", true))
    assert.is_true(other:delete("/a/f"))
    local got = { assert(r:read(CHUNK)) } -- read at open, before the delete
    -- Into the last committed chunk, after its 500 bytes: before the fix,
    -- a chunk of 500 zeros and these bytes, which the reader then read.
    local ok, msg, code = w:write(fill(#old, 4))
    if ok then ok, msg, code = w:commit() end
    assert.is_nil(ok)
    assert.are.equal("not_found", code, msg)
    local s, rmsg, rcode
    repeat
      s, rmsg, rcode = r:read(CHUNK)
      got[#got + 1] = s
    until not s
    assert.are.equal("not_found", rcode, rmsg)
    assert.are_not.equal(old, table.concat(got))
    r:close()
    slow:close()
    assert.are.same({}, helper.leftovers(fx.ns))
  end)

  it("a put over the file: the appender fails, the new content stays whole", function()
    local old, new = helper.bytes(2 * CHUNK + 900, 5), helper.bytes(700, 6)
    assert.is_true(fx.drv:put_content("/a/f", old))
    local w = assert(fx.drv:writer("/a/f", true))
    assert.is_true(other:put_content("/a/f", new))
    refused(w, fill(#old, 7) .. helper.bytes(CHUNK + 10, 8))
    holds(new)
  end)

  it("a move onto the file: the appender fails, the moved content stays whole", function()
    local old, new = helper.bytes(900, 9), helper.bytes(CHUNK + 300, 10)
    assert.is_true(fx.drv:put_content("/a/f", old))
    assert.is_true(other:put_content("/b/g", new))
    local w = assert(fx.drv:writer("/a/f", true))
    assert.is_true(other:move("/b/g", "/a/f"))
    refused(w, fill(#old, 11))
    holds(new)
  end)

  it("a resumed new file deleted meanwhile: its next send fails, nothing is left", function()
    local w = assert(fx.drv:writer("/a/n"))
    assert.is_true(w:write(helper.bytes(900, 12)))
    assert.is_true(w:close())
    w = assert(fx.drv:writer("/a/n", true))
    assert.is_true(other:delete("/a/n"))
    refused(w, fill(900, 13))
    assert.are.same({}, helper.leftovers(fx.ns))
    assert.is_true(w:close())
  end)

  it("a cancel of an appender that only started new chunks after the delete leaves nothing", function()
    local old = helper.bytes(CHUNK, 18)
    assert.is_true(fx.drv:put_content("/a/f", old))
    local w = assert(fx.drv:writer("/a/f", true))
    assert.is_true(other:delete("/a/f"))
    -- From a chunk's start: a new chunk, written whole (nothing to assert).
    assert.is_true(w:write(helper.bytes(CHUNK, 19)))
    assert.is_true(w:cancel())
    assert.are.same({}, helper.leftovers(fx.ns))
  end)

  it("a cancel after the failure succeeds and leaves nothing", function()
    local old = helper.bytes(CHUNK + 900, 14)
    assert.is_true(fx.drv:put_content("/a/f", old))
    local w = assert(fx.drv:writer("/a/f", true))
    assert.is_true(other:delete("/a/f"))
    local ok, msg, code = w:write(fill(#old, 15) .. helper.bytes(3 * CHUNK, 16))
    if ok then ok, msg, code = w:write(helper.bytes(CHUNK, 17)) end
    if ok then
      ok, msg, code = w:commit()
    else
      assert.is_true(w:cancel())
    end
    assert.is_nil(ok)
    assert.are.equal("not_found", code, msg)
    assert.are.same({}, helper.leftovers(fx.ns))
  end)
end)
