-- Leases (drv:lease, drv:release, drv:lease_holder): cluster-wide exclusive
-- locks with a duration, so that work runs once across processes and nodes.
local helper = require "helper"
local regstore = require "regstore"

describe("leases #cluster", function()
  local a, b, ns
  before_each(function()
    a, ns = helper.connect()
    b = helper.connect { namespace = ns }
  end)
  after_each(function()
    a:close()
    b:close()
  end)

  it("one owner at a time; its owner renews; release frees it", function()
    assert.is_true(a:lease("gc", "node-a", 30))
    helper.fails("busy", "gc", b:lease("gc", "node-b", 30))
    assert.equal("node-a", b:lease_holder("gc"))
    assert.is_true(a:lease("gc", "node-a", 30)) -- renewed
    helper.fails("not_found", "gc", b:release("gc", "node-b"))
    assert.is_true(a:release("gc", "node-a"))
    assert.is_false(b:lease_holder("gc"))
    assert.is_true(b:lease("gc", "node-b", 30))
    assert.is_true(b:release("gc", "node-b"))
    assert.is_false(a:lease_holder("never-taken"))
    -- leases of other names are independent
    assert.is_true(a:lease("purge", "node-a", 30))
    assert.is_true(b:lease("gc", "node-b", 30))
    assert.is_true(a:release("purge", "node-a"))
    assert.is_true(b:release("gc", "node-b"))
  end)

  it("expires: a holder that died hands over after the duration", function()
    local out, rc = helper.run_lua([[
      local d = assert(require("regstore").connect { pool = arg[1], namespace = arg[2],
        conf = os.getenv("CEPH_CONF"), keyring = os.getenv("CEPH_KEYRING") })
      assert(d:lease("gc", "dead-node", 1.5))
      os.exit(0, false) -- dies holding it (no release, no close)
    ]], { helper.pool(), ns })
    assert.equal(0, rc, out)
    helper.fails("busy", "gc", b:lease("gc", "node-b", 30))
    local t0 = regstore.clock()
    while not b:lease("gc", "node-b", 30) do
      assert.is_true(regstore.clock() - t0 < 10, "the dead holder's lease never expired")
      regstore.sleep(0.1)
    end
    assert.is_true(regstore.clock() - t0 < 2.5)
    assert.equal("node-b", a:lease_holder("gc"))
    assert.is_true(b:release("gc", "node-b"))
  end)

  it("raises on malformed names, owners and durations", function()
    for _, args in ipairs {
      { "bad name", "o", 1 }, { "n", "bad/owner", 1 }, { "", "o", 1 }, { string.rep("x", 58), "o", 1 },
      { "n", string.rep("x", 129), 1 },
      { "n", "o", 0 }, { "n", "o", -1 }, { "n", "o", 0 / 0 }, { "n", "o", 86400 * 8 },
    } do
      assert.has_error(function() a:lease(args[1], args[2], args[3]) end)
    end
    assert.has_error(function() a:lease(1, "o", 1) end)
    assert.has_error(function() a:lease("n", nil, 1) end)
    assert.has_error(function() a:lease("n", "o", "1") end)
    assert.has_error(function() a:release("n", 2) end)
    assert.has_error(function() a:lease_holder({}) end)
  end)
end)
