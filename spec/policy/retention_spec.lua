-- Retention as configuration (policy/retention.lua, `regstore retention`):
-- a policy file's rules decide which tags each repository keeps; the rest
-- are removed, each read again first, and gc deletes what they alone kept.
-- A read that fails stops the run before anything changes.
local helper = require "helper"
local registry = require "regstore.registry"
local retention = require "regstore.policy.retention"
local faulty = require "support.faulty"
local util = require "fixtures.registry.util"
local regstore = require("fixtures.cli").run

local function policy(rules)
  return assert(retention.load(util.encode { rules = rules }))
end

describe("retention policy files", function()
  it("refuses what it cannot apply safely, saying where", function()
    local cases = {
      { "not json", "not a JSON object" },
      { '{"rules":[]}', "non-empty list" },
      { '{"rules":[{"tags":"^v"}],"extra":1}', 'unknown key "extra"' },
      { '{"rules":[{"tags":"^v"}]}', "rule 1: needs keep_newest" },
      { '{"rules":[{"keep_newest":-1}]}', "whole number" },
      { '{"rules":[{"keep_newest":1.5}]}', "whole number" },
      { '{"rules":[{"keep_newest":"3"}]}', "keep_newest must be a number" },
      { '{"rules":[{"keep_younger_than":"30"}]}', "bad duration" },
      { '{"rules":[{"keep_newest":1},{"keep_newest":1,"tags":"(unclosed"}]}', "rule 2: tags: bad pattern" },
      { '{"rules":[{"keep_newest":1,"kepp_matching":"x"}]}', 'unknown key "kepp_matching"' },
    }
    for _, c in ipairs(cases) do
      local p, why = retention.load(c[1])
      assert.is_nil(p, c[1])
      assert.matches(c[2], why, 1, true)
    end
    assert.has_error(function() retention.load(42) end)
    assert.is_table(retention.load('{"rules":[{"keep_newest":0}]}'))
  end)
end)

describe("retention #cluster", function()
  local drv, reg, G
  helper.each_registry(function(d, r, ns)
    drv, reg = d, r
    G = require("fixtures.cli").globals(ns)
  end)

  -- repo with tags named in order, each its own image; returns name -> digest
  local function tagged(name, tags)
    local repo = reg:repository(name)
    local out = {}
    for _, t in ipairs(tags) do
      local _, _, d = util.push_image(repo, "cfg " .. name .. t, { "layer " .. name .. t }, { tag = t })
      out[t] = d
    end
    return out, repo
  end

  it("keeps what any keep condition names, per the first rule that matches", function()
    local app, repo = tagged("team/app", { "v1", "v2", "v3", "latest", "dev-1" })
    tagged("other", { "v1", "v2" })
    local p = policy {
      { repositories = "^team/", tags = "^v\\d+$", keep_newest = 2 },
      { repositories = "^nothing$", keep_newest = 0 },
    }
    -- tags set in the same second: the newest are the greatest names
    local r = assert(retention.run(reg, p, { grace = 0 }))
    assert.same({ { repository = "team/app", tag = "v1", digest = app.v1, rule = 1 } }, r.tags)
    assert.equal(2, r.kept)
    assert.same({ { repository = "team/app", digest = app.v1 } }, r.manifests)
    assert.equal(3, #r.blobs) -- the manifest, its config and layer
    helper.fails("tag_unknown", "v1", repo.tags:get("v1"))
    for _, t in ipairs { "v2", "v3", "latest", "dev-1" } do assert.equal(app[t], repo.tags:get(t)) end
    assert.same({ "v1", "v2" }, reg:repository("other").tags:list()) -- no rule: untouched
  end)

  it("keep_younger_than and keep_matching keep; a dry run changes nothing", function()
    local app, repo = tagged("app", { "a", "b", "latest" })
    local p = policy { { keep_younger_than = "1h", keep_matching = "^latest$" } }
    local r = assert(retention.run(reg, p, { grace = 0 }))
    assert.same({}, r.tags)
    -- two hours on, only latest is kept
    r = assert(retention.run(reg, p, { grace = 0, now = os.time() + 7200, dry_run = true }))
    assert.same({ "a", "b" }, { r.tags[2].tag, r.tags[1].tag })
    assert.same({}, r.manifests)
    assert.same({ "a", "b", "latest" }, repo.tags:list())
    r = assert(retention.run(reg, p, { grace = 0, now = os.time() + 7200 }))
    assert.equal(2, #r.tags)
    assert.same({ "latest" }, repo.tags:list())
    assert.is_false(repo.manifests:exists(app.a))
    assert.is_true(repo.manifests:exists(app.latest))
  end)

  it("gc's rules still hold: a manifest another tag or a kept index needs stays", function()
    local repo = reg:repository("app")
    local c1, mt1, d1 = util.push_image(repo, "cfg 1", { "l1" }, { tag = "old" })
    assert(repo.tags:tag("stable", d1)) -- the same manifest, kept by another tag
    local _, _, d2 = util.push_image(repo, "cfg 2", { "l2" }, { tag = "old2" })
    local idx, imt = util.index({ c1 })
    assert(mt1)
    local di = assert(repo.manifests:put(idx, imt, { tag = "index" }))
    local p = policy { { tags = "^old", keep_newest = 0 } }
    local r = assert(retention.run(reg, p, { grace = 0 }))
    assert.equal(2, #r.tags)
    assert.same({ { repository = "app", digest = d2 } }, r.manifests)
    assert.is_true(repo.manifests:exists(d1))
    assert.is_true(repo.manifests:exists(di))
  end)

  it("a tag re-pointed between the decision and the removal is kept", function()
    local app, repo = tagged("app", { "v1", "v2" })
    local p = policy { { keep_newest = 1 } }
    local r = assert(retention.run(reg, p, { grace = 0, progress = function(phase, c)
      if phase == "decide" and c.done == c.total then
        assert(repo.tags:tag("v1", app.v2)) -- a CI promotes v2 as v1 now
      end
    end }))
    assert.same({}, r.tags)
    assert.equal(app.v2, repo.tags:get("v1"))
    assert.is_true(repo.manifests:exists(app.v1)) -- untagged now, but not retention's to delete
  end)

  it("a failed read of a tag or its date stops the run before anything changes", function()
    tagged("app", { "v1", "v2", "v3" })
    for _, op in ipairs { "get_content", "stat", "list" } do
      for _, code in ipairs { "timeout", "io", "permission" } do
        local f = faulty.wrap(drv, {
          ops = { [op] = true }, codes = { code },
          when = function(_, path) return path:find("/_manifests/tags", 1, true) ~= nil end,
        })
        local r, msg, c = retention.run(registry.new(f), policy { { keep_newest = 0 } }, { grace = 0 })
        assert.is_nil(r, op .. " " .. code)
        assert.equal(code, c)
        assert.matches("injected", msg, 1, true)
        assert.same({ "v1", "v2", "v3" }, reg:repository("app").tags:list())
      end
    end
  end)

  it("regstore retention --policy: usage errors, a report, metrics", function()
    local app = tagged("app", { "v1", "v2" })
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(util.encode { rules = { { keep_newest = 1 } } })
    f:close()
    for _, c in ipairs {
      { "retention", "--policy FILE is required" },
      { "retention --policy /nonexistent/p.json", "--policy: /nonexistent/p.json" },
    } do
      local _, err, rc = regstore(G .. c[1])
      assert.equal(2, rc, err)
      assert.matches(c[2], err, 1, true)
    end
    local bad = os.tmpname()
    f = assert(io.open(bad, "w"))
    f:write('{"rules":[{"tags":"x"}]}')
    f:close()
    local _, err, rc = regstore(G .. "retention --policy " .. helper.quote(bad))
    assert.equal(2, rc)
    assert.matches("rule 1: needs keep_newest", err, 1, true)
    local out
    out, err, rc = regstore(G .. "retention --dry-run --grace 0s --json --policy " .. helper.quote(file))
    assert.equal(0, rc, err)
    local doc = require("cjson").decode(out)
    assert.is_true(doc.dry_run)
    assert.equal("v1", doc.tags[1].tag)
    assert.equal(app.v1, reg:repository("app").tags:get("v1"))
    local prom = os.tmpname()
    out, err, rc = regstore(G .. "retention --grace 0s --policy " .. helper.quote(file) .. " --metrics-file "
      .. helper.quote(prom))
    assert.equal(0, rc, err)
    assert.matches("tag app:v1 (" .. app.v1 .. ") removed by rule 1", out, 1, true)
    local m = assert(require("support.prometheus").parse(assert(io.open(prom)):read("a")))
    assert.equal(1, m.regstore_retention_tags_removed)
    assert.equal(1, m.regstore_retention_manifests_deleted)
    assert.equal(1, m.regstore_retention_last_run_success)
    os.remove(file)
    os.remove(bad)
    os.remove(prom)
  end)
end)
