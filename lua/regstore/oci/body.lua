--- The request body as a stream of pieces, never all of it in memory:
--
--   local b, err = body.open()      -- nil, err on a malformed request
--   b.length                        -- Content-Length, or nil when chunked
--   local piece, err = b:read(n)    -- up to n bytes; "" at the end
--   local t, bytes = b:chunks(n)    -- up to n bytes as an array of strings
--                                   -- of at most 64 KiB; bytes 0 at the end
--   local got, err = b:fill(buf, n) -- up to n bytes into buf (regstore.bytes)
--   b:drain()                       -- reads and drops what is left
--
-- A body with a Content-Length is read with ngx.req.socket(). A chunked body
-- (Go clients such as skopeo and podman send blobs so) is read through the
-- raw downstream socket and decoded here, because lua-nginx-module 0.10.23's
-- request socket refuses chunked bodies; http.send then answers on that socket.
-- Both sockets are cosockets: a read that has to wait yields.

local body = {}

local Body = {}
Body.__index = Body

-- The event loop never builds a string larger than this: a big string is a
-- fresh mmap (LuaJIT's allocator maps anything over 128 KiB) that the loop's
-- thread would fault in and zero, page by page, for every piece.
local CHUNK = 65536
body.CHUNK = CHUNK

local function receive(self, n)
  local data, err, partial = self.sock:receive(n)
  if not data then return nil, err or "closed", partial end
  return data
end

-- Next bytes of a chunked body, up to n, as an array of strings.
local function chunked_parts(self, n)
  local parts, got = {}, 0
  while got < n and not self.eof do
    if self.left == 0 then
      local line, err = receive(self, "*l")
      if not line then return nil, err end
      -- at most 15 hex digits: a size a double holds exactly
      local digits = line:match("^%s*(%x+)%s*$") or line:match("^%s*(%x+)%s*;")
      if not digits or #digits > 15 then return nil, "bad chunk size line" end
      local size = tonumber(digits, 16)
      if size == 0 then
        repeat -- trailers, up to the empty line
          line, err = receive(self, "*l")
          if not line then return nil, err end
        until line == ""
        self.eof = true
        break
      end
      self.left = size
    end
    local take = math.min(n - got, self.left, CHUNK)
    local data, err = receive(self, take)
    if not data then return nil, err end
    parts[#parts + 1] = data
    got = got + #data
    self.left = self.left - #data
    if self.left == 0 then
      local crlf
      crlf, err = receive(self, "*l")
      if not crlf then return nil, err end
      if crlf ~= "" then return nil, "chunk longer than its size line says" end
    end
  end
  return parts, got
end

--- Up to n bytes of the body as an array of strings of at most 64 KiB, and
-- their total; an empty array and 0 once it is all read.
function Body:chunks(n)
  if self.chunked then return chunked_parts(self, n) end
  local parts, got = {}, 0
  local left = self.length - self.done
  if n > left then n = left end
  while got < n do
    local data, err = receive(self, math.min(n - got, CHUNK))
    if not data then return nil, err end
    parts[#parts + 1] = data
    got = got + #data
  end
  self.done = self.done + got
  return parts, got
end

--- Appends up to n bytes of the body to buf (regstore.bytes, cleared
-- first); returns how many (0 at the end), or nil and an error.
function Body:fill(buf, n)
  buf:clear()
  local parts, got = self:chunks(n)
  if not parts then return nil, got end
  for _, s in ipairs(parts) do buf:append(s) end
  return got
end

--- Up to n bytes of the body as one string; "" once it is all read.
function Body:read(n)
  local parts, err = self:chunks(n)
  if not parts then return nil, err end
  return table.concat(parts)
end

--- Reads what is left and drops it (so that the connection stays usable).
function Body:drain()
  while true do
    local _, got = self:chunks(1048576)
    if not got or got == 0 then return end
  end
end

--- The request's body stream.
function body.open()
  local te = ngx.var.http_transfer_encoding
  local self = setmetatable({ done = 0, left = 0, eof = false }, Body)
  if te and te:lower():find("chunked", 1, true) then
    local sock, err = ngx.req.socket(true)
    if not sock then return nil, err end
    if (ngx.var.http_expect or ""):lower() == "100-continue" then
      sock:send("HTTP/1.1 100 Continue\r\n\r\n")
    end
    ngx.ctx.raw_socket = sock
    self.sock, self.chunked = sock, true
    return self
  end
  self.length = tonumber(ngx.var.http_content_length or "0") or 0
  if self.length > 0 then
    local sock, err = ngx.req.socket()
    if not sock then return nil, err end
    self.sock = sock
  end
  return self
end

return body
