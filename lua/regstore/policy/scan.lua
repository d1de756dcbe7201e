--- What the policies read of a registry tree, by listings only: the
-- repositories with their manifest revisions, layer links, tags and
-- uploads, and the digests in blobs/. Each directory is listed once, in
-- pages of 1024 names per round trip; nothing is stat'ed. Distribution's
-- layout puts every link and every blob in a directory of its own, so a
-- walk (which stats the files of each directory it visits) would cost a
-- round trip per entry: the policies stat only the few entries they may act
-- on (scan.modtime). Digests come from the paths, as distribution's
-- enumerations take them; fsck is the policy that reads link contents.

local validate = require "regstore.registry.validate"
local batch = require "regstore.registry.batch"

local scan = {}

-- The base names of a directory's children; {} when it is missing.
local function names(ctx, dir)
  local list, msg, code = ctx.drv:list(dir)
  if not list then
    if code == "not_found" or code == "not_dir" then return {} end
    return nil, msg, code
  end
  for i = 1, #list do list[i] = list[i]:match("([^/]+)$") end
  return list
end
scan.names = names

-- names() of many directories at once (the driver's batch listings):
-- { [i] = base names }, or nil, message, code on a failure (never taken
-- for a missing directory).
local function names_many(ctx, dirs)
  local res, msgs, codes = batch.list(ctx.drv, dirs)
  local out = {}
  for i = 1, #dirs do
    local list = res[i]
    if not list then
      if codes[i] ~= "not_found" and codes[i] ~= "not_dir" then return nil, msgs[i], codes[i] end
      list = {}
    else
      for k = 1, #list do list[k] = list[k]:match("([^/]+)$") end
    end
    out[i] = list
  end
  return out
end

-- Digests of <alg>/<hex> directories: lists (the base names of each dir of
-- dirs, its algorithms) -> the alg directories listed in one batch ->
-- into[k] = { [digest] = true }.
local function digests_many(ctx, dirs, algs, into)
  local sub, owner, alg_of = {}, {}, {}
  for k, dir in ipairs(dirs) do
    for _, alg in ipairs(algs[k]) do
      sub[#sub + 1] = dir .. "/" .. alg
      owner[#sub], alg_of[#sub] = k, alg
    end
  end
  local lists, msg, code = names_many(ctx, sub)
  if not lists then return nil, msg, code end
  for i, hexes in ipairs(lists) do
    for _, hex in ipairs(hexes) do
      local d = alg_of[i] .. ":" .. hex
      if validate.digest(d) then into[owner[i]][d] = true end
    end
  end
  return true
end

-- The files of each upload, by a walk of the repository's _uploads (small:
-- uploads in progress): { [id] = { id, files = { [relative path] = info } } }.
local function uploads(ctx, dir)
  local out = {}
  local base = dir .. "/_uploads"
  local ok, msg, code = ctx.drv:walk(base, function(info)
    local id, file = info.path:sub(#base + 2):match("^([^/]+)(.*)$")
    if not id then return nil end
    local u = out[id]
    if not u then
      u = { id = id, files = {} }
      out[id] = u
    end
    if not info.is_dir and file ~= "" then u.files[file:sub(2)] = info end
    return nil
  end)
  if not ok and code ~= "not_found" then return nil, msg, code end
  return out
end

-- What the repositories found at one level hold (found[i] = { name, dir,
-- has }), read with batch listings: revisions and layers (two rounds:
-- algorithms, then digests) and tags; uploads by a walk when asked.
local function read_repos(ctx, found, opts, repos, tick)
  local dirs, what = {}, {}
  for i, f in ipairs(found) do
    f.r = { name = f.name, dir = f.dir, revisions = {}, layers = {}, tags = {}, uploads = {} }
    local function add(dir, kind)
      local n = #dirs + 1
      dirs[n], what[n] = dir, { i, kind }
    end
    if f.has._manifests then
      add(f.dir .. "/_manifests/revisions", "revisions")
      add(f.dir .. "/_manifests/tags", "tags")
    end
    if f.has._layers then add(f.dir .. "/_layers", "layers") end
  end
  local lists, msg, code = names_many(ctx, dirs)
  if not lists then return nil, msg, code end
  local ddirs, dalgs, dinto = {}, {}, {}
  for k, w in ipairs(what) do
    local r = found[w[1]].r
    if w[2] == "tags" then
      for _, tag in ipairs(lists[k]) do r.tags[tag] = true end
    else
      local n = #ddirs + 1
      ddirs[n], dalgs[n], dinto[n] = dirs[k], lists[k], r[w[2]]
    end
  end
  local ok
  ok, msg, code = digests_many(ctx, ddirs, dalgs, dinto)
  if not ok then return nil, msg, code end
  for _, f in ipairs(found) do
    if f.has._uploads and opts.uploads then
      f.r.uploads, msg, code = uploads(ctx, f.dir)
      if not f.r.uploads then return nil, msg, code end
    end
    repos[f.name] = f.r
    tick()
  end
  return true
end

--- The repositories. opts: uploads (read each upload's files, with their
-- info), on_entry (called per repository, for progress). Returns
-- { repos = { [name] = { name, dir, revisions = { [digest] = true },
-- layers = { [digest] = true }, tags = { [tag] = true }, uploads = { [id] =
-- { id, files } } } }, names = sorted names }, or nil, message, code.
-- The tree is read a level at a time, each level's directories listed in
-- one batch (a repository is a directory with an `_`-entry; names nest).
function scan.repositories(ctx, opts)
  opts = opts or {}
  local repos, count = {}, 0
  local tick = function()
    count = count + 1
    if opts.on_entry then opts.on_entry(count) end
  end
  local frontier = { { dir = ctx.paths:path_for("repositories") } }
  while #frontier > 0 do
    local dirs = {}
    for i, f in ipairs(frontier) do dirs[i] = f.dir end
    local lists, msg, code = names_many(ctx, dirs)
    if not lists then return nil, msg, code end
    local nxt, found = {}, {}
    for i, f in ipairs(frontier) do
      local has, any = {}, false
      for _, k in ipairs(lists[i]) do
        if k:sub(1, 1) == "_" then
          has[k], any = true, true
        else
          nxt[#nxt + 1] = { dir = f.dir .. "/" .. k, name = f.name and f.name .. "/" .. k or k }
        end
      end
      if f.name and any and validate.name(f.name) then
        found[#found + 1] = { name = f.name, dir = f.dir, has = has }
      end
    end
    local ok
    ok, msg, code = read_repos(ctx, found, opts, repos, tick)
    if not ok then return nil, msg, code end
    frontier = nxt
  end
  local list = {}
  for n in pairs(repos) do list[#list + 1] = n end
  table.sort(list)
  return { repos = repos, names = list }
end

--- The digests in blobs/: { [digest] = true }, count. The prefix
-- directories are listed in batches.
function scan.blobs(ctx, on_entry)
  local root = ctx.paths:path_for("blobs")
  local algs, msg, code = names(ctx, root)
  if not algs then return nil, msg, code end
  local adirs = {}
  for i, alg in ipairs(algs) do adirs[i] = root .. "/" .. alg end
  local prefixes
  prefixes, msg, code = names_many(ctx, adirs)
  if not prefixes then return nil, msg, code end
  local pdirs, palg, pp = {}, {}, {}
  for i, alg in ipairs(algs) do
    for _, p in ipairs(prefixes[i]) do
      pdirs[#pdirs + 1] = adirs[i] .. "/" .. p
      palg[#pdirs], pp[#pdirs] = alg, p
    end
  end
  local out, n = {}, 0
  for first = 1, #pdirs, batch.CHUNK do
    local chunk = {}
    for i = first, math.min(first + batch.CHUNK - 1, #pdirs) do chunk[#chunk + 1] = pdirs[i] end
    local hexes
    hexes, msg, code = names_many(ctx, chunk)
    if not hexes then return nil, msg, code end
    for k, list in ipairs(hexes) do
      local alg, p = palg[first + k - 1], pp[first + k - 1]
      for _, hex in ipairs(list) do
        local d = alg .. ":" .. hex
        if hex:sub(1, 2) == p and validate.digest(d) then
          out[d] = true
          n = n + 1
        end
      end
    end
    if on_entry then on_entry(n) end
  end
  return out, n
end

--- Walks dir, calling file(info, rel) for each file under it (rel: its path
-- below dir) and dir(info, rel) for each directory when given (its answer,
-- "skip" among them, is the walk's); a missing dir is an empty one.
-- Returns true, or nil, message, code.
function scan.walk_files(ctx, dir, file, on_dir)
  local ok, msg, code = ctx.drv:walk(dir, function(info)
    local rel = info.path:sub(#dir + 2)
    if not info.is_dir then return file(info, rel) end
    if on_dir then return on_dir(info, rel) end
  end)
  if not ok and code ~= "not_found" then return nil, msg, code end
  return true
end

--- A file's { size, modtime }; false when it is not there (or not a file);
-- nil, message, code when the store failed (never taken for "not there").
function scan.stat(ctx, kind, fields)
  local info, msg, code = ctx.drv:stat(ctx.paths:path_for(kind, fields))
  if info then return not info.is_dir and info end
  if code == "not_found" or code == "not_dir" then return false end
  return nil, msg, code
end

--- scan.stat of many paths, in windows (the driver's stat_many): { [path]
-- = { size, modtime } or false (not there, or not a file) }. A path whose
-- stat failed is left out: its caller stats it again on its own, and a
-- failure is never taken for "not there".
function scan.stat_many(ctx, list)
  local infos, _, codes = batch.stat(ctx.drv, list)
  local out = {}
  for i, path in ipairs(list) do
    local info = infos[i]
    if info then
      out[path] = not info.is_dir and info
    elseif codes[i] == "not_found" or codes[i] == "not_dir" then
      out[path] = false
    end
  end
  return out
end

--- The sizes of the blobs digests name: { [digest] = size }, a digest
-- whose data is not there left out. The data files are stat'ed in windows
-- (scan.stat_many); a stat that failed there is asked again on its own,
-- and a failure then stops it (nil, message, code): never a size left out
-- for a read that failed. tick(i, n), optional, after each digest.
function scan.blob_sizes(ctx, digests, tick)
  local paths = {}
  for i, d in ipairs(digests) do paths[i] = ctx.paths:path_for("blob_data", { digest = d }) end
  local infos = scan.stat_many(ctx, paths)
  local out = {}
  for i, d in ipairs(digests) do
    local info = infos[paths[i]]
    if info == nil then
      local msg, code
      info, msg, code = scan.stat(ctx, "blob_data", { digest = d })
      if info == nil then return nil, msg, code end
    end
    if info then out[d] = info.size end
    if tick then tick(i, #digests) end
  end
  return out
end

--- Sorted keys of a table.
function scan.keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end

return scan
