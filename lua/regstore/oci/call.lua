--- The handlers' way to the thread pool: call.meta / call.bulk run a job
-- of regstore.oci.jobs (in a thread VM) and return its results, while the
-- request's coroutine yields.

local threads = require "regstore.nginx.threads"

local call = {}

local JOBS = "regstore.oci.jobs"

--- jobs[fn](...) on the meta threads (everything but stream pieces).
function call.meta(fn, ...)
  return threads.run("meta", JOBS, fn, ...)
end

--- jobs[fn](...) on the bulk threads (stream pieces).
function call.bulk(fn, ...)
  return threads.run("bulk", JOBS, fn, ...)
end

return call
