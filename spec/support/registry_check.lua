-- The registry-level invariants of a tree, the oracle of the policy specs
-- It reads the tree through a driver, in distribution's v2
-- layout (lua/regstore/registry/paths.lua), and on purpose shares no code
-- with the policies (mark, scan, references): a bug there must not hide
-- itself here. Only the path mapper and the driver are used.
--
--   local check = require "support.registry_check"
--   local problems = check.check(drv, root [, { history = true }])  -- {} when fine
--   local ok, why = check.pullable(reg, "repo/name", "tag" or "sha256:...")
--   check.assert_clean(drv, root, what)     -- raises with every problem
--
-- What check() holds a tree to:
--   * every tag's current link resolves to a revision of its repository
--     whose blob data exists;
--   * every revision of a repository has its blob data (and it hashes to
--     its digest), and every blob it references (config, layers, an OCI
--     artifact's `blobs`, schema 1 `fsLayers[].blobSum`) is linked in the
--     repository (_layers/<alg>/<hex>/link) and present in blobs/ (foreign
--     layers that carry URLs need not be); every child of an index or list
--     is a revision of the repository;
--   * every link (revision, layer, tag current, tag index) holds a digest,
--     the one its path names where the path names one, and no link names a
--     missing blob -- except a tag's history (tags/<tag>/index/...), which
--     distribution itself leaves naming a manifest a client deleted after
--     the tag moved on (its manifest delete unlinks the revision only, its
--     gc cleans history only for what it deletes); check(drv, root,
--     { history = true }) holds those too, and check.history_problems(drv,
--     root) lists them alone;
--   * nothing is left under <root>/_gc (gc's quarantine: parked blobs,
--     revisions, layer links).
--
-- pullable() is what a client's pull does, through the registry API:
-- resolve the tag (or take the digest), get the manifest, check its bytes
-- hash to the digest, read every blob it references to the end and hash it,
-- and recurse into the children of an index or list.
local json = require "cjson.safe"
local regstore = require "regstore"
local paths = require "regstore.registry.paths"

local check = {}

local DIGEST = "^sha256:%x+$"

local function valid_digest(d)
  return type(d) == "string" and d:match(DIGEST) ~= nil and #d == 71
end

local function sha256(data)
  return "sha256:" .. regstore.sha256():update(data):hexdigest()
end

-- Docker foreign layers and OCI non-distributable layers (with urls) need
-- not be in the registry (distribution's rule for a manifest put).
local FOREIGN = {
  ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"] = true,
  ["application/vnd.oci.image.layer.nondistributable.v1.tar"] = true,
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"] = true,
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"] = true,
}

--- What a manifest document references: blobs (digests a client fetches
-- from blobs/), children (manifests of an index or list), subject.
-- Returns nil, why for content that is not a JSON object.
function check.references(content)
  local doc = json.decode(content)
  if type(doc) ~= "table" then return nil, "not a JSON object" end
  local out = { blobs = {}, children = {}, bad = {} }
  local function desc(list_name, d, i)
    if type(d) ~= "table" then
      out.bad[#out.bad + 1] = string.format("%s[%s] is not a descriptor", list_name, tostring(i))
      return
    end
    if not valid_digest(d.digest) then
      out.bad[#out.bad + 1] = string.format("%s[%s] has digest %s", list_name, tostring(i), tostring(d.digest))
      return nil
    end
    return d.digest
  end
  if doc.config ~= nil then
    local d = desc("config", doc.config, "")
    if d then out.blobs[#out.blobs + 1] = d end
  end
  for _, field in ipairs { "layers", "blobs" } do
    if type(doc[field]) == "table" then
      for i, l in ipairs(doc[field]) do
        local d = desc(field, l, i)
        local foreign = type(l) == "table" and FOREIGN[l.mediaType] and type(l.urls) == "table" and #l.urls > 0
        if d and not foreign then out.blobs[#out.blobs + 1] = d end
      end
    end
  end
  if type(doc.fsLayers) == "table" then -- schema 1
    for i, l in ipairs(doc.fsLayers) do
      local d = type(l) == "table" and l.blobSum
      if valid_digest(d) then
        out.blobs[#out.blobs + 1] = d
      else
        out.bad[#out.bad + 1] = string.format("fsLayers[%d].blobSum is %s", i, tostring(d))
      end
    end
  end
  if type(doc.manifests) == "table" then
    for i, c in ipairs(doc.manifests) do
      local d = desc("manifests", c, i)
      if d then out.children[#out.children + 1] = d end
    end
  end
  if type(doc.subject) == "table" and valid_digest(doc.subject.digest) then out.subject = doc.subject.digest end
  return out
end

-- Every file under root: { [path] = true }, or raises when the walk fails
-- (an oracle that cannot read must not answer "fine").
local function files_under(drv, root)
  local files = {}
  local ok, msg, code = drv:walk(root, function(info)
    if not info.is_dir then files[info.path] = true end
  end)
  if not ok and code ~= "not_found" then error("registry_check: walk " .. root .. ": " .. tostring(msg)) end
  return files
end

local function sorted_keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end

--- The problems of the tree at root (default /docker/registry/v2): a
-- sorted list of strings, empty when every invariant above holds.
function check.check(drv, root, opts)
  root = root or paths.DEFAULT_ROOT
  local strict_history = opts and opts.history
  local history = {}
  local mapper = paths.new(root)
  local problems = {}
  local function problem(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end

  local files = files_under(drv, root)
  local blobs = {} -- digest -> true (its data file is there)
  local repos = {} -- name -> { layers = {d = path}, revisions = {d = path}, tags = {tag = {current, index}} }
  local function repo(name)
    repos[name] = repos[name] or { layers = {}, revisions = {}, tags = {} }
    return repos[name]
  end
  local pre = root .. "/"
  for _, p in ipairs(sorted_keys(files)) do
    local rel = p:sub(#pre + 1)
    local hex = rel:match("^blobs/sha256/%x%x/(%x+)/data$")
    if hex then
      blobs["sha256:" .. hex] = p
    elseif rel:find("^blobs/") then
      problem("stray file under blobs/: %s", p)
    elseif rel:find("^_gc/") or rel == "_gc" then
      problem("left in gc's quarantine: %s", p)
    elseif rel:find("^repositories/") then
      local r = rel:sub(#"repositories/" + 1)
      local name, kind, rest = r:match("^(.-)/(_[a-z]+)/(.*)$")
      if not name then
        problem("stray file under repositories/: %s", p)
      elseif kind == "_uploads" then
        -- uploads in progress are purge-uploads' (nothing to hold here)
        local _ = repo
      elseif kind == "_layers" then
        local lhex = rest:match("^sha256/(%x+)/link$")
        if lhex then repo(name).layers["sha256:" .. lhex] = p else problem("stray file under _layers: %s", p) end
      elseif kind == "_manifests" then
        local mhex = rest:match("^revisions/sha256/(%x+)/link$")
        local tag, what = rest:match("^tags/([^/]+)/(.*)$")
        if mhex then
          repo(name).revisions["sha256:" .. mhex] = p
        elseif tag and what == "current/link" then
          local t = repo(name).tags
          t[tag] = t[tag] or { index = {} }
          t[tag].current = p
        elseif tag and what:match("^index/sha256/%x+/link$") then
          local t = repo(name).tags
          t[tag] = t[tag] or { index = {} }
          t[tag].index["sha256:" .. what:match("^index/sha256/(%x+)/link$")] = p
        else
          problem("stray file under _manifests: %s", p)
        end
      else
        problem("stray file under repositories/: %s", p)
      end
    else
      problem("stray file under the root: %s", p)
    end
  end

  -- A link's content: a digest, the one its path names (want) when given.
  local function link(p, want)
    local content, msg, code = drv:get_content(p)
    if not content then
      problem("link %s unreadable: %s (%s)", p, tostring(msg), tostring(code))
      return nil
    end
    if not valid_digest(content) then
      problem("link %s holds %q, not a digest", p, content:sub(1, 80))
      return nil
    end
    if want and content ~= want then
      problem("link %s holds %s, not the digest its path names", p, content)
    end
    return content
  end

  local parsed = {} -- digest -> refs or false
  local function manifest(d)
    if parsed[d] ~= nil then return parsed[d] end
    parsed[d] = false
    local content, msg, code = drv:get_content(mapper:path_for("blob_data", { digest = d }))
    if not content then
      problem("manifest %s: blob data unreadable: %s (%s)", d, tostring(msg), tostring(code))
      return false
    end
    if sha256(content) ~= d then
      problem("manifest %s: blob data hashes to %s", d, sha256(content))
      return false
    end
    local refs, why = check.references(content)
    if not refs then
      problem("manifest %s: %s", d, why)
      return false
    end
    for _, b in ipairs(refs.bad) do problem("manifest %s: %s", d, b) end
    parsed[d] = refs
    return refs
  end

  for _, name in ipairs(sorted_keys(repos)) do
    local r = repos[name]
    for _, d in ipairs(sorted_keys(r.layers)) do
      link(r.layers[d], d)
      if not blobs[d] then problem("%s: layer link %s names a missing blob", name, d) end
    end
    for _, d in ipairs(sorted_keys(r.revisions)) do
      link(r.revisions[d], d)
      if not blobs[d] then
        problem("%s: revision %s has no blob data", name, d)
      else
        local refs = manifest(d)
        if refs then
          for _, b in ipairs(refs.blobs) do
            if not r.layers[b] then
              problem("%s: manifest %s references %s, not linked in the repository", name, d, b)
            end
            if not blobs[b] then problem("%s: manifest %s references %s, missing from blobs/", name, d, b) end
          end
          for _, c in ipairs(refs.children) do
            if not r.revisions[c] then
              problem("%s: index %s has child %s, not a revision of the repository", name, d, c)
            end
          end
        end
      end
    end
    for _, tag in ipairs(sorted_keys(r.tags)) do
      local t = r.tags[tag]
      if t.current then
        local d = link(t.current)
        if d then
          if not r.revisions[d] then
            problem("%s:%s points at %s, not a revision of the repository", name, tag, d)
          elseif not blobs[d] then
            problem("%s:%s points at %s, whose blob data is missing", name, tag, d)
          end
        end
      end
      for _, d in ipairs(sorted_keys(t.index)) do
        link(t.index[d], d)
        if not blobs[d] then
          local msg = string.format("%s:%s history (index) names %s, a missing blob", name, tag, d)
          history[#history + 1] = msg
          if strict_history then problems[#problems + 1] = msg end
        end
      end
    end
  end
  table.sort(problems)
  table.sort(history)
  return problems, history
end

--- The tag-history links (tags/<tag>/index/...) that name a missing blob.
function check.history_problems(drv, root)
  local _, history = check.check(drv, root)
  return history
end

--- Raises with every problem of check() (what: a label for the message).
function check.assert_clean(drv, root, what)
  local problems = check.check(drv, root)
  if #problems > 0 then
    error(string.format("registry_check%s: %d problem(s):\n  %s", what and (" (" .. what .. ")") or "",
      #problems, table.concat(problems, "\n  ")), 2)
  end
end

local function read_blob(repo, d)
  local r, msg, code = repo.blobs:reader(d)
  if not r then return nil, string.format("blob %s: reader: %s (%s)", d, tostring(msg), tostring(code)) end
  local h = regstore.sha256()
  while true do
    local s
    s, msg, code = r:read(1048576)
    if not s then break end
    h:update(s)
  end
  r:close()
  if msg then return nil, string.format("blob %s: read: %s (%s)", d, tostring(msg), tostring(code)) end
  if "sha256:" .. h:hexdigest() ~= d then return nil, string.format("blob %s: read back as other bytes", d) end
  return true
end

local function pull_manifest(repo, name, d, depth, seen)
  if seen[d] then return true end
  seen[d] = true
  if depth > 8 then return nil, "index nesting deeper than 8 at " .. d end
  local content, msg, code = repo.manifests:get(d)
  if not content then return nil, string.format("manifest %s@%s: %s (%s)", name, d, tostring(msg), tostring(code)) end
  if sha256(content) ~= d then
    return nil, string.format("manifest %s@%s: content hashes to %s", name, d, sha256(content))
  end
  local refs, why = check.references(content)
  if not refs then return nil, string.format("manifest %s@%s: %s", name, d, why) end
  for _, b in ipairs(refs.blobs) do
    local ok, err = read_blob(repo, b)
    if not ok then return nil, string.format("manifest %s@%s: %s", name, d, err) end
  end
  for _, c in ipairs(refs.children) do
    local ok, err = pull_manifest(repo, name, c, depth + 1, seen)
    if not ok then return nil, string.format("index %s@%s: child: %s", name, d, err) end
  end
  return true
end

--- Whether a client could pull name:ref (a tag or a digest) whole now:
-- true, or nil and why.
function check.pullable(reg, name, ref)
  local repo = reg:repository(name)
  local d = ref
  if not valid_digest(ref) then
    local got, msg, code = repo.tags:get(ref)
    if not got then return nil, string.format("tag %s:%s: %s (%s)", name, ref, tostring(msg), tostring(code)) end
    d = got
  end
  return pull_manifest(repo, name, d, 0, {})
end

return check
