--- Blob uploads: POST (new session, monolithic with ?digest=, cross-repository
-- ?mount=&from=), PATCH (a chunk, Content-Range checked against the upload's
-- size: 416 otherwise), PUT ?digest= (last chunk and commit), GET (204 with
-- Range and Location), DELETE.
--
-- A body is streamed: it is read in pieces of upload_piece bytes, and each
-- piece goes to a job on the bulk pool that appends it; the next piece is
-- read from the client while the job runs, so a worker holds at most two
-- pieces of an upload. The first piece resumes the upload; between pieces
-- its writer stays open in the worker's lot (regstore.oci.lot), and the
-- request's end closes it (PATCH: its data and hash state are then
-- resumable from any process) or commits it (PUT).

local validate = require "regstore.registry.validate"
local call = require "regstore.oci.call"
local errors = require "regstore.oci.errors"
local http = require "regstore.oci.http"
local body = require "regstore.oci.body"
local settings = require "regstore.oci.settings"

local guard = require "regstore.oci.guard"
local lot = require "regstore.oci.lot"
local core = require "regstore.core"

local uploads = {}

local function location(name, id)
  return "/v2/" .. name .. "/blobs/uploads/" .. id
end

local function upload_headers(name, id, size)
  return {
    Location = location(name, id),
    Range = "0-" .. (size > 0 and size - 1 or 0),
    ["Docker-Upload-UUID"] = id,
  }
end

local function created(name, digest)
  return http.send(201, {
    Location = "/v2/" .. name .. "/blobs/" .. digest,
    ["Docker-Content-Digest"] = digest,
  }, "")
end

-- Sends a failure, after reading the rest of the body so that the
-- connection stays in step.
local function fail(b, code, msg, size, name, id)
  if b and code ~= "body" then b:drain() end
  if code == "body" then return errors.body("BLOB_UPLOAD_INVALID", msg) end
  local h
  if code == "range" then h = upload_headers(name, id, size) end
  return errors.send(code, msg, h)
end

-- Streams the body into upload id, the first piece at offset (nil:
-- wherever the upload is), the upload left open in the lot under key.
-- Returns the upload's size and whether it is open in the lot, or nil,
-- msg, code, size (or nil), and whether it is open in the lot (then
-- release it: a failed piece leaves nothing open).
local function write_all_into(bufs, name, id, offset, b, key)
  local handle = lot.handle()
  local size, job, open = offset, nil, false
  -- two C buffers: one filled from the client while the job writes the
  -- other (the job writes from it directly: no copy through the VMs)
  local cap, slot = bufs.cap, 1
  while true do
    local data = bufs[slot]
    local got, err = b:fill(data, cap) -- while the previous piece is written
    local running = job -- the job spawned below replaces it
    if running then
      local ok, s, msg, code, cur = ngx.thread.wait(running)
      if not ok then return nil, "regstore: " .. tostring(s), "io", nil, open end
      if not s then return nil, msg, code, cur, false end
      size, open = s, true
    end
    if not got then return nil, "request body: " .. tostring(err), "body", nil, open end
    if got == 0 then break end
    job = ngx.thread.spawn(call.bulk, "upload_piece", name, id, size, data, handle, key)
    slot = 3 - slot
  end
  if not open then
    -- nothing written: the status (and the offset check) from the upload
    local s, msg, code = call.meta("upload_status", name, id)
    if not s then return nil, msg, code end
    if offset and s ~= offset then
      return nil, string.format("upload holds %.0f bytes, the chunk starts at %.0f", s, offset), "range", s
    end
    size = s
  end
  return size, open
end

-- write_all_into two C buffers, freed at its end (a job may still hold one:
-- it goes with the job's reference) instead of when the collector gets to
-- them: they are a few MiB each, and it does not know.
local function write_all(name, id, offset, b, key)
  local piece = settings.get().upload_piece
  local cap = b.length and math.max(1, math.min(piece, b.length - (b.done or 0))) or piece
  local bufs = { core.bytes(cap), core.bytes(cap), cap = cap }
  local function done(...)
    bufs[1]:free()
    bufs[2]:free()
    return ...
  end
  return done(write_all_into(bufs, name, id, offset, b, key))
end

-- Closes what write_all left open under key (after a failure: best effort).
-- On the bulk threads: the close waits for the stream's last writes, and
-- the meta ones stay free for small requests.
local function release(name, id, key)
  return call.bulk("upload_release", name, id, lot.handle(), key)
end

-- The start of a Content-Range "<start>-<end>" header; false when malformed,
-- nil when absent.
local function chunk_start(b)
  local h = ngx.var.http_content_range
  if not h then return nil end
  local a, e = h:match("^%s*b?y?t?e?s?%s*(%d+)-(%d+)")
  if not a then return false end
  a, e = tonumber(a), tonumber(e)
  if e < a or (b.length and b.length ~= e - a + 1) then return false end
  return a
end

-- Streams the body, then commits as digest; answers 201.
local function commit(name, id, digest, b, offset)
  local ok, msg, code = validate.digest(digest)
  if not ok then return fail(b, code, msg) end
  local size, cur_size
  if b.length and b.length <= settings.get().upload_piece then
    local data, err = b:chunks(b.length)
    if not data then return fail(b, "body", "request body: " .. tostring(err)) end
    size, msg, code, cur_size = call.bulk("upload_commit", name, id, offset, data, digest)
  else
    local key = lot.key(id)
    local cur, open
    size, msg, code, cur, open = write_all(name, id, offset, b, key)
    if not size then
      if open then release(name, id, key) end
      return fail(b, code, msg, cur or 0, name, id)
    end
    open = msg
    size, msg, code = call.meta("upload_commit", name, id, size, {}, digest, open and lot.handle() or nil,
      open and key or nil)
  end
  if not size then return fail(b, code, msg, cur_size or 0, name, id) end
  return created(name, digest)
end

--- POST /v2/<name>/blobs/uploads/
function uploads.start(name)
  local mount, from, digest = http.arg "mount", http.arg "from", http.arg "digest"
  if mount and from and validate.digest(mount) and validate.name(from) and guard.permits(from, "pull") then
    local size, msg, code = call.meta("blob_mount", name, from, mount)
    if size then
      ngx.req.discard_body()
      return created(name, mount)
    end
    if code ~= "blob_unknown" and code ~= "name_unknown" then return errors.send(code, msg) end
  end
  local b, err = body.open()
  if not b then return fail(nil, "body", "request body: " .. tostring(err)) end
  local id, msg, code = call.meta("upload_create", name)
  if not id then return fail(b, code, msg) end
  if digest then return commit(name, id, digest, b, 0) end
  b:drain()
  return http.send(202, upload_headers(name, id, 0), "")
end

--- PATCH /v2/<name>/blobs/uploads/<id>
function uploads.patch(name, id)
  local b, err = body.open()
  if not b then return fail(nil, "body", "request body: " .. tostring(err)) end
  local offset = chunk_start(b)
  if offset == false then
    local size = call.meta("upload_status", name, id) or 0
    return fail(b, "range", "malformed Content-Range " .. tostring(ngx.var.http_content_range), size, name, id)
  end
  local key = lot.key(id)
  local size, msg, code, cur, open = write_all(name, id, offset, b, key)
  if not size then
    if open then release(name, id, key) end
    return fail(b, code, msg, cur or 0, name, id)
  end
  if msg then -- open in the lot
    size, msg, code = release(name, id, key)
    if not size then return fail(b, code, msg, 0, name, id) end
  end
  return http.send(202, upload_headers(name, id, size), "")
end

--- PUT /v2/<name>/blobs/uploads/<id>?digest=
function uploads.finish(name, id)
  local b, err = body.open()
  if not b then return fail(nil, "body", "request body: " .. tostring(err)) end
  local digest = http.arg "digest"
  if not digest then return fail(b, "digest_invalid", "the digest query argument is missing") end
  local offset = chunk_start(b)
  if offset == false then offset = nil end
  return commit(name, id, digest, b, offset)
end

--- GET /v2/<name>/blobs/uploads/<id>
function uploads.status(name, id)
  local size, msg, code = call.meta("upload_status", name, id)
  if not size then return errors.send(code, msg) end
  return http.send(204, upload_headers(name, id, size), "")
end

--- DELETE /v2/<name>/blobs/uploads/<id>
function uploads.cancel(name, id)
  local ok, msg, code = call.meta("upload_cancel", name, id)
  if not ok then return errors.send(code, msg) end
  return http.send(204, {}, "")
end

return uploads
