-- Scheduled maintenance (policy/schedule.lua): a job runs once per period
-- across processes sharing a registry; a runner that dies hands over when
-- its lease expires; a record it cannot read runs nothing.
local helper = require "helper"
local registry = require "regstore.registry"
local schedule = require "regstore.policy.schedule"
local faulty = require "support.faulty"
local regstore = require "regstore"

-- A script for another process: run_due of job "gc" every 3600 s whose run
-- sleeps arg[3] seconds (renewing) or dies when arg[3] is "die".
local RUNNER = [[
local regstore = require "regstore"
local drv = assert(regstore.connect { pool = arg[1], namespace = arg[2] })
local schedule = require "regstore.policy.schedule"
local r = assert(schedule.run_due(drv, { job = "gc", every = 3600, run = function(renew)
  if arg[3] == "die" then os.exit(3, false) end
  local t0 = regstore.clock()
  while regstore.clock() - t0 < tonumber(arg[3]) do
    assert(renew())
    regstore.sleep(0.1)
  end
  return { done = true }
end }, { owner = arg[4], lease = tonumber(arg[5] or "60") }))
print(r.ran and "ran" or r.reason)
]]

describe("scheduled maintenance #cluster", function()
  local drv, ns
  before_each(function() drv, ns = helper.connect() end)
  after_each(function()
    helper.clear(drv)
    drv:close()
  end)

  local function job(f) return { job = "gc", every = 3600, run = f or function() return { n = 1 } end } end

  it("runs when due, once per period, and records it", function()
    local runs = 0
    local function run() runs = runs + 1 return { n = runs } end
    local r = assert(schedule.run_due(drv, job(run), { owner = "a" }))
    assert.is_true(r.ran)
    assert.same({ n = 1 }, r.report)
    assert.is_true(r.record.ok)
    r = assert(schedule.run_due(drv, job(run), { owner = "b" }))
    assert.is_false(r.ran)
    assert.equal("not due", r.reason)
    assert.is_true(r.next_at >= os.time() + 3500)
    r = assert(schedule.run_due(drv, job(run), { owner = "b", now = os.time() + 3601 }))
    assert.is_true(r.ran)
    assert.equal(2, runs)
    local rec = assert(schedule.last(drv, "gc"))
    assert.equal("b", rec.owner)
    assert.is_false(schedule.last(drv, "purge"))
    -- a job that fails (or raises) is recorded as failed, its period counts
    r = assert(schedule.run_due(drv, { job = "purge", every = 60, run = function() return nil, "boom", "io" end },
      { owner = "a" }))
    assert.is_false(r.record.ok)
    assert.equal("boom", r.record.error)
    r = assert(schedule.run_due(drv, { job = "fsck", every = 60, run = function() error("raised") end },
      { owner = "a" }))
    assert.is_false(r.record.ok)
    assert.matches("raised", r.record.error)
    assert.is_false(drv:lease_holder("fsck.docker.registry.v2")) -- released
  end)

  it("two runners at once: exactly one runs", function()
    local h1 = helper.spawn_lua(RUNNER, { helper.pool(), ns, "1", "node-1" })
    local h2 = helper.spawn_lua(RUNNER, { helper.pool(), ns, "1", "node-2" })
    local o1, rc1 = helper.wait(h1)
    local o2, rc2 = helper.wait(h2)
    assert.equal(0, rc1, o1)
    assert.equal(0, rc2, o2)
    local ran = (o1:match("^ran") and 1 or 0) + (o2:match("^ran") and 1 or 0)
    assert.equal(1, ran, o1 .. o2)
    local other = o1:match("^ran") and o2 or o1
    assert.is_truthy(other:match("^busy") or other:match("^not due"), other) -- not due: it came after
  end)

  it("a runner that dies hands over when its lease expires; renewals keep it past its duration", function()
    local out, rc = helper.run_lua(RUNNER, { helper.pool(), ns, "die", "dead", "1.5" })
    assert.equal(3, rc, out)
    local r = assert(schedule.run_due(drv, job(), { owner = "b" }))
    assert.equal("busy", r.reason)
    assert.equal("dead", r.holder)
    local t0 = regstore.clock()
    repeat
      regstore.sleep(0.2)
      r = assert(schedule.run_due(drv, job(), { owner = "b" }))
    until r.ran or regstore.clock() - t0 > 10
    assert.is_true(r.ran, "never handed over")
    helper.clear(drv)
    -- a runner renewing while it works keeps the job for 3 s with a 1.5 s lease
    local h = helper.spawn_lua(RUNNER, { helper.pool(), ns, "3", "slow", "1.5" })
    regstore.sleep(2.2)
    r = assert(schedule.run_due(drv, job(), { owner = "b" }))
    assert.equal("busy", r.reason)
    out, rc = helper.wait(h)
    assert.equal(0, rc, out)
    assert.matches("^ran", out)
  end)

  it("a record it cannot read runs nothing", function()
    assert(drv:put_content("/docker/registry/v2/_schedule/gc", "not json"))
    local ran = false
    local r, msg, code = schedule.run_due(drv, job(function() ran = true return {} end), { owner = "a" })
    assert.is_nil(r)
    assert.equal("io", code)
    assert.matches("_schedule/gc", msg, 1, true)
    helper.clear(drv)
    local f = faulty.wrap(drv, { ops = { get_content = true }, codes = { "timeout" } })
    r, msg, code = schedule.run_due(registry.new(f), job(function() ran = true return {} end), { owner = "a" })
    assert.is_nil(r, msg)
    assert.equal("timeout", code)
    assert.is_false(ran)
    assert.has_error(function() schedule.run_due(drv, { job = "gc" }, { owner = "a" }) end)
    assert.has_error(function() schedule.run_due(drv, job(), {}) end)
  end)
end)
