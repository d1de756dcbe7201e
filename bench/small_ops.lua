-- The registry's small operations beside their peer, in one run (issue 20):
-- manifest put (an OCI image manifest of one config and one layer, all
-- linked; median of BENCH_MANIFESTS distinct manifests) against the
-- driver's put_content of a file of the same size (median, same count,
-- interleaved one for one), and the rate of repo.tags:tag (BENCH_TAGS new
-- tags on one manifest, one after the other), and the rate of BENCH_TAGGERS
-- (8) processes tagging at once, BENCH_TAGS / BENCH_TAGGERS each (a
-- registry's tags come from many clients: its requests run side by side).
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
local mops, mcpu, dops, dcpu = 0, 0, 0, 0 -- the OSD's ops and CPU for each kind, when local
local function osd() return u.osd_ops() or 0, u.osd_cpu() or 0 end
local measured = u.osd_ops() and u.osd_cpu()
for i = 1, nman do
  local m = manifest(i)
  local o0, c0 = osd()
  local t = clock()
  digests[i] = assert(repo.manifests:put(m, "application/vnd.oci.image.manifest.v1+json"))
  puts[i] = clock() - t
  local o1, c1 = osd()
  t = clock()
  assert(drv:put_content("/peer/m" .. i, m))
  dputs[i] = clock() - t
  local o2, c2 = osd()
  mops, mcpu, dops, dcpu = mops + o1 - o0, mcpu + c1 - c0, dops + o2 - o1, dcpu + c2 - c1
end
local mput, dput = median(puts) * 1e3, median(dputs) * 1e3

-- what one new tag costs the OSD, when it is local (BENCH_ASOK, BENCH_OSD_PID)
local ops0, cpu0 = u.osd_ops(), u.osd_cpu()
local t1 = clock()
for i = 1, ntags do assert(repo.tags:tag(string.format("t%05d", i), digests[1 + i % nman])) end
local tag_rate = ntags / (clock() - t1)
local ops1, cpu1 = u.osd_ops(), u.osd_cpu()
local tag_ops = ops0 and ops1 and (ops1 - ops0) / ntags
local tag_osd_ms = cpu0 and cpu1 and (cpu1 - cpu0) * 1e3 / ntags

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
if tag_ops then print(string.format("RESULT tag_osd_ops %.1f", tag_ops)) end
if tag_osd_ms then print(string.format("RESULT tag_osd_cpu_ms %.2f", tag_osd_ms)) end
io.stderr:write(string.format("manifest put (4 KiB) median %.2f ms vs put_content 4 KiB %.2f ms: %.2fx; " ..
  "tags:tag %.0f/s, %d taggers at once %.0f/s\n", mput, dput, mput / dput, tag_rate, ntaggers, par_rate))
summary.row("manifest put 4 KiB, median", string.format("%.2f ms", mput),
  string.format("`put_content` 4 KiB: %.2f ms", dput), mput / dput, "≤ 3", mput / dput <= 3)
summary.row("`tags:tag` rate, one tagger", string.format("%.0f/s", tag_rate), "", nil, "≥ 1,000/s",
  tag_rate >= 1000)
summary.row(string.format("`tags:tag` rate, %d taggers at once", ntaggers), string.format("%.0f/s", par_rate),
  "", nil, "≥ 1,000/s", par_rate >= 1000)
if measured then
  print(string.format("RESULT manifest_put_osd_ops %.1f", mops / nman))
  print(string.format("RESULT manifest_put_osd_cpu_ms %.2f", mcpu * 1e3 / nman))
  summary.row("a manifest put's cost to the OSD", string.format("%.1f RADOS ops, %.2f ms of OSD CPU",
    mops / nman, mcpu * 1e3 / nman), string.format("`put_content`: %.1f ops, %.2f ms", dops / nman,
    dcpu * 1e3 / nman), nil, "(information)")
end
if tag_ops or tag_osd_ms then
  -- the OSD's CPU a tag costs bounds the rate one OSD core can give
  summary.row("a new tag's cost to the OSD", string.format("%s RADOS ops, %s ms of OSD CPU",
    tag_ops and string.format("%.1f", tag_ops) or "?", tag_osd_ms and string.format("%.2f", tag_osd_ms) or "?"),
    tag_osd_ms and string.format("bound for one OSD core: %.0f tags/s", 1e3 / tag_osd_ms) or "", nil, "(information)")
end

assert(drv:delete("/docker"))
assert(drv:delete("/peer"))
drv:close()
