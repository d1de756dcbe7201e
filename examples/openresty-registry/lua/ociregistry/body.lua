--- The request body as a stream of pieces, never all of it in memory:
--
--   local b, err = body.open()      -- nil, err on a malformed request
--   b.length                        -- Content-Length, or nil when chunked
--   local piece, err = b:read(n)    -- up to n bytes; "" at the end
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

local function receive(self, n)
  local data, err, partial = self.sock:receive(n)
  if not data then return nil, err or "closed", partial end
  return data
end

-- Next bytes of a chunked body, up to n.
local function read_chunked(self, n)
  local parts, got = {}, 0
  while got < n and not self.eof do
    if self.left == 0 then
      local line, err = receive(self, "*l")
      if not line then return nil, err end
      local size = tonumber(line:match("^%s*(%x+)"), 16)
      if not size then return nil, "bad chunk size line" end
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
    local take = math.min(n - got, self.left)
    local data, err = receive(self, take)
    if not data then return nil, err end
    parts[#parts + 1] = data
    got = got + #data
    self.left = self.left - #data
    if self.left == 0 then
      local crlf
      crlf, err = receive(self, "*l")
      if not crlf then return nil, err end
    end
  end
  return table.concat(parts)
end

--- Up to n bytes of the body; "" once it is all read.
function Body:read(n)
  if self.chunked then return read_chunked(self, n) end
  local left = self.length - self.done
  if left <= 0 then return "" end
  if n > left then n = left end
  local data, err = receive(self, n)
  if not data then return nil, err end
  self.done = self.done + #data
  return data
end

--- Reads what is left and drops it (so that the connection stays usable).
function Body:drain()
  while true do
    local s = self:read(1048576)
    if not s or s == "" then return end
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
