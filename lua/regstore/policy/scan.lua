--- One walk of a registry tree, as the policies read it: the repositories
-- with their manifest revisions, layer links, tags and uploads, and the
-- blobs with their sizes. The driver's walk lists each directory in pages
-- and stats its files with a window of reads in flight, so a scan costs a
-- few round trips per directory, never one per entry. Digests come from the
-- paths (as distribution's enumerations take them), not from link contents:
-- reading every link would be one round trip per entry, and fsck is the
-- policy that checks contents.

local validate = require "regstore.registry.validate"
local paths = require "regstore.registry.paths"

local scan = {}

local function repo_entry(repos, name)
  local r = repos[name]
  if not r then
    r = { name = name, revisions = {}, layers = {}, tags = {}, uploads = {} }
    repos[name] = r
  end
  return r
end

-- A digest from "<alg>/<hex>" parts, or nil.
local function digest(alg, hex)
  local d = alg .. ":" .. hex
  if validate.digest(d) then return d end
  return nil
end

-- Sorts out one entry below repositories/<name>/_manifests.
local function manifests_entry(r, rest, info, opts)
  local alg, hex = rest:match("^/revisions/([^/]+)/([^/]+)/link$")
  if alg then
    local d = digest(alg, hex)
    if d then r.revisions[d] = info.modtime else r.strays = (r.strays or 0) + 1 end
    return nil
  end
  local tag = rest:match("^/tags/([^/]+)/current/link$")
  if tag then
    r.tags[tag] = info.modtime
    return nil
  end
  if info.is_dir and rest:find("^/tags/[^/]+/index$") and not opts.tag_index then return "skip" end
  return nil
end

-- Sorts out one entry below repositories/<name>/_uploads.
local function uploads_entry(r, rest, info)
  local id, file = rest:match("^/([^/]+)(.*)$")
  if not id then return nil end
  local u = r.uploads[id]
  if not u then
    u = { id = id, files = {} }
    r.uploads[id] = u
  end
  if not info.is_dir and file ~= "" then u.files[file:sub(2)] = info end
  return nil
end

--- Walks repositories/. opts: uploads (descend into _uploads), tag_index
-- (descend into tags' history), on_entry (called per entry, for progress).
-- Returns { repos = { [name] = { name, revisions = { [digest] = modtime },
-- layers = { [digest] = modtime }, tags = { [tag] = modtime },
-- uploads = { [id] = { id, files = { [relative path] = info } } } } },
-- names = sorted names, entries = N }, or nil, message, code.
function scan.repositories(ctx, opts)
  opts = opts or {}
  local root = ctx.paths:path_for("repositories")
  local skip = #root + 2
  local repos, entries = {}, 0
  local on_entry = opts.on_entry
  local ok, msg, code = ctx.drv:walk(root, function(info)
    entries = entries + 1
    if on_entry then on_entry(entries) end
    local rel = info.path:sub(skip)
    -- the first component that starts with "_" ends the name (names never do)
    local name, kind, rest = rel:match("^(.-)/(_[^/]+)(.*)$")
    if not name then
      if rel:sub(1, 1) == "_" then return "skip" end
      return nil
    end
    if not validate.name(name) then return "skip" end
    if kind == "_manifests" then
      return manifests_entry(repo_entry(repos, name), rest, info, opts)
    elseif kind == "_layers" then
      local alg, hex = rest:match("^/([^/]+)/([^/]+)/link$")
      if alg then
        local d = digest(alg, hex)
        local r = repo_entry(repos, name)
        if d then r.layers[d] = info.modtime else r.strays = (r.strays or 0) + 1 end
      end
      return nil
    elseif kind == "_uploads" then
      if not opts.uploads then return "skip" end
      return uploads_entry(repo_entry(repos, name), rest, info)
    end
    return "skip"
  end)
  if not ok and code ~= "not_found" then return nil, msg, code end
  local names = {}
  for n in pairs(repos) do names[#names + 1] = n end
  table.sort(names)
  return { repos = repos, names = names, entries = entries }
end

--- Walks blobs/: { [digest] = { size, modtime, path } }, count, bytes.
function scan.blobs(ctx, on_entry)
  local out, n, bytes = {}, 0, 0
  local ok, msg, code = ctx.drv:walk(ctx.paths:path_for("blobs"), function(info)
    if info.is_dir or paths.base(info.path) ~= "data" then return nil end
    local d = paths.digest_from_path(info.path)
    if d then
      out[d] = { size = info.size, modtime = info.modtime, path = info.path }
      n = n + 1
      bytes = bytes + info.size
      if on_entry then on_entry(n, bytes) end
    end
    return nil
  end)
  if not ok and code ~= "not_found" then return nil, msg, code end
  return out, n, bytes
end

--- Sorted keys of a table.
function scan.keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end

return scan
