--- Scheduling priority of the thread-pool threads, below the event loop's.
--
-- The worker's event loop is one thread among the pool threads that run the
-- jobs and the threads each RADOS connection starts (messengers, finisher):
-- on a busy machine the scheduler shares the CPU between all of them, and
-- the loop would wait its turn behind stream work it only delegated. So
-- every job first sets its thread's nice value to the worker's plus
-- REGSTORE_SERVE_THREAD_NICE (default 10; 0 leaves it alone). Threads a
-- connection starts inherit it, as the connection is made inside a job.
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

--- Lowers the calling thread's priority (once per thread and VM state).
function nice.lower()
  if not ok or delta == 0 then return end
  local C = ffi.C
  if not target then
    -- the worker's own nice value: that of its main thread (tid = pid)
    local good, base = pcall(C.getpriority, 0, C.getpid())
    if not good then
      ok = false
      return
    end
    target = math.min(base + delta, 19)
  end
  pcall(C.setpriority, 0, C.gettid(), target)
end

return nice
