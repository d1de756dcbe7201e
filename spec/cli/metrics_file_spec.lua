-- `--metrics-file PATH` of gc, purge-uploads and fsck: node_exporter's
-- textfile format, read back by a real Prometheus parser, written whole
-- (renamed into place), for a failed run too.
local helper = require "helper"
local util = require "fixtures.registry.util"
local regstore = require("fixtures.cli").run
local prometheus = require "support.prometheus"

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

describe("regstore --metrics-file #cluster", function()
  local drv, reg, G, dir
  helper.each_registry(function(d, r, ns)
    drv, reg = d, r
    G = require("fixtures.cli").globals(ns)
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helper.quote(dir)))
  end)
  after_each(function() os.execute("rm -rf " .. helper.quote(dir)) end)

  local function metrics(args, want_rc)
    local file = dir .. "/m.prom"
    local before = os.time()
    local _, err, rc = regstore(G .. args .. " --metrics-file " .. helper.quote(file))
    assert.equal(want_rc, rc, err)
    local m, why = prometheus.parse(assert(slurp(file), "no metrics file"))
    assert.is_table(m, why)
    local job = args:match("^(%S+)"):gsub("%-", "_")
    local start = m["regstore_" .. job .. "_last_run_start_timestamp_seconds"]
    assert.is_true(start >= before and start <= os.time() + 1)
    assert.is_true(m["regstore_" .. job .. "_last_run_duration_seconds"] >= 0)
    assert.equal(want_rc == 0 and 1 or 0, m["regstore_" .. job .. "_last_run_success"])
    assert.equal(want_rc, m["regstore_" .. job .. "_last_run_exit_status"])
    return m
  end

  it("gc counts what it deleted; a dry run counts what it would", function()
    local repo = reg:repository("app")
    util.push_image(repo, "cfg", { "layer" }, { tag = "v1" })
    assert(repo.blobs:put("orphan one"))
    assert(repo.blobs:put("orphan two"))
    local m = metrics("gc --dry-run --grace 0s", 0)
    assert.equal(1, m.regstore_gc_dry_run)
    assert.equal(2, m.regstore_gc_blobs_eligible)
    assert.equal(0, m.regstore_gc_blobs_deleted)
    assert.equal(3, m.regstore_gc_blobs_marked)
    m = metrics("gc --grace 0s", 0)
    assert.equal(0, m.regstore_gc_dry_run)
    assert.equal(2, m.regstore_gc_blobs_deleted)
    assert.equal(#"orphan one" + #"orphan two", m.regstore_gc_bytes_deleted)
    assert.equal(0, m.regstore_gc_errors)
    local names = {}
    for name in io.popen("ls -A " .. helper.quote(dir)):lines() do names[#names + 1] = name end
    assert.same({ "m.prom" }, names) -- renamed into place, no temporary left
  end)

  it("purge-uploads and fsck report theirs", function()
    local up = assert(reg:repository("app").blobs:create())
    assert(up:write("partial"))
    assert(up:close())
    os.execute("sleep 1.1") -- started_at is whole seconds: older than 0s from the next one
    local m = metrics("purge-uploads --older-than 0s", 0)
    assert.equal(1, m.regstore_purge_uploads_uploads_deleted)
    m = metrics("fsck --grace 0s", 0)
    assert.equal(0, m.regstore_fsck_findings)
    assert.is_true(m.regstore_fsck_objects >= 0)
    assert(reg:repository("app").blobs:put("x"))
    assert(drv:put_content(util.ROOT .. "/repositories/app/_manifests/tags/lost/current/link", util.digest("x")))
    m = metrics("fsck --grace 0s", 1)
    assert.equal(1, m.regstore_fsck_findings)
    assert.equal(1, m.regstore_fsck_outstanding)
  end)

  it("a run that fails is a run: success 0, its exit status", function()
    local m = metrics("gc --dry-run --pool regstore-no-such-pool", 1)
    assert.is_nil(m.regstore_gc_blobs_deleted) -- no report, no counts
  end)

  it("an unwritable path fails the run (exit 1) and leaves nothing behind", function()
    local _, err, rc = regstore(G .. "gc --dry-run --metrics-file " .. helper.quote(dir .. "/no/such/dir/m.prom"))
    assert.equal(1, rc)
    assert.matches("--metrics-file", err, 1, true)
  end)
end)
