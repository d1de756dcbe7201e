--- What the registry-level subcommands (tags, manifests, untag, delete)
-- share: the check of their arguments, and a repository's tags read once.
local validate = require "regstore.registry.validate"

local repo = {}

--- A command's check of its arguments, in order: kinds are "name", "tag"
-- or "digest" (registry.validate's); a malformed one is a usage error.
function repo.check(...)
  local kinds = { ... }
  return function(env)
    for i, kind in ipairs(kinds) do
      local ok, msg = validate[kind](env.args[i])
      if not ok then return nil, msg end
    end
    return true
  end
end

--- Every tag of r with its digest: a sorted array of { tag, digest }, or
-- nil, message, code. A tag that went between the listing and its read is
-- left out; any other failed read fails the whole (never shown as absent).
function repo.tags(r)
  local names, msg, code = r.tags:list()
  if not names then return nil, msg, code end
  local out = {}
  for _, t in ipairs(names) do
    local d
    d, msg, code = r.tags:get(t)
    if d then
      out[#out + 1] = { tag = t, digest = d }
    elseif code ~= "tag_unknown" then
      return nil, msg, code
    end
  end
  return out
end

return repo
