-- mkimage.lua - builds container images as an OCI image layout, for skopeo
-- and the registry benchmarks (there is no image registry to pull from here).
--
--   lua5.4 scripts/mkimage.lua image DIR TAG ARCH SEED SIZE...
--       an image tagged TAG: one layer per SIZE (bytes; a tar holding one
--       file of pseudo-random bytes from SEED, so the same SEED and SIZE make
--       the same layer), a config for linux/ARCH
--   lua5.4 scripts/mkimage.lua index DIR TAG TAG1 TAG2...
--       an OCI image index of the images tagged TAG1, TAG2... tagged TAG
--
-- DIR is created when missing; TAG replaces an earlier entry of that name.
-- Then e.g. `skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://HOST/REPO:TAG`.
local cjson = require "cjson"

local function sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read "a"
  assert(f:close(), "failed: " .. cmd)
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read "a"
  f:close()
  return s
end

local function write(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

-- Moves file into the layout's blobs; returns digest, size.
local function add_file(dir, file)
  local hex = sh("sha256sum " .. q(file)):match("^(%x+)")
  local size = tonumber(sh("stat -c %s " .. q(file)))
  sh(string.format("mv %s %s/blobs/sha256/%s", q(file), q(dir), hex))
  return "sha256:" .. hex, size
end

local function add_bytes(dir, s)
  local tmp = dir .. "/.tmp-blob"
  write(tmp, s)
  return add_file(dir, tmp)
end

local function layout(dir)
  sh("mkdir -p " .. q(dir .. "/blobs/sha256"))
  write(dir .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  local ok, idx = pcall(function() return cjson.decode(read(dir .. "/index.json")) end)
  if not ok or type(idx) ~= "table" then idx = { schemaVersion = 2, manifests = {} } end
  return idx
end

local REF = "org.opencontainers.image.ref.name"

local function set_tag(dir, idx, tag, desc)
  local out = {}
  for _, m in ipairs(idx.manifests) do
    if not (m.annotations and m.annotations[REF] == tag) then out[#out + 1] = m end
  end
  desc.annotations = { [REF] = tag }
  out[#out + 1] = desc
  idx.manifests = out
  write(dir .. "/index.json", cjson.encode(idx))
end

local function find_tag(idx, tag)
  for _, m in ipairs(idx.manifests) do
    if m.annotations and m.annotations[REF] == tag then return m end
  end
  error("no image tagged " .. tag)
end

local function image(dir, tag, arch, seed, sizes)
  local idx = layout(dir)
  local layers, diffs = {}, {}
  local work = sh("mktemp -d"):gsub("%s+$", "")
  for i, size in ipairs(sizes) do
    local d = string.format("%s/l%d", work, i)
    sh("mkdir -p " .. q(d))
    -- deterministic bytes: AES-CTR of zeros keyed by seed and index
    sh(string.format("head -c %d /dev/zero | openssl enc -aes-128-ctr -nosalt -pass pass:%s-%d -pbkdf2 " ..
      "2>/dev/null > %s/data", size, seed, i, q(d)))
    sh(string.format("tar --mtime=@0 --owner=0 --group=0 --numeric-owner -C %s -cf %s/layer.tar data", q(d), q(work)))
    diffs[i] = "sha256:" .. sh("sha256sum " .. q(work .. "/layer.tar")):match("^(%x+)")
    local digest, n = add_file(dir, work .. "/layer.tar")
    layers[i] = { mediaType = "application/vnd.oci.image.layer.v1.tar", digest = digest, size = n }
    sh("rm -rf " .. q(d))
  end
  sh("rm -rf " .. q(work))
  local config = cjson.encode{
    architecture = arch, os = "linux", created = "2026-01-01T00:00:00Z",
    config = { Cmd = { "/data" }, Labels = { seed = seed } },
    rootfs = { type = "layers", diff_ids = diffs },
  }
  local cd, cs = add_bytes(dir, config)
  local manifest = cjson.encode{
    schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json",
    config = { mediaType = "application/vnd.oci.image.config.v1+json", digest = cd, size = cs },
    layers = layers,
  }
  local md, ms = add_bytes(dir, manifest)
  set_tag(dir, idx, tag, {
    mediaType = "application/vnd.oci.image.manifest.v1+json", digest = md, size = ms,
    platform = { architecture = arch, os = "linux" },
  })
  print(md)
end

local function index(dir, tag, tags)
  local idx = layout(dir)
  local list = {}
  for i, t in ipairs(tags) do
    local m = find_tag(idx, t)
    list[i] = { mediaType = m.mediaType, digest = m.digest, size = m.size, platform = m.platform }
  end
  local doc = cjson.encode{ schemaVersion = 2, mediaType = "application/vnd.oci.image.index.v1+json", manifests = list }
  local d, s = add_bytes(dir, doc)
  set_tag(dir, idx, tag, { mediaType = "application/vnd.oci.image.index.v1+json", digest = d, size = s })
  print(d)
end

local cmd = arg[1]
if cmd == "image" and #arg >= 6 then
  local sizes = {}
  for i = 6, #arg do sizes[#sizes + 1] = assert(math.tointeger(tonumber(arg[i])), "size: " .. arg[i]) end
  image(arg[2], arg[3], arg[4], arg[5], sizes)
elseif cmd == "index" and #arg >= 4 then
  index(arg[2], arg[3], { table.unpack(arg, 4) })
else
  io.stderr:write("usage: mkimage.lua image DIR TAG ARCH SEED SIZE... | index DIR TAG TAG1 TAG2...\n")
  os.exit(2)
end
