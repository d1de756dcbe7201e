--- The worker's lot of open streams (regstore.core.lot): the pieces of one
-- request body are written by jobs on any thread VM, and each job parks
-- the upload's writer, hasher and connection there for the next piece, so
-- that an upload is resumed once per request instead of once per piece.
-- The request closes it at its end (its data and hash state then stay
-- resumable from any process, as before). A blob GET parks its reader the
-- same way, with its read-ahead in flight across pieces. What a request
-- leaves behind (its coroutine ended without it) is closed by a timer after
-- IDLE seconds, and everything when the worker exits.
--
-- Lives in the worker (the event loop's Lua state): the lot itself is a
-- userdata here, the jobs get its handle.

local core = require "regstore.core"
local threads = require "regstore.nginx.threads"

local lot = {}

local MAX = 16      -- uploads parked at once in this worker (the rest resume per piece)
local IDLE = 30     -- seconds a parked upload may wait for its next piece
local EVERY = 5     -- seconds between sweeps

local the_lot, handle
local serial = 0

local function sweep(premature)
  if not the_lot or the_lot:count() == 0 then return end
  -- on the meta threads: closing writes (a drain, a record, a hash state)
  local ok, err = pcall(threads.run, "meta", "regstore.oci.jobs", "lot_sweep", handle,
    premature and -1 or IDLE)
  if not ok then ngx.log(ngx.WARN, "regstore: sweeping open uploads: ", tostring(err)) end
end

--- The lot's handle (a light userdata for the jobs), made on first use.
function lot.handle()
  if handle then return handle end
  the_lot = core.lot(MAX)
  handle = the_lot:handle()
  local ok, err = ngx.timer.every(EVERY, sweep)
  if not ok then ngx.log(ngx.WARN, "regstore: no sweep timer for open uploads: ", tostring(err)) end
  return handle
end

--- A key for the pieces of one request: unique in this worker.
function lot.key(id)
  serial = serial + 1
  return id .. "#" .. serial
end

return lot
