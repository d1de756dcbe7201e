-- Shared checks of the invariants of docs/design.md (I1-I4), for the crash
-- and stress specs (spec/driver/crash_points_spec.lua, spec/driver/random_stress_spec.lua)
-- and any other spec: `local inv = require "support.invariants"`.
--
-- Content is self-describing, so that any reader can verify what it got
-- without knowing which version won: a file is a concatenation of records
--   "RSv1 <payload length> <first 16 hex of the payload's SHA-256> <tag>\n" .. payload
-- with a payload of deterministic bytes derived from the tag.  A torn read
-- (bytes of two versions, short data, data at a wrong offset) breaks a
-- record's length or digest.
--
-- Checks return lists of failure strings instead of raising, so that one
-- case reports everything it found; `inv.assert_none(failures)` raises once.
--
-- Children (spawned Lua processes) may require this module too: it needs
-- only "regstore" (for SHA-256) and "helper".
local regstore = require "regstore"
local helper = require "helper"

local inv = {}

---------------------------------------------------------------------------
-- Self-describing records
---------------------------------------------------------------------------

-- 4 KiB of bytes derived from a string (a 32-bit LCG; exact in Lua 5.4's
-- integers and in LuaJIT's doubles alike).
local function base_block(tag)
  local x = 7
  for i = 1, #tag do x = (x * 31 + tag:byte(i)) % 4294967296 end
  local t = {}
  for i = 1, 4096 do
    x = (x * 69069 + 1) % 4294967296
    t[i] = string.char(math.floor(x / 16777216))
  end
  return table.concat(t)
end

local function digest(s)
  return regstore.sha256():update(s):hexdigest():sub(1, 16)
end

-- The payload of a record: every 4 KiB block starts with the tag and its
-- own index, so bytes at a wrong offset or from another record differ.
function inv.payload(tag, n)
  local base = base_block(tag)
  local t = {}
  for i = 0, math.floor((n - 1) / 4096) do
    local mark = string.format("<%s@%x>", tag, i)
    t[#t + 1] = mark .. base:sub(#mark + 1)
  end
  return table.concat(t):sub(1, n)
end

-- One record of n payload bytes; tag: no white space.
function inv.record(tag, n)
  assert(not tag:find("%s"), "record tags have no white space")
  local p = inv.payload(tag, n)
  return string.format("RSv1 %d %s %s\n", n, digest(p), tag) .. p
end

-- Parses data as a concatenation of whole records; returns the list of
-- their tags, or nil and what is wrong.  An empty string is zero records
-- (callers that never write empty files reject it themselves).
function inv.parse(data)
  local tags, pos = {}, 1
  while pos <= #data do
    local n, sum, tag, body = data:match("^RSv1 (%d+) (%x+) (%S+)\n()", pos)
    if not n then
      return nil, string.format("no record header at byte %d (record %d, %q...)",
        pos - 1, #tags + 1, data:sub(pos, pos + 23))
    end
    n = tonumber(n)
    local p = data:sub(body, body + n - 1)
    if #p ~= n then
      return nil, string.format("record %d (%s) short: %d of %d payload bytes at byte %d",
        #tags + 1, tag, #p, n, body - 1)
    end
    if digest(p) ~= sum then
      return nil, string.format("record %d (%s, %d bytes at byte %d) does not match its digest",
        #tags + 1, tag, n, body - 1)
    end
    tags[#tags + 1] = tag
    pos = body + n
  end
  return tags
end

-- A short description of some bytes, for failure messages.
function inv.describe(data)
  if data == nil then return "nil" end
  local tags, why = inv.parse(data)
  if tags then return string.format("%d bytes: records [%s]", #data, table.concat(tags, " ")) end
  return string.format("%d bytes, not whole records: %s", #data, why)
end

---------------------------------------------------------------------------
-- Connections and children
---------------------------------------------------------------------------

-- Chunk sizes.  REGSTORE_SAME_CHUNK=1 makes every connection of these specs
-- use 65536 (a diagnostic: it separates I5 failures from the others).
inv.same_chunk = os.getenv "REGSTORE_SAME_CHUNK" == "1"
function inv.chunk(n)
  return inv.same_chunk and 65536 or n
end

-- A connection to namespace ns with the given chunk_size (after inv.chunk).
function inv.connect(ns, chunk_size)
  return helper.connect { namespace = ns, chunk_size = inv.chunk(chunk_size) }
end

-- The cpath of the crash-point build (REGSTORE_CRASH_CPATH, set by
-- scripts/test.sh), or nil and why not.
function inv.crash_cpath()
  local cp = os.getenv "REGSTORE_CRASH_CPATH"
  if not cp or cp == "" then return nil, "REGSTORE_CRASH_CPATH is not set (no crash-point build)" end
  for template in cp:gmatch("[^;]+") do
    local file = template:gsub("%?", "regstore/core")
    local f = io.open(file, "rb")
    if f then
      f:close()
      return cp
    end
  end
  return nil, "no regstore/core module under REGSTORE_CRASH_CPATH=" .. cp
end

-- Starts a Lua script in another process of the same interpreter, like
-- helper.spawn_lua, but with package.cpath = cpath (default: this
-- process') and extra environment variables env (a table; a false value
-- unsets the variable).  REGSTORE_CRASH_AT and REGSTORE_CRASH_TRACE are
-- always unset unless env sets them.  limit: seconds before the child is
-- killed (exit status 124, or 137 if it ignored SIGTERM); default 120.
-- Returns a handle for helper.wait.
function inv.spawn(source, args, env, cpath, limit)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(source)
  f:close()
  local e = { REGSTORE_CRASH_AT = false, REGSTORE_CRASH_TRACE = false }
  for k, v in pairs(env or {}) do e[k] = v end
  local parts = { "timeout -k 5", tostring(math.floor(limit or 120)), "env" }
  for _, k in ipairs(helper.keys(e)) do -- env takes its options before any NAME=VALUE
    if not e[k] then parts[#parts + 1] = "-u " .. k end
  end
  for _, k in ipairs(helper.keys(e)) do
    if e[k] then parts[#parts + 1] = helper.quote(k .. "=" .. e[k]) end
  end
  local pre = string.format("package.path=%q package.cpath=%q", package.path, cpath or package.cpath)
  for _, p in ipairs { helper.lua_bin(), "-e", pre, file } do parts[#parts + 1] = helper.quote(p) end
  for _, a in ipairs(args or {}) do parts[#parts + 1] = helper.quote(a) end
  local cmd = "(" .. table.concat(parts, " ") .. ") 2>&1; echo \"__rc=$?\""
  return { pipe = assert(io.popen(cmd)), file = file }
end

-- "exit N", with what N means for a spawned child.
function inv.exit_text(rc)
  local why = ({ [86] = " (a crash point)", [124] = " (killed at its time limit: a call hung?)",
    [137] = " (killed at its time limit: a call hung?)" })[rc] or ""
  return "exit " .. tostring(rc) .. why
end

function inv.run(source, args, env, cpath, limit)
  return helper.wait(inv.spawn(source, args, env, cpath, limit))
end

---------------------------------------------------------------------------
-- Reading
---------------------------------------------------------------------------

-- Reads a file whole twice, with get_content and with a reader in pieces of
-- `piece` bytes; returns the data, or nil, message, code.  The two must
-- agree (else nil, "...", "mismatch"); a reader failing mid-way is reported
-- with its code.
function inv.read_both(drv, path, piece)
  local data, msg, code = drv:get_content(path)
  if not data then return nil, msg, code end
  local r, rmsg, rcode = drv:reader(path)
  if not r then return nil, "reader: " .. tostring(rmsg), rcode end
  local t = {}
  while true do
    local s, m, c = r:read(piece or 49152)
    if s == nil then
      if m ~= nil then
        r:close()
        return nil, "reader: " .. tostring(m), c
      end
      break
    end
    t[#t + 1] = s
  end
  r:close()
  local via_reader = table.concat(t)
  if via_reader ~= data then
    return nil, string.format("get_content gave %s but the reader %s", inv.describe(data),
      inv.describe(via_reader)), "mismatch"
  end
  return data
end

-- I1/I3: walks "/" and reads every file found (stat, get_content, reader).
-- Every file must stat with its size and read whole; verify(path, data)
-- (default: whole records, non-empty) returns nil or what is wrong.  Then
-- lists the tree from "/" with list(): every listed name must stat, and
-- every listed file be one the walk found.  Nothing may change meanwhile.
-- Returns { [path] = data }, the number of directories, and failures.
function inv.walk_verify(drv, verify)
  verify = verify or function(_, data)
    if #data == 0 then return "empty" end
    local tags, why = inv.parse(data)
    if not tags then return why end
  end
  local files, dirs, failures = {}, 0, {}
  local infos = {}
  local ok, msg, code = drv:walk("/", function(info) infos[#infos + 1] = info end)
  if not ok then
    failures[#failures + 1] = string.format("I3: walk('/') failed: %s (%s)", tostring(msg), tostring(code))
  end
  for _, info in ipairs(infos) do
    if info.is_dir then
      dirs = dirs + 1
    else
      local st, smsg, scode = drv:stat(info.path)
      local data, dmsg, dcode = inv.read_both(drv, info.path)
      if not st then
        failures[#failures + 1] = string.format("I3: %s is listed but stat fails: %s (%s)",
          info.path, tostring(smsg), tostring(scode))
      end
      if not data then
        failures[#failures + 1] = string.format("I3: %s is listed but does not read: %s (%s)",
          info.path, tostring(dmsg), tostring(dcode))
      else
        files[info.path] = data
        if st and st.size ~= #data then
          failures[#failures + 1] = string.format("I1: %s: stat says %d bytes, read gave %d",
            info.path, st.size, #data)
        end
        local bad = verify(info.path, data)
        if bad then
          failures[#failures + 1] = string.format("I1: %s reads %s: %s", info.path, inv.describe(data), bad)
        end
      end
    end
  end
  -- The same tree through list(): every name a directory lists must stat
  -- (a listed name whose data is gone is what I3 forbids, even where the
  -- walk and get_content pass it over as "gone meanwhile").
  local stack = { "/" }
  while #stack > 0 do
    local dir = table.remove(stack)
    local names, lmsg, lcode = drv:list(dir)
    if not names then
      failures[#failures + 1] = string.format("I3: list(%s) of a listed directory failed: %s (%s)",
        dir, tostring(lmsg), tostring(lcode))
    else
      for _, name in ipairs(names) do
        local st, smsg, scode = drv:stat(name)
        if not st then
          failures[#failures + 1] = string.format("I3: list(%s) names %s, but stat fails: %s (%s)",
            dir, name, tostring(smsg), tostring(scode))
        elseif st.is_dir then
          stack[#stack + 1] = name
        elseif not files[name] then
          local found = false
          for _, info in ipairs(infos) do found = found or info.path == name end
          if not found then
            failures[#failures + 1] = string.format("I3: list(%s) names %s, but walk('/') does not", dir, name)
          end
        end
      end
    end
  end
  return files, dirs, failures
end

---------------------------------------------------------------------------
-- Deleting everything, repair, nothing left
---------------------------------------------------------------------------

-- Deletes each of paths (until not_found, which also drops uncommitted
-- data of the name), then every child of "/"; list("/") must then be empty.
-- Returns failures.
function inv.delete_all(drv, paths)
  local failures = {}
  for _, p in ipairs(paths or {}) do
    for _ = 1, 4 do
      local ok, msg, code = drv:delete(p)
      if not ok then
        if code ~= "not_found" then
          failures[#failures + 1] = string.format("delete(%s): %s (%s)", p, tostring(msg), tostring(code))
        end
        break
      end
    end
  end
  local names, msg, code = drv:list("/")
  if not names then
    failures[#failures + 1] = string.format("list('/'): %s (%s)", tostring(msg), tostring(code))
    return failures
  end
  for _, p in ipairs(names) do
    local ok, dmsg, dcode = drv:delete(p)
    if not ok and dcode ~= "not_found" then
      failures[#failures + 1] = string.format("delete(%s): %s (%s)", p, tostring(dmsg), tostring(dcode))
    end
  end
  names = drv:list("/")
  if names and #names > 0 then
    failures[#failures + 1] = "after deleting everything, list('/') still gives " .. table.concat(names, " ")
  end
  return failures
end

-- THE documented repair step: drv:fsck{grace = 0, repair = true}.  Returns
-- its report, or nil and a message ("drv:fsck missing" until it is bound).
function inv.repair(drv)
  if type(drv.fsck) ~= "function" then return nil, "drv:fsck missing" end
  local report, msg, code = drv:fsck { grace = 0, repair = true }
  if not report then
    return nil, string.format("drv:fsck{grace = 0, repair = true} failed: %s (%s)", tostring(msg), tostring(code))
  end
  return report
end

-- A one-line account of a repair report.
function inv.report_line(report)
  local kinds = {}
  for _, f in ipairs(report.findings or {}) do
    local k = type(f) == "table" and (f.kind or "?") or tostring(f)
    kinds[k] = (kinds[k] or 0) + 1
  end
  local t = {}
  for _, k in ipairs(helper.keys(kinds)) do t[#t + 1] = k .. "=" .. kinds[k] end
  return string.format("objects=%s repaired=%s findings={%s}", tostring(report.objects),
    tostring(report.repaired), table.concat(t, " "))
end

-- I4: after everything is deleted and the repair step has run, `rados ls`
-- of the namespace holds only "/".  Returns failures.
function inv.only_root(ns)
  local left = helper.leftovers(ns)
  if #left == 0 then return {} end
  local shown = {}
  for i = 1, math.min(#left, 12) do shown[i] = left[i] end
  return { string.format("I4: after deleting everything and the repair step, %d objects besides '/': %s%s",
    #left, table.concat(shown, " "), #left > 12 and " ..." or "") }
end

-- Delete everything (paths first, then every child of "/"), run the repair
-- step, check that only "/" is left.  Returns the failures, the repair
-- report, and (instead of a report) why the repair step could not run:
-- "drv:fsck missing (...)" or its failure; the caller decides whether that
-- is one more failure.
function inv.delete_repair_only_root(drv, ns, paths)
  local failures = inv.delete_all(drv, paths)
  local report, msg = inv.repair(drv)
  if not report then
    return failures, nil, string.format("I4: %s (without it, %d objects besides '/' are left)", msg,
      #helper.leftovers(ns))
  end
  for _, f in ipairs(inv.only_root(ns)) do failures[#failures + 1] = f end
  return failures, report
end

-- Raises once with every failure, numbered; does nothing when there is none.
function inv.assert_none(failures, limit)
  if #failures == 0 then return end
  limit = limit or 40
  local t = {}
  for i = 1, math.min(#failures, limit) do t[i] = string.format("%3d. %s", i, failures[i]) end
  if #failures > limit then t[#t + 1] = string.format("... and %d more", #failures - limit) end
  error(string.format("%d failure(s):\n%s", #failures, table.concat(t, "\n")), 2)
end

return inv
