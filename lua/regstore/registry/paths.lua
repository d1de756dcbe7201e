--- Every path of the registry, in distribution's v2 layout, and nowhere else.
--
-- The stores ask `mapper:path_for(kind, fields)` and never join strings, as
-- distribution's paths.go does with its path specs. The tree, with the kind
-- that names each path (fields in <>):
--
--   <root>                                          (default /docker/registry/v2)
--   ├── _gc                                         quarantine      (gc's, see policy/gc.lua)
--   │   ├── <alg>/<hex>                             quarantine_blob {digest}
--   │   ├── _revisions/<name>/<alg>/<hex>           quarantine_revision {name, digest}
--   │   └── _layers/<name>/<alg>/<hex>              quarantine_layer    {name, digest}
--   ├── _scrub/position                             scrub_position  (fsck --verify-digests')
--   ├── _schedule/<job>                             schedule_record {job}  (policy/schedule.lua)
--   ├── _config/read-only                           read_only_flag  (`regstore read-only`)
--   ├── _config/quotas                              quota_rules     (`regstore quota`)
--   ├── blobs                                       blobs
--   │   └── <alg>                                   blob_alg         {alg}
--   │       └── <hex[1..2]>/<hex>                   blob             {digest}
--   │           └── data                            blob_data        {digest}
--   └── repositories                                repositories
--       └── <name>                                  repository       {name}  ("a/b" nests)
--           ├── _layers                             layers           {name}
--           │   └── <alg>/<hex>                     layer            {name, digest}
--           │       └── link                        layer_link       {name, digest}
--           ├── _manifests                          manifests        {name}
--           │   ├── revisions                       revisions        {name}
--           │   │   └── <alg>                       revisions_alg    {name, alg}
--           │   │       └── <hex>                   revision         {name, digest}
--           │   │           └── link                revision_link    {name, digest}
--           │   └── tags                            tags             {name}
--           │       └── <tag>                       tag              {name, tag}
--           │           ├── current/link            tag_current_link {name, tag}
--           │           └── index                   tag_index        {name, tag}
--           │               └── <alg>/<hex>/link    tag_index_link   {name, tag, digest}
--           └── _uploads                            uploads          {name}
--               └── <id>                            upload           {name, id}
--                   ├── data                        upload_data      {name, id}
--                   ├── startedat                   upload_started_at {name, id}
--                   └── hashstates/<alg>            upload_hash_states {name, id, alg}
--                       └── <offset>                upload_hash_state  {name, id, alg, offset}
--
-- A link file holds the digest it points at ("sha256:<hex>", no newline);
-- `startedat` holds an RFC 3339 UTC time; a hash state is 108 bytes (Go's
-- crypto/sha256 MarshalBinary). Manifests are blobs too: their bytes live at
-- blob_data, the revision link makes them part of a repository.
--
-- Fields are checked here once more (a bad one raises: the stores validate
-- user input before they ask for a path, so a raise is a programming mistake).

local validate = require "regstore.registry.validate"

local paths = {}

paths.DEFAULT_ROOT = "/docker/registry/v2"

local function join(...)
  return table.concat({ ... }, "/")
end

local function need(fields, key, kind)
  local v = fields and fields[key]
  if v == nil then
    error(string.format("paths: %s needs field '%s'", kind, key), 3)
  end
  return v
end

local function name_of(f, kind)
  local n = need(f, "name", kind)
  if not validate.name(n) then error("paths: bad repository name " .. validate.show(n), 3) end
  return n
end

local function digest_of(f, kind)
  local alg, hex = validate.digest(need(f, "digest", kind))
  if not alg then error("paths: bad digest " .. validate.show(f.digest), 3) end
  return alg, hex
end

local function alg_of(f, kind)
  local a = need(f, "alg", kind)
  if type(a) ~= "string" or not a:find("^[a-z0-9]+$") then
    error("paths: bad algorithm " .. validate.show(a), 3)
  end
  return a
end

local function tag_of(f, kind)
  local t = need(f, "tag", kind)
  if not validate.tag(t) then error("paths: bad tag " .. validate.show(t), 3) end
  return t
end

local function id_of(f, kind)
  local id = need(f, "id", kind)
  if not validate.upload_id(id) then error("paths: bad upload id " .. validate.show(id), 3) end
  return id
end

local function offset_of(f, kind)
  local o = need(f, "offset", kind)
  if type(o) ~= "number" or o < 0 or o ~= math.floor(o) then
    error("paths: bad offset " .. tostring(o), 3)
  end
  return string.format("%.0f", o)
end

-- kind -> function(root, fields, kind) -> path
local builders = {}

builders.blobs = function(r) return join(r, "blobs") end
builders.blob_alg = function(r, f, k) return join(r, "blobs", alg_of(f, k)) end
builders.blob = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return join(r, "blobs", alg, hex:sub(1, 2), hex)
end
builders.blob_data = function(r, f, k) return join(builders.blob(r, f, k), "data") end

builders.repositories = function(r) return join(r, "repositories") end

-- Where gc parks a blob's data between its two marks (outside blobs/ and
-- repositories/, so that no registry read finds it there).
builders.quarantine = function(r) return join(r, "_gc") end
builders.quarantine_blob = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return join(r, "_gc", alg, hex)
end
-- Where gc parks a revision link or a layer link while it decides (their
-- `_` prefix is no digest algorithm: a blob's parked data never lands there).
builders.quarantine_revisions = function(r) return join(r, "_gc", "_revisions") end
builders.quarantine_revision = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return join(r, "_gc", "_revisions", name_of(f, k), alg, hex)
end
builders.quarantine_layers = function(r) return join(r, "_gc", "_layers") end
builders.quarantine_layer = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return join(r, "_gc", "_layers", name_of(f, k), alg, hex)
end
-- Where a scrub (fsck --verify-digests) keeps its place, to resume after a kill.
builders.scrub_position = function(r) return join(r, "_scrub", "position") end
-- Present while the registry refuses writes: every serve node polls it.
builders.read_only_flag = function(r) return join(r, "_config", "read-only") end
builders.quota_rules = function(r) return join(r, "_config", "quotas") end
-- When a scheduled job (policy/schedule.lua) last ran to its end.
builders.schedule_record = function(r, f, k)
  local job = need(f, "job", k)
  if not tostring(job):find("^[a-z][a-z0-9_-]*$") then error("paths: bad job name " .. validate.show(job), 3) end
  return join(r, "_schedule", job)
end
builders.repository = function(r, f, k) return join(r, "repositories", name_of(f, k)) end

local function repo(r, f, k, ...) return join(r, "repositories", name_of(f, k), ...) end

builders.layers = function(r, f, k) return repo(r, f, k, "_layers") end
builders.layer = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return repo(r, f, k, "_layers", alg, hex)
end
builders.layer_link = function(r, f, k) return join(builders.layer(r, f, k), "link") end

builders.manifests = function(r, f, k) return repo(r, f, k, "_manifests") end
builders.revisions = function(r, f, k) return repo(r, f, k, "_manifests", "revisions") end
builders.revisions_alg = function(r, f, k)
  return repo(r, f, k, "_manifests", "revisions", alg_of(f, k))
end
builders.revision = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return repo(r, f, k, "_manifests", "revisions", alg, hex)
end
builders.revision_link = function(r, f, k) return join(builders.revision(r, f, k), "link") end

builders.tags = function(r, f, k) return repo(r, f, k, "_manifests", "tags") end
builders.tag = function(r, f, k) return repo(r, f, k, "_manifests", "tags", tag_of(f, k)) end
builders.tag_current_link = function(r, f, k)
  return join(builders.tag(r, f, k), "current", "link")
end
builders.tag_index = function(r, f, k) return join(builders.tag(r, f, k), "index") end
builders.tag_index_link = function(r, f, k)
  local alg, hex = digest_of(f, k)
  return join(builders.tag(r, f, k), "index", alg, hex, "link")
end

builders.uploads = function(r, f, k) return repo(r, f, k, "_uploads") end
builders.upload = function(r, f, k) return repo(r, f, k, "_uploads", id_of(f, k)) end
builders.upload_data = function(r, f, k) return join(builders.upload(r, f, k), "data") end
builders.upload_started_at = function(r, f, k)
  return join(builders.upload(r, f, k), "startedat")
end
builders.upload_hash_states = function(r, f, k)
  return join(builders.upload(r, f, k), "hashstates", alg_of(f, k))
end
builders.upload_hash_state = function(r, f, k)
  return join(builders.upload_hash_states(r, f, k), offset_of(f, k))
end

paths.KINDS = {}
for k in pairs(builders) do paths.KINDS[#paths.KINDS + 1] = k end
table.sort(paths.KINDS)

local Mapper = {}
Mapper.__index = Mapper

--- The path of `kind` for `fields` (see the tree above).
function Mapper:path_for(kind, fields)
  local b = builders[kind]
  if not b then error("paths: unknown path kind " .. tostring(kind), 2) end
  return b(self.root, fields, kind)
end

--- The digest a path names: `.../<alg>/<2hex>/<hex>/data` (a blob) or
-- `.../<alg>/<hex>[/link]` (a link or its directory). nil when it names none.
function paths.digest_from_path(p)
  if type(p) ~= "string" then return nil end
  local alg, two, hex = p:match("/([a-z0-9]+)/(%x%x)/(%x+)/data$")
  if alg and hex:sub(1, 2) == two and validate.digest(alg .. ":" .. hex) then
    return alg .. ":" .. hex
  end
  alg, hex = p:match("/([a-z0-9]+)/(%x+)/link$")
  if not alg then alg, hex = p:match("/([a-z0-9]+)/(%x+)$") end
  if alg and validate.digest(alg .. ":" .. hex) then return alg .. ":" .. hex end
  return nil
end

--- The last component of a path.
function paths.base(p)
  return (p:match("([^/]+)$"))
end

--- A mapper for `root` (default /docker/registry/v2). A bad root raises.
function paths.new(root)
  root = root or paths.DEFAULT_ROOT
  if type(root) ~= "string" or not root:find("^/[%w._/-]+$") or root:find("//", 1, true)
      or root:sub(-1) == "/" then
    error("paths: bad root " .. validate.show(root), 2)
  end
  return setmetatable({ root = root }, Mapper)
end

return paths
