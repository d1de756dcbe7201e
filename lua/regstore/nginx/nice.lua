--- Scheduling priority of the thread-pool threads, below the event loop's.
--
-- The worker's event loop is one thread among the pool threads that run the
-- jobs and the threads each RADOS connection starts (messengers, finisher):
-- on a busy machine the scheduler shares the CPU between all of them, and
-- the loop would wait its turn behind stream work it only delegated. So
-- every stream piece's job first sets its thread's nice value to the
-- worker's plus REGSTORE_SERVE_THREAD_NICE (default 10; 0 leaves it alone),
-- and every other job (manifests, tags, stats, commits: small requests whose
-- latency counts) sets it back to the worker's. A RADOS connection is made at
-- the worker's priority, so the threads it starts (messengers) serve both.
-- Linux only (nice values are per thread there), through LuaJIT's FFI; a
-- no-op where either is missing.

local nice = {}

local ok, ffi = pcall(require, "ffi")
local target

if ok then
  ok = pcall(ffi.cdef, [[
    int getpriority(int which, unsigned int who);
    int setpriority(int which, unsigned int who, int prio);
    int gettid(void);
    int getpid(void);
  ]])
end

local delta = tonumber(os.getenv "REGSTORE_SERVE_THREAD_NICE" or "") or 10

local base

--- Sets the calling thread's priority: the worker's, or `delta` below it
-- when low is true.
function nice.set(low)
  if not ok or delta == 0 then return end
  local C = ffi.C
  if not target then
    -- the worker's own nice value: that of its main thread (tid = pid)
    local good, b = pcall(C.getpriority, 0, C.getpid())
    if not good then
      ok = false
      return
    end
    base, target = b, math.min(b + delta, 19)
  end
  pcall(C.setpriority, 0, C.gettid(), low and target or base)
end

return nice
