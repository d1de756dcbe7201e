-- fsck --repair must not kill a live upload.  A writer's
-- pending record used to be judged dead by the age of the shared
-- "pending:/<top>" object, never by the writer's own progress, so a writer
-- streaming for longer than the grace had its data dropped under it and
-- its commit failed.  Liveness now comes from the writer itself (its record's
-- stamp and its newest data), so these writers stream past a small grace
-- through fsck{repair = true} and commit byte for byte; a writer idle for
-- longer than the grace may be reclaimed, and then fails cleanly.
local helper = require "helper"

local CHUNK = 65536

local function sleep(s) os.execute("sleep " .. s) end

-- The stale_pending findings of a report that name path.
local function stale(report, path)
  local t = {}
  for _, f in ipairs(report.findings) do
    if f.kind == "stale_pending" and f.path == path then t[#t + 1] = f end
  end
  return t
end

describe("fsck --repair and live writers #cluster", function()
  local fx = helper.fixture { chunk_size = CHUNK }

  after_each(function() assert.are.same({}, helper.leftovers(fx.ns)) end)

  -- Writes `pieces(i)` every `every` seconds for `secs` seconds, running
  -- fsck{repair, grace} after `first` seconds and then once a second;
  -- returns everything written and the fsck findings about path.
  local function stream(w, path, piece, every, secs, first, grace)
    local parts, found, t0 = {}, {}, helper.now()
    local next_fsck = t0 + first
    local i = 0
    while helper.now() - t0 < secs do
      i = i + 1
      local data = piece(i)
      assert.is_true(w:write(data))
      parts[#parts + 1] = data
      if helper.now() >= next_fsck then
        local report = assert(fx.drv:fsck { repair = true, grace = grace })
        for _, f in ipairs(stale(report, path)) do found[#found + 1] = f end
        next_fsck = helper.now() + 1
      end
      sleep(every)
    end
    return table.concat(parts), found
  end

  it("a new file streamed (a chunk every 0.3 s) past the grace survives fsck --repair", function()
    local w = assert(fx.drv:writer("/u/data"))
    local all, found = stream(w, "/u/data", function(i) return helper.bytes(CHUNK, i) end, 0.3, 3, 1.5, 1)
    assert.are.same({}, found)
    assert.is_true(w:commit())
    assert.are.equal(all, fx.drv:get_content("/u/data"))
    assert.is_true(fx.drv:delete("/u"))
  end)

  it("small pieces (held in the writer's buffer) every 0.25 s keep it alive too", function()
    local w = assert(fx.drv:writer("/u/data"))
    local head = helper.bytes(2 * CHUNK + 17, 1) -- its record is made here
    assert.is_true(w:write(head))
    local all, found = stream(w, "/u/data", function(i) return helper.bytes(100, i) end, 0.25, 4, 2.5, 2)
    assert.are.same({}, found)
    assert.is_true(w:commit())
    assert.are.equal(head .. all, fx.drv:get_content("/u/data"))
    assert.is_true(fx.drv:delete("/u"))
  end)

  it("an append in place streamed past the grace survives fsck --repair", function()
    local first = helper.bytes(CHUNK + 9, 1)
    assert.is_true(fx.drv:put_content("/u/f", first))
    local w = assert(fx.drv:writer("/u/f", true))
    local all, found = stream(w, "/u/f", function(i) return helper.bytes(CHUNK, i + 1) end, 0.3, 3, 1.5, 1)
    assert.are.same({}, found)
    assert.is_true(w:commit())
    assert.are.equal(first .. all, fx.drv:get_content("/u/f"))
    assert.is_true(fx.drv:delete("/u"))
  end)

  it("a resumed upload (writer(path, true) of a closed one) streamed past the grace survives", function()
    local w = assert(fx.drv:writer("/u/data"))
    local head = helper.bytes(3 * CHUNK, 1)
    assert.is_true(w:write(head))
    assert.is_true(w:close())
    sleep(1.2) -- its record is older than the grace now, idle (never reclaimed)
    w = assert(fx.drv:writer("/u/data", true))
    local all, found = stream(w, "/u/data", function(i) return helper.bytes(CHUNK, i + 1) end, 0.3, 2.5, 0.2, 1)
    assert.are.same({}, found)
    assert.is_true(w:commit())
    assert.are.equal(head .. all, fx.drv:get_content("/u/data"))
    assert.is_true(fx.drv:delete("/u"))
  end)

  it("a writer idle for longer than the grace is reclaimed; it then fails not_found and leaves nothing", function()
    local w = assert(fx.drv:writer("/u/data"))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 1)))
    sleep(2.2)
    local report = assert(fx.drv:fsck { repair = true, grace = 1 })
    local found = stale(report, "/u/data")
    assert.are.equal(1, #found)
    assert.is_true(found[1].repaired)
    local ok, msg, code = w:write(helper.bytes(2 * CHUNK, 2))
    if not ok then helper.fails("not_found", "/u/data", ok, msg, code) end
    helper.fails("not_found", "/u/data", w:commit())
    assert.is_true(w:close())
    helper.fails("not_found", "/u/data", fx.drv:stat("/u/data"))
    assert.are.same({}, helper.leftovers(fx.ns))
  end)

  it("an idle appender in place is reclaimed; its commit fails not_found, the committed file stays", function()
    local first = helper.bytes(CHUNK + 9, 1)
    assert.is_true(fx.drv:put_content("/u/f", first))
    local w = assert(fx.drv:writer("/u/f", true))
    assert.is_true(w:write(helper.bytes(2 * CHUNK, 2)))
    sleep(2.2)
    local report = assert(fx.drv:fsck { repair = true, grace = 1 })
    assert.are.equal(1, #stale(report, "/u/f"))
    local ok, msg, code = w:write(helper.bytes(CHUNK, 3))
    if not ok then helper.fails("not_found", "/u/f", ok, msg, code) end
    helper.fails("not_found", "/u/f", w:commit())
    assert.are.equal(first, fx.drv:get_content("/u/f"))
    -- Another appender can take the file now, and its bytes are its own.
    local w2 = assert(fx.drv:writer("/u/f", true))
    local more = helper.bytes(CHUNK + 1, 4)
    assert.is_true(w2:write(more))
    assert.is_true(w2:commit())
    assert.are.equal(first .. more, fx.drv:get_content("/u/f"))
    assert(fx.drv:fsck { repair = true, grace = 0 })
    assert.is_true(fx.drv:delete("/u"))
  end)

  it("a live writer's record is read by another client with another chunk size", function()
    local w = assert(fx.drv:writer("/u/data"))
    local head = helper.bytes(2 * CHUNK + 5, 1)
    assert.is_true(w:write(head))
    sleep(1.1)
    assert.is_true(w:write(helper.bytes(10, 2))) -- refreshes its record
    assert.is_true(w:close())
    local other = assert(helper.connect { chunk_size = 4 * CHUNK, namespace = fx.ns })
    local w2 = assert(other:writer("/u/data", true))
    assert.are.equal(#head + 10, w2:size())
    assert.is_true(w2:write("tail"))
    assert.is_true(w2:commit())
    other:close()
    assert.are.equal(head .. helper.bytes(10, 2) .. "tail", fx.drv:get_content("/u/data"))
    assert.is_true(fx.drv:delete("/u"))
  end)
end)
