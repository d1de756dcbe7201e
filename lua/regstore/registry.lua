--- regstore.registry: a container registry's storage over the regstore
-- driver, the Lua counterpart of distribution's registry/storage package.
--
--   local registry = require "regstore.registry"
--   local reg = registry.new(drv [, { root = "/docker/registry/v2", cache_size = 4096 }])
--   reg:repositories{ n = N, last = NAME }     reg.blobs:stat(d)   reg.blobs:reader(d [, off])
--   local repo = reg:repository("library/alpine")
--   repo.blobs  (repo_blobs.lua) repo.manifests (manifests.lua)   repo.tags (tags.lua)
--
-- Layout: distribution's v2 tree under the root (registry/paths.lua draws
-- it). Failures: nil, message, code (registry/errors.lua); a wrong Lua type
-- raises. Every piece of state lives in the driver, so handles are cheap and
-- any number of processes may share a tree; the only in-process state is the
-- bounded descriptor cache of each registry object (registry/cache.lua).

local validate = require "regstore.registry.validate"
local paths = require "regstore.registry.paths"
local cache = require "regstore.registry.cache"
local blobs = require "regstore.registry.blobs"
local repo_blobs = require "regstore.registry.repo_blobs"
local manifests = require "regstore.registry.manifests"
local tags = require "regstore.registry.tags"
local catalog = require "regstore.registry.catalog"
local listing = require "regstore.registry.listing"

local registry = {}

registry.DEFAULT_ROOT = paths.DEFAULT_ROOT
registry.DEFAULT_CACHE_SIZE = cache.DEFAULT_CAPACITY

local Registry = {}
Registry.__index = Registry

--- Sorted repository names, strictly after `last`, at most `n`.
function Registry:repositories(opts)
  local n, last = listing.options(opts, "repositories")
  return catalog.list(self._ctx, n, last)
end

--- A handle on repository name (no I/O).
function Registry:repository(name)
  validate.arg(name, "string", 1, "repository")
  local ok, msg, code = validate.name(name)
  if not ok then return nil, msg, code end
  local ctx = self._ctx
  return {
    name = name,
    blobs = repo_blobs.new(ctx, name),
    manifests = manifests.new(ctx, name),
    tags = tags.new(ctx, name),
  }
end

--- A registry over driver drv. opts: root (default /docker/registry/v2),
-- cache_size (descriptor cache entries, default 4096; 0 disables it),
-- quota_poll (seconds the quota rules read are reused, default 2).
function registry.new(drv, opts)
  local t = type(drv)
  if t ~= "userdata" and t ~= "table" then
    error(string.format("bad argument #1 to 'new' (driver expected, got %s)",
      t == "nil" and "no value" or t), 2)
  end
  validate.arg(opts, "table", 2, "new", true)
  opts = opts or {}
  if opts.root ~= nil and type(opts.root) ~= "string" then
    error("bad argument #2 to 'new' (root must be a string)", 2)
  end
  local size = opts.cache_size
  if size ~= nil and (type(size) ~= "number" or size < 0 or size ~= math.floor(size)) then
    error("bad argument #2 to 'new' (cache_size must be a non-negative integer)", 2)
  end
  local poll = opts.quota_poll
  if poll ~= nil and (type(poll) ~= "number" or poll < 0 or poll ~= poll) then
    error("bad argument #2 to 'new' (quota_poll must be a number of seconds, 0 or more)", 2)
  end
  local ok, mapper = pcall(paths.new, opts.root)
  if not ok then error("bad argument #2 to 'new' (" .. tostring(mapper) .. ")", 2) end
  local ctx = { drv = drv, paths = mapper, cache = cache.new(size), quota_poll = poll }
  return setmetatable({ blobs = blobs.new(ctx), _ctx = ctx }, Registry)
end

return registry
