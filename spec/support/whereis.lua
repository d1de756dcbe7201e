-- Flake diagnostics: where a repository's blobs are when a spec finds one
-- missing, for the line a failing run prints (a spec body asserts; this
-- module only describes). `local whereis = require "support.whereis"`, in a
-- spec or in the child processes it runs (`spec/` on their Lua path).
local paths = require "regstore.registry.paths"

local whereis = {}

local DEFAULT_ROOT = "/docker/registry/v2"

--- One blob of repository `name`, as "<first 8 hex>:link=1,data=1,gc=0,gclink=0":
-- 1 or 0 for its layer link, its data under blobs/, its data parked in gc's
-- quarantine and its layer link parked there.
function whereis.blob(drv, name, digest, root)
  local P = paths.new(root or DEFAULT_ROOT)
  local function has(kind) return drv:stat(P:path_for(kind, { name = name, digest = digest })) ~= nil and "1" or "0" end
  return string.format("%s:link=%s,data=%s,gc=%s,gclink=%s", digest:sub(8, 15),
    has("layer_link"), has("blob_data"), has("quarantine_blob"), has("quarantine_layer"))
end

--- whereis.blob of each digest, joined with ";".
function whereis.blobs(drv, name, digests, root)
  local t = {}
  for i, d in ipairs(digests) do t[i] = whereis.blob(drv, name, d, root) end
  return table.concat(t, ";")
end

return whereis
