-- regstore.registry: the catalog (reg:repositories).
local helper = require "helper"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"

describe("registry catalog #cluster", function()
  local drv, reg
  helper.each_registry(function(d, r) drv, reg = d, r end)

  it("is empty on an empty store", function()
    assert.same({}, reg:repositories())
    assert.same({}, reg:repositories { n = 10, last = "a" })
  end)

  it("lists repositories with a manifest or a linked blob, in byte order", function()
    local names = { "b", "a", "a/b", "a-b", "a.b", "a_b", "a/b/c", "z0/y", "0" }
    for i, n in ipairs(names) do
      local repo = assert(reg:repository(n))
      if i % 2 == 0 then
        util.push_image(repo, "cfg", {})
      else
        assert(repo.blobs:put("blob " .. n))
      end
    end
    -- an upload alone does not count, nor a repository that only nests others
    assert(assert(reg:repository("uploads/only")).blobs:create():close())
    local sorted = { "0", "a", "a-b", "a.b", "a/b", "a/b/c", "a_b", "b", "z0/y" }
    assert.same(sorted, reg:repositories())
    assert.same({ "0", "a" }, reg:repositories { n = 2 })
    assert.same({ "a-b", "a.b", "a/b" }, reg:repositories { n = 3, last = "a" })
    assert.same({ "a/b/c", "a_b", "b", "z0/y" }, reg:repositories { last = "a/b" })
    assert.same({}, reg:repositories { last = "z0/y" })
    assert.same({}, reg:repositories { n = 0 })
    assert.same(sorted, reg:repositories {})
  end)

  it("drops a repository whose last link goes", function()
    local repo = reg:repository("gone/soon")
    local d = assert(repo.blobs:put("x"))
    assert.same({ "gone/soon" }, reg:repositories())
    assert(repo.blobs:delete(d.digest))
    assert.same({}, reg:repositories())
    helper.fails("name_unknown", "gone/soon", repo.tags:list())
  end)

  it("pages in byte order without walking the tree", function()
    -- names that nest and that sort around "/": a, a-b, a.b, a/b, a/b/c, a0, a_b
    local names = { "a", "a-b", "a.b", "a/b", "a/b/c", "a/b-c", "a0", "a_b", "b/x/y", "b0", "c" }
    for i = 1, 30 do names[#names + 1] = string.format("many/r%02d", i) end
    for _, n in ipairs(names) do assert(reg:repository(n).blobs:put("b " .. n)) end
    local all = assert(reg:repositories())
    local sorted = {}
    for i, n in ipairs(names) do sorted[i] = n end
    require("regstore.registry.listing").sort(sorted)
    assert.same(sorted, all)
    for _, n in ipairs { 1, 2, 3, 7 } do
      local got, last = {}, nil
      repeat
        local page = assert(reg:repositories { n = n, last = last })
        assert.is_true(#page <= n)
        for _, v in ipairs(page) do got[#got + 1] = v end
        last = page[#page]
      until #page < n
      assert.same(all, got)
    end
    -- a page deep in the list: no walk, and a few listings, not one per directory
    local calls = { list = 0, walk = 0 }
    local counting = setmetatable({}, { __index = function(_, k)
      return function(_, ...)
        calls[k] = (calls[k] or 0) + 1
        return drv[k](drv, ...)
      end
    end })
    local reg2 = registry.new(counting)
    assert.same({ "many/r21", "many/r22" }, reg2:repositories { n = 2, last = "many/r20" })
    assert.equal(0, calls.walk)
    assert.is_true(calls.list <= 6, "listings: " .. calls.list)
  end)

  it("raises on bad pagination arguments", function()
    assert.has_error(function() reg:repositories { n = -1 } end)
    assert.has_error(function() reg:repositories { n = "2" } end)
    assert.has_error(function() reg:repositories { last = {} } end)
    assert.has_error(function() reg:repositories "a" end)
  end)
end)
