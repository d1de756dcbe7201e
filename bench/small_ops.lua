-- The registry's small operations beside their peer, in one run (issue 20):
-- manifest put (an OCI image manifest of one config and one layer, all
-- linked; median of BENCH_MANIFESTS distinct manifests) against the
-- driver's put_content of a file of the same size (median, same count,
-- interleaved one for one), and the rate of repo.tags:tag (BENCH_TAGS new
-- tags on one manifest, one after the other), and the rate of BENCH_TAGGERS
-- (8) processes tagging at once, BENCH_TAGS / BENCH_TAGGERS each (a
-- registry's tags come from many clients: its requests run side by side).
-- Then what a manifest put, a put_content and a new tag each cost, from a
-- row of each of its own: RADOS ops and OSD CPU (when the OSD is local:
-- BENCH_ASOK, BENCH_OSD_PID) and the client's CPU.
-- Usage: lua5.4 bench/small_ops.lua   (needs CEPH_CONF, REGSTORE_POOL)
-- Prints RESULT lines (key value) and a small table; with BENCH_SUMMARY set,
-- appends its rows of issue 20's targets there (bench/summary.lua).
local regstore = require "regstore"
local registry = require "regstore.registry"
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path -- bench/summary.lua
local summary = require "summary"
local u = require "util"

local clock = regstore.clock
local nman = tonumber(os.getenv "BENCH_MANIFESTS") or 200
local ntags = tonumber(os.getenv "BENCH_TAGS") or 1000
local ntaggers = tonumber(os.getenv "BENCH_TAGGERS") or 8

local ns = "bench-small-" .. regstore.uuid():sub(1, 8)
local drv = assert(regstore.connect{ pool = assert(os.getenv "REGSTORE_POOL"), namespace = ns })
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

-- What f(i), for i = 1..n one after the other, costs each time: RADOS ops
-- (osd.op) and OSD CPU ms when the OSD is local (BENCH_ASOK, BENCH_OSD_PID),
-- and this process' CPU ms (librados' threads included). The perf dump
-- that counts ops is asked outside the CPU readings: the OSD answers it.
local function cost(n, f)
  local ops0, osd0, self0 = u.osd_ops(), u.osd_cpu(), u.proc_cpu("self")
  for i = 1, n do f(i) end
  local osd1, self1 = u.osd_cpu(), u.proc_cpu("self")
  local ops1 = u.osd_ops()
  return { ops = ops0 and ops1 and (ops1 - ops0) / n, osd_ms = osd0 and osd1 and (osd1 - osd0) * 1e3 / n,
    self_ms = (self1 - self0) * 1e3 / n }
end
-- the same operations again, each kind in a row of its own (not timed above)
local mcost = cost(nman, function(i)
  assert(repo.manifests:put(manifest(nman + i), "application/vnd.oci.image.manifest.v1+json"))
end)
local dcost = cost(nman, function(i) assert(drv:put_content("/peer/c" .. i, manifest(nman + i))) end)
local mput, dput = median(puts) * 1e3, median(dputs) * 1e3

local t1 = clock()
for i = 1, ntags do assert(repo.tags:tag(string.format("t%05d", i), digests[1 + i % nman])) end
local tag_rate = ntags / (clock() - t1)
local tcost = cost(ntags, function(i) assert(repo.tags:tag(string.format("u%05d", i), digests[1 + i % nman])) end)

-- The same number of new tags from ntaggers processes at once, each on its
-- own connection; the rate runs from the first one's start to the last
-- one's end (regstore.clock is the system's monotonic clock).
local TAGGER = [[
local regstore = require "regstore"
local registry = require "regstore.registry"
local ns, who, n, digest = arg[1], arg[2], tonumber(arg[3]), arg[4]
local drv = assert(regstore.connect{ pool = os.getenv "REGSTORE_POOL", namespace = ns })
local repo = assert(registry.new(drv):repository("bench/small"))
local t0 = regstore.clock()
for i = 1, n do assert(repo.tags:tag(string.format("c%s-%05d", who, i), digest)) end
print(t0, regstore.clock())
]]
local each = math.max(1, ntags // ntaggers)
local script = os.tmpname()
local f = assert(io.open(script, "w"))
f:write(TAGGER)
f:close()
local procs = {}
for k = 1, ntaggers do
  procs[k] = assert(io.popen(string.format("%s %s %s %d %d %s", arg[-1] or "lua5.4", script, ns, k, each,
    digests[1 + k % nman])))
end
local first, last = math.huge, -math.huge
for _, p in ipairs(procs) do
  local a, b = p:read("n", "n")
  assert(p:close() and a and b, "a tagger failed")
  first, last = math.min(first, a), math.max(last, b)
end
os.remove(script)
local par_rate = each * ntaggers / (last - first)

print(string.format("RESULT manifest_put_ms %.3f", mput))
print(string.format("RESULT put_content_ms %.3f", dput))
print(string.format("RESULT manifest_put_ratio %.2f", mput / dput))
print(string.format("RESULT tag_rate %.1f", tag_rate))
print(string.format("RESULT tag_rate_parallel %.1f", par_rate))
io.stderr:write(string.format("manifest put (4 KiB) median %.2f ms vs put_content 4 KiB %.2f ms: %.2fx; " ..
  "tags:tag %.0f/s, %d taggers at once %.0f/s\n", mput, dput, mput / dput, tag_rate, ntaggers, par_rate))
summary.row("manifest put 4 KiB, median", string.format("%.2f ms", mput),
  string.format("`put_content` 4 KiB: %.2f ms", dput), mput / dput, "≤ 3", mput / dput <= 3)
summary.row("`tags:tag` rate, one tagger", string.format("%.0f/s", tag_rate), "", nil, "≥ 1,000/s",
  tag_rate >= 1000)
summary.row(string.format("`tags:tag` rate, %d taggers at once", ntaggers), string.format("%.0f/s", par_rate),
  "", nil, "≥ 1,000/s", par_rate >= 1000)
-- what each costs the machine: the OSD's share bounds what one OSD core
-- gives, the client's what one registry core gives
for _, c in ipairs { { "manifest_put", "a manifest put", mcost }, { "put_content", "a `put_content` 4 KiB", dcost },
                     { "tag", "a new tag", tcost } } do
  local key, what, k = c[1], c[2], c[3]
  if k.ops then print(string.format("RESULT %s_osd_ops %.1f", key, k.ops)) end
  if k.osd_ms then print(string.format("RESULT %s_osd_cpu_ms %.2f", key, k.osd_ms)) end
  print(string.format("RESULT %s_client_cpu_ms %.2f", key, k.self_ms))
  summary.row(what .. "'s cost", string.format("%s RADOS ops, %s ms of OSD CPU, %.2f ms of client CPU",
    k.ops and string.format("%.1f", k.ops) or "?", k.osd_ms and string.format("%.2f", k.osd_ms) or "?", k.self_ms),
    k.osd_ms and string.format("one OSD core: %.0f/s", 1e3 / k.osd_ms) or "", nil, "(information)")
end
assert(drv:delete("/docker"))
assert(drv:delete("/peer"))
drv:close()
