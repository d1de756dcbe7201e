-- The INSTALLED `regstore-serve` of a LuaJIT rock tree, as a user without a
-- checkout runs it: scripts/test.sh's installed-rock step runs this file
-- after smoke.lua, under LuaJIT, from a directory without .busted, with only
-- the tree's paths (`luarocks --lua-version 5.1 --tree T path`) and
-- REGSTORE_ROCK_TREE=T. It starts T/bin/regstore-serve on a free port
-- against the test cluster (CEPH_CONF, REGSTORE_POOL, a namespace of its
-- own), checks that the nginx.conf it wrote takes regstore.oci and
-- regstore.core from T and nothing from the checkout, pushes a small OCI
-- image (scripts/mkimage.lua: two layers, of 1,000 and 300,000 bytes) with skopeo, pulls it back, compares the
-- digests, and stops it. One test: one check of the step.
local regstore = require "regstore"

local tree = os.getenv "REGSTORE_ROCK_TREE"
-- the checkout this file is in: only its scripts/mkimage.lua is used, by
-- lua5.4, to build the image
local checkout = debug.getinfo(1, "S").source:match("^@(.*)/spec/installed/[^/]*$")
-- spec/support/shell.lua of the checkout, by file: the Lua path has none of it
local shell = dofile(debug.getinfo(1, "S").source:match("^@(.*/)installed/[^/]*$") .. "support/shell.lua")
local q, sh, must, read, digest, searchpath = shell.quote, shell.try, shell.must, shell.read, shell.digest,
  shell.searchpath

local function alive(pid) return (sh("kill -0 " .. pid)) end

-- REGSTORE_HTTP_PORTS: the first of 100 ports to pick from (default 5300).
local function free_port()
  math.randomseed(os.time() + tonumber(regstore.uuid():sub(1, 6), 16))
  local first = tonumber(os.getenv "REGSTORE_HTTP_PORTS" or "") or 5300
  for _ = 1, 50 do
    local port = first + math.random(0, 99)
    if not sh("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. port .. "'") then return port end
  end
  error(string.format("no free port in %d-%d", first, first + 99))
end

describe("the installed regstore-serve #cluster", function()
  local work, pid, ns

  teardown(function()
    if pid and alive(pid) then
      os.execute("kill -TERM " .. pid .. " 2>/dev/null")
      for _ = 1, 100 do
        if not alive(pid) then break end
        os.execute("sleep 0.1")
      end
    end
    if ns then
      local drv = regstore.connect { pool = os.getenv "REGSTORE_POOL", namespace = ns }
      if drv then
        drv:delete("/docker")
        drv:close()
      end
    end
    if work then os.execute("rm -rf " .. q(work)) end
  end)

  it("serves a skopeo push and pull from the rock tree alone, and stops on SIGTERM", function()
    assert(tree and tree ~= "", "REGSTORE_ROCK_TREE is not set")
    assert(checkout, "cannot tell the checkout from " .. debug.getinfo(1, "S").source)
    local pool = assert(os.getenv "REGSTORE_POOL", "REGSTORE_POOL is not set")
    assert(os.getenv "CEPH_CONF", "CEPH_CONF is not set")
    assert(sh("test -x /usr/sbin/nginx"), "no /usr/sbin/nginx")
    assert(sh("command -v skopeo"), "no skopeo")
    local bin = tree .. "/bin/regstore-serve"
    assert(sh("test -x " .. q(bin)), bin .. " is not installed")
    for _, p in ipairs { package.path, package.cpath } do
      assert(not p:find(checkout .. "/", 1, true), "the checkout is on the path: " .. p)
    end

    work = must("mktemp -d /tmp/regstore-installed-serve.XXXXXX"):gsub("%s+$", "")
    ns = "installed-serve-" .. regstore.uuid():sub(1, 8)
    local img = work .. "/layout"
    -- lua5.4 with its own paths: LUA_PATH/LUA_CPATH are the 5.1 tree's
    local made = must(string.format("env -u LUA_PATH -u LUA_CPATH lua5.4 %s image %s v1 amd64 s1 1000 300000",
      q(checkout .. "/scripts/mkimage.lua"), q(img)))
    local want = assert(made:match("(sha256:%x+)"), made)

    -- from the work directory: nothing of the checkout next to it either
    local port = free_port()
    local log = work .. "/serve.log"
    pid = tonumber(must(string.format("cd %s && setsid %s --listen 127.0.0.1:%d --pool %s --namespace %s "
      .. ">%s 2>&1 </dev/null & echo $!", q(work), q(bin), port, q(pool), q(ns), q(log))))
    local nginx_pid
    for _ = 1, 150 do
      nginx_pid = read(log):match("serve: registry on .-nginx pid (%d+)")
      if nginx_pid or not alive(pid) then break end
      os.execute("sleep 0.1")
    end
    assert(nginx_pid, "regstore-serve did not start:\n" .. read(log))

    -- the nginx.conf it wrote (-c of the master's command line, which nginx
    -- rewrites as one string): regstore.oci and regstore.core from the tree
    local conf_file = read("/proc/" .. nginx_pid .. "/cmdline"):match("%-c[%z ]([^%z ]+)")
    local conf = read(assert(conf_file, "no -c in nginx's command line"))
    local lpath = assert(conf:match("lua_package_path%s+'([^']*)'"), conf)
    local cpath = assert(conf:match("lua_package_cpath%s+'([^']*)'"), conf)
    for _, m in ipairs { { "regstore.oci", lpath }, { "regstore.nginx", lpath }, { "regstore.core", cpath } } do
      local file = searchpath(m[1], m[2]) or "nothing"
      assert(file:sub(1, #tree + 1) == tree .. "/", m[1] .. " resolves to " .. file .. ", not into " .. tree)
    end
    assert(not (lpath .. cpath):find(checkout .. "/", 1, true), "the checkout is in nginx.conf: " .. lpath .. cpath)

    local addr = "127.0.0.1:" .. port
    assert.are.equal("200", must("curl -s -o /dev/null -w '%{http_code}' http://" .. addr .. "/v2/"))
    local ok, out = sh(string.format("skopeo copy --retry-times 0 --dest-tls-verify=false --dest-no-creds "
      .. "--preserve-digests --digestfile %s oci:%s:v1 docker://%s/installed/app:v1",
      q(work .. "/pushed"), q(img), addr))
    assert(ok, "skopeo push:\n" .. out .. "\n" .. read(log))
    assert.are.equal(want, read(work .. "/pushed"):match("sha256:%x+"))
    local dir = work .. "/pulled"
    ok, out = sh(string.format("skopeo copy --retry-times 0 --src-tls-verify=false --src-no-creds "
      .. "--preserve-digests docker://%s/installed/app:v1 dir:%s", addr, q(dir)))
    assert(ok, "skopeo pull:\n" .. out .. "\n" .. read(log))
    local manifest = read(dir .. "/manifest.json")
    assert.are.equal(want, digest(manifest))
    -- the config and the two layers: each file of dir: is named by its digest
    local blobs = 0
    for hex in manifest:gmatch('"digest"%s*:%s*"sha256:(%x+)"') do
      assert.are.equal("sha256:" .. hex, digest(read(dir .. "/" .. hex)))
      blobs = blobs + 1
    end
    assert.are.equal(3, blobs)
    -- and the layout's own copy of the manifest is the same bytes
    assert.are.equal(manifest, read(img .. "/blobs/sha256/" .. want:sub(8)))

    -- SIGTERM: serve and its nginx go, and serve's temporary directory too
    must("kill -TERM " .. pid)
    for _ = 1, 100 do
      if not alive(pid) and not alive(nginx_pid) then break end
      os.execute("sleep 0.1")
    end
    assert(not alive(pid), "regstore-serve still runs after SIGTERM")
    assert(not alive(nginx_pid), "nginx still runs after SIGTERM")
    assert(not io.open(conf_file), conf_file .. " is left behind")
    pid = nil
  end)
end)
