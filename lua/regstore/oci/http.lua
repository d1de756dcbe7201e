--- Responses. Normally through nginx (ngx.status, ngx.header, ngx.print); a
-- request whose body came chunked was read through the raw downstream socket
-- (lua-nginx-module 0.10.23 cannot stream a chunked body otherwise), and then
-- the response is written on that socket, with `Connection: close`.

local http = {}

local API_VERSION = "registry/2.0"

local REASONS = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [206] = "Partial Content", [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [413] = "Payload Too Large",
  [414] = "URI Too Long", [416] = "Range Not Satisfiable", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented",
  [503] = "Service Unavailable", [505] = "HTTP Version Not Supported",
}

local function send_raw(sock, status, headers, body)
  local lines = { string.format("HTTP/1.1 %d %s", status, REASONS[status] or "Unknown") }
  headers["Content-Length"] = headers["Content-Length"] or #body
  headers["Connection"] = "close"
  for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. tostring(v) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = ngx.req.get_method() == "HEAD" and "" or body
  local ok, err = sock:send(table.concat(lines, "\r\n"))
  if not ok then ngx.log(ngx.INFO, "regstore: response not sent: ", err) end
  return ngx.exit(ngx.OK)
end

--- Sends a whole response: status, headers (a table), body (string, may be "").
function http.send(status, headers, body)
  body = body or ""
  headers = headers or {}
  headers["Docker-Distribution-API-Version"] = API_VERSION
  local raw = ngx.ctx.raw_socket
  if raw then return send_raw(raw, status, headers, body) end
  ngx.status = status
  for k, v in pairs(headers) do ngx.header[k] = v end
  if headers["Content-Length"] == nil then ngx.header["Content-Length"] = #body end
  -- Headers sent here, not by ngx.exit: ngx.exit(status >= 300) with
  -- nothing sent yet has nginx answer its own error page instead (a HEAD
  -- would lose Content-Type and the challenge of a 401 would go through it).
  if #body > 0 and ngx.req.get_method() ~= "HEAD" then ngx.print(body) else ngx.send_headers() end
  return ngx.exit(status)
end

--- Sends the status line and headers of a response whose body follows in
-- pieces (http.piece).
function http.start(status, headers)
  headers["Docker-Distribution-API-Version"] = API_VERSION
  ngx.status = status
  for k, v in pairs(headers) do ngx.header[k] = v end
  return ngx.send_headers()
end

--- Sends one piece of a body (an array of strings of at most 64 KiB) and
-- waits until nginx has written it out (the coroutine yields meanwhile).
-- The strings go one by one: ngx.print of the whole array would build one
-- buffer of the piece's size. Returns true, or nil and an error.
function http.piece(parts)
  for _, s in ipairs(parts) do
    local ok, err = ngx.print(s)
    if not ok then return nil, err end
  end
  return ngx.flush(true)
end

--- The request's query argument, or nil (a repeated one: the first).
function http.arg(name)
  local v = ngx.req.get_uri_args()[name]
  if type(v) == "table" then v = v[1] end
  if v == true then v = "" end
  return v
end

--- Percent-encodes a string for a query argument.
function http.escape(s)
  return ngx.escape_uri(s)
end

return http
