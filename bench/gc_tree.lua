-- bench/gc_tree.lua DIR MANIFESTS BLOBS [SEED]: writes a synthetic registry
-- as distribution's filesystem driver lays it out under DIR (its
-- rootdirectory): MANIFESTS image manifests over BLOBS content blobs (a
-- config and layers each; a few base layers shared by every image of a
-- repository), 20 images per repository (BENCH_GC_PER_REPO). One image in ten is untagged, one
-- in twenty was deleted (its blobs and layer links stay: garbage), and one
-- blob in fifty is an orphan with only a layer link. Prints the counts as
-- "manifests N blobs N bytes N". Lua 5.4 with LuaFileSystem; digests by
-- the engine's SHA-256 (LUA_CPATH must reach regstore.core).
local lfs = require "lfs"
local regstore = require "regstore"

local dir, nman, nblob, seed = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4] or "1")
assert(dir and nman and nblob, "usage: gc_tree.lua DIR MANIFESTS BLOBS [SEED]")
local ROOT = dir .. "/docker/registry/v2"

local made = {}
local function mkdirs(path)
  if made[path] then return end
  local parent = path:match("^(.*)/[^/]+$")
  if parent and parent ~= "" then mkdirs(parent) end
  lfs.mkdir(path)
  made[path] = true
end

local function write(path, data)
  mkdirs(path:match("^(.*)/[^/]+$"))
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function digest(data) return "sha256:" .. regstore.sha256():update(data):hexdigest() end

local bytes, blobs_written = 0, 0
local function blob(data)
  local d = digest(data)
  local hex = d:sub(8)
  local p = ROOT .. "/blobs/sha256/" .. hex:sub(1, 2) .. "/" .. hex .. "/data"
  if not lfs.attributes(p) then
    write(p, data)
    bytes = bytes + #data
    blobs_written = blobs_written + 1
  end
  return d
end

local function link(repo, kind, d)
  write(string.format("%s/repositories/%s/%s/sha256/%s/link", ROOT, repo, kind, d:sub(8)), d)
end

local x = seed
local function content(n, tag)
  -- cheap deterministic bytes: a tag line, then LCG noise
  local t = { tag, "\n" }
  for i = 1, math.floor(n / 8) do
    x = (x * 1103515245 + 12345) % 2147483648
    t[#t + 1] = string.format("%08x", x)
    if i % 512 == 0 then t[#t + 1] = "\n" end
  end
  return table.concat(t)
end

local per_repo = tonumber(os.getenv("BENCH_GC_PER_REPO") or "20") -- images per repository
-- a config and `unique` layers of its own per image (BLOBS content blobs in
-- all, at least), plus `shared` base layers of its repository
local shared = 2
local layers_per = shared + math.max(1, math.ceil((nblob - nman) / nman))
local images = 0
local repo_i = 0
while images < nman do
  repo_i = repo_i + 1
  local repo = string.format("team%03d/app%04d", repo_i % 97, repo_i)
  local base = {}
  for s = 1, shared do base[s] = content(2048, repo .. " base " .. s) end
  for i = 1, per_repo do
    if images >= nman then break end
    images = images + 1
    local cfg = content(512, repo .. " config " .. i)
    local layers = {}
    for l = 1, layers_per do
      layers[l] = l <= shared and base[l] or content(1024 + (x % 4096), repo .. " layer " .. i .. " " .. l)
    end
    local cd = blob(cfg)
    link(repo, "_layers", cd)
    local m = {
      '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",',
      string.format('"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,'
        .. '"digest":"%s"},"layers":[', #cfg, cd),
    }
    for l, data in ipairs(layers) do
      local d = blob(data)
      link(repo, "_layers", d)
      m[#m + 1] = string.format('%s{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip",'
        .. '"size":%d,"digest":"%s"}', l > 1 and "," or "", #data, d)
    end
    m[#m + 1] = "]}"
    local manifest = table.concat(m)
    local md = blob(manifest)
    if images % 20 ~= 7 then -- one in twenty deleted: revision gone, blobs stay
      link(repo, "_manifests/revisions", md)
      if images % 10 ~= 3 then -- one in ten untagged
        local tag = "v" .. i
        write(string.format("%s/repositories/%s/_manifests/tags/%s/current/link", ROOT, repo, tag), md)
        write(string.format("%s/repositories/%s/_manifests/tags/%s/index/sha256/%s/link", ROOT, repo, tag,
          md:sub(8)), md)
      end
    end
    if images % 50 == 0 then link(repo, "_layers", blob(content(777, repo .. " orphan " .. i))) end
  end
end
print(string.format("manifests %d blobs %d bytes %d", images, blobs_written, bytes))
