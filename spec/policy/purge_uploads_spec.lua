-- regstore.policy.purge_uploads: distribution's semantics, and uploads
-- whose startedat is missing or unreadable dated by their files' mtime.
local helper = require "helper"
local purge = require "regstore.policy.purge_uploads"
local util = require "fixtures.registry.util"

local R = util.ROOT
local DAY = 86400

describe("policy purge_uploads #cluster", function()
  local drv, reg
  helper.each_registry(function(d, r) drv, reg = d, r end)

  local function upload(repo, data)
    local up = assert(repo.blobs:create())
    assert(up:write(data))
    assert(up:close())
    return up
  end

  local function ids(report)
    local t = {}
    for _, u in ipairs(report.uploads) do t[#t + 1] = u.id end
    table.sort(t)
    return t
  end

  it("reports nothing on an empty registry", function()
    assert.same({ dry_run = false, uploads = {}, errors = {} }, assert(purge.run(reg)))
    assert.same({ dry_run = true, uploads = {}, errors = {} }, assert(purge.run(drv, { dry_run = true })))
  end)

  it("purges uploads started before the threshold, keeps the others", function()
    local repo = reg:repository("a/b")
    util.push_image(repo, "cfg", { "layer" }, { tag = "t" })
    local up = upload(repo, "partial")
    local up2 = upload(reg:repository("c"), "other")
    -- a week and a day ago, by its startedat
    assert(drv:put_content(R .. "/repositories/c/_uploads/" .. up2.id .. "/startedat", "2020-01-02T03:04:05Z"))
    local r = assert(purge.run(reg, { dry_run = true }))
    assert.same({ up2.id }, ids(r))
    assert.same({ repository = "c", id = up2.id, started_at = "2020-01-02T03:04:05Z", dated_by = "startedat" },
      r.uploads[1])
    assert(reg:repository("c").blobs:resume(up2.id)):close()
    r = assert(purge.run(reg))
    assert.same({ up2.id }, ids(r))
    helper.fails("blob_upload_unknown", up2.id, reg:repository("c").blobs:resume(up2.id))
    -- the young one goes on and commits; the image is untouched
    local again = assert(repo.blobs:resume(up.id))
    assert(again:commit(util.digest("partial")))
    assert.equal("layer", repo.blobs:get(util.digest("layer")))
    -- nothing left behind in RADOS by the purged upload (its uncommitted data too)
    assert.same({}, assert(drv:fsck { grace = 0 }).findings)
  end)

  it("honours older_than", function()
    local repo = reg:repository("r")
    local up = upload(repo, "x")
    assert.same({}, assert(purge.run(reg, { older_than = 3600 })).uploads)
    assert.same({ up.id }, ids(assert(purge.run(reg, { older_than = 3600, now = os.time() + 7200 }))))
    assert.same({}, drv:list(R .. "/repositories") or {})
  end)

  it("dates an upload with a missing or unreadable startedat by its files", function()
    local repo = reg:repository("bad")
    local garbage, missing, fresh = upload(repo, "g"), upload(repo, "m"), upload(repo, "f")
    local base = R .. "/repositories/bad/_uploads/"
    assert(drv:put_content(base .. garbage.id .. "/startedat", "yesterday, roughly"))
    assert(drv:delete(base .. missing.id .. "/startedat"))
    assert(drv:put_content(base .. fresh.id .. "/startedat", "not a time either"))
    -- today: all three were touched just now, nothing goes
    local r = assert(purge.run(reg))
    assert.same({}, r.uploads)
    assert.same({}, r.errors)
    -- eight days on, all three go (distribution would keep the first two forever)
    r = assert(purge.run(reg, { now = os.time() + 8 * DAY }))
    local want = { fresh.id, garbage.id, missing.id }
    table.sort(want)
    assert.same(want, ids(r))
    for _, u in ipairs(r.uploads) do assert.equal("mtime", u.dated_by) end
    assert.is_nil(drv:stat(R .. "/repositories/bad"))
  end)

  it("leaves alone what is not an upload", function()
    local repo = reg:repository("keep")
    util.push_image(repo, "c1", { "l1" }, { tag = "t" })
    assert(drv:put_content(R .. "/repositories/keep/_uploads/not-a-uuid/startedat", "2001-01-01T00:00:00Z"))
    assert(drv:put_content(R .. "/repositories/keep/_important/0b6c6a7e-6d0c-4b0e-9a53-5b3c1f0e2d11/startedat",
      "2001-01-01T00:00:00Z"))
    assert.same({}, assert(purge.run(reg, { now = os.time() + 365 * DAY })).uploads)
    assert.is_table(drv:stat(R .. "/repositories/keep/_uploads/not-a-uuid/startedat"))
  end)

  it("raises on bad arguments", function()
    assert.has_error(function() purge.run(nil) end)
    assert.has_error(function() purge.run(reg, { older_than = -5 }) end)
  end)
end)
