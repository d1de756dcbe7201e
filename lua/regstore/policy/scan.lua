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

-- Digests below a directory of <alg>/<hex> entries: { [digest] = true }.
local function digests(ctx, dir, into)
  local algs, msg, code = names(ctx, dir)
  if not algs then return nil, msg, code end
  for _, alg in ipairs(algs) do
    local hexes
    hexes, msg, code = names(ctx, dir .. "/" .. alg)
    if not hexes then return nil, msg, code end
    for _, hex in ipairs(hexes) do
      local d = alg .. ":" .. hex
      if validate.digest(d) then into[d] = true end
    end
  end
  return into
end

-- Calls f(name, dir, has) for every repository directory: one with an
-- `_`-entry (has = { _manifests = true, ... }), names nesting.
local function each_repository(ctx, dir, name, f, tick)
  local kids, msg, code = names(ctx, dir)
  if not kids then return nil, msg, code end
  local has, any = {}, false
  for _, k in ipairs(kids) do
    if k:sub(1, 1) == "_" then has[k], any = true, true end
  end
  if name and any and validate.name(name) then
    local ok
    ok, msg, code = f(name, dir, has)
    if not ok then return nil, msg, code end
    tick()
  end
  for _, k in ipairs(kids) do
    if k:sub(1, 1) ~= "_" then
      local ok
      ok, msg, code = each_repository(ctx, dir .. "/" .. k, name and name .. "/" .. k or k, f, tick)
      if not ok then return nil, msg, code end
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

--- The repositories. opts: uploads (read each upload's files, with their
-- info), on_entry (called per repository, for progress). Returns
-- { repos = { [name] = { name, dir, revisions = { [digest] = true },
-- layers = { [digest] = true }, tags = { [tag] = true }, uploads = { [id] =
-- { id, files } } } }, names = sorted names }, or nil, message, code.
function scan.repositories(ctx, opts)
  opts = opts or {}
  local repos, count = {}, 0
  local tick = function()
    count = count + 1
    if opts.on_entry then opts.on_entry(count) end
  end
  local ok, msg, code = each_repository(ctx, ctx.paths:path_for("repositories"), nil, function(name, dir, has)
    local r = { name = name, dir = dir, revisions = {}, layers = {}, tags = {}, uploads = {} }
    local ok, m, c
    if has._manifests then
      ok, m, c = digests(ctx, dir .. "/_manifests/revisions", r.revisions)
      if not ok then return nil, m, c end
      local t
      t, m, c = names(ctx, dir .. "/_manifests/tags")
      if not t then return nil, m, c end
      for _, tag in ipairs(t) do r.tags[tag] = true end
    end
    if has._layers then
      ok, m, c = digests(ctx, dir .. "/_layers", r.layers)
      if not ok then return nil, m, c end
    end
    if has._uploads and opts.uploads then
      r.uploads, m, c = uploads(ctx, dir)
      if not r.uploads then return nil, m, c end
    end
    repos[name] = r
    return true
  end, tick)
  if not ok then return nil, msg, code end
  local list = {}
  for n in pairs(repos) do list[#list + 1] = n end
  table.sort(list)
  return { repos = repos, names = list }
end

--- The digests in blobs/: { [digest] = true }, count.
function scan.blobs(ctx, on_entry)
  local root = ctx.paths:path_for("blobs")
  local algs, msg, code = names(ctx, root)
  if not algs then return nil, msg, code end
  local out, n = {}, 0
  for _, alg in ipairs(algs) do
    local prefixes
    prefixes, msg, code = names(ctx, root .. "/" .. alg)
    if not prefixes then return nil, msg, code end
    for _, p in ipairs(prefixes) do
      local hexes
      hexes, msg, code = names(ctx, root .. "/" .. alg .. "/" .. p)
      if not hexes then return nil, msg, code end
      for _, hex in ipairs(hexes) do
        local d = alg .. ":" .. hex
        if hex:sub(1, 2) == p and validate.digest(d) then
          out[d] = true
          n = n + 1
        end
      end
      if on_entry then on_entry(n) end
    end
  end
  return out, n
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

--- Sorted keys of a table.
function scan.keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end

return scan
