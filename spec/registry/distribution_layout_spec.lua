-- regstore.registry writes distribution's v2 layout, path for path and byte
-- for byte: the same pushes go to Debian's docker-registry (distribution
-- 2.8, filesystem driver, on loopback) through skopeo, and to the Lua layer;
-- the two trees must hold the same files (upload scratch files aside).
local helper = require "helper"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"

local function have(cmd)
  local _, rc = helper.sh("command -v " .. cmd .. " >/dev/null 2>&1")
  return rc == 0
end

local shell = require "support.shell"
local write_file, read_file = shell.write, shell.must_read

-- gzip -n of data: real gzip streams as layers, deterministic bytes.
local function gzip(tmp, data)
  write_file(tmp .. "/plain", data)
  local out, rc = helper.sh("gzip -n -c " .. helper.quote(tmp .. "/plain") .. " > " .. helper.quote(tmp .. "/plain.gz"))
  assert(rc == 0, out)
  return read_file(tmp .. "/plain.gz")
end

-- An OCI image layout in dir holding blobs and one reference name.
local function oci_layout(dir, blobs, ref_desc, ref)
  assert(helper.sh("mkdir -p " .. helper.quote(dir .. "/blobs/sha256")))
  for _, b in ipairs(blobs) do write_file(dir .. "/blobs/sha256/" .. util.digest(b):sub(8), b) end
  write_file(dir .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  local d = {}
  for k, v in pairs(ref_desc) do d[k] = v end
  d.annotations = { ["org.opencontainers.image.ref.name"] = ref }
  write_file(dir .. "/index.json", util.encode { schemaVersion = 2, manifests = { d } })
end

-- Files under dir (relative path -> content), upload scratch files left out.
local function fs_tree(dir)
  local out = helper.sh("cd " .. helper.quote(dir) .. " && find . -type f | sort")
  local files = {}
  for p in out:gmatch("[^\n]+") do
    p = p:sub(3)
    if not p:find("/_uploads/", 1, true) then files[p] = read_file(dir .. "/" .. p) end
  end
  return files
end

local function lua_tree(drv)
  local files = {}
  for p, c in pairs(util.tree(drv)) do
    if not p:find("/_uploads/", 1, true) then files[p] = c end
  end
  return files
end

-- Pushes a blob through an upload in two chunks, as a client would.
local function upload(repo, data)
  local up = assert(repo.blobs:create())
  local half = math.floor(#data / 2)
  assert(up:write(data:sub(1, half)))
  assert(up:close())
  up = assert(repo.blobs:resume(up.id))
  assert(up:write(data:sub(half + 1)))
  return assert(up:commit(util.digest(data), #data))
end

describe("registry layout against distribution #cluster #distribution", function()
  local tmp, port, pid, drv, ready

  lazy_setup(function()
    if not (have("docker-registry") and have("skopeo")) then return end
    tmp = helper.sh("mktemp -d"):gsub("%s+$", "")
    port = 20000 + math.random(0, 20000) + (os.time() % 997)
    write_file(tmp .. "/config.yml", table.concat({
      "version: 0.1",
      "log:",
      "  level: error",
      "storage:",
      "  filesystem:",
      "    rootdirectory: " .. tmp .. "/fs",
      "  delete:",
      "    enabled: true",
      "http:",
      "  addr: 127.0.0.1:" .. port,
      "",
    }, "\n"))
    -- Under the sanitizer run, LD_PRELOAD holds libasan: not for these Go tools.
    local out = helper.sh("env -u LD_PRELOAD docker-registry serve " .. helper.quote(tmp .. "/config.yml") ..
      " >" .. helper.quote(tmp .. "/registry.log") .. " 2>&1 & echo $!")
    pid = tonumber(out:match("(%d+)"))
    for _ = 1, 100 do
      local _, rc = helper.sh("env -u LD_PRELOAD curl -sf -m 2 http://127.0.0.1:" .. port .. "/v2/ >/dev/null")
      if rc == 0 then ready = true break end
      helper.sh("sleep 0.1")
    end
    drv = helper.connect()
  end)

  lazy_teardown(function()
    if pid then helper.sh("kill " .. pid .. " 2>/dev/null") end
    if tmp and tmp:find("^/tmp/") then helper.sh("rm -rf " .. helper.quote(tmp)) end
    if drv then
      helper.clear(drv)
      drv:close()
    end
  end)

  local function skopeo(layout, ref, dest, all)
    local cmd = string.format(
      "env -u LD_PRELOAD skopeo --insecure-policy copy --quiet %s --dest-tls-verify=false oci:%s:%s " ..
        "docker://127.0.0.1:%d/%s",
      all and "--all" or "", helper.quote(layout), ref, port, dest)
    local out, rc = helper.sh(cmd .. " 2>&1")
    assert(rc == 0, cmd .. "\n" .. out)
  end

  it("writes the same tree as docker-registry for the same pushes", function()
    if not ready then
      pending(tmp and "docker-registry did not start" or "docker-registry or skopeo is not installed")
      return
    end
    local reg = registry.new(drv)

    -- 1. an OCI image: config and two gzip layers, tagged v1
    local l1, l2 = gzip(tmp, helper.bytes(70000, 1)), gzip(tmp, "second layer\n")
    local cfg1 = util.encode { architecture = "amd64", os = "linux",
      rootfs = { type = "layers", diff_ids = { util.digest("a"), util.digest("b") } } }
    local m1, mt1 = util.image(cfg1, { l1, l2 }, true)
    oci_layout(tmp .. "/img1", { cfg1, l1, l2, m1 }, util.desc(mt1, m1), "v1")
    skopeo(tmp .. "/img1", "v1", "library/test:v1")
    local test = reg:repository("library/test")
    for _, b in ipairs { l1, l2, cfg1 } do upload(test, b) end
    assert.equal(util.digest(m1), test.manifests:put(m1, mt1, { tag = "v1" }))

    -- 2. another image moves tag v1 (the tag's index keeps both)
    local cfg2 = util.encode { architecture = "arm64", os = "linux", rootfs = { type = "layers", diff_ids = {} } }
    local m2, mt2 = util.image(cfg2, { l2 }, true)
    oci_layout(tmp .. "/img2", { cfg2, l2, m2 }, util.desc(mt2, m2), "v1")
    skopeo(tmp .. "/img2", "v1", "library/test:v1")
    upload(test, cfg2)
    assert(test.blobs:put(l2))  -- already there: linked again
    assert.equal(util.digest(m2), test.manifests:put(m2, mt2, { tag = "v1" }))

    -- 3. a multi-arch index over two images, pushed with --all
    local ca = util.encode { architecture = "amd64", os = "linux" }
    local cb = util.encode { architecture = "s390x", os = "linux" }
    local la, lb = gzip(tmp, "arch a\n"), gzip(tmp, "arch b\n")
    local ma, mb = util.image(ca, { la }, true), util.image(cb, { lb }, true)
    local idx, idx_mt = util.index({ ma, mb })
    oci_layout(tmp .. "/multi", { ca, cb, la, lb, ma, mb, idx }, util.desc(idx_mt, idx), "multi")
    skopeo(tmp .. "/multi", "multi", "library/multi:multi", true)
    local multi = reg:repository("library/multi")
    for _, b in ipairs { la, ca, lb, cb } do upload(multi, b) end
    assert(multi.manifests:put(ma, util.OCI_MANIFEST))
    assert(multi.manifests:put(mb, util.OCI_MANIFEST))
    assert.equal(util.digest(idx), multi.manifests:put(idx, idx_mt, { tag = "multi" }))

    -- 4. the first image again, into a second repository (blobs mounted)
    skopeo(tmp .. "/img1", "v1", "team/copy:latest")
    local copy = reg:repository("team/copy")
    for _, b in ipairs { l1, l2, cfg1 } do assert(copy.blobs:mount("library/test", util.digest(b))) end
    assert(copy.manifests:put(m1, mt1, { tag = "latest" }))

    local want = fs_tree(tmp .. "/fs/docker/registry/v2")
    local got = lua_tree(drv)
    assert.is_true(#util.names(want) > 20)
    local history = "repositories/library/test/_manifests/tags/v1/index/sha256/"
    assert.is_string(want[history .. util.digest(m1):sub(8) .. "/link"])
    assert.is_string(want[history .. util.digest(m2):sub(8) .. "/link"])
    assert.same(util.names(want), util.names(got))
    for p, c in pairs(want) do assert.equal(c, got[p], p) end
  end)
end)
