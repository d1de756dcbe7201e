--- A local directory seen through the part of the driver contract that
-- migrate uses (walk, stat, get_content, put_content, reader, writer), so
-- that one copy loop moves trees between RADOS and distribution's
-- filesystem driver. Driver path /a/b is the file <dir>/a/b, as the
-- filesystem driver's `rootdirectory` maps it.
--
-- Writers write <file>.regstore-<uuid> and rename it over the file on
-- commit: a file is whole or absent, as a RADOS commit is, so an
-- interrupted migrate leaves nothing half-written for the next run to skip.
-- Needs LuaFileSystem (Debian's lua-filesystem).

local lfs = require "lfs"
local regstore = require "regstore"

local fsdir = {}

local Dir = {}
Dir.__index = Dir

local function fail(code, fmt, ...)
  return nil, "regstore: " .. string.format(fmt, ...), code
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
  local f, err = io.open(self:file(path), "rb")
  if not f then return fail("not_found", "%s", err) end
  local s = f:read("*a")
  f:close()
  if not s then return fail("is_dir", "%s is a directory", self:file(path)) end
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
  local tmp = target .. ".regstore-" .. regstore.uuid()
  local f
  f, err = io.open(tmp, "wb")
  if not f then return fail("io", "%s", err) end
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

function Reader:read(n)
  local s = self.f:read(n)
  if s == nil or s == "" then return nil end
  return s
end

function Reader:close() self.f:close() return true end

function Dir:reader(path)
  local f, err = io.open(self:file(path), "rb")
  if not f then return fail("not_found", "%s", err) end
  return setmetatable({ f = f }, Reader)
end

-- Depth-first, children in byte order, as the driver walks.
local function walk(self, path, fn)
  local names = {}
  local file = self:file(path)
  local ok, iter, state = pcall(lfs.dir, file)
  if not ok then return fail("not_found", "%s", tostring(iter)) end
  for name in iter, state do
    if name ~= "." and name ~= ".." and not name:find("%.regstore%-") then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = path .. "/" .. name
    local a = lfs.attributes(self:file(p))
    if a then
      local r = fn(info_of(p, a))
      if r == "stop" then return "stop" end
      if a.mode == "directory" and r ~= "skip" then
        local w, msg, code = walk(self, p, fn)
        if w == "stop" then return "stop" end
        if not w then return nil, msg, code end
      end
    end
  end
  return true
end

function Dir:walk(path, fn)
  local r, msg, code = walk(self, path, fn)
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
