--- The catalog: repository names, as distribution's catalog enumerates them
-- by walking repositories/. A directory holding `_manifests` or `_layers` is
-- a repository (it has a manifest or a linked blob; an upload alone does not
-- count); other `_` directories are skipped without descending. Names may
-- nest ("a" and "a/b" are both repositories), so the walk goes on below a
-- repository's other children.

local listing = require "regstore.registry.listing"

local catalog = {}

--- All repository names, sorted in byte order.
function catalog.all(ctx)
  local root = ctx.paths:path_for("repositories")
  local names, seen = {}, {}
  local skip = #root + 2
  local ok, msg, code = ctx.drv:walk(root, function(info)
    if not info.is_dir then return nil end
    local p = info.path
    local base = p:match("([^/]+)$")
    if base:sub(1, 1) ~= "_" then return nil end
    if base == "_manifests" or base == "_layers" then
      local name = p:sub(skip, #p - #base - 1)
      if not seen[name] then
        seen[name] = true
        names[#names + 1] = name
      end
    end
    return "skip"
  end)
  if not ok then
    if code == "not_found" then return {} end
    return nil, msg, code
  end
  return listing.sort(names)
end

--- The page of names strictly after `last`, at most `n`.
function catalog.list(ctx, n, last)
  local all, msg, code = catalog.all(ctx)
  if not all then return nil, msg, code end
  return listing.page(all, last, n)
end

return catalog
