-- regstore.policy.gc: distribution's mark and sweep cases, grace, the
-- quarantine, and gc racing pushes.
local helper = require "helper"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"
local util = require "fixtures.registry.util"

local R = util.ROOT

local function blob_path(d)
  return R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data"
end

local function sorted(t)
  table.sort(t)
  return t
end

describe("policy gc #cluster", function()
  local drv, reg
  helper.each_registry(function(d, r) drv, reg = d, r end)

  it("reports nothing on an empty registry", function()
    for _, dry in ipairs { true, false } do
      local r = assert(gc.run(reg, { dry_run = dry, grace = 0, delete_untagged = true }))
      assert.same({ dry_run = dry, marked = 0, blobs = {}, manifests = {}, layer_links = 0, bytes = 0,
        restored = 0, errors = {} }, r)
    end
  end)

  it("keeps everything a manifest references, deletes orphans and unreferenced links", function()
    local repo = reg:repository("a/b")
    local _, _, d1 = util.push_image(repo, "cfg1", { "l1", "l2" }, { tag = "v1" })
    local _, _, d2 = util.push_image(repo, "cfg2", { "l2", "l3" })
    local orphan = assert(repo.blobs:put("orphan")).digest
    local other = assert(reg:repository("c").blobs:put("only linked")).digest
    local dry = assert(gc.run(reg, { dry_run = true, grace = 0 }))
    assert.same(sorted { orphan, other }, dry.blobs)
    assert.equal(#"orphan" + #"only linked", dry.bytes)
    assert.equal(2, dry.layer_links)
    assert.equal(7, dry.marked) -- 2 manifests, 2 configs, 3 layers
    -- a dry run deleted nothing
    assert.is_true(util.exists(drv, blob_path(orphan)))
    local r = assert(gc.run(reg, { grace = 0 }))
    assert.same(dry.blobs, r.blobs)
    assert.equal(2, r.layer_links)
    assert.is_nil(drv:stat(blob_path(orphan)))
    assert.is_nil(drv:stat(blob_path(other)))
    helper.fails("blob_unknown", nil, repo.blobs:stat(orphan))
    for _, d in ipairs { d1, d2 } do assert(repo.manifests:get(d)) end
    for _, l in ipairs { "cfg1", "cfg2", "l1", "l2", "l3" } do
      assert.equal(l, repo.blobs:get(util.digest(l)))
    end
    assert.same({}, assert(gc.run(reg, { grace = 0 })).blobs)
    assert.same({}, drv:list(R .. "/_gc") or {})
  end)

  it("--delete-untagged deletes untagged manifests and their blobs", function()
    local repo = reg:repository("r")
    local _, _, kept = util.push_image(repo, "cfgk", { "shared", "lk" }, { tag = "latest" })
    local _, _, gone = util.push_image(repo, "cfgu", { "shared", "lu" })
    local r = assert(gc.run(reg, { grace = 0, delete_untagged = true }))
    assert.same({ { repository = "r", digest = gone } }, r.manifests)
    assert.same(sorted { gone, util.digest("cfgu"), util.digest("lu") }, r.blobs)
    assert.is_false(repo.manifests:exists(gone))
    assert(repo.manifests:get(kept))
    assert.equal("shared", repo.blobs:get(util.digest("shared")))
    -- without the flag an untagged manifest is kept
    local _, _, untagged = util.push_image(repo, "cfg3", { "l3" })
    assert.same({}, assert(gc.run(reg, { grace = 0 })).blobs)
    assert(repo.manifests:get(untagged))
  end)

  it("--delete-untagged keeps the untagged children of a tagged index (distribution#3004, #3178)", function()
    local repo = reg:repository("multi")
    local c1 = util.push_image(repo, "cfg-amd64", { "amd64" }, { oci = true })
    local c2 = util.push_image(repo, "cfg-arm64", { "arm64" }, { oci = true })
    local index, mt = util.index({ c1, c2 })
    local di = assert(repo.manifests:put(index, mt, { tag = "v1" }))
    -- an untagged index over an untagged child goes with it
    local c3 = util.push_image(repo, "cfg-old", { "old" }, { oci = true })
    local index2, mt2 = util.index({ c3 })
    local di2 = assert(repo.manifests:put(index2, mt2))
    local r = assert(gc.run(reg, { grace = 0, delete_untagged = true }))
    assert.same(sorted { di2, util.digest(c3) }, sorted { r.manifests[1].digest, r.manifests[2].digest })
    assert.same(sorted { di2, util.digest(c3), util.digest("cfg-old"), util.digest("old") }, r.blobs)
    assert(repo.manifests:get(di))
    for _, c in ipairs { c1, c2 } do assert(repo.manifests:get(util.digest(c))) end
    for _, b in ipairs { "cfg-amd64", "amd64", "cfg-arm64", "arm64" } do
      assert.equal(b, repo.blobs:get(util.digest(b)))
    end
  end)

  it("keeps a manifest's subject and what a tagged referrer needs", function()
    local repo = reg:repository("sig")
    local subject = util.push_image(repo, "cfg-s", { "ls" }, { oci = true })
    local ds = util.digest(subject)
    local sdesc = { mediaType = util.OCI_MANIFEST, digest = ds, size = #subject }
    util.push_image(repo, "cfg-sig", { "sigdata" }, { oci = true, tag = "sig", extra = { subject = sdesc } })
    local r = assert(gc.run(reg, { grace = 0, delete_untagged = true }))
    assert.same({}, r.manifests)
    assert.same({}, r.blobs)
    assert(repo.manifests:get(ds))
  end)

  it("marks a blob shared by repositories while either references it", function()
    local a, b = reg:repository("a"), reg:repository("b")
    util.push_image(a, "cfg", { "shared" }, { tag = "t" })
    assert(b.blobs:mount("a", util.digest("shared")))
    local r = assert(gc.run(reg, { grace = 0 }))
    assert.same({}, r.blobs)
    -- as distribution's: a link goes only with its blob (b's stays, though
    -- no manifest of b names it)
    assert.equal(0, r.layer_links)
    assert.equal("shared", a.blobs:get(util.digest("shared")))
  end)

  it("never deletes what is younger than grace", function()
    local repo = reg:repository("young")
    local d = assert(repo.blobs:put("fresh orphan")).digest
    local _, _, m = util.push_image(repo, "cfgy", { "ly" })
    local r = assert(gc.run(reg, { grace = 3600, delete_untagged = true }))
    assert.same({}, r.blobs)
    assert.same({}, r.manifests)
    assert.equal(0, r.layer_links)
    assert.equal("fresh orphan", repo.blobs:get(d))
    assert(repo.manifests:get(m))
    -- two hours on, it all goes
    r = assert(gc.run(reg, { grace = 3600, delete_untagged = true, now = os.time() + 7200 }))
    assert.same(sorted { d, m, util.digest("cfgy"), util.digest("ly") }, r.blobs)
  end)

  it("a young layer link protects its blob even when the data is old", function()
    local repo = reg:repository("p")
    local d = assert(repo.blobs:put("data")).digest
    -- data two hours old, its link one minute old (a push in progress)
    local r = assert(gc.run(reg, { grace = 3600, now = os.time() + 7200, dry_run = true }))
    assert.same({ d }, r.blobs)
    assert(drv:put_content(R .. "/repositories/p2/_layers/sha256/" .. d:sub(8) .. "/link", d))
    local now = os.time() + 3
    r = assert(gc.run(reg, { grace = 60, now = now, dry_run = true }))
    assert.same({}, r.blobs)
  end)

  it("moves back what a dead gc left in quarantine, then decides again", function()
    local repo = reg:repository("q")
    util.push_image(repo, "cfgq", { "lq" }, { tag = "t" })
    local orphan = assert(repo.blobs:put("orphan q")).digest
    -- a gc that died after quarantining both (one of them referenced)
    for _, d in ipairs { util.digest("lq"), orphan } do
      assert(drv:move(blob_path(d), R .. "/_gc/sha256/" .. d:sub(8)))
    end
    local dry = assert(gc.run(reg, { grace = 0, dry_run = true }))
    assert.same({}, dry.blobs) -- a dry run moves nothing, and parked data is not in blobs/
    -- a move back dates the blob anew (as a copy would): "now" is set past
    -- it, or a run that crosses a second keeps the orphan one more grace
    local r = assert(gc.run(reg, { grace = 0, now = os.time() + 60 }))
    assert.equal(2, r.restored)
    assert.same({ orphan }, r.blobs)
    assert.equal("lq", repo.blobs:get(util.digest("lq")))
    assert.is_nil(drv:list(R .. "/_gc"))
  end)

  it("a put naming a quarantined blob fails cleanly; a dead gc's parked blob comes back", function()
    local repo = reg:repository("race")
    local d = assert(repo.blobs:put("layer")).digest
    assert(repo.blobs:put("cfg"))
    -- a gc parked d (unreferenced) and died; a put naming it comes now
    local quarantine = require "regstore.policy.quarantine"
    local ctx = { drv = drv, paths = require("regstore.registry.paths").new() }
    assert.is_true(quarantine.park(ctx, d))
    local content, mt = util.image("cfg", { "layer" })
    -- its check after writing the revision link finds the blob gone: it
    -- takes the link back (the registry's half of the protocol)
    helper.fails("manifest_blob_unknown", d, repo.manifests:put(content, mt, { tag = "t" }))
    assert.is_false(repo.manifests:exists(util.digest(content)))
    -- the next gc moves the parked blob back before deciding; the push is retried
    local r = assert(gc.run(reg, { grace = 3600 }))
    assert.equal(1, r.restored)
    assert.same({}, r.blobs)
    local md = assert(repo.manifests:put(content, mt, { tag = "t" }))
    assert.same({}, assert(gc.run(reg, { grace = 0 })).blobs)
    assert(repo.manifests:get(md))
    assert.equal("layer", repo.blobs:get(d))
  end)

  it("moves back, in the same run, blobs and links a put between the marks needs", function()
    local repo = reg:repository("between")
    local cfg, layer = util.digest("cfg b"), util.digest("layer b")
    assert(repo.blobs:put("cfg b"))
    assert(repo.blobs:put("layer b"))
    local content = util.image("cfg b", { "layer b" })
    local md
    local r = assert(gc.run(reg, { grace = 0, progress = function(phase, c)
      -- gc's first mark saw no manifest: links deleted, blobs parked; a put
      -- that checked the links before lands now (its revision link written)
      if phase == "quarantine" and c.done == c.total and not md then
        md = util.digest(content)
        assert(drv:put_content(blob_path(md), content))
        assert(drv:put_content(R .. "/repositories/between/_manifests/revisions/sha256/" .. md:sub(8) .. "/link",
          md))
      end
    end }))
    assert.is_string(md)
    assert.same({}, r.blobs)
    assert.equal(0, r.layer_links) -- parked, then put back: none deleted
    assert.equal(4, r.restored) -- two layer links, two blobs (the manifest's own was written after)
    assert(repo.manifests:get(md))
    assert.equal("cfg b", repo.blobs:get(cfg))
    assert.equal("layer b", repo.blobs:get(layer))
  end)

  it("reports unreadable manifests and keeps their blobs", function()
    local repo = reg:repository("bad")
    local junk = "not json {"
    local d = assert(repo.blobs:put(junk)).digest
    assert(drv:put_content(R .. "/repositories/bad/_manifests/revisions/sha256/" .. d:sub(8) .. "/link", d))
    -- a revision link whose blob is gone, and a link with garbage in it
    local missing = util.digest("never stored")
    assert(drv:put_content(R .. "/repositories/bad/_manifests/revisions/sha256/" .. missing:sub(8) .. "/link",
      "garbage"))
    local r = assert(gc.run(reg, { grace = 0 }))
    assert.same({}, r.blobs)
    assert.equal(1, #r.errors)
    assert.matches("not a JSON object", r.errors[1], 1, true)
    assert.equal(junk, drv:get_content(blob_path(d)))
  end)

  it("raises on bad arguments", function()
    assert.has_error(function() gc.run(42) end)
    assert.has_error(function() gc.run(reg, { grace = -1 }) end)
    assert.has_error(function() gc.run(reg, { grace = "1h" }) end)
    assert.has_error(function() gc.run(reg, "x") end)
  end)
end)

-- The racing spec: 4 pushers push tagged images through the registry
-- layer, whose manifests:put writes its revision link, then checks that
-- every blob it names is still there and takes the link back otherwise
-- (put-then-check); the child checks once more after a put succeeded (layer link
-- and data). A blob gc had quarantined may be missing for a moment then
-- (until gc's second mark moves it back: counted as transient); one still
-- missing after 30 s (a gc run on loaded cores) fails the spec. A quarter of
-- the pushes push an earlier image of the same pusher again (same blobs,
-- same manifest, same tag). gc runs over and over with a grace of 0
-- meanwhile. Afterwards every image whose push succeeded is pulled as a
-- client would: the tag, the manifest, every blob read to its end.
describe("policy gc racing pushes #cluster", function()
  local PUSHER = [=[
local regstore = require "regstore"
local registry = require "regstore.registry"
local util = require "fixtures.registry.util"
local whereis = require "support.whereis"
local pool, ns, who, seconds, nblobs = arg[1], arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5])
local drv = assert(regstore.connect { pool = pool, namespace = ns })
local reg = registry.new(drv)
local repo = assert(reg:repository("race/" .. who))
local R = util.ROOT
local function there(d)
  return drv:stat(R .. "/repositories/race/" .. who .. "/_layers/sha256/" .. d:sub(8) .. "/link") ~= nil
    and drv:stat(R .. "/blobs/sha256/" .. d:sub(8, 9) .. "/" .. d:sub(8) .. "/data") ~= nil
end
local seed = tonumber(who:match("%d+")) * 7919
math.randomseed(seed)
local deadline = os.time() + seconds
local ok_n, fail_n, i = 0, 0, 0
-- an upload in progress, left open across the whole run
local up = assert(repo.blobs:create())
assert(up:write("upload in progress " .. who))
assert(up:close())
local images = {} -- what this pusher pushed: { cfg, layers, tag }, pushed again at random
while os.time() < deadline do
  i = i + 1
  local img
  if #images > 0 and math.random(4) == 1 then
    img = images[math.random(#images)]
  else
    -- a config of its own, layers from the old unreferenced pool (shared by all)
    img = { cfg = "cfg " .. who .. " " .. i, layers = {}, tag = "i" .. i }
    for k = 1, 3 do img.layers[k] = "old blob " .. math.random(nblobs) end
    images[#images + 1] = img
  end
  local pushed = true
  for _, b in ipairs({ img.cfg, img.layers[1], img.layers[2], img.layers[3] }) do
    local bok, bmsg = repo.blobs:put(b)
    if not bok then pushed = false; io.write("BLOBFAIL x ", img.tag, " ", (tostring(bmsg):gsub("%s", "_")), "\n") end
  end
  local content, mt = util.image(img.cfg, img.layers)
  local d, pmsg = false, nil
  if pushed then d, pmsg = repo.manifests:put(content, mt, { tag = img.tag }) end
  if pushed and not d then io.write("PUTFAIL x ", img.tag, " ", (tostring(pmsg):gsub("%s", "_")), "\n") end
  if d then
    -- A blob the first mark of a running gc found unreferenced is in its
    -- quarantine until the second mark, which sees this put's revision
    -- and moves it back: missing for that moment, never for good.
    local function whole()
      local ok = there(util.digest(img.cfg))
      for _, l in ipairs(img.layers) do ok = ok and there(util.digest(l)) end
      return ok
    end
    if not whole() then
      local t0 = regstore.clock()
      while not whole() and regstore.clock() - t0 < 30 do drv:stat("/") end
      if whole() then
        io.write("TRANSIENT ", d, " ", img.tag, "\n")
      else
        local digests = {}
        for k, b in ipairs({ img.cfg, img.layers[1], img.layers[2], img.layers[3] }) do digests[k] = util.digest(b) end
        io.write("NOTWHOLE ", d, " ", img.tag, " ", whereis.blobs(drv, "race/" .. who, digests, R), "\n")
      end
    end
  end
  if d then
    ok_n = ok_n + 1
    io.write("PUSHED ", d, " ", img.tag, "\n")
  else
    fail_n = fail_n + 1
  end
end
io.write("UPLOAD ", up.id, "\n")
io.write(string.format("DONE %d %d\n", ok_n, fail_n))
]=]

  local GC = [=[
local regstore = require "regstore"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"
local pool, ns, seconds = arg[1], arg[2], tonumber(arg[3])
local drv = assert(regstore.connect { pool = pool, namespace = ns })
local reg = registry.new(drv)
local deadline, runs, deleted, restored = os.time() + seconds, 0, 0, 0
while os.time() < deadline do
  local r = assert(gc.run(reg, { grace = 0 }))
  runs = runs + 1
  deleted = deleted + #r.blobs
  restored = restored + r.restored
  for _, e in ipairs(r.errors) do io.write("GCERROR ", e, "\n") end
end
io.write(string.format("GC %d %d %d\n", runs, deleted, restored))
]=]

  -- Pulls an image as a client would: the tag, the manifest, then every
  -- blob through a reader to its end, size and digest checked. Returns the
  -- number of blob bytes read.
  local function pull(reg, drv, name, tag, digest, history)
    local repo, what = reg:repository(name), name
    assert.equal(digest, repo.tags:get(tag), what .. ":" .. tag)
    local content = assert(repo.manifests:get(digest))
    assert.equal(digest, util.digest(content))
    local m = require("cjson").decode(content)
    local bytes = 0
    local blobs = { m.config }
    for _, l in ipairs(m.layers) do blobs[#blobs + 1] = l end
    for _, b in ipairs(blobs) do
      local r, rmsg, rcode = repo.blobs:reader(b.digest)
      if not r then
        local hex = b.digest:sub(8)
        error(string.format("%s:%s lost %s (%s, %s); layer link %s, data %s, in quarantine %s; history: %s",
          what, tag, b.digest, tostring(rmsg), tostring(rcode),
          tostring(util.exists(drv, R .. "/repositories/" .. name .. "/_layers/sha256/" .. hex .. "/link")),
          tostring(util.exists(drv, blob_path(b.digest))), tostring(util.exists(drv, R .. "/_gc/sha256/" .. hex)),
          history or "?"))
      end
      local data = helper.read_all(r, 7) -- several reads even of these small blobs
      r:close()
      assert.equal(b.size, #data, what .. " " .. b.digest)
      assert.equal(b.digest, util.digest(data), what .. " " .. b.digest)
      bytes = bytes + #data
    end
    return bytes
  end

  it("every image whose push succeeded pulls whole; uploads in progress survive", function()
    local drv, ns = helper.connect()
    local reg = registry.new(drv)
    local NBLOBS, PUSHERS = 12, 4
    -- old blobs nobody references (a deleted image's layers), linked nowhere
    local seedrepo = reg:repository("seed")
    for k = 1, NBLOBS do assert(seedrepo.blobs:put("old blob " .. k)) end
    local seconds = helper.long and 60 or 12
    local procs = {}
    for p = 1, PUSHERS do
      procs[p] = helper.spawn_lua(PUSHER, { helper.pool(), ns, "p" .. p, tostring(seconds), tostring(NBLOBS) })
    end
    local g = helper.spawn_lua(GC, { helper.pool(), ns, tostring(seconds + 2) })
    local pushed, ups, total_ok, total_failed, history = {}, {}, 0, 0, {}
    for p = 1, PUSHERS do
      local out, rc = helper.wait(procs[p])
      assert.equal(0, rc, out)
      for what, d, tag, rest in out:gmatch("(%u+) (%S+) (%S+)([^\n]*)") do
        local key = "race/p" .. p .. ":" .. tag
        history[key] = (history[key] and history[key] .. " " or "") .. what .. rest
        if what == "PUSHED" then pushed[#pushed + 1] = { repo = "race/p" .. p, digest = d, tag = tag } end
      end
      ups[#ups + 1] = { repo = "race/p" .. p, id = assert(out:match("UPLOAD (%S+)")) }
      local okn, failn = out:match("DONE (%d+) (%d+)")
      total_ok, total_failed = total_ok + tonumber(okn), total_failed + tonumber(failn)
    end
    -- a put that succeeded with a blob gone for good is the failure this
    -- spec is for
    for key, h in pairs(history) do
      assert.is_nil(h:match("NOTWHOLE"), key .. " lost a blob after its put succeeded: " .. h)
    end
    local gout, grc = helper.wait(g)
    assert.equal(0, grc, gout)
    assert.is_nil(gout:match("GCERROR"), gout)
    local runs = tonumber(gout:match("GC (%d+)"))
    assert.is_true(runs >= 2, gout)
    assert.is_true(total_ok > 0, "no push succeeded")
    -- every successful push pulls whole (an image pushed again, once)
    local pulled, bytes, seen = 0, 0, {}
    for _, p in ipairs(pushed) do
      local key = p.repo .. ":" .. p.tag
      if not seen[key] then
        seen[key] = true
        bytes = bytes + pull(reg, drv, p.repo, p.tag, p.digest, history[key])
        pulled = pulled + 1
      end
    end
    -- the uploads in progress go on and commit
    for _, u in ipairs(ups) do
      local up = assert(reg:repository(u.repo).blobs:resume(u.id))
      local data = "upload in progress " .. u.repo:match("p%d")
      assert(up:commit(util.digest(data)))
    end
    -- and a last gc leaves no quarantine behind
    assert(gc.run(reg, { grace = 0 }))
    assert.is_nil(drv:list(R .. "/_gc"))
    print(string.format("\n# gc race: %d pushers, %d pushes succeeded (%d images, each pulled whole: %d blob bytes"
      .. " read), %d failed cleanly; gc runs, blobs deleted, restored: %s", PUSHERS, total_ok, pulled, bytes,
      total_failed, gout:match("GC ([^\n]*)")))
    local transient = 0
    for _, h in pairs(history) do for _ in h:gmatch("TRANSIENT") do transient = transient + 1 end end
    print(string.format("# gc race: %d successful puts found a blob in gc's quarantine for a moment", transient))
    helper.clear(drv)
    drv:close()
  end)
end)
