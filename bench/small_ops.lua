-- The registry's small operations beside their peer, in one run (issue 20):
-- manifest put (an OCI image manifest of one config and one layer, all
-- linked; median of BENCH_MANIFESTS distinct manifests) against the
-- driver's put_content of a file of the same size (median, same count,
-- interleaved one for one), and the rate of repo.tags:tag (BENCH_TAGS new
-- tags on one manifest, one after the other).
-- Usage: lua5.4 bench/small_ops.lua   (needs CEPH_CONF, REGSTORE_POOL)
-- Prints RESULT lines (key value) and a small table.
local regstore = require "regstore"
local registry = require "regstore.registry"

local clock = regstore.clock
local nman = tonumber(os.getenv "BENCH_MANIFESTS") or 200
local ntags = tonumber(os.getenv "BENCH_TAGS") or 1000

local drv = assert(regstore.connect{ pool = assert(os.getenv "REGSTORE_POOL"),
                                     namespace = "bench-small-" .. regstore.uuid():sub(1, 8) })
local reg = registry.new(drv)
local repo = assert(reg:repository("bench/small"))

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local config = assert(repo.blobs:put('{"architecture":"amd64","os":"linux"}'))
local layer = assert(repo.blobs:put(string.rep("l", 4096)))
local function manifest(i)
  local m = string.format('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' ..
    '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},' ..
    '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}],' ..
    '"annotations":{"n":"%d","pad":"%s"}}', config.digest, config.size, layer.digest, layer.size, i, "")
  return m .. string.rep(" ", 4096 - #m) -- 4 KiB
end

-- warm-up (connection, directories): not timed
for i = 1, 10 do
  assert(repo.manifests:put(manifest(-i), "application/vnd.oci.image.manifest.v1+json"))
  assert(drv:put_content("/peer/w" .. i, manifest(-i)))
end

local puts, dputs, digests = {}, {}, {}
for i = 1, nman do
  local m = manifest(i)
  local t = clock()
  digests[i] = assert(repo.manifests:put(m, "application/vnd.oci.image.manifest.v1+json"))
  puts[i] = clock() - t
  t = clock()
  assert(drv:put_content("/peer/m" .. i, m))
  dputs[i] = clock() - t
end
local mput, dput = median(puts) * 1e3, median(dputs) * 1e3

local t1 = clock()
for i = 1, ntags do assert(repo.tags:tag(string.format("t%05d", i), digests[1 + i % nman])) end
local tag_rate = ntags / (clock() - t1)

print(string.format("RESULT manifest_put_ms %.3f", mput))
print(string.format("RESULT put_content_ms %.3f", dput))
print(string.format("RESULT manifest_put_ratio %.2f", mput / dput))
print(string.format("RESULT tag_rate %.1f", tag_rate))
io.stderr:write(string.format("manifest put (4 KiB) median %.2f ms vs put_content 4 KiB %.2f ms: %.2fx; " ..
  "tags:tag %.0f/s\n", mput, dput, mput / dput, tag_rate))

assert(drv:delete("/docker"))
assert(drv:delete("/peer"))
drv:close()
