-- The `regstore` command as users run it: a subprocess of Lua 5.4 on
-- bin/regstore, its exit statuses (0 done, 1 failures or findings, 2
-- usage), its --json documents, and no secret in anything it prints.
local helper = require "helper"
local registry = require "regstore.registry"
local json = require "cjson.safe"
local util = require "fixtures.registry.util"

local cli = require "fixtures.cli"
local regstore, outputs = cli.run, cli.outputs

-- Whether text is one JSON document that a strict parser takes: Python's
-- json on a strict UTF-8 decode (lua-cjson lets invalid UTF-8 through).
-- Returns the status and Python's message.
local function strict_json(text)
  local file = os.tmpname()
  local f = assert(io.open(file, "wb"))
  f:write(text)
  f:close()
  local out, rc = helper.sh("python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))' <"
    .. helper.quote(file) .. " 2>&1")
  os.remove(file)
  return rc == 0, out
end

local keys = helper.keys

describe("regstore command: usage", function()
  it("--help lists every command and exits 0", function()
    local out, _, rc = regstore("--help")
    assert.equal(0, rc)
    for _, c in ipairs { "gc", "purge-uploads", "migrate", "fsck", "ls", "stat", "cat", "put", "rm", "mv",
      "walk", "du", "run" } do
      assert.matches("\n  " .. c:gsub("%-", "%%-") .. " ", out)
      local sub, _, src = regstore(c .. " --help")
      assert.equal(0, src, c)
      assert.matches("^usage: regstore " .. c:gsub("%-", "%%-"), sub)
    end
  end)

  local cases = {
    { "", "no command given" },
    { "frob", 'unknown command "frob"' },
    { "--bogus gc", "unknown option --bogus" },
    { "gc --grace 5", 'bad duration "5"' },
    { "gc --grace=1x", 'unknown unit "x"' },
    { "gc --dry-run=yes", "--dry-run takes no value" },
    { "gc extra", 'unexpected argument "extra"' },
    { "purge-uploads --older-than", "--older-than needs a value" },
    { "purge-uploads --older-than 7", "bad duration" },
    { "migrate", "exactly one of --from-fs, --to-fs, --to-pool" },
    { "migrate --from-fs /a --to-fs /b", "exactly one of" },
    { "migrate --to-fs /b --to-namespace x", "--to-namespace goes with --to-pool" },
    -- a mistyped source must not import nothing and exit 0
    { "migrate --from-fs /nonexistent/regstore-tree", "--from-fs: no directory /nonexistent/regstore-tree" },
    { "fsck --repair x", 'unexpected argument "x"' },
    { "fsck --grace", "--grace needs a value" },
    { "ls / /x", "unexpected argument" },
    { "stat", "missing argument" },
    { "cat", "missing argument" },
    { "put", "missing argument" },
    { "put /a b c", "unexpected argument" },
    { "rm", "missing argument" },
    { "mv /a", "missing argument" },
    { "walk / /x", "unexpected argument" },
    { "du / /x", "unexpected argument" },
    { "run", "missing argument" },
    { "--root bad gc", "--root" },
  }
  for _, c in ipairs(cases) do
    it("exits 2 for `regstore " .. c[1] .. "`", function()
      local out, err, rc = regstore(c[1])
      assert.equal(2, rc, err)
      assert.equal("", out)
      assert.matches(c[2], err, 1, true)
      assert.matches("usage: ", err, 1, true)
    end)
  end

  it("--json writes invalid UTF-8 as U+FFFD, each byte", function()
    local enc = require("regstore.cli.json").encode
    local doc = enc { ["k\xff"] = "a\xc3(b\xed\xa0\x80c\xf0\x9f\x98", ok = "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      nan = 0 / 0, inf = math.huge, n = 3 }
    assert.is_true(strict_json(doc))
    local t = json.decode(doc)
    local R = "\xef\xbf\xbd"
    assert.equal("a" .. R .. "(b" .. R:rep(3) .. "c" .. R:rep(3), t["k" .. R])
    assert.equal("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", t.ok) -- valid UTF-8 untouched
    assert.equal(json.null, t.nan)
    assert.equal(json.null, t.inf)
    assert.equal(3, t.n)
  end)

  it("exits 2 when no pool is known", function()
    local _, err, rc = regstore("gc --dry-run", "REGSTORE_POOL= ")
    assert.equal(2, rc)
    assert.matches("no pool", err, 1, true)
  end)
end)

describe("regstore command against the cluster #cluster", function()
  local drv, ns, reg, dir, G
  setup(function()
    drv, ns = helper.connect()
    reg = registry.new(drv)
    G = require("fixtures.cli").globals(ns)
    dir = os.tmpname()
    os.remove(dir)
  end)
  teardown(function()
    helper.clear(drv)
    drv:close()
    os.execute("rm -rf " .. helper.quote(dir))
  end)

  local function run_json(args, want_rc) return require("fixtures.cli").json(G, args, want_rc) end

  it("gc, purge-uploads, fsck, migrate print their JSON documents", function()
    local repo = reg:repository("app")
    util.push_image(repo, "cfg", { "layer" }, { tag = "v1" })
    local orphan = assert(repo.blobs:put("orphan")).digest
    local doc = run_json("gc --dry-run --grace 0s")
    assert.same({ "blobs", "bytes", "dry_run", "errors", "layer_links", "manifests", "marked", "restored" }, keys(doc))
    assert.same({ orphan }, doc.blobs)
    assert.is_true(doc.dry_run)
    assert.equal(3, doc.marked)
    assert.same({}, doc.manifests) -- an empty list is [], not {}
    local out = regstore(G .. "gc --dry-run --grace 0s --json")
    assert.matches('"manifests":[]', out, 1, true)
    doc = run_json("gc --grace 0s --delete-untagged")
    assert.same({ orphan }, doc.blobs)
    assert.is_false(doc.dry_run)

    doc = run_json("purge-uploads --older-than 1h")
    assert.same({ "dry_run", "errors", "uploads" }, keys(doc))

    doc = run_json("fsck")
    assert.same({ "findings", "objects", "repair", "repaired" }, keys(doc))
    assert.same({}, doc.findings)
    -- a finding makes the status 1
    assert(drv:put_content(util.ROOT .. "/repositories/app/_manifests/tags/lost/current/link", util.digest("x")))
    doc = run_json("fsck --grace 0s", 1)
    assert.equal("missing_manifest", doc.findings[1].kind)
    doc = run_json("fsck --grace 0s --repair")
    assert.equal(1, doc.repaired)

    doc = run_json("migrate --to-fs " .. helper.quote(dir) .. " --verify")
    assert.same({ "bytes", "dry_run", "errors", "files", "notes", "skipped", "uploads_skipped", "verified" },
      keys(doc))
    assert.is_true(doc.files > 0)
    local ns2 = helper.namespace("cli")
    local G2 = string.format("--pool %s --namespace %s ", helper.quote(helper.pool()), helper.quote(ns2))
    local o2, e2, rc2 = regstore(G2 .. "migrate --from-fs " .. helper.quote(dir) .. " --json")
    assert.equal(0, rc2, e2)
    assert.equal(doc.files, json.decode(o2).files)
    local d2 = helper.connect { namespace = ns2 }
    assert.same(util.tree(drv), util.tree(d2))
    doc = run_json("migrate --to-pool " .. helper.quote(helper.pool()) .. " --to-namespace " .. helper.quote(ns2))
    assert.equal(0, doc.files)
    helper.clear(d2)
    d2:close()
  end)

  it("ls, stat, put, cat, mv, walk, du, rm work on driver paths", function()
    local file = os.tmpname()
    local f = assert(io.open(file, "wb"))
    f:write(helper.bytes(300000, 5))
    f:close()
    local doc = run_json("put /cli/a/file " .. helper.quote(file))
    assert.same({ path = "/cli/a/file", size = 300000 }, doc)
    local out, _, rc = regstore(G .. "put /cli/b/stdin -", nil, file)
    assert.equal(0, rc)
    assert.matches("300000 bytes", out, 1, true)
    out, _, rc = regstore(G .. "cat /cli/b/stdin")
    assert.equal(0, rc)
    assert.equal(helper.bytes(300000, 5), out)
    assert.same({ "/cli/a", "/cli/b" }, run_json("ls /cli"))
    local long = run_json("ls --long /cli/a")
    assert.same({ "is_dir", "modtime", "path", "size" }, keys(long[1]))
    assert.same({ is_dir = false, path = "/cli/a/file", size = 300000, modtime = long[1].modtime }, long[1])
    doc = run_json("stat /cli/a/file")
    assert.equal(300000, doc.size)
    assert(regstore(G .. "mv /cli/a/file /cli/c/moved"))
    assert.equal(4, #run_json("walk /cli")) -- b, b/stdin, c, c/moved
    assert.same({ bytes = 600000, dirs = 2, files = 2, path = "/cli" }, run_json("du /cli"))
    local _, err
    _, err, rc = regstore(G .. "rm /cli/b")
    assert.equal(1, rc)
    assert.matches("is a directory", err, 1, true)
    _, _, rc = regstore(G .. "rm --recursive /cli/b /cli/c")
    assert.equal(0, rc)
    local fail
    fail, err = run_json("stat /cli", 1)
    assert.equal("not_found", fail.code)
    assert.matches("/cli", err, 1, true)
    -- paths relative to --root
    util.push_image(reg:repository("rel"), "c", { "l" }, { tag = "t" })
    assert.same({ util.ROOT .. "/repositories/app", util.ROOT .. "/repositories/rel" }, run_json("ls repositories"))
    os.remove(file)
  end)

  it("run gives a script its driver, registry and arguments", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
local names = assert(reg:repositories())
print(table.concat(names, ","), arg[1], arg[2], options.namespace == nil, type(drv), type(policy.gc.run))
local r = assert(policy.gc.run(reg, { dry_run = true, grace = 0 }))
log("marked %d", r.marked)
if arg[1] == "fail" then error("asked to fail") end
return tonumber(arg[2])
]])
    f:close()
    local out, err, rc = regstore(G .. "run " .. helper.quote(script) .. " go 3")
    assert.equal(3, rc, err)
    assert.matches("go\t3\tfalse\tuserdata\tfunction", out, 1, true)
    assert.matches("marked %d+", err)
    out, err, rc = regstore(G .. "run " .. helper.quote(script) .. " fail --json")
    assert.equal(1, rc)
    assert.matches("asked to fail", err, 1, true)
    assert.matches("fail\t--json", out, 1, true) -- the script's own arguments
    out, err, rc = regstore(G .. "run /nonexistent/script.lua")
    assert.equal("", out)
    assert.equal(1, rc)
    assert.matches("script.lua", err, 1, true)
    os.remove(script)
  end)

  it("--json is strict UTF-8 JSON when the store holds garbage", function()
    local repo = util.ROOT .. "/repositories/garbage"
    util.push_image(reg:repository("garbage"), "cfg g", { "layer g" }, { tag = "v1" })
    assert(drv:put_content(repo .. "/_manifests/tags/bad/current/link", "\xff\xfe garbage \xc3"))
    local out, err, rc = regstore(G .. "fsck --grace 0s --json")
    assert.equal(1, rc, err)
    local ok, why = strict_json(out)
    assert.is_true(ok, why)
    local found
    for _, f in ipairs(json.decode(out).findings) do
      if f.path == repo .. "/_manifests/tags/bad/current/link" then found = f end
    end
    assert.is_table(found, out)
    assert.equal("bad_link", found.kind)
    assert.matches("\xef\xbf\xbd\xef\xbf\xbd garbage \xef\xbf\xbd", found.detail, 1, true)
    assert(drv:delete(repo))
  end)

  it("draws progress when stderr is a terminal, not a file or a pipe", function()
    util.push_image(reg:repository("tty"), "cfg t", { "layer t" }, { tag = "v1" })
    local function on_tty(redirect)
      local cmd = string.format("%slua5.4 %s %smigrate --dry-run --to-fs %s %s", cli.ENV,
        helper.quote(cli.ROOT .. "/bin/regstore"), G, helper.quote(dir .. "-tty"), redirect)
      -- util-linux script runs cmd on a new pseudo-terminal and copies it to stdout
      local out, rc = helper.sh("script -qec " .. helper.quote(cmd) .. " /dev/null </dev/null")
      assert.equal(0, rc, out)
      return out
    end
    local ERASE = "\r\27[K"
    local out = on_tty("")
    assert.matches(ERASE .. "scan, files ", out, 1, true)
    assert.matches("files (", out, 1, true) -- the report, after the line was erased
    assert.is_nil(on_tty("--quiet"):find(ERASE, 1, true))
    local log = os.tmpname()
    out = on_tty("2>" .. helper.quote(log))
    local f = assert(io.open(log, "rb"))
    local logged = f:read("*a")
    f:close()
    os.remove(log)
    assert.matches("files (", out, 1, true)
    assert.is_nil(logged:find(ERASE, 1, true), "progress drawn into a file")
    assert.is_nil(out:find(ERASE, 1, true))
    out = on_tty("2>&1 | cat")
    assert.matches("files (", out, 1, true)
    assert.is_nil(out:find(ERASE, 1, true), "progress drawn into a pipe")
    assert(drv:delete(util.ROOT .. "/repositories/tty"))
  end)

  it("never prints a key, even when connecting fails", function()
    local _, err, rc = regstore(G .. "gc --dry-run --id nobody --json")
    assert.equal(1, rc)
    assert.is_true(#err > 0)
    _, err, rc = regstore(G .. "fsck --keyring /nonexistent/keyring")
    assert.equal(1, rc)
    assert.matches("regstore: ", err, 1, true)
    local keyring = helper.keyring()
    local kf = assert(io.open(keyring))
    local key = kf:read("*a"):match("key%s*=%s*(%S+)")
    kf:close()
    assert.is_string(key)
    for _, o in ipairs(outputs) do
      assert.is_nil(o:find(key, 1, true), "an output shows the key")
    end
  end)
end)
