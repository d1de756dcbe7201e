-- Several processes put, write, move and delete over a few shared paths at
-- once: afterwards every name reads whole, and deleting the tree leaves
-- nothing in RADOS.  This is what the lock-free protocols (guarded omap
-- swaps, version-guarded directory removal, claimed pending records and
-- move records) must hold together.
local helper = require "helper"

local WORKER = [[
local rs = require "regstore"
local ns, seed, secs = arg[1], tonumber(arg[2]), tonumber(arg[3])
local d = assert(rs.connect{ pool = os.getenv "REGSTORE_POOL", namespace = ns, chunk_size = 65536 })
math.randomseed(seed)
local function p()
  return string.format("/s/d%d/e%d/f%d", math.random(2), math.random(2), math.random(3))
end
local t0, ops = rs.clock(), 0
while rs.clock() - t0 < secs do
  local r = math.random(12)
  if r <= 4 then d:put_content(p(), string.rep("x", math.random(0, 150000)))
  elseif r <= 6 then d:delete(p())
  elseif r <= 9 then d:move(p(), p())
  elseif r == 10 then d:delete(string.format("/s/d%d", math.random(2)))
  else
    local w = d:writer(p())
    if w then
      w:write(string.rep("y", math.random(0, 200000)))
      if math.random(2) == 1 then w:commit() else w:cancel() end
    end
  end
  ops = ops + 1
end
print("ops " .. ops)
]]

describe("concurrent processes on shared paths #cluster", function()
  it("leave every name readable and nothing behind", function()
    local drv, ns = helper.connect { chunk_size = 65536 }
    local secs = helper.long and 60 or 8
    local workers = {}
    for i = 1, 3 do workers[i] = helper.spawn_lua(WORKER, { ns, tostring(i), tostring(secs) }) end
    for i = 1, 3 do
      local out, rc = helper.wait(workers[i])
      assert.are.equal(0, rc, out)
      assert.truthy(out:match("ops %d+"), out)
    end
    local files = 0
    assert(drv:walk("/", function(info)
      if not info.is_dir then
        files = files + 1
        local data, msg = drv:get_content(info.path)
        assert(data, msg)
        assert.are.equal(info.size, #data)
      end
    end))
    local ok, msg, code = drv:delete("/s")
    assert(ok or code == "not_found", msg)
    assert.are.same({}, drv:list("/"))
    assert.are.same({}, helper.leftovers(ns))
    drv:close()
  end)
end)
