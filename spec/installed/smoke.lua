-- Smoke test of an INSTALLED rock, run by scripts/test.sh through each
-- LuaRocks tree it installs into (`luarocks make --tree T`), with the tree's
-- paths from `luarocks path` and REGSTORE_ROCK_TREE=T.  Its name does not
-- match busted's `_spec` pattern: `busted spec` leaves it alone, test.sh names
-- it explicitly (from a directory without .busted, so that nothing puts the
-- source tree's lua/ on the path).
local tree = os.getenv "REGSTORE_ROCK_TREE"
-- spec/support/shell.lua of the checkout, by file: the Lua path has none of it
local shell = dofile(debug.getinfo(1, "S").source:match("^@(.*/)installed/[^/]*$") .. "support/shell.lua")
local searchpath = shell.searchpath

local function in_tree(file)
  return type(file) == "string" and file:sub(1, #tree + 1) == tree .. "/"
end

describe("installed rock #cluster", function()
  it("resolves every module into the rock tree", function()
    assert(tree and tree ~= "", "REGSTORE_ROCK_TREE is not set")
    for _, name in ipairs { "regstore", "regstore.registry", "regstore.registry.paths" } do
      local file = searchpath(name, package.path)
      assert(in_tree(file), name .. " resolves to " .. tostring(file) .. ", not into " .. tree)
    end
    local core = searchpath("regstore.core", package.cpath)
    assert(in_tree(core), "regstore.core resolves to " .. tostring(core) .. ", not into " .. tree)
    local regstore = require "regstore"
    assert.is_string(regstore.VERSION)
    assert.is_function(regstore.connect)
  end)

  it("connects and makes a put, get, list, delete round trip", function()
    local regstore = require "regstore"
    local pool = assert(os.getenv "REGSTORE_POOL", "REGSTORE_POOL is not set")
    local ns = "smoke-" .. regstore.uuid():sub(1, 8)
    local drv = assert(regstore.connect { pool = pool, namespace = ns })
    assert.is_true(drv:put_content("/smoke/f", "installed"))
    assert.are.equal("installed", drv:get_content("/smoke/f"))
    assert.are.same({ "/smoke/f" }, drv:list("/smoke"))
    assert.is_true(drv:delete("/smoke"))
    assert.are.same({}, drv:list("/"))
    local rep = assert(drv:fsck())
    assert.are.same({}, rep.findings)
    assert.is_true(drv:close())
  end)

  it("loads the registry layer (and its lua-cjson)", function()
    local regstore = require "regstore"
    local registry = require "regstore.registry"
    assert.is_table(registry)
    local drv = assert(regstore.connect { pool = os.getenv "REGSTORE_POOL",
      namespace = "smoke-" .. regstore.uuid():sub(1, 8) })
    local reg = registry.new(drv)
    assert.is_table(reg.blobs)
    drv:close()
  end)

  -- The command is a Lua 5.4 script: LuaRocks wraps it with the tree's
  -- interpreter, which only the 5.4 tree runs it with.
  if _VERSION == "Lua 5.4" then
    it("installs the regstore command, which works against the cluster", function()
      local regstore = require "regstore"
      local bin = tree .. "/bin/regstore"
      assert(io.open(bin), bin .. " is not installed")
      -- through the tree's own wrapper, on the paths of `luarocks path --tree`
      local function run(args) return shell.run(bin .. " " .. args) end
      local out, rc = run("--help")
      assert.equal(0, rc, out)
      assert.matches("usage: regstore", out, 1, true)
      local ns = "smoke-cli-" .. regstore.uuid():sub(1, 8)
      local g = string.format("--pool '%s' --namespace '%s' ", os.getenv "REGSTORE_POOL", ns)
      local drv = assert(regstore.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns })
      assert(drv:put_content("/docker/registry/v2/blobs/x", "12345"))
      out, rc = run(g .. "du --json /docker")
      assert.equal(0, rc, out)
      assert.matches('"bytes":5', out, 1, true)
      out, rc = run(g .. "gc --dry-run --json --grace 0s")
      assert.equal(0, rc, out)
      assert.matches('"dry_run":true', out, 1, true)
      out, rc = run(g .. "gc --grace five")
      assert.equal(2, rc, out)
      assert(drv:delete("/docker"))
      drv:close()
    end)
  end
end)
