--- An auth hook for regstore.oci.handle: HTTP Basic against an htpasswd
-- file, what `serve --htpasswd` uses.
--
--   auth = require("regstore.oci.htpasswd").hook("/etc/regstore/htpasswd" [, { realm = "regstore" }])
--
-- Any user of the file may do anything; a hook of your own can call this
-- one and add rules (ctx.user names the user once checked), or check a user
-- and password itself (a token endpoint, say):
--
--   local ok = require("regstore.oci.htpasswd").check("/etc/regstore/htpasswd", user, password)
--
-- Entries: apr1 ($apr1$, `htpasswd -m`, `openssl passwd -apr1`), {SHA},
-- {SSHA}, {PLAIN}, and whatever the system's crypt(3) knows (bcrypt $2y$,
-- SHA-crypt $5$ $6$, yescrypt $y$), through LuaJIT's FFI. A credential checked once is
-- remembered for a minute, so that a slow hash (bcrypt) is not computed in
-- the event loop for every request. The file is read again when it is more
-- than 5 seconds old.

local htpasswd = {}

local ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

local function to64(v, n)
  local out = {}
  for i = 1, n do
    local k = v % 64
    out[i] = ITOA64:sub(k + 1, k + 1)
    v = math.floor(v / 64)
  end
  return table.concat(out)
end

--- The MD5-crypt of password with salt ("$apr1$" or "$1$" magic), as
-- Apache's apr_md5_encode and nginx's ngx_crypt_apr1 compute it.
function htpasswd.md5crypt(pw, salt, magic)
  local md5 = ngx.md5_bin
  local final = md5(pw .. salt .. pw)
  local parts = { pw, magic, salt }
  local l = #pw
  while l > 0 do
    parts[#parts + 1] = final:sub(1, math.min(16, l))
    l = l - 16
  end
  local i = #pw
  while i > 0 do
    parts[#parts + 1] = i % 2 == 1 and "\0" or pw:sub(1, 1)
    i = math.floor(i / 2)
  end
  final = md5(table.concat(parts))
  for r = 0, 999 do
    local c = {}
    c[#c + 1] = r % 2 == 1 and pw or final
    if r % 3 ~= 0 then c[#c + 1] = salt end
    if r % 7 ~= 0 then c[#c + 1] = pw end
    c[#c + 1] = r % 2 == 1 and final or pw
    final = md5(table.concat(c))
  end
  local b = { final:byte(1, 16) }
  return magic .. salt .. "$" .. to64(b[1] * 65536 + b[7] * 256 + b[13], 4)
    .. to64(b[2] * 65536 + b[8] * 256 + b[14], 4) .. to64(b[3] * 65536 + b[9] * 256 + b[15], 4)
    .. to64(b[4] * 65536 + b[10] * 256 + b[16], 4) .. to64(b[5] * 65536 + b[11] * 256 + b[6], 4)
    .. to64(b[12], 2)
end

local libcrypt
local function crypt(pw, hash)
  if libcrypt == nil then
    local ok, ffi = pcall(require, "ffi")
    libcrypt = false
    if ok then
      pcall(ffi.cdef, "char *crypt(const char *phrase, const char *setting);")
      for _, name in ipairs{ "crypt", "libcrypt.so.1" } do
        local good, lib = pcall(ffi.load, name)
        if good then
          libcrypt = { ffi = ffi, lib = lib }
          break
        end
      end
    end
  end
  if not libcrypt then return nil end
  local out = libcrypt.lib.crypt(pw, hash)
  if out == nil then return nil end
  return libcrypt.ffi.string(out)
end

--- Whether password matches an htpasswd entry's hash.
function htpasswd.verify(pw, hash)
  if hash:sub(1, 6) == "$apr1$" or hash:sub(1, 3) == "$1$" then
    local magic = hash:sub(1, 6) == "$apr1$" and "$apr1$" or "$1$"
    local salt = hash:sub(#magic + 1):match("^([^$]*)"):sub(1, 8)
    return htpasswd.md5crypt(pw, salt, magic) == hash
  elseif hash:sub(1, 5) == "{SHA}" then
    return ngx.encode_base64(ngx.sha1_bin(pw)) == hash:sub(6)
  elseif hash:sub(1, 6) == "{SSHA}" then
    local raw = ngx.decode_base64(hash:sub(7))
    if not raw or #raw < 20 then return false end
    return ngx.sha1_bin(pw .. raw:sub(21)) == raw:sub(1, 20)
  elseif hash:sub(1, 7) == "{PLAIN}" then
    return pw == hash:sub(8)
  end
  return crypt(pw, hash) == hash
end

local function load(file)
  local f, err = io.open(file, "r")
  if not f then return nil, err end
  local users = {}
  for line in f:lines() do
    local user, hash = line:match("^([^:#%s][^:]*):([^:%s]+)")
    if user then users[user] = hash end
  end
  f:close()
  return users
end

local files = {} -- per file: its users, when they were read, the credentials checked since

--- Whether user and password match an entry of the htpasswd file: true or
-- false; nil and a message when the file cannot be read. A credential
-- checked once is remembered for a minute; the file is read again when more
-- than 5 seconds old (a changed password counts at once).
function htpasswd.check(file, user, pw)
  local f = files[file]
  if not f then
    f = { read_at = -1, good = {}, ngood = 0 }
    files[file] = f
  end
  local now = ngx.now()
  if now - f.read_at > 5 then
    local users, err = load(file)
    if not users then return nil, err end
    if f.read_at >= 0 then f.good, f.ngood = {}, 0 end
    f.users, f.read_at = users, now
  end
  local hash = f.users[user]
  if not hash then return false end
  local key = user .. ":" .. pw
  local cached = f.good[key]
  if cached and now - cached.at < 60 and cached.hash == hash then return true end
  if not htpasswd.verify(pw, hash) then return false end
  if f.ngood >= 1000 then f.good, f.ngood = {}, 0 end
  f.good[key], f.ngood = { hash = hash, at = now }, f.ngood + 1
  return true
end

local hooks = {} -- one per file and realm: a hook asked for per request is the same function

--- The hook: allows requests with a user and password of file; else false,
-- 401, the Basic challenge. opts.realm (default "regstore"). The same
-- function for the same file and realm, however often it is asked for.
function htpasswd.hook(file, opts)
  if type(file) ~= "string" then error("regstore.oci.htpasswd.hook: the htpasswd file's path expected", 2) end
  opts = opts or {}
  local realm = opts.realm or "regstore"
  local id = file .. "\0" .. realm
  if hooks[id] then return hooks[id] end
  local challenge = string.format('Basic realm="%s"', realm)
  local function auth(ctx)
    local h = ctx.headers and ctx.headers.authorization
    if type(h) == "table" then h = h[1] end
    local b64 = type(h) == "string" and h:match("^%s*[Bb][Aa][Ss][Ii][Cc]%s+(%S+)")
    local user, pw = (b64 and ngx.decode_base64(b64) or ""):match("^([^:]*):(.*)$")
    if not user then return false, 401, challenge end
    local ok, err = htpasswd.check(file, user, pw)
    if ok == nil then ngx.log(ngx.ERR, "regstore.oci.htpasswd: ", tostring(err)) end
    if not ok then return false, 401, challenge end
    ctx.user = user
    return true
  end
  hooks[id] = auth
  return auth
end

return htpasswd
