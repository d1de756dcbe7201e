-- gc --delete-untagged racing a promotion by digest, with the real clients
-- (what a re-tag by digest must survive): skopeo pushes a build to examples/openresty-registry
-- serve, the build's tag goes (so the manifest is untagged and old), and
-- gc runs in this process; just before gc parks the revision (the moment
-- the old gc deleted it without looking at the tags again) a CI promotes
-- the build: `skopeo copy docker://.../app@sha256:... docker://.../app:prod`.
-- Both succeed, and the promoted image pulls whole with skopeo afterwards.
-- The same with the promotion landing after the revision was parked: then
-- the promotion fails cleanly or the image pulls whole.
local helper = require "helper"
local http = require "support.http"
local regstore = require "regstore"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"
local fsck = require "regstore.policy.fsck"
local faulty = require "support.faulty"

local q = http.quote

local sh, must = http.try, http.must

local available = http.available() and (sh("command -v skopeo"))

describe("gc racing a promotion by digest, with skopeo against serve #http", function()
  if not available then
    pending("nginx, the LuaJIT build or skopeo is missing")
    return
  end

  local srv, work, img, addr, ns, drv, reg

  setup(function()
    work = "/tmp/regstore-gcrace-" .. regstore.uuid()
    must("mkdir -p " .. q(work))
    ns = helper.namespace("http-gcrace")
    srv = http.serve{ namespace = ns }
    addr = "127.0.0.1:" .. srv.port
    img = work .. "/layout"
    for i, tag in ipairs { "b1", "b2" } do
      must(string.format("lua5.4 scripts/mkimage.lua image %s %s amd64 c%d 1000 20000", q(img), tag, i))
    end
    drv = assert(regstore.connect { pool = helper.pool(), namespace = ns })
    reg = registry.new(drv)
  end)
  teardown(function()
    if srv then srv:stop() end
    if drv then drv:close() end
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  -- Pushes build `tag` as app:<tag>, then takes the tag away: an old
  -- untagged build, as CI pipelines leave them. Returns its digest.
  local function untagged_build(tag)
    local file = work .. "/digest"
    must(string.format("skopeo copy --retry-times 0 --dest-tls-verify=false --preserve-digests --digestfile %s "
      .. "oci:%s:%s docker://%s/app:%s", q(file), q(img), tag, addr, tag))
    local d = io.open(file):read("*a"):match("sha256:%x+")
    assert(reg:repository("app").tags:untag(tag))
    return d
  end

  local function promote(d, tag)
    return sh(string.format("skopeo copy --retry-times 0 --src-tls-verify=false --dest-tls-verify=false "
      .. "--preserve-digests docker://%s/app@%s docker://%s/app:%s", addr, d, addr, tag))
  end

  local function pulls(tag)
    local dir = work .. "/pull-" .. tag
    os.execute("rm -rf " .. q(dir))
    return sh(string.format("skopeo copy --retry-times 0 --src-tls-verify=false docker://%s/app:%s dir:%s",
      addr, tag, q(dir)))
  end

  -- gc through a driver that runs `hook` once, before its nth call of ops
  -- on a path matching pattern (a revision link's move; the second listing
  -- of the tags: the look again after parking, the first being the scan's)
  local function gc_with(ops, pattern, nth, hook)
    local f = faulty.wrap(drv, { rate = 0 })
    local seen, fired = 0, false
    for op in ops:gmatch("%a+") do
      local real = f[op]
      f[op] = function(self, p, ...)
        if not fired and p:find(pattern) then
          seen = seen + 1
          if seen == nth then
            fired = true
            hook()
          end
        end
        return real(self, p, ...)
      end
    end
    local r = assert(gc.run(f, { grace = 0, delete_untagged = true, now = os.time() + 2 }))
    assert.is_true(fired, "the hook never ran")
    return r
  end

  it("a promotion before gc parks the build: both succeed, the image pulls whole", function()
    local d = untagged_build("b1")
    helper.sh("sleep 1.1")
    local ok, out
    local r = gc_with("move delete", "/_manifests/revisions/", 1, function() ok, out = promote(d, "prod") end)
    assert.is_true(ok, out)
    assert.same({}, r.manifests)
    assert.equal(d, reg:repository("app").tags:get("prod"))
    local pulled, why = pulls("prod")
    assert.is_true(pulled, why)
    assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
  end)

  it("a promotion after gc parked the build: it fails cleanly, or the image pulls whole", function()
    local d = untagged_build("b2")
    helper.sh("sleep 1.1")
    local ok, out
    gc_with("list", "/_manifests/tags$", 2, function() ok, out = promote(d, "prod2") end)
    if ok then
      local pulled, why = pulls("prod2")
      assert.is_true(pulled, why)
    else
      assert.matches("MANIFEST[ _]UNKNOWN", out:upper())
      assert.is_nil((reg:repository("app").tags:get("prod2")))
    end
    assert.same({}, assert(fsck.run(reg, { grace = 0 })).findings)
  end)
end)
