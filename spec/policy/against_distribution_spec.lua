-- Against the real thing: images pushed with skopeo to Debian's
-- docker-registry (distribution 2.8, filesystem driver) on loopback, a
-- manifest deleted through its API, its garbage-collect --dry-run; the same
-- tree imported with `regstore migrate --from-fs` names the same blobs in
-- `regstore gc --dry-run --json`; exported back with --to-fs it is the same
-- files, and docker-registry serves it to skopeo.
local helper = require "helper"
local json = require "cjson.safe"
local oci = require "fixtures.oci"
local cli = require "fixtures.cli"
local distribution = require "fixtures.distribution"

local PORT = 4260 + (tonumber(tostring(os.time()):sub(-2)) % 30)

local serve, skopeo, files, tag_of = distribution.serve, distribution.skopeo, distribution.files, distribution.tag_of

-- The digests `garbage-collect` names as eligible: blobs, manifests.
local function distribution_gc(conf, untagged)
  local out, rc = helper.sh(string.format("docker-registry garbage-collect --dry-run %s %s 2>&1",
    untagged and "--delete-untagged" or "", helper.quote(conf)))
  assert.equal(0, rc, out)
  local blobs, manifests = {}, {}
  for d in out:gmatch("blob eligible for deletion: (sha256:%x+)") do blobs[#blobs + 1] = d end
  for d in out:gmatch("manifest eligible for deletion: (sha256:%x+)") do manifests[#manifests + 1] = d end
  table.sort(blobs)
  table.sort(manifests)
  return blobs, manifests
end

-- A blob's bytes in a tree.
local function blob_of(root, d)
  local f = assert(io.open(string.format("%s/docker/registry/v2/blobs/sha256/%s/%s/data", root, d:sub(8, 9), d:sub(8))))
  local s = f:read("*a")
  f:close()
  return s
end

local function without(list, drop)
  local set, out = {}, {}
  for _, d in ipairs(drop) do set[d] = true end
  for _, d in ipairs(list) do
    if not set[d] then out[#out + 1] = d end
  end
  return out
end

local available = distribution.available

describe("gc and migrate against distribution's docker-registry #cluster", function()
  if not available then
    pending("docker-registry, skopeo or curl missing")
    return
  end
  local drv, tmp, G
  cli.namespace(function(d, _, t, g) drv, tmp, G = d, t, g end)

  local function regstore_json(args)
    local out, err, rc = cli.run(G .. args .. " --json")
    assert.equal(0, rc, err)
    return assert(json.decode(out), out)
  end

  it("names the blobs garbage-collect names, round-trips the tree, serves pulls", function()
    local root = tmp .. "/reg"
    local stop, conf = serve(root, PORT)
    local children, old_digest
    local ok, err = pcall(function()
      local L = oci.layout(tmp .. "/layout")
      L:tag(L:index {
        L:image("cfg amd64", { "layer amd64", "shared layer" }, "amd64"),
        L:image("cfg arm64", { "layer arm64", "shared layer" }, "arm64"),
      }, "multi")
      L:tag(L:image("cfg single", { "layer single", "shared layer" }), "single")
      L:tag(L:image("cfg old", { "layer old" }), "old")
      L:tag(L:image("cfg new", { "layer new" }), "new")
      local reg = "docker://127.0.0.1:" .. PORT
      local lay = "oci:" .. tmp .. "/layout:"
      skopeo("copy --all --dest-tls-verify=false " .. lay .. "multi " .. reg .. "/test/app:multi")
      skopeo("copy --dest-tls-verify=false " .. lay .. "single " .. reg .. "/test/app:single")
      skopeo("copy --dest-tls-verify=false " .. lay .. "new " .. reg .. "/other/repo:new")
      -- "old" loses its tag to "new": an untagged manifest
      skopeo("copy --dest-tls-verify=false " .. lay .. "old " .. reg .. "/test/app:v1")
      old_digest = tag_of(root, "test/app", "v1")
      skopeo("copy --dest-tls-verify=false " .. lay .. "new " .. reg .. "/test/app:v1")
      -- skopeo writes manifests its own way: digests come from the tree
      children = {}
      for _, c in ipairs(json.decode(blob_of(root, tag_of(root, "test/app", "multi"))).manifests) do
        children[#children + 1] = c.digest
      end
      assert.equal(2, #children)
      -- single deleted through the API
      local code = helper.sh(string.format(
        "curl -s -o /dev/null -w '%%{http_code}' -X DELETE http://127.0.0.1:%d/v2/test/app/manifests/%s",
        PORT, tag_of(root, "test/app", "single")))
      assert.equal("202", code)
    end)
    stop()
    assert(ok, err)

    local d_blobs, d_manifests = distribution_gc(conf, false)
    local u_blobs, u_manifests = distribution_gc(conf, true)
    -- single's manifest, config and own layer (its shared layer is the index's)
    assert.equal(3, #d_blobs)

    -- the same tree in RADOS
    local imp = regstore_json("migrate --from-fs " .. helper.quote(root) .. " --verify")
    assert.same({}, imp.errors)
    assert.is_true(imp.files > 20)

    local r = regstore_json("gc --dry-run --grace 0s")
    assert.same(d_blobs, r.blobs)
    assert.same(d_manifests, {})
    assert.same({}, r.manifests)

    -- --delete-untagged: distribution 2.8 also names the untagged children of
    -- the tagged index (distribution#3004, #3178, fixed upstream in 2024);
    -- regstore keeps them and what they reference, and names the rest
    local kept = { children[1], children[2] }
    for _, c in ipairs(children) do
      local m = json.decode(blob_of(root, c))
      kept[#kept + 1] = m.config.digest
      for _, l in ipairs(m.layers) do kept[#kept + 1] = l.digest end
    end
    r = regstore_json("gc --dry-run --delete-untagged --grace 0s")
    local want = without(u_blobs, kept)
    assert.is_true(#want < #u_blobs, "distribution 2.8 no longer names the children's blobs")
    assert.same(want, r.blobs)
    local names = {}
    for _, m in ipairs(r.manifests) do names[#names + 1] = m.repository .. "@" .. m.digest end
    assert.same({ "test/app@" .. old_digest }, names)
    assert.same(without(u_manifests, children), { old_digest })

    -- round trip: the export is the same files, byte for byte
    local out = tmp .. "/out"
    local exp = regstore_json("migrate --to-fs " .. helper.quote(out) .. " --verify")
    assert.same({}, exp.errors)
    assert.same(files(root), files(out))

    -- collect for real in RADOS, export, and let docker-registry serve it
    r = regstore_json("gc --delete-untagged --grace 0s")
    assert.same(want, r.blobs)
    local after = tmp .. "/after"
    assert.same({}, regstore_json("migrate --to-fs " .. helper.quote(after)).errors)
    local stop2 = serve(after, PORT + 1)
    ok, err = pcall(function()
      local reg = "docker://127.0.0.1:" .. (PORT + 1)
      skopeo("copy --all --src-tls-verify=false " .. reg .. "/test/app:multi oci:" .. tmp .. "/pulled:multi")
      skopeo("copy --src-tls-verify=false " .. reg .. "/test/app:v1 oci:" .. tmp .. "/pulled:v1")
      skopeo("copy --src-tls-verify=false " .. reg .. "/other/repo:new oci:" .. tmp .. "/pulled:new")
    end)
    stop2()
    assert(ok, err)
    local pulled = files(tmp .. "/pulled/blobs/sha256")
    for _, d in ipairs(kept) do assert.is_string(pulled[d:sub(8)], "pulled image lacks " .. d) end
  end)

  -- a child of a tagged index deleted through the API
  -- keeps none of its blobs (only its manifest's own data, which the index
  -- still names), in distribution's garbage-collect and in regstore's gc
  it("agrees with garbage-collect when a kept index names a deleted child", function()
    helper.clear(drv)
    local root = tmp .. "/reg-child"
    local stop, conf = serve(root, PORT + 2)
    local children
    local ok, err = pcall(function()
      local L = oci.layout(tmp .. "/layout-child")
      L:tag(L:index {
        L:image("cfg c-amd64", { "c layer amd64", "c shared" }, "amd64"),
        L:image("cfg c-arm64", { "c layer arm64", "c shared" }, "arm64"),
      }, "multi")
      skopeo("copy --all --dest-tls-verify=false oci:" .. tmp .. "/layout-child:multi docker://127.0.0.1:"
        .. (PORT + 2) .. "/child/app:multi")
      children = {}
      for _, c in ipairs(json.decode(blob_of(root, tag_of(root, "child/app", "multi"))).manifests) do
        children[#children + 1] = c.digest
      end
      local code = helper.sh(string.format(
        "curl -s -o /dev/null -w '%%{http_code}' -X DELETE http://127.0.0.1:%d/v2/child/app/manifests/%s",
        PORT + 2, children[1]))
      assert.equal("202", code)
    end)
    stop()
    assert(ok, err)
    local d_blobs = distribution_gc(conf, false)
    -- the deleted child's config and own layer; not its manifest data, not the shared layer
    local m = json.decode(blob_of(root, children[1]))
    local own = { m.config.digest }
    for _, l in ipairs(m.layers) do
      if l.digest ~= json.decode(blob_of(root, children[2])).layers[2].digest then own[#own + 1] = l.digest end
    end
    table.sort(own)
    assert.same(own, d_blobs)
    assert.same({}, regstore_json("migrate --from-fs " .. helper.quote(root)).errors)
    assert.same(d_blobs, regstore_json("gc --dry-run --grace 0s").blobs)
    assert.same(d_blobs, regstore_json("gc --grace 0s").blobs)
  end)
end)
