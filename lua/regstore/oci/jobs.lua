--- The OCI handlers' jobs, run in nginx's thread VMs (regstore.nginx.jobs
-- calls them; threads.run(kind, "regstore.oci.jobs", fn, ...) posts them).
-- They take and return plain values only, so that each stream piece can run
-- on any VM: an upload is resumed by id for every piece and closed again.
--
-- Every job returns its results, or nil, message, code (the registry's codes;
-- "range" for an upload offset that is not the one the client assumed, with
-- the upload's size as fourth value).

local vm = require "regstore.nginx.jobs"

local jobs = {}

local repo = vm.repository
local tidy = vm.tidy

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

-- Readers left open where the last piece of a GET ended, keyed by
-- "name digest offset": the next piece of the same stream, when it lands on
-- this VM (the VM pool hands out the one freed last, so a lone stream mostly
-- does), goes on without a new lookup and with the reader's read-ahead
-- window still in flight. Content is addressed by digest, so a reader never
-- sees other bytes; one that fails is dropped and the piece read afresh.
-- Bounded: MAX_READERS per VM, each idle at most READER_IDLE seconds.
local readers, nreaders = {}, 0
local MAX_READERS, READER_IDLE = 1, 10

local function drop_reader(key)
  local c = readers[key]
  if not c then return nil end
  readers[key], nreaders = nil, nreaders - 1
  return c
end

local function keep_reader(key, rd, size)
  local now = os.time()
  for k, c in pairs(readers) do
    if nreaders >= MAX_READERS or now - c.at > READER_IDLE then
      drop_reader(k)
      c.r:close()
    end
  end
  readers[key], nreaders = { r = rd, size = size, at = now }, nreaders + 1
end

-- Up to n bytes as an array of strings of at most 64 KiB: the worker copies
-- them back and sends them one by one, never holding one big string.
local CHUNK = 65536
local function read_n(rd, n)
  local parts, got = {}, 0
  while got < n do
    local s, msg, code = rd:read(math.min(n - got, CHUNK))
    if not s then
      if msg then return nil, msg, code end
      break
    end
    parts[#parts + 1] = s
    got = got + #s
  end
  return parts, got
end

--- Up to n bytes of a blob from offset (an array of strings), their total,
-- and the blob's size.
function jobs.blob_read(name, digest, offset, n)
  local r, msg, code = repo(name)
  if not r then return nil, msg, code end
  local key = name .. " " .. digest .. " "
  local c = drop_reader(key .. offset)
  local data, got
  if c then
    data, got = read_n(c.r, n)
    if not data then
      c.r:close()
      c = nil
    end
  end
  if not c then
    local rd
    rd, msg, code = r.blobs:reader(digest, offset)
    if not rd then return nil, msg, code end
    c = { r = rd, size = rd:size() }
    data, got, code = read_n(rd, n)
    if not data then
      rd:close()
      return nil, got, code
    end
  end
  local next_offset = offset + got
  if got > 0 and next_offset < c.size then
    keep_reader(key .. next_offset, c.r, c.size)
  else
    c.r:close()
  end
  return tidy(data, got, c.size)
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
-- failure (500).
local function resume(name, id, offset)
  local r, msg, code = repo(name)
  if not r then return nil, msg, code end
  local up
  for _ = 1, HELD_TRIES do
    up, msg, code = r.blobs:resume(id)
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

--- Bytes an upload holds: read without its writer (registry uploads.status).
jobs.upload_status = on_repo(function(r, id) return field("size", r.blobs:upload_status(id)) end)

--- Appends data (an array of strings, see body.lua) at offset (nil:
-- wherever the upload is); returns the new size.
function jobs.upload_write(name, id, offset, data)
  local up, msg, code, size = resume(name, id, offset)
  if not up then return nil, msg, code, size end
  local ok = true
  data = table.concat(data) -- here, on the pool's thread, not in the loop
  if #data > 0 then ok, msg, code = up:write(data) end
  data = nil -- luacheck: ignore 311 (lets tidy() free the piece)
  size = up:size()
  local closed, cmsg, ccode = up:close()
  if not ok then return tidy(nil, msg, code) end
  if not closed then return tidy(nil, cmsg, ccode) end
  return tidy(size)
end

--- Appends data (an array of strings, may be empty) at offset, then
-- commits as digest.
function jobs.upload_commit(name, id, offset, data, digest)
  local up, msg, code, size = resume(name, id, offset)
  if not up then return nil, msg, code, size end
  data = table.concat(data)
  if #data > 0 then
    local ok
    ok, msg, code = up:write(data)
    if not ok then
      up:close()
      return tidy(nil, msg, code)
    end
  end
  local d
  d, msg, code = up:commit(digest)
  if not d then
    up:close()
    return tidy(nil, msg, code)
  end
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
