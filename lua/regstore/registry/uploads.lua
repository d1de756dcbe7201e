--- Resumable blob uploads (distribution's blobwriter + resumable digests).
--
-- Layout: repositories/<name>/_uploads/<id>/{startedat, data, hashstates/sha256/<offset>}.
--
-- Writing. `data` is written through a driver writer: `writer(data, false)`
-- for the first bytes of a new upload, `writer(data, true)` to go on after a
-- close (from this or another process). A SHA-256 hasher from the engine is
-- attached to the writer (`writer:hash(h)`), so the digest is computed in C
-- as the bytes stream; Lua never hashes. Every close stores the hasher's
-- state at hashstates/sha256/<offset> (108 bytes, Go's MarshalBinary format,
-- as distribution stores it), offset = bytes hashed = bytes in `data`.
--
-- Resuming. `resume(id)` reads `startedat` (missing: blob_upload_unknown),
-- opens `writer(data, true)` and restores the state saved at exactly the
-- writer's size. When there is none (a process died between writing and
-- saving, or a state is malformed) the upload still takes bytes, but without
-- a hasher: the digest is then finished at commit (below).
--
-- Commit order, chosen so that a refused commit leaves the upload resumable
-- and nothing in blobs/:
--   1. digest well formed (digest_invalid; sha512: unsupported), size equal
--      to the writer's size when given (size_invalid).
--   2a. The hasher covers every byte (the usual case: the data was written
--      through this object, or resumed at a saved state): compare its digest
--      BEFORE committing anything. A mismatch answers digest_invalid after a
--      checkpoint (writer closed, state saved), exactly as `close` would, so
--      the same object, or `resume(id)` anywhere, can go on.
--   2b. The hasher does not cover the data: the uncommitted bytes cannot be
--      read, so the writer is committed first (the data becomes visible at
--      _uploads/<id>/data); the hash is then restored from the largest saved
--      state at or below the size (or started from zero) and only the tail
--      is read back and hashed. The finished state is saved at the size. On a
--      mismatch the committed data stays where it is: the driver's
--      `writer(path, true)` continues a committed file as well, so the upload
--      remains resumable, and nothing reached blobs/.
--   3. Quotas that cover the repository count the upload's bytes unless
--      the repository links the blob already (registry/quotas.lua); over a
--      limit: `denied`, and the upload stays as it was (resumable). A
--      failure after this gives the bytes back.
--   4. If blobs/<alg>/<2hex>/<hex>/data exists already, the upload's data is
--      just dropped; otherwise the writer is committed (2a) and `data` is
--      moved there (a move rewrites directory entries, no data is copied)
--      with `replace = false`: when another upload of the same content got
--      there first (several clients push one layer at once), the move fails
--      with `exists`, changes nothing, and this upload links that blob. A
--      blob is never replaced by identical content under its readers.
--   5. The _layers/<alg>/<hex>/link is written (left alone when it already
--      holds the digest). When the blob was found rather than moved, it is
--      looked for once more, past the cache: garbage collection may have
--      taken it between 4 and 5 (an unreferenced blob older than its
--      grace), and then this upload's data, still in place, moves there.
--      Then the whole upload directory is deleted; the id is unknown from
--      then on.
-- Failures of the store itself (io, timeout) between 3 and 4 are returned
-- as they are; a retry after a failed move finds the data still in the
-- upload (committed), a retry after a failed link write does not (as in
-- distribution) and the client uploads again.
--
-- `startedat` holds `YYYY-MM-DDTHH:MM:SSZ` (UTC, RFC 3339, as distribution's
-- Create writes it and PurgeUploads reads it); `upload.started_at` is that
-- time in epoch seconds.

local regstore = require "regstore"
local validate = require "regstore.registry.validate"
local errors = require "regstore.registry.errors"
local blobs = require "regstore.registry.blobs"
local links = require "regstore.registry.links"
local quotas = require "regstore.registry.quotas"
local rfc3339 = require "regstore.registry.rfc3339"

local uploads = {}

local READ_SIZE = 1048576

---------------------------------------------------------------- helpers

local Upload = {}
Upload.__index = Upload

local function path(self, kind, offset)
  return self._ctx.paths:path_for(kind, { name = self._name, id = self.id, alg = "sha256", offset = offset })
end

local function unknown(self)
  return errors.new("blob_upload_unknown", "blob upload unknown to repository %s: %s",
    self._name, self.id)
end

-- Driver failure: not_found means the upload is gone.
local function failed(self, msg, code)
  if code == "not_found" then return unknown(self) end
  return nil, msg, code
end

-- A hasher restored from the state saved at offset, or nil.
local function load_state(self, offset)
  if offset == 0 then return regstore.sha256() end
  local state = self._ctx.drv:get_content(path(self, "upload_hash_state", offset))
  if not state then return nil end
  local ok, h = pcall(regstore.sha256, state)
  if ok and h and h:size() == offset then return h end
  return nil
end

-- The offsets of the saved hash states, largest first.
local function state_offsets(self)
  local list = self._ctx.drv:list(path(self, "upload_hash_states"))
  local offsets = {}
  for _, p in ipairs(list or {}) do
    local n = tonumber(p:match("/(%d+)$"))
    if n then offsets[#offsets + 1] = n end
  end
  table.sort(offsets, function(a, b) return a > b end)
  return offsets
end

-- The largest saved state at or below offset (a fresh hasher when none).
local function best_state(self, offset)
  for _, n in ipairs(state_offsets(self)) do
    local h = n <= offset and load_state(self, n)
    if h then return h end
  end
  return regstore.sha256()
end

local REOPEN_TRIES = 50

-- The data is missing. Either none was ever kept (created, then nothing
-- closed): the upload starts it, if the upload itself is still there. Or
-- bytes were kept and another process is committing them right now (its
-- writer's record is gone and its file not linked yet, for a round trip
-- or two) or has moved them into blobs/ (and then removed `startedat`
-- first): look again until one of the two shows.
local function reopen(self, data)
  local drv = self._ctx.drv
  local started = path(self, "upload_started_at")
  -- bytes were kept once: a hash state saved at an offset above 0
  local kept = (state_offsets(self)[1] or 0) > 0
  for _ = 1, REOPEN_TRIES do
    local info, msg, code = drv:stat(started)
    if not info then return failed(self, msg, code) end
    if not kept then return drv:writer(data, false) end
    local w
    w, msg, code = drv:writer(data, true)
    if w or code ~= "not_found" then return w, msg, code end
  end
  return errors.new("io", "upload %s in repository %s: its data is being committed by another writer",
    self.id, self._name)
end

-- Opens the data writer if it is not open; attaches a hasher covering it.
local function open(self)
  if self._done then return unknown(self) end
  if self._w then return self._w end
  local drv = self._ctx.drv
  local data = path(self, "upload_data")
  local w, msg, code
  if self._fresh then
    w, msg, code = drv:writer(data, false)
  else
    w, msg, code = drv:writer(data, true)
    if not w and code == "not_found" then w, msg, code = reopen(self, data) end
  end
  if not w then return failed(self, msg, code) end
  self._fresh = false
  local size = w:size()
  local h = self._h
  if not (h and h:size() == size) then
    h = load_state(self, size)
    self._saved = h and size or nil
  end
  if h then w:hash(h) end
  self._w, self._h, self._size = w, h, size
  return w
end

-- Closes the writer and saves the hash state when it covers the data.
local function checkpoint(self)
  local w, h = self._w, self._h
  if not w then return true end
  self._w = nil
  self._size = w:size()
  local ok, msg, code = w:close()
  if not ok then
    self._h = nil
    return failed(self, msg, code)
  end
  if not (h and h:size() == self._size) then
    self._h = nil
    return true
  end
  if self._saved ~= self._size then
    ok, msg, code = self._ctx.drv:put_content(path(self, "upload_hash_state", self._size), h:state())
    if not ok then return failed(self, msg, code) end
    self._saved = self._size
  end
  return true
end

-- Hashes the committed data from the best saved state up to size.
local function rehash(self, size)
  local h = best_state(self, size)
  local from = h:size()
  if from < size then
    local r, msg, code = self._ctx.drv:reader(path(self, "upload_data"), from)
    if not r then return failed(self, msg, code) end
    while true do
      local chunk
      chunk, msg, code = r:read(READ_SIZE)
      if not chunk then break end
      h:update(chunk)
    end
    r:close()
    if msg then return nil, msg, code end
  end
  if h:size() ~= size then
    return errors.new("size_invalid", "upload %s in repository %s: read %.0f bytes, expected %.0f",
      self.id, self._name, h:size(), size)
  end
  if self._saved ~= size then
    -- best effort: a later commit can start from here
    if self._ctx.drv:put_content(path(self, "upload_hash_state", size), h:state()) then
      self._saved = size
    end
  end
  return h
end

-- Commits the data (when not yet) and moves it onto the blob's path,
-- unless a blob is there already: of two uploads of one digest committing
-- at once, one moves, the other finds the blob (`replace = false` decides
-- it atomically) and links it. true when moved, false when found.
--
-- `startedat` goes before the data moves: a resume in another process that
-- then finds no data must not take it for an upload never written and
-- start it afresh (open() looks for `startedat` after missing the data).
-- A move that fails puts `startedat` back, so the upload stays resumable.
local function become_blob(self, digest)
  local ctx, w = self._ctx, self._w
  if w then
    self._w = nil
    local ok, msg, code = w:commit()
    if not ok then return failed(self, msg, code) end
  end
  local started = path(self, "upload_started_at")
  local ok, msg, code = ctx.drv:delete(started)
  if not ok then return failed(self, msg, code) end
  ok, msg, code = ctx.drv:move(path(self, "upload_data"),
    ctx.paths:path_for("blob_data", { digest = digest }), { replace = false })
  if ok then return true end
  if code == "exists" then return false end
  if code ~= "not_found" and self.started_at then
    ctx.drv:put_content(started, rfc3339.format(self.started_at))
  end
  return failed(self, msg, code)
end

---------------------------------------------------------------- methods

-- Appends through the writer's method (write or writev).
local function append(self, how, data)
  local w, msg, code = open(self)
  if not w then return nil, msg, code end
  local ok
  ok, msg, code = w[how](w, data)
  self._size = w:size()
  if not ok then return failed(self, msg, code) end
  return true
end

--- Appends data.
function Upload:write(data)
  validate.arg(data, "string", 1, "write")
  return append(self, "write", data)
end

--- Appends an array of strings in order, as one write without joining
-- them, or regstore.bytes (writer:writev).
function Upload:writev(data)
  if type(data) ~= "userdata" then validate.arg(data, "table", 1, "writev") end
  return append(self, "writev", data)
end

--- Bytes written so far.
function Upload:size()
  if self._w then return self._w:size() end
  return self._size
end

--- Keeps what was written so that a later resume (here or elsewhere) goes on.
function Upload:close()
  if self._done then return true end
  return checkpoint(self)
end

--- Drops the upload; its id is unknown afterwards.
function Upload:cancel()
  if self._done then return unknown(self) end
  if self._w then
    self._w:cancel()
    self._w = nil
  end
  local ok, msg, code = self._ctx.drv:delete(path(self, "upload"))
  if not ok then
    if code == "not_found" then self._done = true end
    return failed(self, msg, code)
  end
  self._done = true
  return true
end

--- Verifies digest (and size when given) and makes the data a blob linked
-- into the repository. Returns { digest, size }.
function Upload:commit(digest, size)
  validate.arg(digest, "string", 1, "commit")
  validate.arg(size, "number", 2, "commit", true)
  if self._done then return unknown(self) end
  local alg, msg, code = validate.digest(digest)
  if not alg then return nil, msg, code end
  if alg ~= "sha256" then
    return errors.new("unsupported", "upload %s: digest algorithm %s is not supported", self.id, alg)
  end
  local ctx = self._ctx
  local w
  w, msg, code = open(self)
  if not w then return nil, msg, code end
  local total = w:size()
  if size and size ~= total then
    checkpoint(self)
    return errors.new("size_invalid", "upload %s in repository %s has %.0f bytes, not %.0f",
      self.id, self._name, total, size)
  end
  local h, committed = self._h, false
  if not (h and h:size() == total) then
    -- 2b: make the data readable, then hash what no saved state covers
    self._w = nil
    local ok
    ok, msg, code = w:commit()
    if not ok then return failed(self, msg, code) end
    committed = true
    h, msg, code = rehash(self, total)
    if not h then return nil, msg, code end
    self._h = h
  end
  local got = "sha256:" .. h:hexdigest()
  if got ~= digest then
    if not committed then checkpoint(self) end
    return errors.new("digest_invalid",
      "upload %s in repository %s: content is %s, not %s", self.id, self._name, got, digest)
  end
  local fields = { name = self._name, digest = digest }
  local token
  token, msg, code = quotas.charge_link(ctx, self._name, "layer_link", fields, digest, total)
  if not token then
    if not committed then checkpoint(self) end
    return nil, msg, code
  end
  local function undo(m, c)
    quotas.refund(ctx, token)
    return nil, m, c
  end
  local exists
  exists, msg, code = blobs.exists(ctx, digest)
  if exists == nil then
    if not committed then checkpoint(self) end
    return undo(msg, code)
  end
  local moved = false
  if not exists then
    moved, msg, code = become_blob(self, digest)
    if moved == nil then return undo(msg, code) end
  end
  local ok
  ok, msg, code = links.write(ctx, "layer_link", fields, digest, token.unlinked)
  if not ok then
    if self._w then checkpoint(self) end
    return undo(msg, code)
  end
  if not moved then
    -- The blob found above may have been taken by garbage collection
    -- before the link was written; then this upload's own data, still in
    -- place, becomes the blob.
    exists, msg, code = blobs.exists_now(ctx, digest)
    if exists == false then exists, msg, code = become_blob(self, digest) end
    if exists == nil then return nil, msg, code end
  end
  ctx.cache:set(digest, { size = total, media_type = blobs.DEFAULT_MEDIA_TYPE })
  if self._w then
    self._w:cancel()
    self._w = nil
  end
  ok, msg, code = ctx.drv:delete(path(self, "upload"))
  self._done = true
  if not ok and code ~= "not_found" then return nil, msg, code end
  return { digest = digest, size = total }
end

--- Hands the open writer over to another owner (regstore.core.park, so
-- that the next piece of a stream, in another Lua state, goes on with it):
-- returns the writer, the hasher when it covers every byte (else nil), the
-- path of the hash states' directory, and the fields uploads.adopt takes.
-- This object is finished afterwards (close does nothing). nil, message,
-- code when the writer cannot be opened.
function Upload:detach()
  local w, msg, code = open(self)
  if not w then return nil, msg, code end
  local h = self._h
  if not (h and h:size() == w:size()) then h = nil end
  local fields = string.format("%.0f %.0f", self.started_at or -1, self._saved or -1)
  self._w, self._h, self._done = nil, nil, true
  return w, h, path(self, "upload_hash_states"), fields
end

---------------------------------------------------------------- create/resume

local function new_upload(ctx, name, id, started_at)
  return setmetatable({
    id = id, started_at = started_at,
    _ctx = ctx, _name = name,
    _w = nil,        -- open driver writer
    _h = nil,        -- hasher; trusted only while h:size() == data size
    _size = 0,       -- data size when no writer is open
    _saved = nil,    -- offset of the last hash state known to be stored
    _fresh = false,  -- no data yet: the first writer starts the file
    _done = false,   -- committed or cancelled
  }, Upload)
end

--- A new upload in repository name.
function uploads.create(ctx, name)
  local id = regstore.uuid()
  local now = os.time()
  local up = new_upload(ctx, name, id, now)
  local ok, msg, code = ctx.drv:put_content(path(up, "upload_started_at"), rfc3339.format(now))
  if not ok then return nil, msg, code end
  up._fresh = true
  up._h = regstore.sha256()
  return up
end

--- { id, size, started_at } of the upload with that id, read without
-- opening its writer: a status read must not take the exclusive writer a
-- PATCH of the same upload is using, nor start one (GET is safe). The size
-- is what the last close kept: the largest saved hash state (each close of
-- a writer that hashed every byte saves one at the size), or the data's
-- size once committed (a commit refused on a mismatched digest leaves it
-- so). Bytes written after a crash lost the hasher, and not yet committed,
-- are not counted until the next close that covers them.
function uploads.status(ctx, name, id)
  local tmp = { _ctx = ctx, _name = name, id = id }
  if not validate.upload_id(id) then return unknown(tmp) end
  local text, msg, code = ctx.drv:get_content(ctx.paths:path_for("upload_started_at", { name = name, id = id }))
  if not text then return failed(tmp, msg, code) end
  local size = state_offsets(tmp)[1] or 0
  local info = ctx.drv:stat(path(tmp, "upload_data"))
  if info and info.size > size then size = info.size end
  return { id = id, size = size, started_at = rfc3339.parse(text) }
end

--- The upload with that id, from any process.
function uploads.resume(ctx, name, id)
  local tmp = { _ctx = ctx, _name = name, id = id }
  if not validate.upload_id(id) then return unknown(tmp) end
  local text, msg, code = ctx.drv:get_content(ctx.paths:path_for("upload_started_at", { name = name, id = id }))
  if not text then return failed(tmp, msg, code) end
  local up = new_upload(ctx, name, id, rfc3339.parse(text))
  local w
  w, msg, code = open(up)
  if not w then return nil, msg, code end
  return up
end

--- An upload of repository name going on with a writer that detach()
-- handed over (opened on ctx.drv's connection), its hasher (or nil) and
-- fields.
function uploads.adopt(ctx, name, id, w, h, fields)
  local started, saved = fields:match("^(%-?%d+) (%-?%d+)$")
  started, saved = tonumber(started), tonumber(saved)
  local up = new_upload(ctx, name, id, started ~= -1 and started or nil)
  up._saved = saved ~= -1 and saved or nil
  up._size = w:size()
  if h and h:size() == up._size then up._h = h end
  up._w = w
  return up
end

return uploads
