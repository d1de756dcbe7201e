-- put_content and move with { replace = false }: create only, decided
-- atomically on the destination's directory entry (what the registry's
-- upload commit and blob store rely on when clients push one layer at once).
local helper = require "helper"
local inv = require "support.invariants"

describe("put_content and move with replace = false #cluster", function()
  local drv, ns
  before_each(function() drv, ns = helper.connect { chunk_size = 65536 } end)
  after_each(function()
    helper.clear(drv)
    drv:close()
    assert.same({}, helper.leftovers(ns))
  end)

  it("creates a missing file, parents included", function()
    assert.is_true(drv:put_content("/a/b/c", "one", { replace = false }))
    assert.equal("one", drv:get_content("/a/b/c"))
    assert(drv:put_content("/src", "two"))
    assert.is_true(drv:move("/src", "/a/x/y", { replace = false }))
    assert.equal("two", drv:get_content("/a/x/y"))
    helper.fails("not_found", "/src", drv:stat("/src"))
  end)

  it("refuses with exists and changes nothing when a file is there", function()
    assert(drv:put_content("/d/f", "old"))
    local big = inv.payload("big", 300000)
    helper.fails("exists", "/d/f", drv:put_content("/d/f", big, { replace = false }))
    assert.equal("old", drv:get_content("/d/f"))
    assert(drv:put_content("/d/g", "new"))
    helper.fails("exists", "/d/f", drv:move("/d/g", "/d/f", { replace = false }))
    assert(drv:put_content("/e/g", "across"))
    helper.fails("exists", "/d/f", drv:move("/e/g", "/d/f", { replace = false }))
    assert.equal("old", drv:get_content("/d/f"))
    assert.equal("new", drv:get_content("/d/g"))
    assert.equal("across", drv:get_content("/e/g"))
    -- nothing of the refused put is left in RADOS
    helper.clear(drv)
    assert.same({}, helper.leftovers(ns))
  end)

  it("answers is_dir for a directory, and replaces as before without the option", function()
    assert(drv:put_content("/d/sub/f", "x"))
    helper.fails("is_dir", "/d/sub", drv:put_content("/d/sub", "y", { replace = false }))
    assert(drv:put_content("/d/g", "g"))
    assert.is_true(drv:move("/d/g", "/d/f2", { replace = true }))
    assert(drv:put_content("/d/g", "g2"))
    assert.is_true(drv:move("/d/g", "/d/f2", {}))
    assert.equal("g2", drv:get_content("/d/f2"))
  end)

  it("raises for an option of the wrong type", function()
    assert.has_error(function() drv:put_content("/f", "x", { replace = "no" }) end)
    assert.has_error(function() drv:put_content("/f", "x", 1) end)
    assert.has_error(function() drv:move("/f", "/g", { replace = 0 }) end)
  end)

  it("lets exactly one of several processes' moves onto one missing path win #stress", function()
    local rounds = helper.long and 40 or 12
    local src = [[
local rs = require "regstore"
local ns, wid, rounds, t0 = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local d = assert(rs.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = 65536 * wid })
local won = 0
for r = 1, rounds do
  local mine = string.format("/src%d/r%d", wid, r)
  assert(d:put_content(mine, string.rep(string.char(64 + wid), 100000 + wid)))
  while rs.clock() < t0 + r * 0.1 do d:stat("/") end
  local ok, msg, code = d:move(mine, "/dst/r" .. r, { replace = false })
  if ok then won = won + 1
  elseif code == "exists" then d:delete(mine)
  else print("FAIL " .. tostring(msg) .. " " .. tostring(code)) end
end
print("WON " .. won)
]]
    local t0 = require("regstore").clock() + 1
    local kids = {}
    for w = 1, 3 do
      kids[w] = inv.spawn(src, { ns, tostring(w), tostring(rounds), string.format("%.6f", t0) }, nil, nil, 120)
    end
    local won = 0
    for _, k in ipairs(kids) do
      local out, rc = helper.wait(k)
      assert.equal(0, rc, out)
      assert.is_nil(out:match("FAIL[^\n]*"), out)
      won = won + tonumber(out:match("WON (%d+)"))
    end
    assert.equal(rounds, won)
    for r = 1, rounds do
      local data = assert(drv:get_content("/dst/r" .. r))
      local c = data:sub(1, 1)
      assert.equal(string.rep(c, 100000 + c:byte() - 64), data, "round " .. r .. ": one writer's whole content")
    end
  end)
end)
