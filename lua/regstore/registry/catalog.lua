--- The catalog: repository names in byte order, paged. A directory below
-- repositories/ holding `_manifests` or `_layers` is a repository (it has a
-- manifest or a linked blob; an upload alone does not count); other `_`
-- directories are never entered. Names nest ("a" and "a/b" are both
-- repositories).
--
-- A page is found without walking the whole tree (as distribution's
-- catalog does with a start-after hint): directories are visited in the
-- byte order of the names they hold, subtrees wholly at or before `last`
-- are not listed at all, and the visit stops once `n` names are found. The
-- order: below a directory, child c's own name sorts as "c" and its
-- subtree's names as "c/..."; since "/" sorts after "-" and "." and before
-- digits and letters, "a-b" < "a.b" < "a/x" < "a0" < "a_b", which is not the
-- order of the children ("a" < "a-b"), so the children's two keys are
-- sorted together. A subtree holds names in ["c/", "c0"): it is skipped
-- when "c0" <= last. Cost of a page: one listing (1024 names per round
-- trip) of each directory on the way down to `last`, plus one per
-- directory visited for the page's names.

local listing = require "regstore.registry.listing"

local catalog = {}

local byte_less = listing.byte_less

-- The base names of a directory's children; {} when it is missing.
local function children(ctx, dir)
  local list, msg, code = ctx.drv:list(dir)
  if not list then
    if code == "not_found" or code == "not_dir" then return {} end
    return nil, msg, code
  end
  local out = {}
  for i = 1, #list do out[i] = list[i]:match("([^/]+)$") end
  return out
end

local function has(list, name)
  for _, v in ipairs(list) do
    if v == name then return true end
  end
  return false
end

local function nested(list)
  for _, v in ipairs(list) do
    if v:sub(1, 1) ~= "_" then return true end
  end
  return false
end

-- Adds to out the names below dir (whose listing is kids) in byte order,
-- strictly after last, until out holds n. Returns true, or nil, msg, code.
local function visit(ctx, dir, kids, prefix, last, n, out)
  local items = {}
  for _, c in ipairs(kids) do
    if c:sub(1, 1) ~= "_" then
      items[#items + 1] = { key = c, c = c, self = true }
      items[#items + 1] = { key = c .. "/", c = c }
    end
  end
  table.sort(items, function(x, y) return byte_less(x.key, y.key) end)
  local listed = {}
  for _, it in ipairs(items) do
    if n and #out >= n then return true end
    local name = prefix .. it.c
    local wanted
    if it.self then
      wanted = last == nil or byte_less(last, name)
    else
      wanted = last == nil or byte_less(last, name .. "0")
    end
    if wanted then
      local sub = listed[it.c]
      if not sub then
        local msg, code
        sub, msg, code = children(ctx, dir .. "/" .. it.c)
        if not sub then return nil, msg, code end
        listed[it.c] = sub
      end
      if it.self then
        if has(sub, "_manifests") or has(sub, "_layers") then out[#out + 1] = name end
      elseif nested(sub) then
        local ok, msg, code = visit(ctx, dir .. "/" .. it.c, sub, name .. "/", last, n, out)
        if not ok then return nil, msg, code end
      end
    end
  end
  return true
end

--- The page of names strictly after `last`, at most `n` (all when nil).
function catalog.list(ctx, n, last)
  if n == 0 then return {} end
  local root = ctx.paths:path_for("repositories")
  local kids, msg, code = children(ctx, root)
  if not kids then return nil, msg, code end
  local out = {}
  local ok
  ok, msg, code = visit(ctx, root, kids, "", last, n, out)
  if not ok then return nil, msg, code end
  return out
end

--- All repository names, sorted in byte order.
function catalog.all(ctx)
  return catalog.list(ctx, nil, nil)
end

return catalog
