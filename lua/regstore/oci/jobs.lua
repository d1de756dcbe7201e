--- The OCI handlers' jobs, run in nginx's thread VMs (regstore.nginx.jobs
-- calls them; threads.run(kind, "regstore.oci.jobs", fn, ...) posts them).
-- They take and return plain values only, so that each stream piece can run
-- on any VM: an upload is resumed by id for every piece and closed again.
--
-- Every job returns its results, or nil, message, code (the registry's codes;
-- "range" for an upload offset that is not the one the client assumed, with
-- the upload's size as fourth value).

local vm = require "regstore.nginx.jobs"
local core = require "regstore.core"
local uploads = require "regstore.registry.uploads"

local jobs = {}

local repo = vm.repository
local tidy = vm.tidy
local function as_is(...) return ... end

-- The job f(r, ...) on repository `name`'s handle r, as a job of
-- (name, ...): repository's failure, or f's answer.
local function on_repo(f)
  return function(name, ...)
    local r, msg, code = repo(name)
    if not r then return nil, msg, code end
    return f(r, ...)
  end
end

-- x[key] of a call's answer x, or the call's failure (nil, msg, code).
local function field(key, x, msg, code)
  if not x then return nil, msg, code end
  return x[key]
end

---------------------------------------------------------------- blobs

--- Size of a blob linked into name.
jobs.blob_stat = on_repo(function(r, digest) return field("size", r.blobs:stat(digest)) end)

local repo_blobs = require "regstore.registry.repo_blobs"

-- This VM's registry context over driver d (see "a request's stream").
local ctx_on

--- jobs.blob_read: up to n bytes of a blob from offset into buf (regstore.bytes, lent by
-- the worker: see regstore.nginx.threads), then their count and the blob's
-- size. The piece goes from the engine's read-ahead into buf, which the
-- worker sends from: no Lua string is made in this VM, none copied between
-- the two. The reader, opened on a sibling connection by the first piece,
-- waits in lot under key between pieces with its read-ahead in flight,
-- whatever VM reads the next one (more: another piece follows).
local function blob_read(name, digest, offset, n, buf, lot, key, more)
  local ok, msg, code = repo(name) -- checks the name
  if not ok then return nil, msg, code end
  local d, rd = core.take(lot, key)
  if not d then
    local drv
    drv, msg, code = vm.driver()
    if not drv then return nil, msg, code end
    d, msg, code = drv:sibling()
    if not d then return nil, msg, code end
    local ctx
    ctx, msg, code = ctx_on(d)
    if ctx then rd, msg, code = repo_blobs.new(ctx, name):reader(digest, offset) end
    if not rd then
      d:close()
      return nil, msg, code
    end
  end
  local size = rd:size()
  buf:clear()
  local got
  got, msg, code = rd:read_into(buf, n)
  if not got then
    rd:close()
    d:close()
    return nil, msg, code
  end
  if not (more and got == n and offset + got < size and core.park(lot, key, d, rd, nil, "")) then
    rd:close()
    d:close()
  end
  return got, size
end

function jobs.blob_read(name, digest, offset, n, lent, lot, key, more)
  local buf = core.borrow(lent) -- first: see threads.lua
  local function done(...)
    buf:free() -- this VM's reference: the buffer is the worker's again, not this VM's garbage
    return ...
  end
  return done(blob_read(name, digest, offset, n, buf, lot, key, more))
end

jobs.blob_delete = on_repo(function(r, digest) return r.blobs:delete(digest) end)

--- Links digest of repository from into name; returns its size.
jobs.blob_mount = on_repo(function(r, from, digest) return field("size", r.blobs:mount(from, digest)) end)

---------------------------------------------------------------- uploads

jobs.upload_create = on_repo(function(r)
  local up, msg, code = r.blobs:create()
  if not up then return nil, msg, code end
  local ok
  ok, msg, code = up:close()
  if not ok then return nil, msg, code end
  return up.id
end)

-- A pause of the VM's thread (never the event loop's): LuaJIT's FFI.
local ffi = require "ffi"
pcall(ffi.cdef, "int usleep(unsigned int usec);")
local function pause(seconds) ffi.C.usleep(seconds * 1e6) end

-- How long a resume waits for the writer another request holds (a PUT
-- committing the same session, a PATCH's piece) before answering its error.
local HELD_TRIES, HELD_PAUSE = 100, 0.02

-- The upload, resumed; checks that it holds `offset` bytes when given.
-- When another request holds its writer, waits until that one lets it go
-- or finishes the upload: of two PUTs finishing one session, the one that
-- comes second then finds it gone (blob_upload_unknown, 404), not an io
-- failure (500). With ctx (a registry context), resumed there: on the
-- sibling connection of a request's stream (below).
local function resume(name, id, offset, ctx)
  local r, msg, code = repo(name)
  if not r then return nil, msg, code end
  local up
  for _ = 1, HELD_TRIES do
    if ctx then
      up, msg, code = uploads.resume(ctx, name, id)
    else
      up, msg, code = r.blobs:resume(id)
    end
    if up or code ~= "io" then break end
    local st, smsg, scode = r.blobs:upload_status(id)
    if not st then return nil, smsg, scode end -- gone (or the store failing)
    pause(HELD_PAUSE)
  end
  if not up then return nil, msg, code end
  local size = up:size()
  if offset and offset ~= size then
    up:close()
    return nil, string.format("upload %s holds %.0f bytes, the chunk starts at %.0f", id, size, offset),
      "range", size
  end
  return up
end

---------------------------------------------------------------- a request's stream

-- The pieces of one request body run as jobs on any thread VM. The first
-- resumes the upload on a sibling of this VM's connection (its own I/O
-- context and per-call state), and each piece parks the open writer, its
-- hasher and that connection in the worker's lot (regstore.oci.lot) under
-- the request's key; the next piece, on whatever VM, takes them back and
-- appends without a resume or a close. The request's end closes it
-- (upload_release: the data and hash state are then resumable from any
-- process, as after every piece before) or commits it.

-- This VM's registry context over driver d.
function ctx_on(d)
  local r, msg, code = vm.registry()
  if not r then return nil, msg, code end
  local base = r._ctx
  return { drv = d, paths = base.paths, cache = base.cache }
end

-- The request's upload: taken from the lot, or resumed on a new sibling
-- connection. Returns the upload, its context and connection, or nil,
-- message, code[, size].
local function stream_open(name, id, offset, lot, key)
  local d, w, h, fields = core.take(lot, key)
  if d then
    local ctx = ctx_on(d)
    if not ctx then
      core.park(lot, key, d, w, h or nil, fields) -- give it back as it was
      return nil, "regstore: no registry in this thread VM", "io"
    end
    local up = uploads.adopt(ctx, name, id, w, h or nil, fields)
    local size = up:size()
    if offset and offset ~= size then
      up:close()
      d:close()
      return nil, string.format("upload %s holds %.0f bytes, the chunk starts at %.0f", id, size, offset),
        "range", size
    end
    return up, ctx, d
  end
  local drv, msg, code = vm.driver()
  if not drv then return nil, msg, code end
  local sib
  sib, msg, code = drv:sibling()
  if not sib then return nil, msg, code end
  local ctx
  ctx, msg, code = ctx_on(sib)
  if not ctx then
    sib:close()
    return nil, msg, code
  end
  local up, size
  up, msg, code, size = resume(name, id, offset, ctx)
  if not up then
    sib:close()
    return nil, msg, code, size
  end
  return up, ctx, sib
end

-- Parks up (opened through ctx on connection d) under key; when the lot
-- is full, closes it instead (the next piece resumes it).
local function park(up, ctx, d, name, id, lot, key)
  local w, h, states, fields = up:detach()
  if not w then
    d:close()
    return nil, h, states -- message, code
  end
  if core.park(lot, key, d, w, h, fields, states) then return true end
  local ok, msg, code = uploads.adopt(ctx, name, id, w, h, fields):close()
  d:close()
  return ok, msg, code
end

--- Appends data (lent bytes, see regstore.nginx.threads; or an array of
-- strings) at offset (nil: wherever the upload is) as a piece of the
-- request keyed key; returns the new size. The upload stays open in lot.
function jobs.upload_piece(name, id, offset, data, lot, key)
  local lent = type(data) == "userdata"
  if lent then data = core.borrow(data) end -- first: see threads.lua
  local up, ctx, d, code, size = stream_open(name, id, offset, lot, key)
  if not up then
    if lent then data:free() end
    return nil, ctx, d, code, size -- nil, message, code, size
  end
  local ok, msg
  ok, msg, code = up:writev(data)
  -- Lent bytes: this VM's reference given back at once, and no full cycle
  -- (a VM's modules swept, per piece) for what the collector never saw.
  local finish = tidy
  if lent then
    data:free()
    finish = as_is
  end
  data = nil -- luacheck: ignore 311 (lets tidy() free the piece)
  if not ok then
    up:close()
    d:close()
    return finish(nil, msg, code)
  end
  size = up:size()
  ok, msg, code = park(up, ctx, d, name, id, lot, key)
  if not ok then return finish(nil, msg, code) end
  return finish(size)
end

--- Closes the upload the request keyed key left open (its data and hash
-- state stay resumable); returns its size.
function jobs.upload_release(name, id, lot, key)
  local d, w, h, fields = core.take(lot, key)
  if not d then return jobs.upload_status(name, id) end -- closed by a sweep already
  local ctx, msg, code = ctx_on(d)
  if not ctx then
    core.park(lot, key, d, w, h or nil, fields)
    return nil, msg, code
  end
  local up = uploads.adopt(ctx, name, id, w, h or nil, fields)
  local size = up:size()
  local ok
  ok, msg, code = up:close()
  d:close()
  if not ok then return tidy(nil, msg, code) end
  return tidy(size)
end

--- Closes what the request keyed key left in lot (a reader of a GET that
-- ended early).
function jobs.lot_drop(lot, key)
  local d, obj = core.take(lot, key)
  if not d then return true end
  obj:close()
  d:close()
  return tidy(true)
end

--- Closes the uploads parked in lot for idle seconds or more (all of them
-- when idle < 0); returns how many.
function jobs.lot_sweep(lot, idle)
  return core.sweep(lot, idle)
end

--- Bytes an upload holds: read without its writer (registry uploads.status).
jobs.upload_status = on_repo(function(r, id) return field("size", r.blobs:upload_status(id)) end)

--- Appends data (an array of strings, see body.lua) at offset (nil:
-- wherever the upload is); returns the new size.
function jobs.upload_write(name, id, offset, data)
  local up, msg, code, size = resume(name, id, offset)
  if not up then return nil, msg, code, size end
  local ok = true
  if #data > 0 then ok, msg, code = up:writev(data) end
  data = nil -- luacheck: ignore 311 (lets tidy() free the piece)
  size = up:size()
  local closed, cmsg, ccode = up:close()
  if not ok then return tidy(nil, msg, code) end
  if not closed then return tidy(nil, cmsg, ccode) end
  return tidy(size)
end

--- Appends data (an array of strings, may be empty) at offset, then
-- commits as digest. With lot and key: the upload the request left open
-- there (or resumed, when there is none).
function jobs.upload_commit(name, id, offset, data, digest, lot, key)
  local up, msg, code, size, conn
  if lot then
    local ctx
    up, ctx, conn, size = stream_open(name, id, offset, lot, key)
    if not up then return nil, ctx, conn, size end -- nil, message, code, size
  else
    up, msg, code, size = resume(name, id, offset)
    if not up then return nil, msg, code, size end
  end
  if #data > 0 then
    local ok
    ok, msg, code = up:writev(data)
    if not ok then
      up:close()
      if conn then conn:close() end
      return tidy(nil, msg, code)
    end
  end
  local d
  d, msg, code = up:commit(digest)
  if not d then up:close() end
  if conn then conn:close() end
  if not d then return tidy(nil, msg, code) end
  return tidy(d.size)
end

jobs.upload_cancel = on_repo(function(r, id)
  local up, msg, code = r.blobs:resume(id)
  if not up then return nil, msg, code end
  return up:cancel()
end)

---------------------------------------------------------------- manifests

-- The digest a reference names: a digest as it is, a tag looked up.
local function resolve(r, ref)
  if ref:find(":", 1, true) then return ref end
  local d, msg, code = r.tags:get(ref)
  if not d then
    if code == "tag_unknown" or code == "tag_invalid" then code = "manifest_unknown" end
    return nil, msg, code
  end
  return d
end

--- content, media type and digest of a manifest, by tag or digest.
jobs.manifest_get = on_repo(function(r, ref)
  local digest, msg, code = resolve(r, ref)
  if not digest then return nil, msg, code end
  local content, mt
  content, mt, code = r.manifests:get(digest)
  if not content then return nil, mt, code end
  return content, mt, digest
end)

--- Stores a manifest under a tag or a digest; returns its digest and the
-- digest of its subject, if it has one.
jobs.manifest_put = on_repo(function(r, ref, content, media_type)
  local opts = {}
  if ref:find(":", 1, true) then opts.digest = ref else opts.tag = ref end
  local doc = require("cjson.safe").decode(content)
  if media_type == "" and type(doc) == "table" and type(doc.mediaType) == "string" then
    media_type = doc.mediaType -- no Content-Type: the manifest's own, as distribution does
  end
  local digest, msg, code = r.manifests:put(content, media_type, opts)
  if not digest then return nil, msg, code end
  local subject = type(doc) == "table" and type(doc.subject) == "table" and doc.subject.digest
  return digest, type(subject) == "string" and subject or nil
end)

--- Deletes a manifest by digest (and its tags), or just the tag.
jobs.manifest_delete = on_repo(function(r, ref)
  if ref:find(":", 1, true) then return r.manifests:delete(ref) end
  local ok, msg, code = r.tags:untag(ref)
  if not ok and (code == "tag_unknown" or code == "tag_invalid") then code = "manifest_unknown" end
  return ok, msg, code
end)

jobs.referrers = on_repo(function(r, digest, artifact_type) return r.manifests:referrers(digest, artifact_type) end)

---------------------------------------------------------------- listings

jobs.tags_list = on_repo(function(r, n, last) return r.tags:list{ n = n, last = last } end)

function jobs.catalog(n, last)
  local r, msg, code = vm.registry()
  if not r then return nil, msg, code end
  return r:repositories{ n = n, last = last }
end

return jobs
