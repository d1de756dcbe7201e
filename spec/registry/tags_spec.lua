-- regstore.registry: tags (tag, untag, get, list, lookup, history).
local helper = require "helper"
local util = require "fixtures.registry.util"

local R = util.ROOT
local NAME = "library/tagged"
local TAGS = R .. "/repositories/" .. NAME .. "/_manifests/tags"

describe("registry tags #cluster", function()
  local drv, reg, repo, d1, d2
  helper.each_registry(function(d, r)
    drv, reg = d, r
    repo = assert(reg:repository(NAME))
  end)

  local function two()
    d1 = select(3, util.push_image(repo, "cfg-1", { "layer" }))
    d2 = select(3, util.push_image(repo, "cfg-2", { "layer" }))
  end

  it("tags, resolves and untags", function()
    two()
    assert.is_true(repo.tags:tag("latest", d1))
    assert.equal(d1, repo.tags:get("latest"))
    assert.equal(d1, drv:get_content(TAGS .. "/latest/current/link"))
    assert.equal(d1, drv:get_content(TAGS .. "/latest/index/sha256/" .. d1:sub(8) .. "/link"))
    assert.is_true(repo.tags:untag("latest"))
    helper.fails("tag_unknown", "latest", repo.tags:get("latest"))
    helper.fails("tag_unknown", "latest", repo.tags:untag("latest"))
    assert.is_false(util.exists(drv, TAGS))
    assert.is_true(repo.manifests:exists(d1))
  end)

  it("keeps every digest a tag pointed at in its index", function()
    two()
    assert(repo.tags:tag("v", d1))
    assert(repo.tags:tag("v", d2))
    assert(repo.tags:tag("v", d2))
    assert.equal(d2, repo.tags:get("v"))
    local idx = {}
    for _, p in ipairs(drv:list(TAGS .. "/v/index/sha256")) do idx[#idx + 1] = "sha256:" .. p:match("([^/]+)$") end
    local want = { d1, d2 }
    table.sort(want)
    assert.same(want, idx)
  end)

  it("tags only manifests of the repository", function()
    two()
    local e = util.digest("not a manifest")
    helper.fails("manifest_unknown", e, repo.tags:tag("x", e))
    local layer = util.digest("layer")
    helper.fails("manifest_unknown", layer, repo.tags:tag("x", layer))  -- a blob, not a manifest
    local other = select(3, util.push_image(reg:repository("library/other"), "c", {}))
    helper.fails("manifest_unknown", other, repo.tags:tag("x", other))
    helper.fails("tag_unknown", "x", repo.tags:get("x"))
  end)

  it("refuses malformed tags and digests", function()
    two()
    for _, t in ipairs { "", ".x", "-x", "a/b", string.rep("t", 129) } do
      helper.fails("tag_invalid", nil, repo.tags:tag(t, d1))
      helper.fails("tag_invalid", nil, repo.tags:get(t))
      helper.fails("tag_invalid", nil, repo.tags:untag(t))
    end
    helper.fails("digest_invalid", nil, repo.tags:tag("ok", "sha256:12"))
    helper.fails("digest_invalid", nil, repo.tags:lookup("nope"))
    assert.has_error(function() repo.tags:get(1) end)
    assert.has_error(function() repo.tags:tag("ok") end)
    assert.has_error(function() repo.tags:untag() end)
    assert.has_error(function() repo.tags:lookup() end)
    assert.has_error(function() repo.tags:list(5) end)
  end)

  it("lists tags in byte order, paginated with last and n", function()
    two()
    local tags = { "v1", "V2", "_x", "1.0", "latest", "a-b", "a.b", "a_b", "Z" }
    for _, t in ipairs(tags) do assert(repo.tags:tag(t, d1)) end
    local sorted = { "1.0", "V2", "Z", "_x", "a-b", "a.b", "a_b", "latest", "v1" }
    assert.same(sorted, repo.tags:list())
    assert.same(sorted, repo.tags:list {})
    assert.same({ "1.0", "V2", "Z" }, repo.tags:list { n = 3 })
    assert.same({ "_x", "a-b", "a.b" }, repo.tags:list { n = 3, last = "Z" })
    assert.same({ "a_b", "latest", "v1" }, repo.tags:list { last = "a.b" })
    assert.same({ "latest" }, repo.tags:list { last = "a_b", n = 1 })
    assert.same({}, repo.tags:list { last = "v1" })
    assert.same({}, repo.tags:list { n = 0 })
    assert.same(sorted, repo.tags:list { n = 100 })
    assert.has_error(function() repo.tags:list { n = -1 } end)
    assert.has_error(function() repo.tags:list { n = 1.5 } end)
    assert.has_error(function() repo.tags:list { last = 1 } end)
  end)

  it("lists {} for an existing repository without tags, name_unknown for a missing one", function()
    helper.fails("name_unknown", NAME, repo.tags:list())
    helper.fails("name_unknown", NAME, repo.tags:list { n = 0 })
    assert(repo.blobs:put("a blob makes it exist"))
    assert.same({}, repo.tags:list())
    util.push_image(repo, "cfg", {})
    assert.same({}, repo.tags:list())
  end)

  it("looks up the tags pointing at a digest", function()
    two()
    for _, t in ipairs { "b", "a", "c" } do assert(repo.tags:tag(t, d1)) end
    assert(repo.tags:tag("d", d2))
    assert.same({ "a", "b", "c" }, repo.tags:lookup(d1))
    assert.same({ "d" }, repo.tags:lookup(d2))
    assert(repo.tags:tag("b", d2))
    assert.same({ "a", "c" }, repo.tags:lookup(d1))
    assert.same({ "b", "d" }, repo.tags:lookup(d2))
    assert.same({}, repo.tags:lookup(util.digest("none")))
    assert.same({}, reg:repository("library/none").tags:lookup(d1))
  end)

  it("answers tag_unknown in a repository that does not exist", function()
    local none = reg:repository("library/none")
    helper.fails("tag_unknown", "latest", none.tags:get("latest"))
    helper.fails("tag_unknown", "latest", none.tags:untag("latest"))
    helper.fails("manifest_unknown", nil, none.tags:tag("latest", util.digest("x")))
  end)
end)
