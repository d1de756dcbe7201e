-- Shell and file helpers of the specs. `local shell = require "support.shell"`;
-- the installed-rock specs (spec/installed/*.lua), which run with no
-- checkout on the Lua path, load this file with dofile from their own
-- directory (`dofile(<dir of spec/installed>/../support/shell.lua)`): it
-- requires nothing but regstore.
local shell = {}

--- s quoted for the shell.
function shell.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- Runs a shell command: its output (stdout and stderr together) and its
-- exit status.
function shell.run(cmd)
  local f = assert(io.popen(cmd .. " 2>&1; echo \"__rc=$?\""))
  local out = f:read "*a"
  f:close()
  local body, rc = out:match("^(.-)__rc=(%d+)%s*$")
  return body, tonumber(rc)
end

--- Runs a shell command: true when it exited 0, and its output.
function shell.try(cmd)
  local out, rc = shell.run(cmd)
  return rc == 0, out
end

--- shell.try, asserting that the command succeeded; returns its output.
function shell.must(cmd)
  local ok, out = shell.try(cmd)
  assert(ok, cmd .. "\n" .. out)
  return out
end

--- A file's bytes, "" when it cannot be opened.
function shell.read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read "*a"
  f:close()
  return s
end

--- A file's bytes; raises when it cannot be opened.
function shell.must_read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read "*a"
  f:close()
  return s
end

--- Writes data to a file (raises when it cannot be opened).
function shell.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

--- package.searchpath, which plain Lua 5.1 lacks.
function shell.searchpath(name, path)
  if package.searchpath then return package.searchpath(name, path) end
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate)
    if f then
      f:close()
      return candidate
    end
  end
  return nil
end

--- "sha256:<hex>" of data: the one digest of the specs.
function shell.digest(data)
  return "sha256:" .. require("regstore").sha256():update(data):hexdigest()
end

return shell
