--- Progress of long work on stderr, only when stderr is a terminal (a log
-- or a pipe gets nothing): one line redrawn at most five times a second
-- with the phase, the counts, bytes, rate and, when the total is known, the
-- ETA. Policies call it as opts.progress(phase, counts).

local regstore = require "regstore"
local duration = require "regstore.cli.duration"

local progress = {}

--- Whether stderr is a terminal. The shell that os.execute starts shares
-- this process' fd 2, which test -t 2 asks about; it must not be redirected
-- (a "2>/dev/null" here once made it ask about /dev/null: never a terminal).
-- test writes nothing, so there is nothing to hide.
function progress.stderr_is_tty()
  local ok = os.execute("test -t 2")
  return ok == true or ok == 0
end

local human = require("regstore.units").bytes
progress.human = human

--- A progress function (a no-op unless enabled), and a function ending the line.
function progress.new(enabled, out)
  if not enabled then return function() end, function() end end
  out = out or io.stderr
  local start, last, phase_start, phase = regstore.clock(), 0, nil, nil
  local drawn = false
  local function draw(name, c)
    local now = regstore.clock()
    if name ~= phase then
      phase, phase_start = name, now
    elseif now - last < 0.2 then
      return
    end
    last = now
    local parts = { name }
    for _, k in ipairs { "repositories", "entries", "blobs", "files", "marked", "uploads" } do
      if c[k] then parts[#parts + 1] = string.format("%s %d", k, c[k]) end
    end
    if c.done and c.total then parts[#parts + 1] = string.format("%d/%d", c.done, c.total) end
    local elapsed = now - phase_start
    if c.bytes then
      local b = human(c.bytes)
      if c.total_bytes then b = b .. " of " .. human(c.total_bytes) end
      parts[#parts + 1] = b
      if elapsed > 0.5 then parts[#parts + 1] = human(c.bytes / elapsed) .. "/s" end
    end
    local frac = c.total_bytes and c.total_bytes > 0 and c.bytes and c.bytes / c.total_bytes
      or c.total and c.total > 0 and c.done and c.done / c.total
    if frac and frac > 0 and elapsed > 1 then
      parts[#parts + 1] = "ETA " .. duration.format(elapsed / frac - elapsed)
    end
    parts[#parts + 1] = "(" .. duration.format(now - start) .. ")"
    out:write("\r\27[K", table.concat(parts, ", "))
    out:flush()
    drawn = true
  end
  local function finish()
    if drawn then out:write("\r\27[K") out:flush() end
  end
  return draw, finish
end

return progress
