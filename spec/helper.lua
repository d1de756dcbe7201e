-- Shared by every spec: a connection to the throwaway cluster, in a RADOS
-- namespace of its own so that spec files never see each other's objects.
local regstore = require "regstore"

local helper = {}

local counter = 0

local function pool()
  local p = os.getenv "REGSTORE_POOL"
  assert(p and p ~= "", "REGSTORE_POOL is not set: start the cluster with scripts/cluster.sh")
  return p
end
helper.pool = pool

-- A fresh namespace name, unique across processes and runs.
function helper.namespace(tag)
  counter = counter + 1
  return string.format("spec-%s-%s-%d", tag or "ns", regstore.uuid():sub(1, 8), counter)
end

-- Connects to a new namespace (or to opts.namespace); extra opts pass through.
-- Returns the driver and the namespace it lives in.
function helper.connect(opts)
  local o = { pool = pool(), namespace = helper.namespace() }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(regstore.connect(o)), o.namespace
end

-- Runs the rados CLI in the driver's pool and namespace; returns its stdout.
function helper.rados(ns, args)
  local cmd = string.format("rados -p %s --namespace %s %s 2>/dev/null", pool(), ns, args)
  local f = assert(io.popen(cmd))
  local out = f:read "*a"
  f:close()
  return out
end

-- Deterministic pseudo-random bytes; every 4 KiB block starts with its own
-- index, so that data landing at the wrong offset never compares equal.
function helper.bytes(n, seed)
  local x = seed or 1
  local base = {}
  for i = 1, 4096 do
    x = (x * 1103515245 + 12345) % 2147483648
    base[i] = string.char(x % 256)
  end
  local block = table.concat(base)
  local t = {}
  for i = 0, math.floor((n - 1) / 4096) do
    t[#t + 1] = string.format("%016x", i + (seed or 1) * 65536) .. block:sub(17)
  end
  return table.concat(t):sub(1, n)
end

helper.long = os.getenv "REGSTORE_LONG" == "1"

--- The registry fixture of a describe block: before each test a driver in
-- a fresh namespace (opts: more connect options) and a registry over it,
-- handed to set(drv, reg, ns); after it, the namespace cleared and the
-- driver closed.
function helper.each_registry(set, opts)
  local busted = require "busted" -- the spec's before_each, not this module's globals
  local drv
  busted.before_each(function()
    local ns
    drv, ns = helper.connect(opts)
    set(drv, require("regstore.registry").new(drv), ns)
  end)
  busted.after_each(function()
    helper.clear(drv)
    drv:close()
  end)
end

--- Every file under a local directory (temporaries included) as
-- { [relative path] = content }; {} when it does not exist.
function helper.files(dir)
  local files = {}
  local p = io.popen("cd " .. helper.quote(dir) .. " 2>/dev/null && find . -type f | sort")
  for line in p:lines() do
    local f = assert(io.open(dir .. "/" .. line:sub(3), "rb"))
    files[line:sub(3)] = f:read("*a")
    f:close()
  end
  p:close()
  return files
end

--- files (as helper.files gives them) with prefix before every name.
function helper.prefixed(files, prefix)
  local t = {}
  for k, v in pairs(files) do t[prefix .. k] = v end
  return t
end

--- "sha256:<hex>" of data: the one digest of the specs (spec/support/shell.lua).
helper.digest = require("support.shell").digest

--- Asserts that got is the string expected; a failure says where they part.
function helper.same_bytes(expected, got, what)
  assert(type(got) == "string", (what or "content") .. ": not a string: " .. tostring(got))
  if got == expected then return end
  local n = math.min(#expected, #got)
  local i = 1
  while i <= n and expected:byte(i) == got:byte(i) do i = i + 1 end
  error(string.format("%s differs: %d bytes expected, %d got, first difference at offset %d",
    what or "content", #expected, #got, i - 1), 2)
end

---------------------------------------------------------------------------
-- Everything below is shared by the driver specs (spec/driver/*_spec.lua).
---------------------------------------------------------------------------

helper.KiB = 1024
helper.MiB = 1024 * 1024

-- A string quoted for /bin/sh.
helper.quote = require("support.shell").quote

-- Runs a shell command; returns its stdout and its exit status (a number;
-- LuaJIT's io.popen does not report it, so the shell prints it).
function helper.sh(cmd)
  local f = assert(io.popen("(" .. cmd .. "); echo \"__rc=$?\""))
  local out = f:read "*a"
  f:close()
  local body, rc = out:match("^(.-)__rc=(%d+)%s*$")
  return body or out, tonumber(rc)
end

-- The keyring the cluster's admin uses: $CEPH_KEYRING (scripts/cluster.sh
-- exports it), else the one the conf names.
function helper.keyring()
  local k = os.getenv "CEPH_KEYRING"
  if k and k ~= "" then return k end
  local conf = os.getenv "CEPH_CONF"
  local f = conf and io.open(conf)
  if not f then return nil end
  local text = f:read "*a"
  f:close()
  return text:match("\n%s*keyring%s*=%s*([^\n]-)%s*\n")
end

-- Wall-clock seconds, sub-second when LuaSocket is there.
local has_socket, socket = pcall(require, "socket")
function helper.now()
  if has_socket and socket.gettime then return socket.gettime() end
  return os.time()
end

-- The interpreter running this spec: $REGSTORE_LUA, else the lowest arg
-- index (arg[-1] under `lua5.4 /usr/bin/busted`), else lua5.4.
function helper.lua_bin()
  local env = os.getenv "REGSTORE_LUA"
  if env and env ~= "" then return env end
  if type(arg) == "table" and arg[-1] then
    local i = -1
    while arg[i - 1] do i = i - 1 end
    return arg[i]
  end
  return "lua5.4"
end

-- Writes a Lua script to a temp file and starts it in another process of
-- the same interpreter, with this process' package.path and cpath; returns
-- a handle for helper.wait.  The script gets its arguments in `arg`.
function helper.spawn_lua(source, args)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(source)
  f:close()
  local pre = string.format("package.path=%q package.cpath=%q", package.path, package.cpath)
  local parts = { helper.quote(helper.lua_bin()), "-e", helper.quote(pre), helper.quote(file) }
  for _, a in ipairs(args or {}) do parts[#parts + 1] = helper.quote(a) end
  local cmd = "(" .. table.concat(parts, " ") .. ") 2>&1; echo \"__rc=$?\""
  return { pipe = assert(io.popen(cmd)), file = file }
end

-- Waits for a spawned script; returns its output (stdout and stderr) and
-- its exit status.
function helper.wait(h)
  local out = h.pipe:read "*a"
  h.pipe:close()
  os.remove(h.file)
  local body, rc = out:match("^(.-)__rc=(%d+)%s*$")
  return body or out, tonumber(rc)
end

function helper.run_lua(source, args)
  return helper.wait(helper.spawn_lua(source, args))
end

-- Runs n copies of a script at once, args(i) giving copy i its arguments;
-- waits for every one, asserts each exited 0, returns their outputs.
function helper.run_all(source, n, args)
  local hs, outs = {}, {}
  for i = 1, n do hs[i] = helper.spawn_lua(source, args(i)) end
  for i, h in ipairs(hs) do
    local out, rc = helper.wait(h)
    assert(rc == 0, "copy " .. i .. " exited " .. tostring(rc) .. ":\n" .. out)
    outs[i] = out
  end
  return outs
end

-- Reads a reader to its end in pieces of at most n bytes; asserts that every
-- piece is 1..n bytes and that the end is a plain nil (not an error).
function helper.read_all(r, n)
  n = n or 65536
  local t = {}
  while true do
    local s, msg, code = r:read(n)
    if s == nil then
      assert(msg == nil, "read failed: " .. tostring(msg) .. " (" .. tostring(code) .. ")")
      break
    end
    assert(#s >= 1 and #s <= n, "read(" .. n .. ") returned " .. #s .. " bytes")
    t[#t + 1] = s
  end
  return table.concat(t)
end

-- Deletes every child of "/" (cleanup after a failed test).
function helper.clear(drv)
  local names = drv:list("/")
  for _, p in ipairs(names or {}) do drv:delete(p) end
end

-- Asserts that a call failed with the contract's triple nil, message, code,
-- that the message has the regstore prefix and names `subject` (when given,
-- a plain substring).  Returns the message.
function helper.fails(code, subject, ok, msg, got)
  local where = string.format("expected nil, msg, %q; got %s, %s, %s",
    code, tostring(ok), tostring(msg), tostring(got))
  assert(ok == nil, where)
  assert(type(msg) == "string", where)
  assert(got == code, where)
  assert(msg:sub(1, 10) == "regstore: ", "message lacks the 'regstore: ' prefix: " .. msg)
  if subject then
    assert(msg:find(subject, 1, true), string.format("message %q does not name %q", msg, subject))
  end
  return msg
end

-- `rados ls` of a namespace, sorted.
function helper.rados_ls(ns)
  local t = {}
  for line in helper.rados(ns, "ls"):gmatch("[^\n]+") do t[#t + 1] = line end
  table.sort(t)
  return t
end

-- `rados ls` of a namespace without the root object "/" (which the layout
-- spec checks on its own): after everything is deleted, nothing may be left.
function helper.leftovers(ns)
  local t = {}
  for _, name in ipairs(helper.rados_ls(ns)) do
    if name ~= "/" then t[#t + 1] = name end
  end
  return t
end

-- The blob objects of a namespace: { ["blob:<uuid>"] = { [index] = true } }
-- and the number of blobs.
function helper.blobs(ns)
  local blobs, n = {}, 0
  for _, name in ipairs(helper.rados_ls(ns)) do
    local id, idx = name:match("^(blob:.+)%-(%d+)$")
    if id then
      if not blobs[id] then blobs[id] = {}; n = n + 1 end
      blobs[id][tonumber(idx)] = true
    end
  end
  return blobs, n
end

-- The objects of a namespace that are neither blob chunks nor directories.
function helper.strays(ns)
  local t = {}
  for _, name in ipairs(helper.rados_ls(ns)) do
    if not name:match("^blob:.+%-%d+$") and name:sub(1, 1) ~= "/" then t[#t + 1] = name end
  end
  return t
end

-- The omap of an object as { key = value }; nil when the object does not
-- exist.  Parsed from `rados listomapvals` (a key line, "value (N bytes) :",
-- a hex dump, a blank line); when the dump folds repeated lines ("*"), each
-- value is read again raw with `rados getomapval`.
function helper.omap(ns, obj)
  local base = string.format("rados -p %s --namespace %s ", helper.quote(pool()), helper.quote(ns))
  local out, rc = helper.sh(base .. "listomapvals " .. helper.quote(obj) .. " 2>/dev/null")
  if rc ~= 0 then return nil end
  local lines = {}
  for line in (out .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local t, folded, i = {}, false, 1
  while i <= #lines do
    if lines[i] == "" then
      i = i + 1
    else
      local key = lines[i]
      local n = tonumber((lines[i + 1] or ""):match("^value %((%d+) bytes%) :$"))
      assert(n, "cannot parse listomapvals output near: " .. key)
      i = i + 2
      local bytes = {}
      while #bytes < n and lines[i] and lines[i] ~= "" do
        if lines[i] == "*" then folded = true break end
        local hex = assert(lines[i]:match("^%x+%s+(.-)%s*|"), "bad hex line: " .. lines[i])
        for h in hex:gmatch("%x%x") do bytes[#bytes + 1] = string.char(tonumber(h, 16)) end
        i = i + 1
      end
      while lines[i] and lines[i] ~= "" do i = i + 1 end -- the closing offset line
      t[key] = table.concat(bytes)
    end
  end
  if folded then
    for key in pairs(t) do
      local cmd = base .. "getomapval " .. helper.quote(obj) .. " " .. helper.quote(key) .. " - 2>/dev/null"
      local val, vrc = helper.sh(cmd)
      assert(vrc == 0, "getomapval " .. obj .. " " .. key .. " failed")
      t[key] = val
    end
  end
  return t
end

-- An xattr of an object; nil when the object or the xattr is missing.
function helper.xattr(ns, obj, name)
  local out, rc = helper.sh(string.format("rados -p %s --namespace %s getxattr %s %s 2>/dev/null",
    helper.quote(pool()), helper.quote(ns), helper.quote(obj), helper.quote(name)))
  if rc ~= 0 then return nil end
  return out
end

-- The size of an object from `rados stat`; nil when it does not exist.
function helper.obj_size(ns, obj)
  local out = helper.rados(ns, "stat " .. helper.quote(obj))
  return tonumber(out:match("size (%d+)"))
end

-- The content of an object from `rados get`.
function helper.obj_get(ns, obj)
  return helper.rados(ns, "get " .. helper.quote(obj) .. " -")
end

-- The findings of a drv:fsck report, one line each ("kind object path: detail").
function helper.finding_lines(report)
  local t = {}
  for _, f in ipairs(report.findings) do
    t[#t + 1] = string.format("%s %s %s: %s", f.kind, f.object, f.path, f.detail)
  end
  return t
end

-- "blob:<uuid>" with a well-formed uuid?
function helper.is_blob_id(s)
  local h = "%x"
  local pat = "^blob:" .. h:rep(8) .. "%-" .. h:rep(4) .. "%-" .. h:rep(4) .. "%-" .. h:rep(4)
    .. "%-" .. h:rep(12) .. "$"
  return type(s) == "string" and s:match(pat) ~= nil
end

-- Sorted keys of a table.
function helper.keys(t)
  local k = {}
  for key in pairs(t) do k[#k + 1] = key end
  table.sort(k)
  return k
end

-- A driver in a fresh namespace for one describe block: connected in setup,
-- cleared and closed in teardown, and checked empty after every test
-- (list("/") == {}), as distribution's TearDownTest does.  Returns a table
-- whose drv and ns are filled in by setup.
function helper.fixture(opts)
  local busted = require "busted" -- its API: this file is not a spec
  local fx = {}
  busted.setup(function() fx.drv, fx.ns = helper.connect(opts) end)
  busted.teardown(function()
    if fx.drv then
      helper.clear(fx.drv)
      fx.drv:close()
    end
  end)
  busted.after_each(function()
    local names, msg = fx.drv:list("/")
    helper.clear(fx.drv)
    busted.assert.is_table(names, msg)
    busted.assert.are.same({}, names)
  end)
  return fx
end

return helper
