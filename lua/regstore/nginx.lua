--- regstore.nginx: non-blocking access to regstore from OpenResty /
-- lua-nginx-module, in any phase that may yield (content, access, rewrite,
-- timers). Every call that waits for RADOS runs on one of nginx's thread
-- pools (ngx.run_worker_thread) while the request's coroutine yields, so a
-- handler never blocks the worker's event loop.
--
--   -- init_by_lua_block (or init_worker_by_lua_block):
--   require("regstore.nginx").configure{ pool = "regstore", namespace = "prod" }
--   -- content_by_lua_block:
--   local rs = require "regstore.nginx"
--   local reg = rs.registry()
--   local m, err, code = reg:repository("a/b").manifests:get(digest)
--   local drv = rs.driver()
--   local data, err, code = drv:get_content("/some/file")
--
-- Options of configure (each nil falls back as for the `regstore` command:
-- CEPH_CONF, REGSTORE_POOL, REGSTORE_ID, REGSTORE_KEYRING, REGSTORE_NAMESPACE,
-- REGSTORE_TIMEOUT, then the defaults): pool ("regstore"), conf, id,
-- keyring, namespace, timeout (30 s), bulk_pool ("rs_bulk"), meta_pool
-- ("rs_meta"), bulk_threads (4) and meta_threads (2), which must be the
-- thread_pool sizes of nginx.conf; window (4), upload_piece and read_piece
-- (stream piece sizes for regstore.oci), thread_nice (10). nginx.conf needs:
--   thread_pool rs_bulk threads=4;  thread_pool rs_meta threads=2;   (main)
--   lua_worker_thread_vm_pool_size 8;     (http: at least bulk + meta threads)
-- See docs/nginx.md.

local config = require "regstore.nginx.config"
local proxy = require "regstore.nginx.proxy"
local threads = require "regstore.nginx.threads"

local nginx = {}

--- Settles the options (see above); returns the settings table.
function nginx.configure(opts)
  return config.set(opts)
end

--- The settings in force (configured or the defaults).
function nginx.settings()
  return config.get()
end

--- A registry object: the methods of regstore.registry (and of the
-- repository handles, stores and streams it gives), each call on the
-- thread pool.
function nginx.registry()
  return proxy.registry()
end

--- A driver object: the methods of a regstore driver (walk excepted: its
-- callback cannot run in a thread), each call on the thread pool.
function nginx.driver()
  return proxy.driver()
end

--- Runs require(module)[fn](...) in a thread VM ("bulk" or "meta" pool);
-- the module reaches the VM's connection through
-- require("regstore.nginx.jobs").registry() / .driver(). Arguments and
-- results: plain values only.
function nginx.run(kind, module, fn, ...)
  if kind ~= "bulk" and kind ~= "meta" then error("regstore.nginx.run: kind is \"bulk\" or \"meta\"", 2) end
  return threads.run(kind, module, fn, ...)
end

--- Starts what running a registry unattended needs, in this worker
-- (init_worker_by_lua*; see docs/nginx.md): opts.metrics, the name of a
-- lua_shared_dict for regstore.nginx.metrics; opts.state, one for
-- regstore.nginx.watch (the storage probe behind /readyz and the
-- registry-wide read-only switch), with opts.read_only (this node refuses
-- writes) and opts.probe_interval; opts.schedules, the jobs of
-- regstore.nginx.maintenance ({ gc = {...}, purge_uploads = {...} });
-- opts.drain, seconds a graceful stop waits for requests in flight
-- (regstore.nginx.drain; they need regstore.oci.log in their log phase).
function nginx.operations(opts)
  opts = opts or {}
  if opts.metrics then require("regstore.nginx.metrics").init(opts.metrics) end
  if opts.state then
    require("regstore.nginx.watch").start{ dict = opts.state, read_only = opts.read_only,
      interval = opts.probe_interval }
  end
  if opts.schedules then require("regstore.nginx.maintenance").start(opts.schedules) end
  if opts.drain then require("regstore.nginx.drain").start(opts.drain) end
end

--- Answers a Prometheus scrape (content_by_lua*): the shared counters,
-- and the gauges read now (the maintenance records, the read-only switch).
function nginx.metrics()
  local metrics = require "regstore.nginx.metrics"
  if not metrics.enabled() then
    ngx.status = 404
    ngx.say("metrics are not started (regstore.nginx.operations{ metrics = DICT })")
    return
  end
  require("regstore.nginx.maintenance").export(metrics)
  metrics.set_open_uploads()
  metrics.set("regstore_read_only", nil, require("regstore.nginx.watch").read_only() and 1 or 0)
  metrics.serve()
end

--- 200 "ok" while the process is up (content_by_lua*).
function nginx.healthz()
  return require("regstore.nginx.watch").healthz()
end

--- 200 when the storage answered within its deadline lately, else 503
-- with the reason (content_by_lua*).
function nginx.readyz()
  return require("regstore.nginx.watch").readyz()
end

--- Starts the event loop's lag watch in this worker (init_worker_by_lua*).
function nginx.watch_loop()
  return require("regstore.nginx.loopwatch").start()
end

--- Sends the lag figures as JSON (content_by_lua*), and starts over.
function nginx.report_loop()
  return require("regstore.nginx.loopwatch").report()
end

return nginx
