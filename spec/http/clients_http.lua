-- Real clients against examples/openresty-registry/serve: skopeo pushes and
-- pulls OCI and Docker schema 2 images (three layers, one of 70,000,000
-- bytes: over 64 MiB and off any stripe grid), an OCI index of two platform
-- images, and an image whose layers another repository already has (the
-- client mounts them); a push past a quota fails naming it, and goes
-- through once the quota is raised; podman pushes and pulls one image. Pulled manifests
-- and blobs must carry the digests pushed. Images are built locally as OCI
-- layouts (scripts/mkimage.lua): there is no registry to pull from here.
local helper = require "helper"
local http = require "support.http"

local q = http.quote

local sh, must = http.try, http.must

local have = http.have

local read = require("support.shell").must_read

-- Every blob file of a `dir:` or OCI layout has the digest its name says;
-- returns the set of digests.
local function verified_blobs(dir, layout)
  local out = must(layout and ("ls " .. q(dir .. "/blobs/sha256")) or ("ls " .. q(dir)))
  local set = {}
  for name in out:gmatch("[^\n]+") do
    if name:match("^%x+$") and #name == 64 then
      local path = layout and (dir .. "/blobs/sha256/" .. name) or (dir .. "/" .. name)
      local sum = must("sha256sum " .. q(path)):match("^(%x+)")
      assert.are.equal(name, sum, path)
      set["sha256:" .. name] = true
    end
  end
  return set
end

local available = http.available() and have("skopeo")

describe("real clients against serve #http", function()
  if not available then
    pending("nginx, the LuaJIT build or skopeo is missing")
    return
  end

  local srv, work, img, addr, access, ns
  local digests = {}

  setup(function()
    -- lowercase: podman names an image pulled from oci:DIR after DIR
    work = "/tmp/regstore-clients-" .. require("regstore").uuid()
    must("mkdir -p " .. q(work))
    access = work .. "/access.log"
    ns = helper.namespace("http-clients")
    srv = http.serve{ namespace = ns, extra = "--access-log " .. q(access) }
    addr = "127.0.0.1:" .. srv.port
    img = work .. "/layout"
    digests.v1 = must(string.format("lua5.4 scripts/mkimage.lua image %s v1 amd64 c1 1000 70000000 3145728", q(img)))
      :match("(sha256:%x+)")
    digests.arm = must(string.format("lua5.4 scripts/mkimage.lua image %s arm arm64 c2 5000 200000", q(img)))
      :match("(sha256:%x+)")
    digests.multi = must(string.format("lua5.4 scripts/mkimage.lua index %s multi v1 arm", q(img)))
      :match("(sha256:%x+)")
  end)
  teardown(function()
    if srv then srv:stop() end
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  local function push(src, dest, opts)
    local file = work .. "/digest"
    must(string.format("skopeo copy --retry-times 0 --dest-tls-verify=false --digestfile %s %s %s docker://%s/%s",
      q(file), opts or "", src, addr, dest))
    return read(file):match("sha256:%x+")
  end

  local function pull_dir(ref, dir, opts)
    must(string.format("skopeo copy --retry-times 0 --src-tls-verify=false %s docker://%s/%s dir:%s",
      opts or "", addr, ref, q(dir)))
    return verified_blobs(dir)
  end

  it("pushes an OCI image and pulls it back with the same digests", function()
    local d = push("oci:" .. img .. ":v1", "clients/oci:v1", "--preserve-digests")
    assert.are.equal(digests.v1, d)
    local dir = work .. "/pull-oci"
    local got = pull_dir("clients/oci:v1", dir, "--preserve-digests")
    assert.are.equal(digests.v1, http.digest(read(dir .. "/manifest.json")))
    local src = verified_blobs(img, true)
    for digest in pairs(got) do assert.is_true(src[digest], digest) end
    local doc = require("cjson").decode(read(dir .. "/manifest.json"))
    assert.are.equal(3, #doc.layers)
    -- the tar around the 70,000,000 bytes: over 64 MiB, off the 1 and 4 MiB grids
    assert.is_true(doc.layers[2].size > 67108864 and doc.layers[2].size % 1048576 ~= 0)
    for _, l in ipairs(doc.layers) do assert.is_true(got[l.digest], l.digest) end
  end)

  it("pushes the image as Docker schema 2 and pulls it back with the same digests", function()
    local d = push("oci:" .. img .. ":v1", "clients/docker:v1", "--format v2s2")
    local dir = work .. "/pull-docker"
    local got = pull_dir("clients/docker:v1", dir, "--preserve-digests")
    local manifest = read(dir .. "/manifest.json")
    assert.are.equal(d, http.digest(manifest))
    local doc = require("cjson").decode(manifest)
    assert.are.equal("application/vnd.docker.distribution.manifest.v2+json", doc.mediaType)
    assert.is_true(got[doc.config.digest])
    for _, l in ipairs(doc.layers) do assert.is_true(got[l.digest], l.digest) end
  end)

  it("pushes an OCI index of two platform images and pulls all of it back", function()
    local d = push("oci:" .. img .. ":multi", "clients/multi:m", "--all --preserve-digests")
    assert.are.equal(digests.multi, d)
    local ok, raw = sh(string.format("skopeo inspect --tls-verify=false --raw docker://%s/clients/multi:m", addr))
    assert.is_true(ok, raw)
    raw = raw:gsub("\n$", "")
    assert.are.equal(digests.multi, http.digest(raw))
    local out = work .. "/pull-multi"
    must(string.format("skopeo copy --retry-times 0 --src-tls-verify=false --all --preserve-digests " ..
      "--dest-oci-accept-uncompressed-layers docker://%s/clients/multi:m oci:%s:m", addr, q(out)))
    local src, got = verified_blobs(img, true), verified_blobs(out, true)
    for digest in pairs(src) do assert.is_true(got[digest], digest) end
  end)

  it("pushing an image another repository has mounts its layers", function()
    local d = push("oci:" .. img .. ":v1", "clients/mounted:v1", "--preserve-digests")
    assert.are.equal(digests.v1, d)
    local log = read(access)
    local mounts = 0
    for query, status in log:gmatch('"POST /v2/clients/mounted/blobs/uploads/%?([^" ]*) HTTP/1.1" (%d+)') do
      if status == "201" and query:find("mount=", 1, true) and query:find("from=", 1, true) then
        mounts = mounts + 1
      end
    end
    assert.is_true(mounts >= 1, "no mount in the access log:\n" .. log:sub(-2000))
    local got = pull_dir("clients/mounted:v1", work .. "/pull-mounted", "--preserve-digests")
    assert.are.equal(4, (function() local n = 0; for _ in pairs(got) do n = n + 1 end; return n end)())
  end)

  it("a push past a quota fails with skopeo naming it; once raised, the same push goes through", function()
    local regstore = require "regstore"
    local quota = require "regstore.policy.quota"
    local drv = assert(regstore.connect { pool = helper.pool(), namespace = ns })
    finally(function() drv:close() end)
    local reg = require("regstore.registry").new(drv)
    assert(quota.set(reg, "clients/quota", 100000)) -- the arm image's big layer is 200,000 bytes
    regstore.sleep(2.5) -- serve's poll period
    local ok, out = sh(string.format("skopeo copy --retry-times 0 --dest-tls-verify=false --preserve-digests "
      .. "oci:%s:arm docker://%s/clients/quota:arm", q(img), addr))
    assert.is_false(ok, out)
    assert.matches("denied: repository clients/quota: over the quota of clients/quota", out, 1, true)
    assert.is_true(assert(quota.list(reg))[1].used <= 100000)
    assert(quota.set(reg, "clients/quota", 1048576))
    regstore.sleep(2.5)
    assert.are.equal(digests.arm, push("oci:" .. img .. ":arm", "clients/quota:arm", "--preserve-digests"))
    pull_dir("clients/quota:arm", work .. "/pull-quota", "--preserve-digests")
    assert.is_true(assert(quota.list(reg))[1].used > 200000)
  end)

  it("podman pushes and pulls an image", function()
    if not have("podman") then
      pending("podman is not installed")
      return
    end
    local run = "/tmp/rs-pm-" .. require("regstore").uuid():sub(1, 8) -- podman wants it short
    finally(function() os.execute("rm -rf " .. q(run)) end)
    local p = string.format("podman --root %s --runroot %s --storage-driver vfs", q(work .. "/podman"), q(run))
    local id = must(p .. " pull -q oci:" .. img .. ":arm"):match("(%x+)%s*$")
    local file = work .. "/podman-digest"
    must(string.format("%s push -q --tls-verify=false --digestfile %s %s %s/clients/podman:arm",
      p, q(file), id, addr))
    local pushed = read(file):match("sha256:%x+")
    must(p .. " rmi -a -f")
    must(string.format("%s pull -q --tls-verify=false %s/clients/podman:arm", p, addr))
    local got = must(string.format("%s image inspect --format '{{.Digest}} {{.Id}}' %s/clients/podman:arm", p, addr))
    assert.are.equal(pushed, got:match("(sha256:%x+)"))
    assert.is_truthy(got:find(id, 1, true))
    must(p .. " rmi -a -f")
  end)
end)
