--- Prometheus' text exposition format (version 0.0.4), the parts that
-- serve's /metrics (regstore.nginx.metrics) and the command's
-- --metrics-file (regstore.cli.metrics_file) both write.

local exposition = {}

--- A sample value as Prometheus prints it: integers plainly, infinities
-- and NaN by name, others with %.17g (every bit kept).
function exposition.value(v)
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v ~= v then return "NaN" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  return string.format("%.17g", v)
end

--- A label value escaped (backslash, double quote, newline).
function exposition.escape(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

--- The HELP and TYPE lines of a metric.
function exposition.header(name, kind, help)
  return "# HELP " .. name .. " " .. help .. "\n# TYPE " .. name .. " " .. kind
end

return exposition
