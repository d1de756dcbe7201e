--- The rows of issue 20's targets that a part of the benchmark measured,
-- appended to the file BENCH_SUMMARY names (bench/run.sh prints them all
-- at the end as one table); without BENCH_SUMMARY, nothing.
--   summary.row(figure, regstore, peer, ratio, target, met)
-- regstore and peer are text (with units), ratio a number or nil, target
-- text, met true, false or nil (information only).
local M = {}

function M.row(figure, rs, peer, ratio, target, met)
  local file = os.getenv "BENCH_SUMMARY"
  if not file or file == "" then return end
  local f = assert(io.open(file, "a"))
  f:write(string.format("| %s | %s | %s | %s | %s %s |\n", figure, rs, peer or "",
    ratio and string.format("%.2f", ratio) or "", target or "", met == nil and "" or (met and "✓" or "✗")))
  f:close()
end

return M
