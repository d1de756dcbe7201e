-- `regstore migrate` killed (a real SIGKILL, at every crash
-- point of regstore.policy.crashpoint that a run reaches: its first,
-- second and last occurrence) and run again completes the destination,
-- byte for byte, and leaves nothing else in it: no temporary of the killed
-- run in a --to-fs tree, no uncommitted data in RADOS that fsck would find.
-- The command runs as users run it, bin/regstore in a child process.
local helper = require "helper"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"
local cli = require "fixtures.cli"

local Q = helper.quote
local KILLED = 137 -- the shell's status of a child killed by SIGKILL

local fs_tree, prefixed = helper.files, helper.prefixed

local function fresh_dir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

-- The points a whole run reaches: { [point] = times }.
local function trace(run)
  local file = os.tmpname()
  local _, err, rc = run("REGSTORE_POLICY_CRASH_TRACE=" .. Q(file) .. " ")
  assert.equal(0, rc, err)
  local counts = {}
  for line in io.lines(file) do counts[line] = (counts[line] or 0) + 1 end
  os.remove(file)
  return counts
end

-- The kills to try: each point's first, second and last occurrence.
local function kills(counts)
  local out = {}
  for point, n in pairs(counts) do
    local seen = {}
    for _, k in ipairs { 1, 2, n } do
      if k <= n and not seen[k] then
        seen[k] = true
        out[#out + 1] = { point = point, n = k }
      end
    end
  end
  table.sort(out, function(x, y) return x.point < y.point or x.point == y.point and x.n < y.n end)
  return out
end

local function at(kill)
  return "REGSTORE_POLICY_CRASH_AT=" .. Q(kill.point .. ":" .. kill.n) .. " "
end

local function has_temporary(files)
  for k in pairs(files) do
    if k:find("#regstore-", 1, true) then return true end
  end
  return false
end

describe("migrate killed at each crash point, then run again #cluster", function()
  local drv, ns, G, tree, src
  setup(function()
    drv, ns = helper.connect()
    G = string.format("--pool %s --namespace %s ", Q(helper.pool()), Q(ns))
    local reg = registry.new(drv)
    -- a blob of three pieces (the command's piece is 1 MiB), small files,
    -- names of distribution's grammar that once hid as temporaries
    util.push_image(reg:repository("app.regstore-cache"), "cfg one",
      { helper.bytes(2621440 + 17, 7), "small layer" }, { tag = "v2.regstore-1" })
    util.push_image(reg:repository("a/b/c"), "cfg two", { "other layer" }, { tag = "t_1.x-y" })
    tree = util.tree(drv)
    src = fresh_dir()
    local _, err, rc = cli.run(G .. "migrate --to-fs " .. Q(src))
    assert.equal(0, rc, err)
    assert.same(prefixed(tree, "docker/registry/v2/"), fs_tree(src))
  end)
  teardown(function()
    helper.clear(drv)
    drv:close()
    os.execute("rm -rf " .. Q(src))
  end)

  it("--to-fs: the re-run completes the tree and no temporary is left", function()
    local want = prefixed(tree, "docker/registry/v2/")
    local function run(dir, env)
      return cli.run(G .. "migrate --to-fs " .. Q(dir), env)
    end
    local first = fresh_dir()
    local counts = trace(function(env) return run(first, env) end)
    os.execute("rm -rf " .. Q(first))
    for _, p in ipairs { "migrate.scanned", "migrate.indexed", "migrate.small_read", "migrate.piece_written",
      "migrate.copied", "migrate.fs_opened", "migrate.fs_closed" } do
      assert.is_number(counts[p], "no crash point " .. p)
    end
    local left = 0
    for _, kill in ipairs(kills(counts)) do
      local dir = fresh_dir()
      local what = kill.point .. ":" .. kill.n
      local _, err, rc = run(dir, at(kill))
      assert.equal(KILLED, rc, what .. " did not kill: " .. err)
      if has_temporary(fs_tree(dir)) then left = left + 1 end
      _, err, rc = run(dir)
      assert.equal(0, rc, what .. ": " .. err)
      assert.same(want, fs_tree(dir), "after a kill at " .. what)
      os.execute("rm -rf " .. Q(dir))
    end
    assert.is_true(left > 0, "no kill left a temporary: the spec proves nothing")

    -- the re-run says what it removed
    local dir = fresh_dir()
    local _, err, rc = run(dir, at { point = "migrate.piece_written", n = 1 })
    assert.equal(KILLED, rc, err)
    assert.is_true(has_temporary(fs_tree(dir)))
    _, err, rc = run(dir)
    assert.equal(0, rc, err)
    assert.matches("a temporary of an interrupted run", err, 1, true)
    assert.same(want, fs_tree(dir))
    os.execute("rm -rf " .. Q(dir))
    -- killed again while the re-run removes the temporaries
    dir = fresh_dir()
    _, err, rc = run(dir, at { point = "migrate.piece_written", n = 2 })
    assert.equal(KILLED, rc, err)
    _, err, rc = run(dir, at { point = "migrate.temporary_removed", n = 1 })
    assert.equal(KILLED, rc, err)
    _, err, rc = run(dir)
    assert.equal(0, rc, err)
    assert.same(want, fs_tree(dir))
    os.execute("rm -rf " .. Q(dir))
  end)

  it("--from-fs: the re-run completes the namespace and fsck finds nothing left", function()
    local function run(ns2, env)
      return cli.run(string.format("--pool %s --namespace %s migrate --from-fs %s", Q(helper.pool()), Q(ns2),
        Q(src)), env)
    end
    local first = helper.namespace("mig")
    local counts = trace(function(env) return run(first, env) end)
    local d = helper.connect { namespace = first }
    helper.clear(d)
    d:close()
    for _, p in ipairs { "migrate.scanned", "migrate.indexed", "migrate.small_read", "migrate.piece_written",
      "migrate.copied" } do
      assert.is_number(counts[p], "no crash point " .. p)
    end
    for _, kill in ipairs(kills(counts)) do
      local ns2 = helper.namespace("mig")
      local what = kill.point .. ":" .. kill.n
      local _, err, rc = run(ns2, at(kill))
      assert.equal(KILLED, rc, what .. " did not kill: " .. err)
      _, err, rc = run(ns2)
      assert.equal(0, rc, what .. ": " .. err)
      local d2 = helper.connect { namespace = ns2 }
      assert.same(tree, util.tree(d2), "after a kill at " .. what)
      local report = assert(d2:fsck { grace = 0 })
      assert.same({}, report.findings, "after a kill at " .. what)
      helper.clear(d2)
      d2:close()
    end
  end)
end)
