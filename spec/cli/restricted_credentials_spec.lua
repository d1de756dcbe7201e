-- Restricted credentials: a cephx client whose caps allow one pool
-- and one namespace only (`osd 'allow rw pool=P namespace=N'`). Inside N
-- every feature works: the driver, the registry, the policies and the
-- command; outside it (another namespace, another pool) every call fails
-- with `permission` (the command: exit 1 and a message saying so); and the
-- client's key shows in no message, stderr line or JSON document.
local helper = require "helper"
local regstore = require "regstore"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"
local purge = require "regstore.policy.purge_uploads"
local fsck = require "regstore.policy.fsck"
local migrate = require "regstore.policy.migrate"
local util = require "fixtures.registry.util"
local cli = require "fixtures.cli"
local json = require "cjson.safe"

local Q = helper.quote
local WRONG = "AQAFHw1r6PWwExAA4U7qUiKVpOQFPKsqYE8ytw==" -- ceph-authtool --gen-print-key

-- The admin's `ceph` CLI on the test cluster; returns output and status.
local function ceph(args)
  local conf, keyring = os.getenv "CEPH_CONF", helper.keyring()
  return helper.sh(string.format("ceph %s%s%s 2>&1", conf and "-c " .. Q(conf) .. " " or "",
    keyring and "-k " .. Q(keyring) .. " " or "", args))
end

describe("restricted credentials: one pool, one namespace #cluster", function()
  local pool, ns, other_ns, other_pool, id, keyring, key
  local messages = {} -- every error message seen (none may show the key)

  -- Records a failed call's message; asserts nil, msg, "permission".
  local function denied(ok, msg, code)
    messages[#messages + 1] = tostring(msg)
    return helper.fails("permission", nil, ok, msg, code)
  end

  local function connect(p, n)
    return regstore.connect { pool = p, namespace = n, id = id, keyring = keyring }
  end

  setup(function()
    pool = helper.pool()
    ns, other_ns = helper.namespace("caps"), helper.namespace("caps-other")
    -- a client of its own per run: get-or-create refuses other caps for an
    -- existing name
    id = "rs-limited-" .. regstore.uuid():sub(1, 8)
    keyring = os.tmpname()
    local out, rc = ceph(string.format("auth get-or-create client.%s mon 'allow r' osd %s -o %s", id,
      Q("allow rw pool=" .. pool .. " namespace=" .. ns), Q(keyring)))
    assert(rc == 0, out)
    local f = assert(io.open(keyring))
    key = f:read("*a"):match("key%s*=%s*(%S+)")
    f:close()
    assert(key and #key > 20, "no key in " .. keyring)
    -- another pool, which the client may not touch (PGs of one OSD peer fast)
    other_pool = pool .. "-caps-" .. regstore.uuid():sub(1, 6)
    out, rc = ceph("osd pool create " .. Q(other_pool) .. " 8 8")
    assert(rc == 0, out)
    -- an admin's put waits for its PGs to peer: the refusals below are then
    -- the caps' answer, never a wait on an inactive PG
    out, rc = helper.sh(string.format("timeout 60 rados -p %s put probe /dev/null 2>&1", Q(other_pool)))
    assert(rc == 0, out)
  end)

  teardown(function()
    if id then ceph("auth del client." .. id) end
    if other_pool then
      ceph(string.format("osd pool rm %s %s --yes-i-really-really-mean-it", Q(other_pool), Q(other_pool)))
    end
    if keyring then os.remove(keyring) end
    local admin = helper.connect { namespace = ns }
    helper.clear(admin)
    admin:close()
  end)

  it("the driver: every call works inside the namespace", function()
    local drv = assert(connect(pool, ns))
    local big = helper.bytes(300000, 3)
    assert(drv:put_content("/d/a", "alpha"))
    assert.equal("alpha", drv:get_content("/d/a"))
    assert.equal(5, assert(drv:stat("/d/a")).size)
    assert.is_true(assert(drv:stat("/d")).is_dir)
    assert(drv:put_content("/d/b", big))
    assert(drv:put_content("/d/c", "gamma"))
    assert.same({ "/d/a", "/d/b", "/d/c" }, drv:list("/d"))
    assert.same({ "/d/b" }, drv:list("/d", { after = "a", n = 1 }))
    -- a writer in several chunks, then an append in place
    local w = assert(drv:writer("/d/w"))
    for i = 1, 4 do assert(w:write(helper.bytes(70000, 10 + i))) end
    assert(w:commit())
    w = assert(drv:writer("/d/w", true))
    assert(w:write("tail"))
    assert(w:commit())
    local want = helper.bytes(70000, 11) .. helper.bytes(70000, 12) .. helper.bytes(70000, 13)
      .. helper.bytes(70000, 14) .. "tail"
    local r = assert(drv:reader("/d/w"))
    assert.equal(want, helper.read_all(r, 65536))
    r:close()
    r = assert(drv:reader("/d/b", 299990))
    assert.equal(big:sub(299991), helper.read_all(r))
    r:close()
    -- moves, create-only and replacing
    assert(drv:move("/d/a", "/e/a"))
    helper.fails("exists", nil, drv:move("/d/c", "/e/a", { replace = false }))
    assert(drv:move("/d/c", "/e/c", { replace = false }))
    helper.fails("exists", nil, drv:put_content("/e/c", "x", { replace = false }))
    local walked = {}
    assert(drv:walk("/", function(info) walked[#walked + 1] = info.path end))
    table.sort(walked)
    assert.same({ "/d", "/d/b", "/d/w", "/e", "/e/a", "/e/c" }, walked)
    local report = assert(drv:fsck { grace = 0 })
    assert.same({}, report.findings)
    assert.is_true(report.objects > 0)
    assert(drv:fsck { grace = 0, repair = true })
    assert(drv:delete("/d"))
    assert(drv:delete("/e"))
    assert.same({}, drv:list("/"))
    drv:close()
  end)

  it("the driver: every call outside it fails with permission", function()
    local admin = helper.connect { namespace = other_ns }
    assert(admin:put_content("/x/file", "theirs"))
    for _, target in ipairs { { pool, other_ns }, { other_pool, ns }, { other_pool, other_ns } } do
      -- connecting succeeds (the mon lets the client look pools up): each call is refused
      local drv = assert(connect(target[1], target[2]))
      denied(drv:put_content("/x/new", "data"))
      denied(drv:get_content("/x/file"))
      denied(drv:stat("/x/file"))
      denied(drv:list("/x"))
      denied(drv:list("/x", { n = 1 }))
      denied(drv:move("/x/file", "/x/moved"))
      denied(drv:move("/x/file", "/x/moved", { replace = false }))
      denied(drv:delete("/x/file"))
      denied(drv:reader("/x/file"))
      local w, msg, code = drv:writer("/x/w")
      if w then -- a writer may open lazily: its first write or commit is refused
        local ok, wmsg, wcode = w:write(("z"):rep(70000))
        if ok then ok, wmsg, wcode = w:commit() end
        denied(ok, wmsg, wcode)
        w:close()
      else
        denied(w, msg, code)
      end
      denied(drv:writer("/x/file", true))
      denied(drv:walk("/", function() end))
      denied(drv:fsck { grace = 0 })
      denied(drv:fsck { grace = 0, repair = true })
      drv:close()
    end
    -- nothing changed there
    assert.equal("theirs", admin:get_content("/x/file"))
    assert.same({ "/x/file" }, admin:list("/x"))
    helper.clear(admin)
    admin:close()
  end)

  it("the registry: push, pull, tags and delete inside; permission outside", function()
    local drv = assert(connect(pool, ns))
    local reg = registry.new(drv)
    local repo = reg:repository("lim/app")
    local _, _, d1 = util.push_image(repo, "cfg1", { "base", "l1" }, { tag = "v1" })
    local _, _, d2 = util.push_image(repo, "cfg2", { "base", "l2" }, { tag = "v2" })
    -- an upload in chunks, resumed by id
    local up = assert(repo.blobs:create())
    assert(up:write("chunked "))
    assert(up:close())
    up = assert(repo.blobs:resume(up.id))
    assert(up:write("upload"))
    assert(up:commit(util.digest("chunked upload")))
    -- pull by tag: the manifest, then every blob to its end, digests checked
    assert.equal(d1, repo.tags:get("v1"))
    local content = assert(repo.manifests:get(repo.tags:get("v1")))
    local m = json.decode(content)
    for _, l in ipairs({ m.config, m.layers[1], m.layers[2] }) do
      local r = assert(repo.blobs:reader(l.digest))
      assert.equal(l.digest, util.digest(helper.read_all(r)))
      r:close()
    end
    assert.same({ "v1", "v2" }, repo.tags:list())
    assert.same({ "lim/app" }, reg:repositories())
    assert(repo.tags:untag("v2"))
    assert(repo.manifests:delete(d2))
    assert.is_false(repo.manifests:exists(d2))
    assert(repo.manifests:get(d1))

    -- another namespace, another pool: refused, with the registry's codes
    -- left to `permission`
    for _, target in ipairs { { pool, other_ns }, { other_pool, ns } } do
      local odrv = assert(connect(target[1], target[2]))
      local oreg = registry.new(odrv)
      local orepo = oreg:repository("lim/app")
      denied(orepo.blobs:put("layer"))
      denied(orepo.blobs:stat(util.digest("base")))
      denied(orepo.manifests:get(d1))
      denied(orepo.tags:list())
      denied(oreg:repositories())
      denied(orepo.blobs:create())
      odrv:close()
    end
    helper.clear(drv)
    drv:close()
  end)

  it("the policies: gc, purge-uploads, fsck and migrate work inside; permission outside", function()
    local drv = assert(connect(pool, ns))
    local reg = registry.new(drv)
    local repo = reg:repository("lim/pol")
    util.push_image(repo, "cfgp", { "lp" }, { tag = "t" })
    local orphan = assert(repo.blobs:put("orphan p")).digest
    local up = assert(repo.blobs:create())
    assert(up:write("old upload"))
    assert(up:close())
    local r = assert(gc.run(reg, { grace = 0 }))
    assert.same({ orphan }, r.blobs)
    assert.same({}, r.errors)
    local p = assert(purge.run(reg, { older_than = 0, now = os.time() + 10 }))
    assert.equal(1, #p.uploads)
    assert.same({}, p.errors)
    local f = assert(fsck.run(reg, { grace = 0 }))
    assert.same({}, f.findings)
    assert(fsck.run(reg, { grace = 0, repair = true }))
    -- to a directory and back into the (emptied) namespace
    local dir = os.tmpname()
    os.remove(dir)
    local m = assert(migrate.run(drv, migrate.fs(dir), { verify = true }))
    assert.same({}, m.errors)
    assert.is_true(m.files > 0)
    local before = util.tree(drv)
    helper.clear(drv)
    m = assert(migrate.run(migrate.fs(dir), drv, { verify = true }))
    assert.same({}, m.errors)
    assert.same(before, util.tree(drv))

    local odrv = assert(connect(pool, other_ns))
    local oreg = registry.new(odrv)
    denied(gc.run(oreg, { grace = 0 }))
    denied(purge.run(oreg, { older_than = 0 }))
    denied(fsck.run(oreg, { grace = 0 }))
    denied(migrate.run(odrv, migrate.fs(dir .. "-out"), {}))
    -- into a namespace it may not touch: refused when it looks at what is there
    local into, imsg, icode = migrate.run(migrate.fs(dir), odrv, {})
    if into then
      assert.is_true(#into.errors > 0)
      for _, e in ipairs(into.errors) do
        messages[#messages + 1] = e
        assert.matches("not permitted", e, 1, true)
      end
    else
      denied(into, imsg, icode)
    end
    odrv:close()
    os.execute("rm -rf " .. Q(dir) .. " " .. Q(dir .. "-out"))
    helper.clear(drv)
    drv:close()
  end)

  it("the command: every subcommand works with --id and --keyring inside; exit 1 outside", function()
    local function G(p, n)
      return string.format("--id %s --keyring %s --pool %s --namespace %s ", Q(id), Q(keyring), Q(p), Q(n))
    end
    local IN = G(pool, ns)
    local function ok(args, stdin)
      local out, err, rc = cli.run(IN .. args, nil, stdin)
      assert.equal(0, rc, args .. ": " .. err)
      return out
    end
    local file = os.tmpname()
    local fh = assert(io.open(file, "wb"))
    fh:write(helper.bytes(200000, 7))
    fh:close()
    ok("put /c/a " .. Q(file))
    ok("put /c/b -", file)
    assert.equal(helper.bytes(200000, 7), ok("cat /c/b"))
    assert.same({ "/c/a", "/c/b" }, json.decode(ok("ls /c --json")))
    assert.equal(200000, json.decode(ok("stat /c/a --json")).size)
    ok("mv /c/a /c/m")
    assert.equal(2, #json.decode(ok("walk /c --json")))
    assert.same({ bytes = 400000, dirs = 0, files = 2, path = "/c" }, json.decode(ok("du /c --json")))
    ok("rm --recursive /c")
    -- the registry's commands over an image pushed by the limited client
    local drv = assert(connect(pool, ns))
    util.push_image(registry.new(drv):repository("lim/cli"), "cfgc", { "lc" }, { tag = "t" })
    local orphan = assert(registry.new(drv):repository("lim/cli").blobs:put("orphan c")).digest
    assert.same({ orphan }, json.decode(ok("gc --grace 0s --json")).blobs)
    assert.same({}, json.decode(ok("purge-uploads --older-than 0s --json")).errors)
    assert.same({}, json.decode(ok("fsck --grace 0s --json")).findings)
    ok("fsck --repair --grace 0s --json")
    local dir = os.tmpname()
    os.remove(dir)
    local files = json.decode(ok("migrate --to-fs " .. Q(dir) .. " --verify --json")).files
    assert.is_true(files > 0)
    local before = util.tree(drv)
    helper.clear(drv)
    assert.equal(files, json.decode(ok("migrate --from-fs " .. Q(dir) .. " --json")).files)
    assert.same(before, util.tree(drv))

    -- outside: exit 1, a message saying permission was refused, in text and JSON
    local cases = { "ls /", "stat /c", "cat /c/b", "put /x -", "rm /x", "mv /x /y", "walk /", "du /",
      "gc --grace 0s", "gc --dry-run", "purge-uploads --older-than 0s", "fsck", "fsck --repair --grace 0s",
      "migrate --to-fs " .. Q(dir .. "-out"), "migrate --from-fs " .. Q(dir) }
    for _, target in ipairs { G(pool, other_ns), G(other_pool, ns) } do
      for _, c in ipairs(cases) do
        local out, err, rc = cli.run(target .. c, nil, file)
        assert.equal(1, rc, c .. ": " .. out .. err)
        assert.matches("not permitted", err, 1, true)
        if not c:find("^cat") and not c:find("^mv") and not c:find("^rm") then
        out, err, rc = cli.run(target .. c .. " --json", nil, file)
        assert.equal(1, rc, c .. " --json: " .. out .. err)
        assert.matches("not permitted", err, 1, true)
        local doc = json.decode(out)
        -- a failure document, or a report whose errors say it
        assert.is_table(doc, c .. ": " .. out)
        if doc.code then
          assert.equal("permission", doc.code, c .. ": " .. out)
        else
          assert.matches("not permitted", out, 1, true)
        end
        end
      end
    end
    os.execute("rm -rf " .. Q(dir) .. " " .. Q(dir .. "-out"))
    os.remove(file)
    helper.clear(drv)
    drv:close()
  end)

  it("a read-only client reads and checks; one without mon caps cannot connect", function()
    local admin = helper.connect { namespace = ns }
    assert(admin:put_content("/ro/file", "readable"))
    local extra = {}
    local function client(suffix, caps)
      local cid, file = id .. "-" .. suffix, os.tmpname()
      local out, rc = ceph(string.format("auth get-or-create client.%s %s -o %s", cid, caps, Q(file)))
      assert(rc == 0, out)
      extra[#extra + 1] = { cid, file }
      return cid, file
    end
    local rid, rfile = client("ro", "mon 'allow r' osd " .. Q("allow r pool=" .. pool .. " namespace=" .. ns))
    local ro = assert(regstore.connect { pool = pool, namespace = ns, id = rid, keyring = rfile })
    assert.equal("readable", ro:get_content("/ro/file"))
    assert.same({ "/ro/file" }, ro:list("/ro"))
    assert.same({}, assert(ro:fsck { grace = 0 }).findings)
    denied(ro:put_content("/ro/new", "x"))
    denied(ro:move("/ro/file", "/ro/moved"))
    denied(ro:delete("/ro/file"))
    ro:close()
    -- the pool is looked up through the mon: without `mon 'allow r'` cephx refuses
    local nid, nfile = client("nomon", "osd " .. Q("allow rw pool=" .. pool .. " namespace=" .. ns))
    denied(regstore.connect { pool = pool, namespace = ns, id = nid, keyring = nfile, timeout = 10 })
    assert.equal("readable", admin:get_content("/ro/file"))
    helper.clear(admin)
    admin:close()
    for _, c in ipairs(extra) do
      ceph("auth del client." .. c[1])
      os.remove(c[2])
    end
  end)

  it("shows the key in no message, stderr line or JSON document", function()
    assert.is_true(#messages > 50, "too few messages collected: " .. #messages)
    assert.is_true(#cli.outputs > 50, "too few command outputs collected: " .. #cli.outputs)
    for _, m in ipairs(messages) do
      assert.is_nil(m:find(key, 1, true), "a message shows the key: " .. m)
    end
    for _, o in ipairs(cli.outputs) do
      assert.is_nil(o:find(key, 1, true), "a command output shows the key")
    end
    -- and a wrong key is refused as permission, naming the file, not the key
    local bad = os.tmpname()
    local f = assert(io.open(bad, "w"))
    -- a well-formed key that is not the client's (a malformed one is io)
    f:write(string.format("[client.%s]\n\tkey = %s\n", id, WRONG))
    f:close()
    local drv, msg, code = regstore.connect { pool = pool, namespace = ns, id = id, keyring = bad }
    helper.fails("permission", bad, drv, msg, code)
    assert.is_nil(msg:find(WRONG, 1, true))
    local out, err, rc = cli.run(string.format("--id %s --keyring %s --pool %s --namespace %s ls / --json",
      Q(id), Q(bad), Q(pool), Q(ns)))
    assert.equal(1, rc)
    assert.is_nil((out .. err):find(WRONG, 1, true))
    os.remove(bad)
    print(string.format("\n# restricted caps: %d denied driver/registry/policy calls, %d command runs, key in none",
      #messages, #cli.outputs))
  end)
end)
