--- Blobs: HEAD, GET (whole or one Range), DELETE of /v2/<name>/blobs/<digest>.
--
-- GET streams: each piece (read_piece bytes) is read by a job on the
-- bulk pool into a C buffer (regstore.bytes) while the previous piece is
-- being sent (ngx.print, then ngx.flush(true) yields until nginx wrote it
-- out), so at most two pieces of a blob are in this worker's memory, and
-- the event loop never waits.

local validate = require "regstore.registry.validate"
local call = require "regstore.oci.call"
local errors = require "regstore.oci.errors"
local http = require "regstore.oci.http"
local settings = require "regstore.oci.settings"

local core = require "regstore.core"
local guard = require "regstore.oci.guard"
local lot = require "regstore.oci.lot"

local blobs = {}

local CHUNK = 65536

local function headers(digest)
  return {
    ["Content-Type"] = "application/octet-stream",
    ["Docker-Content-Digest"] = digest,
    ["Accept-Ranges"] = "bytes",
    ["ETag"] = '"' .. digest .. '"',
    ["Cache-Control"] = "max-age=31536000",
  }
end

-- The byte range asked for, as "<a>-<b>", or nil when the whole blob is to
-- be sent: no Range header, a unit other than bytes (which a server MUST
-- ignore), or several ranges (which it may answer whole; RFC 9110 §14.2).
local function wanted()
  local h = ngx.var.http_range
  if not h then return nil end
  local unit, spec = h:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
  if not unit or unit:lower() ~= "bytes" or spec:find(",", 1, true) then return nil end
  return spec
end

-- first, last byte of a single byte range against size; false when it
-- cannot be satisfied (or is malformed).
local function range(spec, size)
  local a, b = spec:match("^(%d*)-(%d*)$")
  if not a or (a == "" and b == "") then return false end
  local first, last
  if a == "" then -- the last b bytes
    first, last = math.max(size - tonumber(b), 0), size - 1
  else
    first = tonumber(a)
    last = b == "" and size - 1 or math.min(tonumber(b), size - 1)
  end
  if first > last or first >= size then return false end
  return first, last
end

function blobs.head(name, digest)
  local ok, msg, code = validate.digest(digest)
  if not ok then return errors.send(code, msg) end
  local size
  size, msg, code = call.meta("blob_stat", name, digest)
  if not size then return errors.send(code, msg) end
  local h = headers(digest)
  h["Content-Length"] = size
  return http.send(200, h, "")
end

-- The piece in buf as strings of at most 64 KiB: the event loop never
-- makes a bigger one (see body.lua), and the buffer is free again for the
-- next piece's job.
local function parts_of(buf)
  local parts, size = {}, buf:size()
  for i = 1, size, CHUNK do parts[#parts + 1] = buf:sub(i, i + CHUNK - 1) end
  return parts
end

-- Sends parts, then the pieces from pos to last (inclusive), one job ahead
-- (the next piece is read into buf while parts go out); the reader waits in
-- the worker's lot under key between pieces.
local function stream(name, digest, parts, buf, pos, last, key)
  local piece, handle = settings.get().read_piece, lot.handle()
  while true do
    local job
    if pos <= last then
      local n = math.min(piece, last - pos + 1)
      job = ngx.thread.spawn(call.bulk, "blob_read", name, digest, pos, n, buf, handle, key, pos + n <= last)
    end
    local sent, err = http.piece(parts)
    if not job then
      if not sent then ngx.log(ngx.INFO, "regstore: blob ", digest, " not sent: ", err) end
      buf:free()
      return ngx.exit(ngx.OK)
    end
    local ok, got, msg, code = ngx.thread.wait(job) -- got, size or nil, message, code
    if not sent or not ok or not got or got == 0 then
      if ok and got then call.bulk("lot_drop", handle, key) end -- parked for a next piece
      if sent then
        ngx.log(ngx.ERR, "regstore: blob ", digest, " at ", pos, ": ", tostring(ok and msg or got),
          " (", tostring(code), ")")
      end
      buf:free() -- the job's reference, if it still holds one, keeps it until the job is done
      return ngx.exit(ngx.ERROR) -- the client sees a short body
    end
    parts, pos = parts_of(buf), pos + got
  end
end

function blobs.get(name, digest)
  local ok, msg, code = validate.digest(digest)
  if not ok then return errors.send(code, msg) end
  local piece = settings.get().read_piece
  local first, last, status = 0, nil, 200
  local spec = wanted()
  if spec then
    local size
    size, msg, code = call.meta("blob_stat", name, digest)
    if not size then return errors.send(code, msg) end
    first, last = range(spec, size)
    if first == false then
      return errors.oci(416, "SIZE_INVALID", "range not satisfiable",
        { ["Content-Range"] = "bytes */" .. size })
    end
    status = 206
  end
  local key, n = lot.key(digest), last and math.min(piece, last - first + 1) or piece
  local buf = core.bytes(n)
  local got, size
  got, size, code = call.bulk("blob_read", name, digest, first, n, buf, lot.handle(), key,
    not last or first + n <= last)
  if not got or size == 0 then
    buf:free() -- a few MiB the collector does not see: not left to it
    if not got then return errors.send(code, size) end -- nil, message, code
    return http.send(200, headers(digest), "")
  end
  last = last or size - 1
  local h = headers(digest)
  h["Content-Length"] = last - first + 1
  if status == 206 then h["Content-Range"] = string.format("bytes %d-%d/%d", first, last, size) end
  http.start(status, h)
  return stream(name, digest, parts_of(buf), buf, first + got, last, key)
end

function blobs.delete(name, digest)
  local ok, msg, code = validate.digest(digest)
  if not ok then return errors.send(code, msg) end
  ok, msg, code = call.meta("blob_delete", name, digest)
  if not ok then return errors.send(code, msg) end
  guard.event("on_delete", name, digest, guard.ctx())
  return http.send(202, {}, "")
end

return blobs
