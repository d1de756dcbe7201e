-- Storage report: for every repository, the bytes of the blobs it
-- references (through its manifests, and its linked layers), split into
-- those unique to it and those shared with other repositories.
--
--   regstore run examples/scripts/storage_report.lua [--json]
--
-- Globals (from `regstore run`): reg, drv, paths, arg.

local mark = require "regstore.policy.mark"

local as_json = arg[1] == "--json"

-- Every repository, a page at a time.
local names, last = {}, nil
repeat
  local page = assert(reg:repositories { n = 100, last = last })
  for _, n in ipairs(page) do names[#names + 1] = n end
  last = page[#page]
until #page < 100

local users = {}   -- digest -> { [repository] = true }
local size = {}    -- digest -> bytes
local function use(d, name)
  users[d] = users[d] or {}
  users[d][name] = true
end

for _, name in ipairs(names) do
  local repo = assert(reg:repository(name))
  -- a marker per repository: what its manifests reference
  local m = mark.new({ drv = drv, paths = paths })
  for _, d in ipairs(repo.manifests:list() or {}) do assert(m:manifest(d)) end
  for d in pairs(m.marked) do use(d, name) end
  -- linked layers count too (pushed, not yet in a manifest)
  local layers = drv:list(paths:path_for("layers", { name = name }) .. "/sha256") or {}
  for _, p in ipairs(layers) do use("sha256:" .. p:match("([^/]+)$"), name) end
end

local rows = {}
for _, name in ipairs(names) do
  rows[name] = { repository = name, unique = 0, shared = 0, blobs = 0 }
end
local total = 0
for d, who in pairs(users) do
  local info = reg.blobs:stat(d)
  size[d] = info and info.size or 0
  total = total + size[d]
  local n = 0
  for _ in pairs(who) do n = n + 1 end
  for name in pairs(who) do
    local r = rows[name]
    r.blobs = r.blobs + 1
    if n == 1 then r.unique = r.unique + size[d] else r.shared = r.shared + size[d] end
  end
end

local out = {}
for _, name in ipairs(names) do out[#out + 1] = rows[name] end
if as_json then
  print(require("regstore.cli.json").encode { repositories = out, bytes = total })
else
  print(string.format("%-40s %8s %14s %14s", "REPOSITORY", "BLOBS", "UNIQUE", "SHARED"))
  for _, r in ipairs(out) do
    print(string.format("%-40s %8d %14d %14d", r.repository, r.blobs, r.unique, r.shared))
  end
  print(string.format("%d bytes referenced in all", total))
end
