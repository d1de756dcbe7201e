-- Scrub (policy/scrub.lua, `regstore fsck --verify-digests`): every blob
-- read again and its SHA-256 checked against its name; a corrupt blob is a
-- finding naming who uses it; an interrupted scrub resumes; a rate limit.
local helper = require "helper"
local registry = require "regstore.registry"
local scrub = require "regstore.policy.scrub"
local fsck = require "regstore.policy.fsck"
local faulty = require "support.faulty"
local util = require "fixtures.registry.util"
local regstore = require("fixtures.cli").run
local json = require "cjson.safe"

local function blob_path(d) return util.ROOT .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data" end

-- The same bytes with one changed, written behind the registry's back.
local function flip(drv, d)
  local data = assert(drv:get_content(blob_path(d)))
  local i = math.floor(#data / 2) + 1
  assert(drv:put_content(blob_path(d), data:sub(1, i - 1) .. string.char((data:byte(i) + 1) % 256) .. data:sub(i + 1)))
end

describe("scrub #cluster", function()
  local drv, reg, G
  helper.each_registry(function(d, r, ns)
    drv, reg = d, r
    G = require("fixtures.cli").globals(ns)
  end)

  it("finds a flipped byte and names the repositories and tags that need the blob", function()
    local app, other = reg:repository("app"), reg:repository("other")
    util.push_image(app, "cfg", { "layer one", "shared layer" }, { tag = "v1" })
    local idx = util.index({ (util.image("cfg", { "layer one", "shared layer" }, true)) })
    util.push_image(app, "cfg", { "layer one", "shared layer" }, { oci = true })
    assert(app.manifests:put(idx, util.OCI_INDEX, { tag = "multi" }))
    util.push_image(other, "cfg o", { "shared layer" }, { tag = "latest" })
    util.push_image(other, "cfg p", { "other layer" }, { tag = "unrelated" })
    local bad = util.digest("shared layer")
    flip(drv, bad)
    local r = assert(scrub.run(reg))
    assert.is_true(r.complete)
    assert.equal(1, #r.corrupt)
    assert.equal(bad, r.corrupt[1].digest)
    assert.not_equal(bad, r.corrupt[1].actual)
    assert.same({ { repository = "app", tags = { "multi", "v1" } }, { repository = "other", tags = { "latest" } } },
      r.corrupt[1].used_by)
    assert.same({}, r.errors)
    -- through fsck and the command: a finding, never repaired, exit 1
    local out, err, rc = regstore(G .. "fsck --grace 0s --repair --verify-digests --rate 0 --json")
    assert.equal(1, rc, err)
    local doc = json.decode(out)
    local found
    for _, f in ipairs(doc.findings) do
      if f.kind == "digest_mismatch" then found = f end
    end
    assert.equal(bad, found.digest)
    assert.is_false(found.repaired)
    assert.matches("app:multi,v1", found.detail, 1, true)
    assert.equal(r.blobs, doc.scrub.blobs)
  end)

  it("a blob it cannot read is an error, never corrupt nor fine", function()
    local app = reg:repository("app")
    util.push_image(app, "cfg", { "layer" }, { tag = "v1" })
    local f = faulty.wrap(drv, { ops = { reader = true }, codes = { "timeout" },
      when = function(_, p) return p:find(util.digest("layer"):sub(8), 1, true) ~= nil end })
    local r = assert(scrub.run(registry.new(f), { restart = true }))
    assert.same({}, r.corrupt)
    assert.equal(1, #r.errors)
    assert.equal("timeout", r.errors[1].code)
    local rep = assert(fsck.run(registry.new(f), { grace = 0, verify_digests = true, restart = true }))
    local kinds = {}
    for _, x in ipairs(rep.findings) do kinds[x.kind] = (kinds[x.kind] or 0) + 1 end
    assert.equal(1, kinds.unreadable)
  end)

  it("an interrupted scrub resumes after the last blob it saved, findings kept", function()
    local app = reg:repository("app")
    for i = 1, 8 do assert(app.blobs:put("blob " .. i)) end
    local digests = {}
    for i = 1, 8 do digests[i] = util.digest("blob " .. i) end
    table.sort(digests)
    flip(drv, digests[2])
    local save = scrub.SAVE_EVERY
    scrub.SAVE_EVERY = 0 -- save after every blob
    local ok = pcall(scrub.run, reg, { progress = function(phase, c)
      if phase == "verify digests" and c.done == 4 then error("killed") end
    end })
    assert.is_false(ok)
    local r = assert(scrub.run(reg))
    scrub.SAVE_EVERY = save
    assert.equal(digests[4], r.resumed_after)
    assert.equal(5, r.blobs) -- the corrupt one again, then 5..8
    assert.equal(1, #r.corrupt)
    assert.equal(digests[2], r.corrupt[1].digest)
    -- a finished scrub leaves no position: the next starts over
    r = assert(scrub.run(reg))
    assert.is_nil(r.resumed_after)
    assert.equal(8, r.blobs)
    helper.fails("not_found", "position", drv:stat(util.ROOT .. "/_scrub/position"))
  end)

  it("keeps to its rate", function()
    local app = reg:repository("app")
    local data = helper.bytes(200000, 3)
    assert(app.blobs:put(data))
    local t0 = require("regstore").clock()
    local r = assert(scrub.run(reg, { rate = 400000, restart = true }))
    assert.equal(200000, r.bytes)
    assert.is_true(require("regstore").clock() - t0 >= 0.4, "200 kB at 400 kB/s takes half a second")
    assert.has_error(function() scrub.run(reg, { rate = -1 }) end)
    local _, err, rc = regstore(G .. "fsck --rate 5")
    assert.equal(2, rc)
    assert.matches("go with --verify-digests", err, 1, true)
  end)
end)
