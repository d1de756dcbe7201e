--- The thread VMs' side of regstore.nginx: the entry point of every job run
-- on nginx's thread pool (threads.lua), never in the worker's event loop.
--
-- Each thread VM is a plain LuaJIT state of its own (lua-nginx-module keeps a
-- pool of them and hands one to each job); it keeps one connected driver and
-- registry in this module's upvalues, opened on its first job with the
-- options configure{} settled (they come with every job: the VM cannot see
-- the worker's state). Arguments and results cross the VM boundary as plain
-- values only (strings, numbers, booleans, tables of them), so an upload is
-- resumed by id for every piece and closed again before the job returns: the
-- next piece may run on another VM.
--
-- A job module (regstore.oci.jobs, regstore.nginx.calls, or a user's) is
-- required in the VM and its function called; it reaches the VM's
-- connection through jobs.registry() and jobs.driver().

local nice = require "regstore.nginx.nice"

local jobs = {}

local drv, reg, key  -- this VM's driver, registry, and the options they were made with
local low = false    -- whether the running job is a stream piece (nice.lua)
local opts           -- the running job's connect options

local function options_key(o)
  return table.concat({ tostring(o.pool), tostring(o.conf), tostring(o.id), tostring(o.keyring),
    tostring(o.namespace), tostring(o.timeout), tostring(o.window) }, "\0")
end

local function connect()
  local k = options_key(opts)
  if drv and key == k then return true end
  if drv then drv:close() end
  drv, reg, key = nil, nil, nil
  nice.set(false, opts.thread_nice) -- the connection's threads at the worker's priority
  local d, msg, code = require("regstore").connect{ pool = opts.pool, conf = opts.conf, id = opts.id,
    keyring = opts.keyring, namespace = opts.namespace, timeout = opts.timeout, window = opts.window }
  nice.set(low, opts.thread_nice)
  if not d then return nil, msg, code end
  drv, reg, key = d, require("regstore.registry").new(d), k
  return true
end

--- This VM's driver, or nil, message, code.
function jobs.driver()
  local ok, msg, code = connect()
  if not ok then return nil, msg, code end
  return drv
end

--- This VM's registry (over jobs.driver()), or nil, message, code.
function jobs.registry()
  local ok, msg, code = connect()
  if not ok then return nil, msg, code end
  return reg
end

--- The repository handle of name in this VM's registry.
function jobs.repository(name)
  local r, msg, code = jobs.registry()
  if not r then return nil, msg, code end
  return r:repository(name)
end

--- Frees the strings a data job leaves behind before the VM goes back to
-- the pool (a few MiB per piece; the VM may sit idle for a while).
function jobs.tidy(...)
  collectgarbage()
  return ...
end

--- The entry point (threads.run): kind "bulk" runs below the worker's
-- priority, "meta" at it; then require(module)[fn](...).
function jobs.run(kind, connect_opts, module, fn, ...)
  low, opts = kind == "bulk", connect_opts
  nice.set(low, opts.thread_nice)
  local m = require(module)
  local f = m[fn]
  if type(f) ~= "function" then error(string.format("regstore.nginx: no job %s.%s", module, fn)) end
  return f(...)
end

return jobs
