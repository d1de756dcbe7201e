-- The registry-level subcommands (repos, tags, manifests, untag, delete):
-- what an operator reads and cleans without curl against the HTTP API.
local helper = require "helper"
local util = require "fixtures.registry.util"
local regstore = require("fixtures.cli").run

describe("regstore repos, tags, manifests, untag, delete #cluster", function()
  local drv, reg, G
  helper.each_registry(function(d, r, ns)
    drv, reg = d, r
    G = require("fixtures.cli").globals(ns)
  end)

  local function run_json(args, want_rc) return require("fixtures.cli").json(G, args, want_rc) end

  it("lists repositories, tags and manifests with their tags and referrers", function()
    local app = reg:repository("team/app")
    local _, _, img = util.push_image(app, "cfg", { "l1", "l2" }, { tag = "v1", oci = true })
    assert(app.tags:tag("latest", img))
    local sig, _, sd = util.push_image(app, "sig cfg", { "sig" }, {
      oci = true, extra = { subject = { mediaType = util.OCI_MANIFEST, digest = img, size = 1 } },
    })
    util.push_image(reg:repository("other"), "c", { "l" })
    assert.same({ "other", "team/app" }, run_json("repos"))
    assert.same({ { tag = "latest", digest = img }, { tag = "v1", digest = img } }, run_json("tags team/app"))
    local list = run_json("manifests team/app")
    local by = {}
    for _, m in ipairs(list) do by[m.digest] = m end
    assert.equal(2, #list)
    assert.same({ "latest", "v1" }, by[img].tags)
    assert.same({ sd }, by[img].referrers)
    assert.equal(util.OCI_MANIFEST, by[img].media_type)
    assert.same({}, by[sd].tags)
    assert.equal(img, by[sd].subject)
    assert.equal(#sig, by[sd].size)
    local out, _, rc = regstore(G .. "tags team/app")
    assert.equal(0, rc)
    assert.equal("latest " .. img .. "\nv1 " .. img .. "\n", out)
  end)

  it("untag removes the tag only; delete removes the manifest and its tags", function()
    local app = reg:repository("app")
    local _, _, img = util.push_image(app, "cfg", { "l1" }, { tag = "v1" })
    assert(app.tags:tag("v2", img))
    assert.same({ repository = "app", tag = "v1", digest = img }, run_json("untag app v1"))
    helper.fails("tag_unknown", "v1", app.tags:get("v1"))
    assert.is_true(app.manifests:exists(img))
    local doc = run_json("untag app v1", 1)
    assert.equal("tag_unknown", doc.code)
    assert.same({ repository = "app", digest = img, tags = { "v2" } }, run_json("delete app " .. img))
    assert.is_false(app.manifests:exists(img))
    helper.fails("tag_unknown", "v2", app.tags:get("v2"))
    assert.equal("l1", app.blobs:get(util.digest("l1"))) -- blobs stay for gc
    doc = run_json("delete app " .. img, 1)
    assert.equal("manifest_unknown", doc.code)
  end)

  it("refuses malformed arguments as usage errors, before connecting", function()
    for _, args in ipairs { "tags BAD", "tags", "manifests a b", "untag app", "untag app -bad!",
      "delete app sha256:00", "delete BAD/x " .. util.digest("x") } do
      local out, err, rc = regstore(G .. args)
      assert.equal(2, rc, args .. ": " .. err)
      assert.equal("", out)
      assert.matches("usage: regstore", err, 1, true)
    end
    local doc = run_json("tags never/pushed", 1)
    assert.equal("name_unknown", doc.code)
    assert.matches("never/pushed", doc.error, 1, true)
  end)

  it("manifests lists an unreadable manifest with its error and exits 1", function()
    local app = reg:repository("app")
    local _, _, img = util.push_image(app, "cfg", { "l1" }, { tag = "v1" })
    local _, _, other = util.push_image(app, "cfg2", { "l2" })
    assert(drv:delete(util.ROOT .. "/blobs/sha256/" .. other:sub(8, 9) .. "/" .. other:sub(8)))
    local list, err = run_json("manifests app", 1)
    assert.matches(other, err, 1, true)
    local by = {}
    for _, m in ipairs(list) do by[m.digest] = m end
    assert.same({ "v1" }, by[img].tags)
    assert.is_string(by[other].error)
    assert.is_nil(by[other].size)
  end)

  it("du --by-repository splits each repository's bytes into unique and shared", function()
    local a, b = reg:repository("a"), reg:repository("b")
    local ma = util.push_image(a, "cfg a", { "only a", "shared" }, { tag = "t" })
    local mb = util.push_image(b, "cfg b", { "shared" }, { tag = "t" })
    assert(reg:repository("c").blobs:put("pushed, no manifest yet"))
    assert(a.blobs:put("orphan of a")) -- linked: a push in progress counts
    local doc = run_json("du --by-repository")
    local rows = {}
    for _, r in ipairs(doc.repositories) do rows[r.repository] = r end
    local ua = #ma + #"cfg a" + #"only a" + #"orphan of a"
    assert.same({ repository = "a", blobs = 5, bytes = ua + #"shared", unique = ua, shared = #"shared", missing = 0 },
      rows.a)
    assert.same({ repository = "b", blobs = 3, bytes = #mb + #"cfg b" + #"shared", unique = #mb + #"cfg b",
      shared = #"shared", missing = 0 }, rows.b)
    assert.equal(#"pushed, no manifest yet", rows.c.unique)
    assert.equal(8, doc.blobs) -- each blob once
    assert.equal(ua + #mb + #"cfg b" + #"shared" + #"pushed, no manifest yet", doc.bytes)
    assert.equal(doc.bytes, doc.stored)
    -- a digest referenced without data is missing, not counted
    assert(drv:delete(util.ROOT .. "/blobs/sha256/" .. util.digest("only a"):sub(8, 9) .. "/"
      .. util.digest("only a"):sub(8)))
    doc = run_json("du --by-repository")
    assert.equal(1, doc.repositories[1].missing)
    assert.equal(ua - #"only a", doc.repositories[1].unique)
    local _, err, rc = regstore(G .. "du --by-repository /x")
    assert.equal(2, rc)
    assert.matches("--by-repository takes no PATH", err, 1, true)
  end)

  it("read-only on, off, and the state", function()
    assert.same({ read_only = false }, run_json("read-only"))
    local doc = run_json("read-only on --reason 'moving racks'")
    assert.is_true(doc.read_only)
    assert.equal("moving racks", doc.reason)
    assert.is_true(math.abs(doc.since - os.time()) < 60)
    assert.same(doc, run_json("read-only"))
    local state = assert(require("regstore.policy.read_only").get(reg))
    assert.equal("moving racks", state.reason)
    assert.same({ read_only = false }, run_json("read-only off"))
    assert.same({ read_only = false }, run_json("read-only off")) -- off twice is fine
    local _, err, rc = regstore(G .. "read-only maybe")
    assert.equal(2, rc)
    assert.matches('expected "on" or "off"', err, 1, true)
    _, err, rc = regstore(G .. "read-only off --reason x")
    assert.equal(2, rc)
    assert.matches("--reason goes with on", err, 1, true)
    -- a flag regstore did not write still means read-only
    assert(drv:put_content(util.ROOT .. "/_config/read-only", "garbage"))
    doc = run_json("read-only")
    assert.is_true(doc.read_only)
  end)

  it("quota set, list, rm and recount, with sizes in units", function()
    assert.same({ quotas = {} }, run_json("quota"))
    local app = reg:repository("team/app")
    local content = util.push_image(app, "cfg", { "layer one" }, { tag = "v1" })
    local held = #"cfg" + #"layer one" + #content
    assert.same({ quotas = { { name = "team", limit = 10 * 1024 ^ 3, used = held } } },
      run_json("quota set team 10GiB"))
    run_json("quota set team/app 500MB")
    local doc = run_json("quota list")
    assert.equal(2, #doc.quotas)
    assert.same({ name = "team/app", limit = 500000000, used = held }, doc.quotas[2])
    local out, _, rc = regstore(G .. "quota")
    assert.equal(0, rc)
    assert.matches("team/app%s+%d+ B of%s+476.8 MiB %(0%%%)", out)
    assert.same({ quotas = { { name = "team/app", limit = 500000000, used = held } } }, run_json("quota rm team"))
    doc = run_json("quota rm team", 1)
    assert.equal("not_found", doc.code)
    assert.same({ quotas = { { name = "team/app", limit = 500000000, used = held } } }, run_json("quota recount"))
    for _, args in ipairs { "quota set team", "quota set BAD 1", "quota set team 1XB", "quota rm", "quota frob",
      "quota list x", "quota set team -5" } do
      local _, err, code = regstore(G .. args)
      assert.equal(2, code, args .. ": " .. err)
    end
  end)
end)
