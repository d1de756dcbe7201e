-- An HTTP client (curl) and a `serve` launcher for the registry specs
-- (spec/http/*_http.lua): `local http = require "support.http"`.
--
--   local srv = http.serve{ namespace = ns [, htpasswd = file] }   -- starts serve
--   local r = srv:request("PUT", "/v2/a/manifests/t", {
--     headers = { ["Content-Type"] = mt }, body = s, chunked = false })
--   r.status, r.headers["location"] (lowercase names), r.body, r:errors()
--   srv:restart()   srv:stop()
--
-- serve runs the LuaJIT build inside nginx, whatever Lua runs the spec:
-- REGSTORE_LUAJIT_CPATH (test.sh sets it) or the checkout's build/luajit.
local cjson = require "cjson"
local regstore = require "regstore"
local shell = require "support.shell"

local http = {}

local function sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read "*a"
  f:close()
  return out
end

-- Runs a shell command: true when it exited 0, and its output (stdout
-- and stderr together); must: the same, asserting success, the output.
http.try, http.must = shell.try, shell.must

-- os.execute's success in Lua 5.4 (true) and in LuaJIT (0).
local function run(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local q = shell.quote
http.quote = q

local write = shell.write

http.write_file = write

-- A request body of raw bytes, with any extra headers.
function http.octets(body, extra)
  local h = { ["Content-Type"] = "application/octet-stream" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return { headers = h, body = body }
end

--- A file's bytes, "" when it cannot be opened.
local read = shell.read
http.read = read

--- Writes an htpasswd file (a fresh temporary one unless path is given) of
-- users { { name, password [, openssl passwd's algorithm option, default
-- "-apr1"] }, ... }; returns its path.
function http.htpasswd(users, path)
  path = path or os.tmpname()
  local lines = {}
  for i, u in ipairs(users) do
    lines[i] = u[1] .. ":" .. shell.must("openssl passwd " .. (u[3] or "-apr1") .. " " .. q(u[2])):gsub("%s+$", "")
  end
  write(path, table.concat(lines, "\n") .. "\n")
  return path
end

--- Whether a command is on PATH.
function http.have(cmd) return (http.try("command -v " .. cmd)) end

--- "sha256:<hex>" of s.
http.digest = shell.digest

local Response = {}
Response.__index = Response

--- The decoded `errors` array of a JSON error body (or nil).
function Response:errors()
  local ok, doc = pcall(cjson.decode, self.body)
  if ok and type(doc) == "table" then return doc.errors end
  return nil
end

--- The first error's code.
function Response:code()
  local e = self:errors()
  return e and e[1] and e[1].code
end

--- The body as JSON.
function Response:json()
  return cjson.decode(self.body)
end

local Server = {}
Server.__index = Server

local tmpdir = os.getenv "TMPDIR" or "/tmp"

--- Sends one request; opts: headers, body, chunked (Transfer-Encoding:
-- chunked), user ("name:password", else the server's), max_time (seconds,
-- default 300). The path goes as it is ("..", "%2e" and all).
function Server:request(method, path, opts)
  opts = opts or {}
  local base = string.format("%s/regstore-http-%s", tmpdir, regstore.uuid())
  local args = { "curl -s -S --path-as-is --max-time", tostring(opts.max_time or 300),
    "-o", q(base .. ".body"), "-D", q(base .. ".head"), "-w '%{http_code}'", "-H 'Expect:'" }
  if method == "HEAD" then args[#args + 1] = "-I" else args[#args + 1] = "-X " .. method end
  local has_type = false
  for k, v in pairs(opts.headers or {}) do
    args[#args + 1] = "-H " .. q(k .. ": " .. v)
    if k:lower() == "content-type" then has_type = true end
  end
  if opts.body then
    write(base .. ".in", opts.body)
    args[#args + 1] = "--data-binary @" .. q(base .. ".in")
    if not has_type then args[#args + 1] = "-H 'Content-Type:'" end
    if opts.chunked then args[#args + 1] = "-H 'Transfer-Encoding: chunked'" end
  elseif method == "PUT" or method == "POST" or method == "PATCH" then
    args[#args + 1] = "-H 'Content-Length: 0'"
  end
  local user = opts.user or self.user
  if user then args[#args + 1] = "-u " .. q(user) end
  args[#args + 1] = q(self.url .. path)
  local status = tonumber(sh(table.concat(args, " ") .. " 2>/dev/null"))
  local headers = {}
  for line in read(base .. ".head"):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then headers[k:lower()] = v end
  end
  local r = setmetatable({ status = status, headers = headers, body = read(base .. ".body") }, Response)
  os.remove(base .. ".body"); os.remove(base .. ".head"); os.remove(base .. ".in")
  return r
end

local root = sh("pwd"):gsub("%s+$", "")

local function luajit_cpath()
  return os.getenv "REGSTORE_LUAJIT_CPATH" or (root .. "/build/luajit/?.so;;")
end

--- Whether serve can run here (nginx and a LuaJIT build of the module).
function http.available()
  local cpath = luajit_cpath()
  local dir = cpath:match("^([^;]*)/%?%.so")
  return run("test -x /usr/sbin/nginx") and dir ~= nil and run("test -f " .. q(dir .. "/regstore/core.so"))
end

-- REGSTORE_HTTP_PORTS: the first of 100 ports to pick from (default 5300).
local function free_port()
  local first = tonumber(os.getenv "REGSTORE_HTTP_PORTS" or "") or 5300
  for _ = 1, 50 do
    local port = first + math.random(0, 99)
    local busy = run("(exec 3<>/dev/tcp/127.0.0.1/" .. port .. ") 2>/dev/null")
    if not busy then return port end
  end
  error(string.format("no free port in %d-%d", first, first + 99))
end

function Server:start()
  local log = self.dir .. "/serve.log"
  local cmd = string.format(
    "cd %s && LUA_PATH= LUA_CPATH=%s setsid examples/openresty-registry/serve --listen 127.0.0.1:%d " ..
    "--namespace %s %s %s >%s 2>&1 & echo $!",
    q(root), q(luajit_cpath()), self.port, q(self.namespace), self.extra,
    self.htpasswd and ("--htpasswd " .. q(self.htpasswd)) or "", q(log))
  self.pid = tonumber(sh(cmd))
  for _ = 1, 100 do
    if read(log):find("serve: registry on", 1, true) then return self end
    if not run("kill -0 " .. self.pid .. " 2>/dev/null") then break end
    run("sleep 0.1")
  end
  error("serve did not start:\n" .. read(log))
end

--- Stops serve (SIGTERM, as Ctrl-C would) and waits until it is gone.
function Server:stop()
  if not self.pid then return end
  os.execute("kill -TERM " .. self.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not run("kill -0 " .. self.pid .. " 2>/dev/null") then break end
    run("sleep 0.1")
  end
  self.pid = nil
end

function Server:restart()
  self:stop()
  return self:start()
end

--- The serve log so far.
function Server:log()
  return read(self.dir .. "/serve.log")
end

--- Starts serve on a free port (5300-5399 unless REGSTORE_HTTP_PORTS); opts:
-- namespace, htpasswd, user, extra (options).
function http.serve(opts)
  math.randomseed(os.time() + tonumber(regstore.uuid():sub(1, 6), 16))
  local dir = sh("mktemp -d " .. q(tmpdir .. "/regstore-http.XXXXXX")):gsub("%s+$", "")
  local port = free_port()
  local self = setmetatable({
    dir = dir, port = port, url = "http://127.0.0.1:" .. port,
    namespace = opts.namespace, htpasswd = opts.htpasswd, user = opts.user, extra = opts.extra or "",
  }, Server)
  return self:start()
end

local NginxServer = setmetatable({}, { __index = Server })
NginxServer.__index = NginxServer

function NginxServer:start()
  local log = self.dir .. "/nginx.log"
  local cmd = string.format("setsid /usr/sbin/nginx -p %s -c %s -e stderr >%s 2>&1 & echo $!",
    q(self.dir), q(self.dir .. "/nginx.conf"), q(log))
  self.pid = tonumber(sh(cmd))
  for _ = 1, 100 do
    if run("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. self.port .. "' 2>/dev/null") then return self end
    if not run("kill -0 " .. self.pid .. " 2>/dev/null") then break end
    run("sleep 0.1")
  end
  error("nginx did not start:\n" .. read(log))
end

function NginxServer:log()
  return read(self.dir .. "/nginx.log")
end

--- nginx on a user-written nginx.conf (a template whose @NAMES@ are filled
-- in from vars, plus @DIR@, @LISTEN@, @LUA_PATH@ and @LUA_CPATH@: the
-- checkout's library and LuaJIT build), on a free port.
function http.nginx(template, vars)
  math.randomseed(os.time() + tonumber(regstore.uuid():sub(1, 6), 16))
  local dir = sh("mktemp -d " .. q(tmpdir .. "/regstore-nginx.XXXXXX")):gsub("%s+$", "")
  os.execute("chmod 755 " .. q(dir))
  local port = free_port()
  local all = { DIR = dir, LISTEN = "127.0.0.1:" .. port, LUA_PATH = root .. "/lua/?.lua",
    USER = sh("id -u"):match("^0%s") and "user root;" or "", -- the keyring is usually root's
    LUA_CPATH = luajit_cpath():gsub(";+$", "") }
  for k, v in pairs(vars or {}) do all[k] = v end
  local text = read(template):gsub("@([%u_]+)@", function(k) return all[k] and tostring(all[k]) end)
  write(dir .. "/nginx.conf", text)
  local self = setmetatable({ dir = dir, port = port, url = "http://127.0.0.1:" .. port }, NginxServer)
  return self:start()
end

return http
