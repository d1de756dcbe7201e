--- A local directory seen through the part of the driver contract that
-- migrate uses (walk, stat, get_content, put_content, reader, writer), so
-- that one copy loop moves trees between RADOS and distribution's
-- filesystem driver. Driver path /a/b is the file <dir>/a/b, as the
-- filesystem driver's `rootdirectory` maps it.
--
-- Writers write a temporary beside the file and rename it over the file on
-- commit: a file is whole or absent, as a RADOS commit is. A temporary is
-- named <file>#regstore-<uuid>: '#' is in no name distribution's grammar
-- can produce (repository components, tags, digests, its own file names;
-- the driver's paths are [A-Za-z0-9._-]), so a temporary never hides a
-- file of the tree, and one that a killed run left is known for what it is:
-- the walk never shows it, and removes it when asked (migrate asks of its
-- destination).
--
-- The walk fails on anything it cannot read (code "io", the directory's
-- message), so that a partial listing is never taken for the whole tree.
-- An entry that vanishes between its listing and its reading is handed to
-- opts.vanished(path, is_dir, file): true skips it (a live registry
-- removes an upload's directory when the upload ends), anything else fails
-- the walk with "not_found" naming the file. Without opts, it fails.
-- Needs LuaFileSystem (Debian's lua-filesystem).

local lfs = require "lfs"
local regstore = require "regstore"
local crashpoint = require "regstore.policy.crashpoint"

local fsdir = {}

local Dir = {}
Dir.__index = Dir

local function fail(code, fmt, ...)
  return nil, "regstore: " .. string.format(fmt, ...), code
end

fsdir.TEMPORARY = "#regstore-"

--- Whether a file name is a writer's temporary.
function fsdir.is_temporary(name)
  return name:find(fsdir.TEMPORARY, 1, true) ~= nil
end

--- Whether dir is an existing directory.
function fsdir.is_dir(dir)
  return lfs.attributes(dir, "mode") == "directory"
end

-- A failed open of file: not_found when it is not there, io otherwise (a
-- permission, a read error): the caller must not take it for absence.
local function open_failed(file, err)
  if lfs.attributes(file) then return fail("io", "%s", err) end
  return fail("not_found", "%s", err)
end

function Dir:file(path) return self.dir .. path end

local function info_of(path, a)
  return { path = path, size = a.mode == "directory" and 0 or a.size,
    modtime = a.modification, is_dir = a.mode == "directory" }
end

function Dir:stat(path)
  local a = lfs.attributes(self:file(path))
  if not a then return fail("not_found", "path not found: %s", self:file(path)) end
  return info_of(path, a)
end

function Dir:get_content(path)
  local file = self:file(path)
  local f, err = io.open(file, "rb")
  if not f then return open_failed(file, err) end
  local s, rerr = f:read("*a")
  f:close()
  if not s then
    if lfs.attributes(file, "mode") == "directory" then return fail("is_dir", "%s is a directory", file) end
    return fail("io", "%s: %s", file, tostring(rerr))
  end
  return s
end

-- mkdir -p of the directory holding path.
local function make_parents(file)
  local dir = file:match("^(.*)/[^/]*$")
  if not dir or dir == "" or lfs.attributes(dir, "mode") == "directory" then return true end
  local ok, err = make_parents(dir)
  if not ok then return nil, err end
  local done, merr = lfs.mkdir(dir)
  if not done and lfs.attributes(dir, "mode") ~= "directory" then return nil, merr end
  return true
end

local Writer = {}
Writer.__index = Writer

function Writer:write(s)
  local ok, err = self.f:write(s)
  if not ok then return fail("io", "%s: %s", self.tmp, err) end
  if self.h then self.h:update(s) end
  self.n = self.n + #s
  return true
end

function Writer:size() return self.n end
function Writer:hash(h) self.h = h return self end

function Writer:commit()
  local ok, err = self.f:close()
  self.done = true
  crashpoint.reach("migrate.fs_closed")
  if ok then ok, err = os.rename(self.tmp, self.target) end
  if not ok then
    os.remove(self.tmp)
    return fail("io", "%s: %s", self.target, err)
  end
  return true
end

function Writer:cancel()
  if not self.done then self.f:close() end
  self.done = true
  os.remove(self.tmp)
  return true
end

function Writer:close()
  if not self.done then return self:cancel() end
  return true
end

function Dir:writer(path)
  local target = self:file(path)
  local ok, err = make_parents(target)
  if not ok then return fail("io", "%s: %s", target, err) end
  local tmp = target .. fsdir.TEMPORARY .. regstore.uuid()
  local f
  f, err = io.open(tmp, "wb")
  if not f then return fail("io", "%s", err) end
  crashpoint.reach("migrate.fs_opened")
  return setmetatable({ f = f, tmp = tmp, target = target, n = 0 }, Writer)
end

function Dir:put_content(path, data)
  local w, msg, code = self:writer(path)
  if not w then return nil, msg, code end
  local ok
  ok, msg, code = w:write(data)
  if not ok then w:cancel() return nil, msg, code end
  return w:commit()
end

local Reader = {}
Reader.__index = Reader

-- nil at the end; nil, message, "io" on a read error (not an end: a
-- truncated copy of a link would be committed as whole).
function Reader:read(n)
  local s, err = self.f:read(n)
  if s == nil and err then return fail("io", "%s: %s", self.file, err) end
  if s == nil or s == "" then return nil end
  return s
end

function Reader:close() self.f:close() return true end

function Dir:reader(path)
  local file = self:file(path)
  local f, err = io.open(file, "rb")
  if not f then return open_failed(file, err) end
  return setmetatable({ f = f, file = file }, Reader)
end

-- The names in a directory, sorted (byte order, as the driver walks), and
-- the temporaries in it; or nil, message, code (not_found when the
-- directory is not there, io when it is but cannot be read).
local function names_in(file)
  local ok, iter, state = pcall(lfs.dir, file)
  if not ok then return open_failed(file, tostring(iter)) end
  local names, temps = {}, {}
  ok, iter = pcall(function()
    for name in iter, state do
      if fsdir.is_temporary(name) then
        temps[#temps + 1] = file .. "/" .. name
      elseif name ~= "." and name ~= ".." then
        names[#names + 1] = name
      end
    end
  end)
  if not ok then return fail("io", "%s: %s", file, tostring(iter)) end
  table.sort(names)
  return names, temps
end

-- With opts.remove_temporaries, removes them (a killed run's), telling
-- opts.temporary of each; a temporary gone meanwhile is fine.
local function temporaries(temps, opts)
  if not opts.remove_temporaries then return true end
  for _, t in ipairs(temps) do
    local ok, err = os.remove(t)
    if not ok and lfs.attributes(t) then return fail("io", "%s", err) end
    if opts.temporary then opts.temporary(t) end
  end
  return true
end

-- An entry gone between its listing and its reading: skipped when
-- opts.vanished says so, else a failure naming it.
local function vanished(self, p, is_dir, opts)
  if opts.vanished and opts.vanished(p, is_dir, self:file(p)) == true then return true end
  return fail("not_found", "%s vanished during the walk", self:file(p))
end

-- Depth-first, children in byte order, as the driver walks.
local function walk(self, path, fn, opts, top)
  local names, temps, code = names_in(self:file(path))
  if not names then -- temps is the message
    if code == "not_found" and not top then return vanished(self, path, true, opts) end
    return nil, temps, code
  end
  local ok, msg
  ok, msg, code = temporaries(temps, opts)
  if not ok then return nil, msg, code end
  for _, name in ipairs(names) do
    local p = path .. "/" .. name
    local a = lfs.attributes(self:file(p))
    if not a then
      ok, msg, code = vanished(self, p, false, opts)
      if not ok then return nil, msg, code end
    else
      local r = fn(info_of(p, a))
      if r == "stop" then return "stop" end
      if a.mode == "directory" and r ~= "skip" then
        local w
        w, msg, code = walk(self, p, fn, opts)
        if w == "stop" then return "stop" end
        if not w then return nil, msg, code end
      end
    end
  end
  return true
end

--- The driver's walk, and opts (a directory store's own): { vanished =
-- function(path, is_dir, file) -> true to skip, remove_temporaries = true,
-- temporary = function(file) (after one was removed) }. A root that is not
-- there is not_found, as the driver answers.
function Dir:walk(path, fn, opts)
  local r, msg, code = walk(self, path, fn, opts or {}, true)
  if not r then return nil, msg, code end
  return true
end

function Dir.close() return true end

--- A directory as a driver (the directory is the filesystem driver's
-- rootdirectory: it holds docker/registry/v2).
function fsdir.new(dir)
  if type(dir) ~= "string" or dir == "" then error("fsdir.new: directory expected", 2) end
  dir = dir:gsub("/+$", "")
  return setmetatable({ dir = dir }, Dir)
end

return fsdir
