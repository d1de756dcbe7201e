--- --metrics-file PATH: a maintenance run's outcome in node_exporter's
-- textfile format (Prometheus text exposition), so that cron-run gc,
-- purge-uploads and fsck show up on the dashboards that scrape `serve`.
--
-- The file is written whole to PATH.tmp.<pid> and renamed over PATH (the
-- textfile collector must never read half a file), whatever the outcome:
-- a failed run is a run too (regstore_<job>_success 0).
local exposition = require "regstore.exposition"

local metrics_file = {}

metrics_file.OPTION = {
  "metrics-file", "string", "write the run's outcome for node_exporter's textfile collector", "PATH",
}

--- The exposition text: job (gc, purge_uploads, fsck), samples { { name,
-- help, value } } after the common ones (start, duration, success, exit).
function metrics_file.render(job, run, samples)
  local all = {
    { "last_run_start_timestamp_seconds", "when the last run started (Unix time)", run.start },
    { "last_run_duration_seconds", "how long the last run took", run.duration },
    { "last_run_success", "1 when the last run ended with exit status 0", run.status == 0 and 1 or 0 },
    { "last_run_exit_status", "the last run's exit status (0 done, 1 failures or findings, 2 usage)", run.status },
  }
  for _, s in ipairs(samples or {}) do all[#all + 1] = s end
  local out = {}
  for _, s in ipairs(all) do
    local name = "regstore_" .. job .. "_" .. s[1]
    out[#out + 1] = exposition.header(name, "gauge", s[2])
    out[#out + 1] = name .. " " .. exposition.value(s[3])
  end
  return table.concat(out, "\n") .. "\n"
end

--- Writes text to path atomically; true, or nil, message.
function metrics_file.write(path, text)
  local tmp = string.format("%s.tmp.%d.%s", path, os.time(), tostring({}):match("%x+$"))
  local f, msg = io.open(tmp, "w")
  if not f then return nil, "--metrics-file: " .. msg end
  local ok, wmsg = f:write(text)
  local closed, cmsg = f:close()
  if not ok or not closed then
    os.remove(tmp)
    return nil, "--metrics-file: " .. tostring(wmsg or cmsg)
  end
  local moved, mmsg = os.rename(tmp, path)
  if not moved then
    os.remove(tmp)
    return nil, "--metrics-file: " .. mmsg
  end
  return true
end

return metrics_file
