-- Repository and tag names of distribution's grammar
-- survive the whole round trip: pushed with skopeo to Debian's
-- docker-registry, imported with `regstore migrate --from-fs`, exported
-- with --to-fs (the same files, byte for byte), served again by
-- docker-registry and pulled by skopeo, every tag giving its manifest.
-- Names holding ".regstore-" were once taken for temporaries and vanished.
local helper = require "helper"
local json = require "cjson.safe"
local oci = require "fixtures.oci"
local cli = require "fixtures.cli"
local registry = require "regstore.registry"
local distribution = require "fixtures.distribution"

local Q = helper.quote
local PORT = 4300 + (tonumber(tostring(os.time()):sub(-2)) % 30)

-- repository -> tags: components with '.', '_', '__', '-', '--'; nested;
-- tags with '_', '.', '-', a leading '_' and upper case.
local NAMES = {
  ["app.regstore-cache"] = { "v2.regstore-1", "latest" },
  ["a/b/c"] = { "t_1.x-y", "_lead", "V1.0-RC_2" },
  ["x.regstore-y/y__z/w--v"] = { "v.regstore-", "1" },
}

describe("names through docker-registry -> RADOS -> docker-registry #cluster", function()
  if not distribution.available then
    pending("docker-registry, skopeo or curl missing")
    return
  end
  local drv, tmp, G
  cli.namespace(function(d, _, t, g) drv, tmp, G = d, t, g end)

  local function migrate(args)
    local out, err, rc = cli.run(G .. "migrate " .. args .. " --json")
    assert.equal(0, rc, err)
    local doc = assert(json.decode(out), out)
    assert.same({}, doc.errors)
    return doc
  end

  it("keeps every repository and tag, byte for byte, and serves them again", function()
    local repos = {}
    for r in pairs(NAMES) do repos[#repos + 1] = r end
    table.sort(repos)
    local root = tmp .. "/reg"
    local L = oci.layout(tmp .. "/layout")
    local stop = distribution.serve(root, PORT)
    local ok, err = pcall(function()
      for i, r in ipairs(repos) do
        for k, t in ipairs(NAMES[r]) do
          local local_tag = "i" .. i .. "-" .. k
          L:tag(L:image("cfg " .. r .. ":" .. t, { "layer " .. r .. ":" .. t, "shared layer" }), local_tag)
          distribution.skopeo(string.format("copy --dest-tls-verify=false oci:%s/layout:%s docker://127.0.0.1:%d/%s:%s",
            tmp, local_tag, PORT, r, t))
        end
      end
    end)
    stop()
    assert(ok, err)

    migrate("--from-fs " .. Q(root) .. " --verify")
    local reg = registry.new(drv)
    assert.same(repos, assert(reg:repositories()))
    for _, r in ipairs(repos) do
      local tags = {}
      for _, t in ipairs(NAMES[r]) do tags[#tags + 1] = t end
      table.sort(tags)
      assert.same(tags, assert(reg:repository(r).tags:list()), r)
    end

    local out = tmp .. "/out"
    migrate("--to-fs " .. Q(out) .. " --verify")
    assert.same(distribution.files(root), distribution.files(out))

    local stop2 = distribution.serve(out, PORT + 1)
    ok, err = pcall(function()
      for i, r in ipairs(repos) do
        for k, t in ipairs(NAMES[r]) do
          local into = string.format("%s/pulled%d-%d", tmp, i, k)
          distribution.skopeo(string.format("copy --src-tls-verify=false docker://127.0.0.1:%d/%s:%s oci:%s:pulled",
            PORT + 1, r, t, into))
          local d = distribution.tag_of(root, r, t)
          local f = io.open(into .. "/blobs/sha256/" .. d:sub(8), "rb")
          assert(f, r .. ":" .. t .. " pulled without its manifest " .. d)
          f:close()
        end
      end
    end)
    stop2()
    assert(ok, err)
  end)
end)
