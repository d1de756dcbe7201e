--- Migration: copies a registry tree between two stores that speak the
-- driver contract: RADOS (a regstore driver: another pool or namespace) or a
-- directory of distribution's filesystem driver (policy/fsdir.lua).
--
--   local report = require("regstore.policy.migrate").run(src, dst, {
--     src_root = "/docker/registry/v2", dst_root = same, dry_run = false,
--     verify = false, progress = nil, piece = 1048576,
--   })
--   --> { dry_run, files, bytes, skipped, verified, uploads_skipped,
--   --     errors = { messages }, notes = { messages } }
--   -- files/bytes: copied (or to copy, in a dry run); skipped: identical
--   --   already; verified: blobs whose destination bytes were hashed;
--   --   notes: what was benign and skipped or cleaned (below)
--   -- or nil, message, code when the source or destination cannot be
--   --   walked whole (nothing is copied then)
--   migrate.fs(dir) gives a directory as a store (fsdir.new).
--
-- Streaming: a file moves in pieces of `piece` bytes from a reader to a
-- writer, so memory stays bounded whatever the blob size; the writer
-- commits only at the end (a RADOS commit, or a rename in a directory), so a
-- file at the destination is always whole. A file of one piece or less
-- (links, manifests, small layers) is one read and one put instead.
--
-- Resumable: what is identical at the destination is skipped, so running
-- it again after an interruption copies only the rest. Identical means: for
-- blob data (blobs/<alg>/<2hex>/<hex>/data, content addressed) the same
-- size, for any other file (links, startedat, hash states: small) the same
-- bytes.
--
-- Digests: every blob's bytes are hashed as they stream (in C) and a blob
-- whose bytes do not match the digest its path names is not committed (an
-- error). With `verify`, every blob at the destination, copied or skipped,
-- is read back and hashed as well.
--
-- Uploads in progress: one whose data the source shows (a filesystem tree,
-- or RADOS data a process committed) is copied whole and resumes at the
-- destination. Data a RADOS writer has not committed is invisible to a
-- walk, and an upload without its data cannot go on anywhere (its hash
-- states promise bytes that are not there): such an upload is not copied
-- (counted in `uploads_skipped`); its client starts it again.
--
-- Read errors: a source or destination that cannot be listed whole fails
-- the run before anything is copied (a partial listing is not the tree); a
-- file that cannot be read is an error of the report. Only a root that is
-- not there at all is an empty tree. A live source (a registry serving
-- from a filesystem tree while it is copied): an upload that ends (its
-- _uploads/<id> removed) during the walk or the copy is skipped with a
-- note, as its client is done with it; anything else vanishing fails.
--
-- Kills: a directory destination's temporaries (fsdir.lua) that a killed
-- run left are removed by the next run, and so is the uncommitted data a
-- killed writer left at a driver's path before it is written again (a note
-- each), so a re-run completes the tree and leaves nothing else in it. crashpoint.reach("migrate.*")
-- marks each step between file operations for the crash spec.

local regstore = require "regstore"
local paths = require "regstore.registry.paths"
local batch = require "regstore.registry.batch"
local context = require "regstore.policy.context"
local fsdir = require "regstore.policy.fsdir"
local crashpoint = require "regstore.policy.crashpoint"

local migrate = {}

migrate.PIECE = 1048576
migrate.SMALL = 65536   -- files compared byte for byte when not blobs
migrate.BATCH = 256     -- small files read, then written, together
migrate.BATCH_BYTES = 16 * 1048576
migrate.WINDOW = 32     -- puts of a batch in flight

migrate.fs = fsdir.new

-- The digest a blob data path names, or nil.
local function blob_digest(rel)
  if not rel:find("^/blobs/") or paths.base(rel) ~= "data" then return nil end
  return paths.digest_from_path(rel)
end

-- Hashes a store's file; "sha256:<hex>" or nil, message, code.
local function hash_of(store, path, piece)
  local r, msg, code = store:reader(path)
  if not r then return nil, msg, code end
  local h = regstore.sha256()
  while true do
    local s
    s, msg, code = r:read(piece)
    if not s then break end
    h:update(s)
  end
  r:close()
  if msg then return nil, msg, code end
  return "sha256:" .. h:hexdigest()
end

-- A file of at most one piece: one read and one put (a writer's open and
-- commit cost more round trips than the data; a put replaces atomically).
local function copy_small(src, dst, from, to, digest, on_bytes)
  local data, msg, code = src:get_content(from)
  if not data then return nil, msg, code end
  crashpoint.reach("migrate.small_read")
  if digest and digest:find("^sha256:") then
    local got = "sha256:" .. regstore.sha256():update(data):hexdigest()
    if got ~= digest then
      return nil, string.format("regstore: %s holds %s, not %s", from, got, digest), "digest_invalid"
    end
  end
  local ok
  ok, msg, code = dst:put_content(to, data)
  if not ok then return nil, msg, code end
  on_bytes(#data)
  return #data
end

-- Before a stream to a path dst does not hold: a driver keeps the
-- uncommitted data of a killed writer (a killed run's) until the path is
-- deleted or fsck repairs it, and a new writer would not take it over;
-- deleting the path drops it (a directory store has no such thing). True
-- when there was some.
local function drop_uncommitted(dst, to, held)
  if held or not dst.delete then return false end
  return dst:delete(to) == true
end

-- Streams src's file to dst's; checks the digest of a blob before commit.
-- held: whether dst holds a file at the path already.
local function copy(src, dst, from, to, digest, piece, on_bytes, size, held, notes)
  if size <= piece then return copy_small(src, dst, from, to, digest, on_bytes) end
  if drop_uncommitted(dst, to, held) then
    notes[#notes + 1] = string.format("regstore: dropped %s's uncommitted data of an interrupted run", to)
  end
  local r, msg, code = src:reader(from)
  if not r then return nil, msg, code end
  local w
  w, msg, code = dst:writer(to, false)
  if not w then r:close() return nil, msg, code end
  local h = digest and digest:find("^sha256:") and regstore.sha256() or nil
  if h then w:hash(h) end
  local n = 0
  while true do
    local s
    s, msg, code = r:read(piece)
    if not s then break end
    local ok, wmsg, wcode = w:write(s)
    if not ok then msg, code = wmsg, wcode break end
    crashpoint.reach("migrate.piece_written")
    n = n + #s
    on_bytes(#s)
  end
  r:close()
  if msg then
    w:cancel() w:close()
    return nil, msg, code
  end
  if h and "sha256:" .. h:hexdigest() ~= digest then
    w:cancel() w:close()
    return nil, string.format("regstore: %s holds sha256:%s, not %s", from, h:hexdigest(), digest), "digest_invalid"
  end
  local ok
  ok, msg, code = w:commit()
  w:close()
  if not ok then return nil, msg, code end
  return n
end

-- Whether dst already holds what src holds at this path.
local function identical(src, dst, from, to, size, digest, have)
  if not have or have.is_dir or have.size ~= size then return false end
  if digest then return true end
  if size > migrate.SMALL then return false end
  local a = src:get_content(from)
  local b = dst:get_content(to)
  return a ~= nil and a == b
end

-- The upload directory (rel to the root) a path lies in, or nil.
local function upload_of(rel)
  return rel:match("^(/repositories/.+/_uploads/[^/]+)") or rel:match("^(/repositories/.+/_uploads)$")
end

-- A walk that failed with not_found is an empty tree only when its root is
-- not there (a walk of a directory store also says not_found of a
-- directory that vanished under it, and a tree may lose its root mid-walk).
local function walk_failed(store, root, msg, code)
  if code == "not_found" then
    local _, _, scode = store:stat(root)
    if scode == "not_found" then return true end
  end
  return nil, msg, code
end

-- The source registry's own operational state, not its content: the
-- read-only switch (a destination that came up read-only would refuse
-- writes nobody turned off), the schedules' records and a scrub's place
-- (the destination's first scrub would skip what it never checked).
local NOT_COPIED = { ["/_config"] = true, ["/_schedule"] = true, ["/_scrub"] = true }

-- Every file under root: array of { rel, size }, total bytes.
local function files_of(store, root, tick, notes)
  local out, bytes = {}, 0
  local ok, msg, code = store:walk(root, function(info)
    if info.is_dir and NOT_COPIED[info.path:sub(#root + 1)] then
      notes[#notes + 1] = string.format("regstore: %s is this registry's own state (read-only switch, schedules, "
        .. "scrub): not copied", info.path)
      return "skip"
    end
    if not info.is_dir then
      out[#out + 1] = { rel = info.path:sub(#root + 1), size = info.size }
      bytes = bytes + info.size
      tick("scan", { files = #out, bytes = bytes })
    end
  end, { vanished = function(path, _, file)
    if not upload_of(path:sub(#root + 1)) then return false end
    notes[#notes + 1] = string.format("regstore: %s vanished during the walk (an upload that ended): skipped", file)
    return true
  end })
  if not ok then
    ok, msg, code = walk_failed(store, root, msg, code)
    if not ok then return nil, msg, code end
    return {}, 0
  end
  return out, bytes
end

-- Drops the files of uploads whose data is not in the list; how many.
local function without_dataless_uploads(list)
  local has_data, seen = {}, {}
  for _, f in ipairs(list) do
    local up, rest = f.rel:match("^(/repositories/.+/_uploads/[^/]+)/(.+)$")
    if up then
      seen[up] = true
      if rest == "data" then has_data[up] = true end
    end
  end
  local out, n = {}, 0
  for _, f in ipairs(list) do
    local up = f.rel:match("^(/repositories/.+/_uploads/[^/]+)/")
    if not up or has_data[up] then out[#out + 1] = f end
  end
  for up in pairs(seen) do
    if not has_data[up] then n = n + 1 end
  end
  return out, n
end

-- What dst holds under root: { [rel] = info }. A directory's temporaries
-- that a killed run left are removed (not in a dry run), a note each.
local function index_of(store, root, dry_run, notes)
  local out = {}
  local ok, msg, code = store:walk(root, function(info) out[info.path:sub(#root + 1)] = info end, {
    remove_temporaries = not dry_run,
    temporary = function(file)
      notes[#notes + 1] = string.format("regstore: removed %s, a temporary of an interrupted run", file)
      crashpoint.reach("migrate.temporary_removed")
    end,
  })
  if not ok then
    ok, msg, code = walk_failed(store, root, msg, code)
    if not ok then return nil, msg, code end
    return {}
  end
  return out
end

--- Copies src's tree to dst. See the top.
function migrate.run(src, dst, opts)
  if src == nil or dst == nil then error("bad argument to 'run' (source and destination expected)", 2) end
  opts = opts or {}
  local sroot = opts.src_root or paths.DEFAULT_ROOT
  local droot = opts.dst_root or sroot
  paths.new(sroot) paths.new(droot) -- raise on a bad root
  local piece = context.seconds(opts, "piece", migrate.PIECE, "run")
  local tick = context.progress(opts)
  local report = { dry_run = opts.dry_run and true or false, files = 0, bytes = 0, skipped = 0,
    verified = 0, uploads_skipped = 0, errors = {}, notes = {} }
  local list, total, code = files_of(src, sroot, tick, report.notes)
  if not list then return nil, total, code end
  crashpoint.reach("migrate.scanned")
  list, report.uploads_skipped = without_dataless_uploads(list)
  local have, msg
  have, msg, code = index_of(dst, droot, report.dry_run, report.notes)
  if not have then return nil, msg, code end
  crashpoint.reach("migrate.indexed")
  local done, ended = 0, {}
  local function verify(digest, to)
    if not (opts.verify and digest and digest:find("^sha256:") and not report.dry_run) then return end
    local got
    got, msg = hash_of(dst, to, piece)
    if got == digest then
      report.verified = report.verified + 1
    elseif got then
      report.errors[#report.errors + 1] = string.format("regstore: %s holds %s, not %s", to, got, digest)
    else
      report.errors[#report.errors + 1] = msg
    end
  end
  -- A copy that failed: an upload that ended meanwhile (a live source) is
  -- skipped, anything else is an error of the report.
  local function failed(from, up, emsg, ecode)
    if up and ecode == "not_found" and select(3, src:stat(from)) == "not_found" then
      ended[up] = true
      report.uploads_skipped = report.uploads_skipped + 1
      report.notes[#report.notes + 1] = string.format(
        "regstore: %s vanished during the copy (an upload that ended): skipped", from)
    else
      report.errors[#report.errors + 1] = emsg
    end
  end
  local function copied(n)
    report.files = report.files + 1
    report.bytes = report.bytes + n
    crashpoint.reach("migrate.copied")
  end
  -- Small files (one piece or less) are copied in batches: read one after
  -- the other, digests checked, then written together (drv:put_many: a
  -- window of puts in flight, each the single atomic put). Each file is
  -- copied, skipped or an error on its own, as one at a time.
  local pending, pending_bytes = {}, 0
  -- Directories (rel) that puts of this run have made, besides those the
  -- index found: a file whose directory is in neither goes into a fresh
  -- directory, and put_many is told how many levels are missing, which
  -- spares its lookups (the engine checks the word: a directory made
  -- meanwhile costs a round trip, never a wrong result). Levels up to the
  -- root only: whether the root itself is there, the put finds out.
  local made = {}
  local function missing_levels(rel)
    local n, dir = 0, rel:match("^(.*)/[^/]*$")
    while dir ~= "" and not have[dir] and not made[dir] do
      made[dir] = true
      n = n + 1
      dir = dir:match("^(.*)/[^/]*$")
    end
    return n
  end
  local function flush()
    if #pending == 0 then return end
    local to_put, contents, items, missing = {}, {}, {}, {}
    for _, p in ipairs(pending) do
      local data, emsg, ecode = src:get_content(p.from)
      if data then
        crashpoint.reach("migrate.small_read")
        local bad
        if p.digest and p.digest:find("^sha256:") then
          local got = "sha256:" .. regstore.sha256():update(data):hexdigest()
          if got ~= p.digest then
            bad = string.format("regstore: %s holds %s, not %s", p.from, got, p.digest)
          end
        end
        if bad then
          report.errors[#report.errors + 1] = bad
        else
          to_put[#to_put + 1], contents[#contents + 1], items[#items + 1] = p.to, data, p
          missing[#missing + 1] = missing_levels(p.rel)
        end
      elseif not (p.up and ended[p.up]) then
        failed(p.from, p.up, emsg, ecode)
      end
    end
    local ok, msgs = batch.put(dst, to_put, contents, { window = migrate.WINDOW, missing = missing })
    for k, p in ipairs(items) do
      if ok[k] then
        done = done + #contents[k]
        copied(#contents[k])
      else
        report.errors[#report.errors + 1] = msgs[k]
      end
      verify(p.digest, p.to)
      tick("copy", { files = p.i, total_files = #list, bytes = done, total_bytes = total })
    end
    pending, pending_bytes = {}, 0
  end
  for i, f in ipairs(list) do
    local from, to = sroot .. f.rel, droot .. f.rel
    local digest = blob_digest(f.rel)
    local up = upload_of(f.rel)
    local queued = false
    if up and ended[up] then
      done = done + f.size -- the rest of an upload that ended
    elseif identical(src, dst, from, to, f.size, digest, have[f.rel]) then
      report.skipped = report.skipped + 1
      done = done + f.size
    elseif report.dry_run then
      report.files = report.files + 1
      report.bytes = report.bytes + f.size
    elseif f.size <= piece and not up then
      pending[#pending + 1] = { i = i, from = from, to = to, digest = digest, up = up, rel = f.rel }
      pending_bytes = pending_bytes + f.size
      queued = true
      if #pending >= migrate.BATCH or pending_bytes >= migrate.BATCH_BYTES then flush() end
    else
      flush() -- in order with what was queued before
      local n
      n, msg, code = copy(src, dst, from, to, digest, piece, function(k)
        done = done + k
        tick("copy", { files = i, total_files = #list, bytes = done, total_bytes = total })
      end, f.size, have[f.rel] ~= nil, report.notes)
      if n then
        copied(n)
        missing_levels(f.rel) -- its directories are there now
      else
        failed(from, up, msg, code)
      end
    end
    if not queued then
      verify(digest, to)
      tick("copy", { files = i, total_files = #list, bytes = done, total_bytes = total })
    end
  end
  flush()
  return report
end

return migrate
