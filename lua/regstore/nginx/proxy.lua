--- The worker's side of regstore.nginx.registry() and .driver(): objects
-- with the methods of regstore.registry and of the driver, whose every call
-- runs on nginx's thread pool (calls.lua in a thread VM) while the request's
-- coroutine yields. Fields and no-I/O methods (reg:repository(name),
-- repo.blobs, repo.manifests, repo.tags, reg.blobs) only extend a path here;
-- a method call sends the path and waits for the results.
--
-- Streams: :reader(...) answers a reader whose read(n) yields; repo.blobs:
-- create() / :resume(id) an upload, and drv:writer(path, append) a writer,
-- whose write(data) each run one job that resumes, writes and closes again,
-- so the object stays usable across a request's pieces (and any VM serves
-- each piece).

local threads = require "regstore.nginx.threads"
local validate = require "regstore.registry.validate"

local proxy = {}

local CALLS = "regstore.nginx.calls"
-- calls that move data run on the bulk threads; the rest on the meta ones
local BULK = { get_content = true, put_content = true, get = true, put = true }

local unpack = table.unpack or unpack -- luacheck: ignore 143
local function pack(...) return { n = select("#", ...), ... } end

local function check_args(args)
  for i = 1, args.n do
    local t = type(args[i])
    if t == "function" or t == "userdata" or t == "thread" then
      error("regstore.nginx: a " .. t .. " cannot be passed to the thread pool (argument " .. i .. ")", 3)
    end
  end
end

local function extend(path, step)
  local p = {}
  for i, s in ipairs(path) do p[i] = s end
  p[#p + 1] = step
  return p
end

---------------------------------------------------------------- streams

local Reader = {}
Reader.__index = Reader

--- Up to n bytes (nil at the end), or nil, message, code; yields meanwhile.
function Reader:read(n)
  if type(n) ~= "number" or n < 1 then error("bad argument #1 to 'read' (a positive number expected)", 2) end
  if self._done then return nil end
  local s, msg, code = threads.run("bulk", CALLS, "reader_read", self._which, self._path, self._method,
    self._name, self._offset, n)
  if s == nil then
    if msg == nil then self._done = true end
    return nil, msg, code
  end
  self._offset = self._offset + #s
  return s
end

function Reader:size() return self._size end
function Reader:close() self._done = true; return true end

local function open_reader(node, method, name, offset)
  offset = offset or 0
  local size, msg, code = threads.run("meta", CALLS, "reader_open", node._which, node._path, method, name, offset)
  if not size then return nil, msg, code end
  return setmetatable({ _which = node._which, _path = node._path, _method = method, _name = name,
    _offset = offset, _size = size }, Reader)
end

local Upload = {}
Upload.__index = Upload

local OCI = "regstore.oci.jobs"

function Upload:write(data)
  if type(data) ~= "string" then error("bad argument #1 to 'write' (string expected)", 2) end
  local size, msg, code = threads.run("bulk", OCI, "upload_write", self._repo, self.id, nil, { data })
  if not size then return nil, msg, code end
  self._size = size
  return true
end

function Upload:size() return self._size end
function Upload.close() return true end -- every write closed it already

function Upload:commit(digest, size)
  if size and size ~= self._size then
    return nil, string.format("regstore: upload %s has %.0f bytes, not %.0f", self.id, self._size, size),
      "size_invalid"
  end
  local got, msg, code = threads.run("meta", OCI, "upload_commit", self._repo, self.id, nil, {}, digest)
  if not got then return nil, msg, code end
  return { digest = digest, size = got }
end

function Upload:cancel()
  return threads.run("meta", OCI, "upload_cancel", self._repo, self.id)
end

local function upload(repo_name, id, size)
  return setmetatable({ id = id, _repo = repo_name, _size = size }, Upload)
end

local Writer = {}
Writer.__index = Writer

function Writer:write(data)
  if type(data) ~= "string" then error("bad argument #1 to 'write' (string expected)", 2) end
  local size, msg, code = threads.run("bulk", CALLS, "writer_write", self._file, self._append, data)
  if not size then return nil, msg, code end
  self._append, self._size = true, size
  return true
end

function Writer:size() return self._size end
function Writer.close() return true end -- every write closed it already
function Writer:commit() return threads.run("meta", CALLS, "writer_finish", self._file, self._append) end
function Writer:cancel() return threads.run("meta", CALLS, "writer_finish", self._file, self._append, true) end

---------------------------------------------------------------- the proxies

local Node = {}

-- Methods answered here, without a job: (node, args) -> results, or
-- DECLINE when the node is not one they apply to (the call then runs as a job).
local LOCAL = {}
local DECLINE = {}

-- A node at path under root which ("registry" or "driver").
local function node(which, path, repo_name)
  return setmetatable({ _which = which, _path = path, _repo = repo_name }, Node)
end

function LOCAL.repository(self, name)
  if self._which ~= "registry" or #self._path > 0 then return DECLINE end
  validate.arg(name, "string", 1, "repository")
  local ok, msg, code = validate.name(name)
  if not ok then return nil, msg, code end
  local r = node(self._which, extend(self._path, { "repository", { n = 1, name } }), name)
  r.name = name
  return r
end

function LOCAL.reader(self, name, offset)
  return open_reader(self, "reader", name, offset)
end

function LOCAL.writer(self, file, append)
  if self._which ~= "driver" or #self._path > 0 then return DECLINE end
  validate.arg(file, "string", 1, "writer")
  return setmetatable({ _file = file, _append = append and true or false, _size = 0 }, Writer)
end

-- repo.blobs of a repository node
local function repo_blobs(self)
  return self._repo and self._path[#self._path] == "blobs"
end

function LOCAL.create(self)
  if not repo_blobs(self) then return DECLINE end
  local id, msg, code = threads.run("meta", OCI, "upload_create", self._repo)
  if not id then return nil, msg, code end
  return upload(self._repo, id, 0)
end

function LOCAL.resume(self, id)
  if not repo_blobs(self) then return DECLINE end
  validate.arg(id, "string", 1, "resume")
  local size, msg, code = threads.run("meta", OCI, "upload_status", self._repo, id)
  if not size then return nil, msg, code end
  return upload(self._repo, id, size)
end

function LOCAL.walk()
  error("regstore.nginx: walk takes a callback, which cannot run on the thread pool; use list", 2)
end

-- A method of node: a local one, or one job.
local function method(name)
  return function(self, ...)
    local here = LOCAL[name]
    if here then
      local r = pack(here(self, ...))
      if r[1] ~= DECLINE then return unpack(r, 1, r.n) end
    end
    local args = pack(...)
    check_args(args)
    return threads.run(BULK[name] and "bulk" or "meta", CALLS, "call", self._which, self._path, name, args)
  end
end

-- Fields that are objects (extend the path); anything else is a method.
local FIELDS = { blobs = true, manifests = true, tags = true }

Node.__index = function(self, k)
  if FIELDS[k] then
    local child = node(rawget(self, "_which"), extend(rawget(self, "_path"), k), rawget(self, "_repo"))
    rawset(self, k, child)
    return child
  end
  if type(k) ~= "string" or k:sub(1, 1) == "_" then return nil end
  return method(k)
end

--- The registry proxy.
function proxy.registry() return node("registry", {}) end

--- The driver proxy.
function proxy.driver() return node("driver", {}) end

return proxy
