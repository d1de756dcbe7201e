--- lua report.lua RESULTS: the benchmark's table from "RESULT key value" lines.
-- A key may appear several times (repeated runs): bandwidths take the best,
-- peak memory the highest, anything else the first value.
local file = assert(arg[1], "usage: report.lua RESULTS")
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path -- bench/summary.lua
local summary = require "summary"

local vals = {}
for line in io.lines(file) do
  local k, v = line:match("^RESULT (%S+) (%S+)$")
  if k then
    vals[k] = vals[k] or {}
    table.insert(vals[k], tonumber(v))
  end
end

local function get(k, how)
  local l = vals[k]
  if not l then return nil end
  if how == "max" then return math.max(table.unpack(l)) end
  if how == "min" then return math.min(table.unpack(l)) end
  return l[1]
end
local function best(k) return get(k, "max") end
local function MiB(k) local v = get(k, "max"); return v and v / 1024 end

-- The windows that were run, from the keys.
local windows = {}
for k in pairs(vals) do
  local w = k:match("^rs_w(%d+)_mibs$")
  if w then table.insert(windows, tonumber(w)) end
end
table.sort(windows)

local function fmt(v, digits)
  if v == nil then return "" end
  if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) < 1e9) then
    return string.format("%d", math.floor(v))
  end
  return string.format("%." .. (digits or 1) .. "f", v)
end

local rows = {}
local misses = {}
-- ratio: regstore / peer.  target: {op, limit} checked on the ratio, or on
-- the regstore value when on_value is set.
local function row(figure, rs, peer_name, peer, target, digits)
  local ratio = (rs and peer and peer ~= 0) and rs / peer or nil
  local met = ""
  if target then
    local x = target.on_value and rs or ratio
    if x == nil then
      met = "?"
    else
      local ok
      if target.op == ">=" then ok = x >= target.limit
      elseif target.op == ">" then ok = x > target.limit
      elseif target.op == "<=" then ok = x <= target.limit
      elseif target.op == "<" then ok = x < target.limit end
      if target.info then
        met = ok and "(yes)" or "(no)"
      else
        met = ok and "yes" or "NO"
        if not ok then table.insert(misses, figure .. " vs " .. peer_name) end
      end
    end
  end
  table.insert(rows, {
    figure, fmt(rs, digits), peer_name or "", fmt(peer, digits),
    ratio and string.format("%.2f", ratio) or "",
    target and target.text or "", met,
  })
end

local function bestwin(kind)   -- kind: "w" or "r"
  local bw, bv
  for _, w in ipairs(windows) do
    local v = best("rs_" .. kind .. w .. "_mibs")
    if v and (not bv or v > bv) then bw, bv = w, v end
  end
  return bw, bv
end

local GE09 = { op = ">=", limit = 0.9, text = ">= 0.9" }
local inflight = os.getenv("BENCH_INFLIGHT") or "16"
local size = os.getenv("BENCH_STREAM_MIB") or "1024"
size = size == "1024" and "1 GiB" or size .. " MiB"
local unit = get("io_unit_kib")
local function win(w)
  if not unit then return "window " .. w end
  return string.format("window %d (%s MiB)", w, fmt(w * unit / 1024))
end

-- 1. streaming, against the raw peers
local cpeer = "C aio, " .. inflight .. " x 4 MiB in flight"
for _, w in ipairs(windows) do
  row(string.format("stream write %s, %s, MiB/s", size, win(w)), best("rs_w" .. w .. "_mibs"),
    cpeer, best("aio_write_mibs"), GE09)
end
for _, w in ipairs(windows) do
  row(string.format("stream read %s, %s, MiB/s", size, win(w)), best("rs_r" .. w .. "_mibs"),
    cpeer, best("aio_read_mibs"), GE09)
end
local ww, wv = bestwin("w")
local rw, rv = bestwin("r")
if vals.aiou_write_mibs then
  local upeer = string.format("C aio, %s x %s KiB in flight", inflight, fmt(unit))
  row(string.format("stream write %s, window %s, MiB/s", size, fmt(ww)), wv, upeer,
    best("aiou_write_mibs"), { op = ">=", limit = 0.9, text = "(>= 0.9)", info = true })
  row(string.format("stream read %s, window %s, MiB/s", size, fmt(rw)), rv, upeer,
    best("aiou_read_mibs"), { op = ">=", limit = 0.9, text = "(>= 0.9)", info = true })
end
row(string.format("stream write %s, window %s, MiB/s", size, fmt(ww)), wv,
  "rados bench write -t " .. inflight, best("rb_write_mibs"), GE09)
row(string.format("stream read %s, window %s, MiB/s", size, fmt(rw)), rv,
  "rados bench seq -t " .. inflight, best("rb_seq_mibs"), GE09)
if vals.engine_read_mibs then
  -- the same stream in C through the engine: what is left of a gap above is
  -- the binding's (one copy of every byte into a Lua string)
  local wins = os.getenv("BENCH_WINDOWS") or "8 16"
  local ew = wins:match("(%d+)%s*$")
  local info = { op = ">=", limit = 0.9, text = "(>= 0.9)", info = true }
  row(string.format("stream write %s, engine alone (C, no Lua), %s, MiB/s", size, win(tonumber(ew))),
    best("engine_write_mibs"), cpeer, best("aio_write_mibs"), info)
  row(string.format("stream read %s, engine alone (C, no Lua), %s, MiB/s", size, win(tonumber(ew))),
    best("engine_read_mibs"), cpeer, best("aio_read_mibs"), info)
  row(string.format("stream read %s, Lua, window %s, against the engine alone", size, fmt(rw)), rv,
    "the same stream in C through the engine", best("engine_read_mibs"), info)
end
-- 2. libradosstriper
local GT1 = { op = ">", limit = 1, text = "> 1" }
row(string.format("stream write %s, window %s, MiB/s", size, fmt(ww)), wv,
  "libradosstriper write, 4 MiB calls", best("striper_write_mibs"), GT1)
row(string.format("stream read %s, window %s, MiB/s", size, fmt(rw)), rv,
  "libradosstriper read, 4 MiB calls", best("striper_read_mibs"), GT1)
-- 3. small files
row("put_content 4 KiB, median (ms)", get("rs_put_median_ms"), "rados_write_full 4 KiB",
  get("raw_put_median_ms"), { op = "<=", limit = 2.5, text = "<= 2.5" }, 3)
row("get_content 4 KiB, median (ms)", get("rs_get_median_ms"), "rados_read 4 KiB",
  get("raw_get_median_ms"), { op = "<=", limit = 2, text = "<= 2" }, 3)
row("put_content 4 KiB, p90 (ms)", get("rs_put_p90_ms"), "rados_write_full 4 KiB",
  get("raw_put_p90_ms"), nil, 3)
row("get_content 4 KiB, p90 (ms)", get("rs_get_p90_ms"), "rados_read 4 KiB",
  get("raw_get_p90_ms"), nil, 3)
row("RADOS ops per put_content 4 KiB (osd.op)", get("rs_put_ops_per_call"), "rados_write_full",
  vals.rs_put_ops_per_call and 1, nil, 2)
row("RADOS ops per get_content 4 KiB (osd.op)", get("rs_get_ops_per_call"), "rados_read",
  vals.rs_get_ops_per_call and 1, nil, 2)
row("Lua put_content 4 KiB, back to back, ops/s", best("lua_put_ops"), "C rs_put, back to back",
  best("c_put_ops"), nil, 0)
row("Lua get_content 4 KiB, back to back, ops/s", best("lua_get_ops"), "C rs_get, back to back",
  best("c_get_ops"), nil, 0)
-- 4. listing
local n = get("rs_list_entries")
local label = n and string.format("%d", math.floor(n)) or "?"
row("list " .. label .. " entries, C rs_list (ms)", get("rs_list_ms"),
  "2015 driver: 1 key a round trip", get("old_list_ms"), nil, 1)
row("list " .. label .. " entries, Lua drv:list (ms)", get("lua_list_ms"),
  "2015 driver: 1 key a round trip", get("old_list_ms"), nil, 1)
local pages = n and math.ceil(n / 1024) or nil
row("list " .. label .. " entries, round trips (osd.op)", get("rs_list_ops"),
  "2015 driver (osd.op)", get("old_list_ops"),
  pages and { op = "<=", limit = pages + 1, text = "<= " .. (pages + 1), on_value = true }, 0)
-- 5. memory
local LT64 = { op = "<", limit = 64, text = "< 64", on_value = true }
local mpeer, mkey = cpeer, "aio"
if vals.aiou_write_hwm_kib then
  mpeer, mkey = string.format("C aio, %s x %s KiB in flight", inflight, fmt(unit)), "aiou"
end
for _, w in ipairs(windows) do
  row(string.format("peak RSS, Lua stream write, %s, MiB", win(w)), MiB("rs_w" .. w .. "_hwm_kib"),
    mpeer, MiB(mkey .. "_write_hwm_kib"), LT64)
  row(string.format("peak RSS, Lua stream read, %s, MiB", win(w)), MiB("rs_r" .. w .. "_hwm_kib"),
    mpeer, MiB(mkey .. "_read_hwm_kib"), LT64)
end
if get("rs_base_hwm_kib") then
  row("RSS of a Lua process once connected, MiB", MiB("rs_base_hwm_kib"), nil, nil, nil)
end

-- issue 20's rows of this part (bench/summary.lua)
local aio_r = best("aio_read_mibs")
if rv and aio_r then
  summary.row(string.format("stream read %s, window %s", size, fmt(rw)), fmt(rv, 0) .. " MiB/s",
    string.format("C aio, %s x 4 MiB in flight: %s MiB/s", inflight, fmt(aio_r, 0)), rv / aio_r, "≥ 0.95",
    rv / aio_r >= 0.95)
end
local hw, hr = 0, 0
for _, w in ipairs(windows) do
  hw = math.max(hw, MiB("rs_w" .. w .. "_hwm_kib") or 0)
  hr = math.max(hr, MiB("rs_r" .. w .. "_hwm_kib") or 0)
end
if hw > 0 then
  summary.row(string.format("peak RSS streaming %s (write / read)", size), string.format("%.0f / %.0f MiB", hw, hr),
    "", nil, "< 64 MiB", math.max(hw, hr) < 64)
end

local head = { "figure", "regstore", "peer", "peer value", "ratio", "target", "met" }
local width = {}
for i, h in ipairs(head) do width[i] = #h end
for _, r in ipairs(rows) do
  for i, c in ipairs(r) do width[i] = math.max(width[i], #c) end
end
local function line(r)
  local out = {}
  for i, c in ipairs(r) do
    local right = i == 2 or i == 4 or i == 5
    out[i] = right and string.rep(" ", width[i] - #c) .. c or c .. string.rep(" ", width[i] - #c)
  end
  return (table.concat(out, "  "):gsub("%s+$", ""))
end
print(line(head))
for _, r in ipairs(rows) do print(line(r)) end

print()
print(string.format("ratio = regstore / peer.  Best window: write %s, read %s%s.", fmt(ww), fmt(rw),
  unit and string.format(" (window = I/O operations of at most %s KiB in flight; engine default %s)",
    fmt(unit), fmt(get("default_window"))) or ""))
-- Every run of the repeated figures: the spread shows how noisy the machine was.
local spread = {}
for _, k in ipairs({ "rs_w%d_mibs", "aio_write_mibs", "aiou_write_mibs", "rb_write_mibs",
                     "striper_write_mibs", "rs_r%d_mibs", "aio_read_mibs", "aiou_read_mibs",
                     "rb_seq_mibs", "striper_read_mibs" }) do
  local keys = {}
  if k:find("%%d") then
    for _, w in ipairs(windows) do table.insert(keys, k:format(w)) end
  else
    keys = { k }
  end
  for _, key in ipairs(keys) do
    if vals[key] then
      local l = {}
      for i, v in ipairs(vals[key]) do l[i] = fmt(v, 0) end
      table.insert(spread, key:gsub("_mibs$", "") .. " " .. table.concat(l, "/"))
    end
  end
end
if #spread > 0 then print("every run, MiB/s: " .. table.concat(spread, "; ")) end
if get("lua_clock_is_date") then
  print("Lua timed with " .. (get("lua_clock_is_date") == 1 and "date(1), its cost taken off"
    or "regstore.clock() (monotonic)") .. "; C with clock_gettime(CLOCK_MONOTONIC).")
end
if get("list_create_s") then
  print(string.format("setup: %s entries created in %.1f s (rs_put, %s threads); "
    .. "drv:delete of the directory took %s s.",
    label, get("list_create_s"), os.getenv("BENCH_THREADS") or "4", fmt(get("lua_delete_dir_s"), 1)))
end
for _, w in ipairs(windows) do
  local wc, rc = get("rs_w" .. w .. "_cpu_s"), get("rs_r" .. w .. "_cpu_s")
  if wc or rc then
    print(string.format("client CPU (all threads) for the stream, window %d: write %s s, read %s s.",
      w, fmt(wc, 2), fmt(rc, 2)))
  end
end
if #misses > 0 then
  print("targets missed: " .. table.concat(misses, "; "))
else
  print("all targets met")
end
