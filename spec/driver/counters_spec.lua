-- Counters (drv:counter, drv:counter_add): 64-bit values shared by
-- processes and nodes, changed by guarded adds; a limit is checked in the
-- same atomic step, so concurrent adds never pass it together.
local helper = require "helper"

describe("counters #cluster", function()
  local a, b, ns
  before_each(function()
    a, ns = helper.connect()
    b = helper.connect { namespace = ns }
  end)
  after_each(function()
    a:close()
    b:close()
  end)

  it("counts from 0, adds and takes away, refuses past a limit and changes nothing", function()
    assert.equal(0, a:counter("q"))
    assert.equal(10, a:counter_add("q", 10))
    assert.equal(15, b:counter_add("q", 5, 15)) -- up to the limit is allowed
    helper.fails("limit", "q", a:counter_add("q", 1, 15))
    assert.equal(15, b:counter("q"))
    assert.equal(12, a:counter_add("q", -3, 15))
    assert.equal(-8, a:counter_add("q", -20, 0)) -- a negative add always applies
    assert.equal(0, a:counter_add("q", 8))
    helper.fails("limit", "q", a:counter_add("q", 1, 0))
    assert.equal(0, a:counter("other")) -- names are independent
    assert.equal(2 ^ 52, a:counter_add("big", 2 ^ 52))
  end)

  it("concurrent adds from several processes all count, and never pass the limit", function()
    local script = [[
      local d = assert(require("regstore").connect { pool = arg[1], namespace = arg[2],
        conf = os.getenv("CEPH_CONF"), keyring = os.getenv("CEPH_KEYRING") })
      local ok, refused = 0, 0
      for _ = 1, 40 do
        local v, msg, code = d:counter_add("shared", 1)
        assert(v, msg)
        v, msg, code = d:counter_add("limited", 3, 100)
        if v then ok = ok + 1 elseif code == "limit" then refused = refused + 1 else error(msg) end
      end
      print("ok=" .. ok .. " refused=" .. refused)
      d:close()
    ]]
    local admitted = 0
    for _, out in ipairs(helper.run_all(script, 4, function() return { helper.pool(), ns } end)) do
      admitted = admitted + tonumber(out:match("ok=(%d+)"))
    end
    assert.equal(160, a:counter("shared"))
    assert.equal(33, admitted) -- 33 * 3 = 99: the 34th would pass 100
    assert.equal(99, a:counter("limited"))
  end)

  it("raises on malformed names, deltas and limits", function()
    for _, name in ipairs { "", "a/b", "bad name", string.rep("x", 56) } do
      assert.has_error(function() a:counter(name) end)
      assert.has_error(function() a:counter_add(name, 1) end)
    end
    assert.has_error(function() a:counter(1) end)
    assert.has_error(function() a:counter_add("q", "1") end)
    assert.has_error(function() a:counter_add("q", 1.5) end)
    assert.has_error(function() a:counter_add("q", 0 / 0) end)
    assert.has_error(function() a:counter_add("q", 1, -1) end)
    assert.has_error(function() a:counter_add("q", 1, 2.5) end)
    assert.equal(0, a:counter("q")) -- nothing changed
    assert.is_true(#string.rep("x", 55) == 55 and a:counter(string.rep("x", 55)) == 0)
  end)

  it("an object that holds no number is an error, not 0", function()
    helper.rados(ns, "setomapval counter:broken value abc")
    helper.fails("io", "broken", a:counter("broken"))
    helper.fails("io", "broken", a:counter_add("broken", 1))
  end)
end)
