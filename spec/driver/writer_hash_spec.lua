-- A writer hashing what passes through it, in C (drv:writer():hash), and a
-- resumed writer whose restored hash state goes on where it ended.
local regstore = require "regstore"
local helper = require "helper"

describe("writer:hash #cluster", function()
  it("hashes what passes through a writer, in C", function()
    local drv = helper.connect { chunk_size = 65536 }
    local h = regstore.sha256()
    local w = assert(drv:writer("/f"))
    assert.are.equal(w, w:hash(h))
    local data = helper.bytes(200000, 7)
    assert(w:write(data:sub(1, 70000)))
    assert(w:write(data:sub(70001)))
    assert(w:commit())
    assert.are.equal(regstore.sha256():update(data):hexdigest(), h:hexdigest())
    assert(drv:delete("/f"))
    drv:close()
  end)

  it("hashes large writes (on the writer's hash thread) in order", function()
    local drv = helper.connect { chunk_size = 65536 }
    local h = regstore.sha256()
    local w = assert(drv:writer("/big"))
    w:hash(h)
    local a, b = helper.bytes(3 * 1048576 + 5, 8), helper.bytes(700000, 9)
    assert(w:write(a))
    assert(w:write("x"))
    assert(w:write(b))
    assert.are.equal(regstore.sha256():update(a .. "x" .. b):hexdigest(), h:hexdigest())
    assert(w:close())
    -- A resumed writer with a restored hash goes on where the state ends.
    local h2 = regstore.sha256(h:state())
    w = assert(drv:writer("/big", true))
    w:hash(h2)
    assert(w:write(a))
    assert(w:commit())
    assert.are.equal(regstore.sha256():update(a .. "x" .. b .. a):hexdigest(), h2:hexdigest())
    assert.are.equal(#a * 2 + 1 + #b, drv:stat("/big").size)
    assert(drv:delete("/big"))
    drv:close()
  end)
end)
