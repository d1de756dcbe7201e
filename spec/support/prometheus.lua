-- Prometheus text exposition read by a real parser (Debian's
-- python3-prometheus-client), never by ours: { [sample name] = value },
-- or nil, the parser's message.
local helper = require "helper"
local json = require "cjson.safe"

local prometheus = {}

local PARSE = [[
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        key = s.name + ("{" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items())) + "}" if s.labels else "")
        out[key] = s.value
print(json.dumps(out))
]]

function prometheus.parse(text)
  local file = os.tmpname()
  local f = assert(io.open(file, "wb"))
  f:write(text)
  f:close()
  local out, rc = helper.sh("/usr/bin/python3 -c " .. helper.quote(PARSE) .. " <" .. helper.quote(file) .. " 2>&1")
  os.remove(file)
  if rc ~= 0 then return nil, out end
  return json.decode(out)
end

return prometheus
