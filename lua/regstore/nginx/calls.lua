--- The thread VMs' side of the objects regstore.nginx.registry() and
-- .driver() hand out (proxy.lua): a call is a path from the VM's registry or
-- driver, each step a field ("blobs") or a method call ({ "repository",
-- { "a/b" } }), the last one the method asked for. Results go back as plain
-- values; streams (readers, writers) stay in the VM between calls only as
-- a cache: every piece names its object afresh, so it may run on any VM.

local vm = require "regstore.nginx.jobs"

local calls = {}

local unpack = table.unpack or unpack -- luacheck: ignore 143

local function root(which)
  if which == "driver" then return vm.driver() end
  return vm.registry()
end

-- The object at the end of the path, or nil, message, code.
local function walk(which, path)
  local obj, msg, code = root(which)
  if not obj then return nil, msg, code end
  for _, step in ipairs(path) do
    if type(step) == "string" then
      obj = obj[step]
    else
      obj, msg, code = obj[step[1]](obj, unpack(step[2], 1, step[2].n))
      if obj == nil then return nil, msg, code end
    end
  end
  return obj
end

local function plain(v)
  local t = type(v)
  if t == "userdata" or t == "function" or t == "thread" then
    return nil, "regstore.nginx: the call returned a " .. t .. ", which cannot leave the thread", "unsupported"
  end
  return v
end

local function results(first, ...)
  if first == nil then return nil, ... end
  local ok, msg, code = plain(first)
  if ok == nil then return nil, msg, code end
  return first, ...
end

--- obj:method(args...) at the end of path; its results.
function calls.call(which, path, method, args)
  local obj, msg, code = walk(which, path)
  if not obj then return nil, msg, code end
  return vm.tidy(results(obj[method](obj, unpack(args, 1, args.n))))
end

---------------------------------------------------------------- readers

-- Readers left open where the last read ended, keyed by the call and the
-- offset: the next read of the same stream, when it lands on this VM (the
-- VM pool hands out the one freed last, so a lone stream mostly does), goes
-- on without a new open. Bounded: one per VM, idle at most 10 seconds.
local kept, kept_key, kept_at

local function take(key)
  if kept and kept_key == key and os.time() - kept_at <= 10 then
    local r = kept
    kept = nil
    return r
  end
  if kept then kept:close() end
  kept = nil
end

local function keep(key, r)
  if kept then kept:close() end
  kept, kept_key, kept_at = r, key, os.time()
end

local function key_of(which, path, name, offset)
  return which .. "\0" .. require("cjson").encode(path) .. "\0" .. tostring(name) .. "\0" .. offset
end

local function open(which, path, method, name, offset)
  local r = take(key_of(which, path, name, offset))
  if r then return r end
  local obj, msg, code = walk(which, path)
  if not obj then return nil, msg, code end
  return obj[method](obj, name, offset)
end

--- Opens obj:method(name, offset) (a reader); returns its size (the reader
-- is kept for the first read).
function calls.reader_open(which, path, method, name, offset)
  local r, msg, code = open(which, path, method, name, offset)
  if not r then return nil, msg, code end
  local size = r:size()
  keep(key_of(which, path, name, offset), r)
  return size
end

--- Up to n bytes from offset of the reader obj:method(name, ...): a string,
-- or nil at the end.
function calls.reader_read(which, path, method, name, offset, n)
  local r, msg, code = open(which, path, method, name, offset)
  if not r then return nil, msg, code end
  local parts, got = {}, 0
  while got < n do
    local s
    s, msg, code = r:read(n - got)
    if not s then
      if msg then
        r:close()
        return nil, msg, code
      end
      break
    end
    parts[#parts + 1] = s
    got = got + #s
  end
  if got == 0 then
    r:close()
    return vm.tidy(nil)
  end
  keep(key_of(which, path, name, offset + got), r)
  return vm.tidy(table.concat(parts))
end

---------------------------------------------------------------- driver writers

--- Writes data to path's writer (opened with append, then closed again);
-- returns its size.
function calls.writer_write(path, append, data)
  local drv, msg, code = vm.driver()
  if not drv then return nil, msg, code end
  local w
  w, msg, code = drv:writer(path, append)
  if not w then return nil, msg, code end
  local ok
  ok, msg, code = w:write(data)
  data = nil -- luacheck: ignore 311 (lets tidy() free it)
  local size = w:size()
  local closed, cmsg, ccode = w:close()
  if not ok then return vm.tidy(nil, msg, code) end
  if not closed then return vm.tidy(nil, cmsg, ccode) end
  return vm.tidy(size)
end

--- Commits (or, with cancel, drops) what path's writer holds.
function calls.writer_finish(path, append, cancel)
  local drv, msg, code = vm.driver()
  if not drv then return nil, msg, code end
  local w
  w, msg, code = drv:writer(path, append)
  if not w then return nil, msg, code end
  if cancel then return w:cancel() end
  return w:commit()
end

return calls
