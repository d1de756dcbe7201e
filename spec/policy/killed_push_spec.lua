-- A push killed while it makes directories, then pushed again: the image
-- is listed and gc keeps it (issue 20's session 10 review). A registry
-- push makes a directory per blob, revision and tag, and links each into
-- its parent after it holds its entry; a push killed in between left a
-- directory that no listing shows. The same push again found its links in
-- place, wrote nothing, and answered success, while gc (which finds
-- revisions and repositories by listing) never saw the image and deleted
-- its blobs. Now a name in a directory not listed yet counts as missing
-- until a link lists it (RS_LINKING_XATTR, engine/src/dir.c).
--
-- For every occurrence of the two points between making a directory and
-- linking it (link.entry_set, link.parent_linked) in a push of a tagged
-- image into a new repository: the push killed there (the crash-point
-- build, a child process), the same push again in this process, then the
-- repository, its manifest and its tag are listed, gc --delete-untagged
-- with no grace deletes nothing of it, and the image pulls whole.
local helper = require "helper"
local inv = require "support.invariants"
local registry = require "regstore.registry"
local gc = require "regstore.policy.gc"

-- The push, as the child runs it and as this process runs it again: the
-- same bytes both times (an encoder's key order may differ by process).
local PUSH_IMAGE = [[
local regstore = require "regstore"
local function push(repo)
  local config, layer = '{"architecture":"amd64","os":"linux"}', "layer k"
  local function desc(mt, data)
    local hex = regstore.sha256():update(data):hexdigest()
    return string.format('{"mediaType":"%s","digest":"sha256:%s","size":%d}', mt, hex, #data)
  end
  assert(repo.blobs:put(config))
  assert(repo.blobs:put(layer))
  local mt = "application/vnd.oci.image.manifest.v1+json"
  local m = string.format('{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}', mt,
    desc("application/vnd.oci.image.config.v1+json", config), desc("application/vnd.oci.image.layer.v1.tar", layer))
  return assert(repo.manifests:put(m, mt, { tag = "v1" }))
end
]]
local push = assert(load(PUSH_IMAGE .. "return push"))()

local PUSH = PUSH_IMAGE .. [[
local helper = require "helper"
local registry = require "regstore.registry"
local drv = helper.connect { namespace = arg[1] }
push(registry.new(drv):repository("team/app"))
print("pushed")
]]

local POINTS = { ["link.entry_set"] = true, ["link.parent_linked"] = true }

-- The occurrences of POINTS in one push: { { point, n } }.
local function occurrences(cpath)
  local trace = os.tmpname()
  local out, rc = inv.run(PUSH, { helper.namespace("trace") }, { REGSTORE_CRASH_TRACE = trace }, cpath)
  assert(rc == 0, out)
  local seen, list = {}, {}
  for point in io.lines(trace) do
    seen[point] = (seen[point] or 0) + 1
    if POINTS[point] then list[#list + 1] = { point, seen[point] } end
  end
  os.remove(trace)
  return list
end

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

-- What a client's pull reads: the tag, the manifest, its blobs.
local function pulls(repo)
  local d = assert(repo.tags:get("v1"))
  local content = assert(repo.manifests:get(d))
  local doc = require("cjson").decode(content)
  assert(repo.blobs:get(doc.config.digest))
  for _, l in ipairs(doc.layers) do assert(repo.blobs:get(l.digest)) end
  return d
end

describe("a push killed while it makes directories, then pushed again #cluster #crash", function()
  local cpath, why = inv.crash_cpath()
  -- the crash build first, then where the rest (lua-cjson) is found
  if cpath then cpath = cpath:gsub(";;$", "") .. ";" .. package.cpath end

  it("is listed, and gc keeps it whole", function()
    if not cpath then pending(why) end
    local cases = occurrences(cpath)
    assert.is_true(#cases >= 6, "too few crash points in a push: " .. #cases)
    local failures = {}
    for _, case in ipairs(cases) do
      local at = case[1] .. ":" .. case[2]
      local drv, ns = helper.connect()
      local out, rc = inv.run(PUSH, { ns }, { REGSTORE_CRASH_AT = at }, cpath)
      if rc ~= 86 then
        failures[#failures + 1] = at .. ": the push was not killed there: " .. inv.exit_text(rc) .. " " .. out
      else
        local reg = registry.new(drv)
        local repo = reg:repository("team/app")
        local d = push(repo)
        local listed = assert(reg:repositories())
        local manifests = assert(repo.manifests:list())
        local tags = assert(repo.tags:list())
        if not contains(listed, "team/app") then failures[#failures + 1] = at .. ": repository not listed" end
        if not contains(manifests, d) then failures[#failures + 1] = at .. ": manifest not listed" end
        if not contains(tags, "v1") then failures[#failures + 1] = at .. ": tag not listed" end
        local r, msg = gc.run(drv, { grace = 0, delete_untagged = true, now = os.time() + 2 })
        if not r then
          failures[#failures + 1] = at .. ": gc failed: " .. tostring(msg)
        elseif #r.blobs > 0 or #r.manifests > 0 then
          failures[#failures + 1] = string.format("%s: gc deleted blobs { %s } and %d manifests (pushed %s)", at,
            table.concat(r.blobs, " "), #r.manifests, d)
        end
        local ok, err = pcall(pulls, repo)
        if not ok then failures[#failures + 1] = at .. ": does not pull: " .. tostring(err) end
      end
      drv:delete("/")
    end
    io.stderr:write(string.format("\n# killed push: %d crash cases, %d failures\n", #cases, #failures))
    inv.assert_none(failures)
  end)
end)
