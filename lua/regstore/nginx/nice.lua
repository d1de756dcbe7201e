--- Scheduling priority of the thread-pool threads, below the event loop's.
--
-- The worker's event loop is one thread among the pool threads that run the
-- jobs and the threads each RADOS connection starts (messengers, finisher):
-- on a busy machine the scheduler shares the CPU between all of them, and
-- the loop would wait its turn behind stream work it only delegated. So
-- every stream piece's job first sets its thread's nice value to the
-- worker's plus configure{ thread_nice } (REGSTORE_SERVE_THREAD_NICE,
-- default 10; 0 leaves it alone),
-- and every other job (manifests, tags, stats, commits: small requests whose
-- latency counts) sets it back to the worker's. A RADOS connection is made at
-- the worker's priority, so the threads it starts (messengers) serve both.
-- Linux only (nice values are per thread there), through LuaJIT's FFI; a
-- no-op where either is missing.

local nice = {}

local ok, ffi = pcall(require, "ffi")
local base -- the worker's nice value, once read

if ok then
  ok = pcall(ffi.cdef, [[
    int getpriority(int which, unsigned int who);
    int setpriority(int which, unsigned int who, int prio);
    int gettid(void);
    int getpid(void);
  ]])
end

--- Sets the calling thread's priority: the worker's, or `delta` below it
-- when low is true.
function nice.set(low, delta)
  delta = delta or 10
  if not ok or delta == 0 then return end
  local C = ffi.C
  if not base then
    -- the worker's own nice value: that of its main thread (tid = pid)
    local good, b = pcall(C.getpriority, 0, C.getpid())
    if not good then
      ok = false
      return
    end
    base = b
  end
  pcall(C.setpriority, 0, C.gettid(), low and math.min(base + delta, 19) or base)
end

return nice
