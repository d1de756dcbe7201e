-- examples/scripts, run as operators run them: `regstore run SCRIPT ARGS`.
local helper = require "helper"
local registry = require "regstore.registry"
local json = require "cjson.safe"
local util = require "fixtures.registry.util"
local cli = require "fixtures.cli"

describe("example maintenance scripts #cluster", function()
  local drv, ns, reg, G
  before_each(function()
    drv, ns = helper.connect()
    -- no descriptor cache: it would remember blobs the scripts' gc deletes
    reg = registry.new(drv, { cache_size = 0 })
    G = string.format("--pool %s --namespace %s run %s/examples/scripts/", helper.quote(helper.pool()),
      helper.quote(ns), cli.ROOT)
  end)
  after_each(function()
    helper.clear(drv)
    drv:close()
  end)

  it("retention keeps the newest N matching tags, deletes the rest, then collects", function()
    local repo = reg:repository("app")
    local digests = {}
    for i = 1, 5 do
      local _, _, d = util.push_image(repo, "cfg " .. i, { "layer " .. i, "base" }, { tag = "v" .. i })
      digests[i] = d
      helper.sh("sleep 1.1") -- distinct tag times
    end
    assert(repo.tags:tag("latest", digests[2]))
    local out, err, rc = cli.run(G .. "retention.lua '^v\\d' 2 --dry-run --grace 0s")
    assert.equal(0, rc, err)
    assert.matches("would untag app:v1", out, 1, true)
    assert.same({ "latest", "v1", "v2", "v3", "v4", "v5" }, repo.tags:list())
    out, err, rc = cli.run(G .. "retention.lua '^v\\d' 2 --grace 0s")
    assert.equal(0, rc, err)
    assert.same({ "latest", "v4", "v5" }, repo.tags:list())
    -- v2's manifest stays (latest points at it), v1 and v3 go with their blobs
    assert(repo.manifests:get(digests[2]))
    assert.is_false(repo.manifests:exists(digests[1]))
    assert.is_false(repo.manifests:exists(digests[3]))
    helper.fails("blob_unknown", nil, reg.blobs:stat(util.digest("layer 1")))
    assert.equal("base", repo.blobs:get(util.digest("base")))
    assert.matches("3 tags, 2 manifests removed; gc: 6 blobs", out, 1, true)
    local _
    _, err, rc = cli.run(G .. "retention.lua")
    assert.equal(2, rc)
    assert.matches("usage", err, 1, true)
  end)

  it("storage report splits bytes unique to a repository from shared ones", function()
    util.push_image(reg:repository("a"), "cfg a", { "only a", "shared" }, { tag = "t" })
    util.push_image(reg:repository("b"), "cfg b", { "shared" }, { tag = "t" })
    assert(reg:repository("c").blobs:put("pushed, no manifest yet"))
    local out, err, rc = cli.run(G .. "storage_report.lua --json")
    assert.equal(0, rc, err)
    local doc = assert(json.decode(out), out)
    local rows = {}
    for _, r in ipairs(doc.repositories) do rows[r.repository] = r end
    local ma = assert(reg:repository("a").manifests:get(assert(reg:repository("a").tags:get("t"))))
    local mb = assert(reg:repository("b").manifests:get(assert(reg:repository("b").tags:get("t"))))
    local function row(r)
      return { repository = r.repository, blobs = r.blobs, unique = r.unique, shared = r.shared }
    end
    assert.same({ repository = "a", blobs = 4, unique = #ma + #"cfg a" + #"only a", shared = #"shared" },
      row(rows.a))
    assert.same({ repository = "b", blobs = 3, unique = #mb + #"cfg b", shared = #"shared" }, row(rows.b))
    assert.same({ repository = "c", blobs = 1, unique = #"pushed, no manifest yet", shared = 0 }, row(rows.c))
    out, err, rc = cli.run(G .. "storage_report.lua")
    assert.equal(0, rc, err)
    assert.matches("REPOSITORY", out, 1, true)
  end)
end)
