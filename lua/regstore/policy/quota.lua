--- Quotas for operators: the rules (`regstore quota set|rm|list`) and the
-- recount that sets each rule's counter to what the tree holds (after gc,
-- and `regstore quota recount`). Enforcement is the registry's
-- (registry/quotas.lua, which says what is counted and how).
--
--   quota.list(reg_or_drv)              --> { { name, limit, used } }
--   quota.set(reg_or_drv, name, bytes)  --> { name, limit, used } (recounted)
--   quota.remove(reg_or_drv, name)      --> true; nil, msg, "not_found" when there is no such rule
--   quota.recount(reg_or_drv [, { only = name }]) --> { { name, limit, used, was } }
--
-- Edits of the rules read and rewrite one small file: two operators
-- editing at the same moment may lose one edit (list shows which held).

local context = require "regstore.policy.context"
local scan = require "regstore.policy.scan"
local quotas = require "regstore.registry.quotas"
local validate = require "regstore.registry.validate"

local quota = {}

local function write_rules(ctx, list)
  return ctx.drv:put_content(ctx.paths:path_for("quota_rules"), quotas.encode(list))
end

function quota.list(target, opts)
  local ctx = context.of(target, opts, "list")
  local list, msg, code = quotas.read(ctx)
  if not list then return nil, msg, code end
  for _, r in ipairs(list) do
    r.used, msg, code = ctx.drv:counter(quotas.counter(ctx, r.name))
    if not r.used then return nil, msg, code end
  end
  return list
end

-- { [repository] = bytes } of the repositories that a rule in list covers:
-- the blobs each links and its manifests, each digest once (a link to
-- missing data holds nothing).
local function holdings(ctx, list)
  local s, msg, code = scan.repositories(ctx)
  if not s then return nil, msg, code end
  local want, all = {}, {}
  for _, name in ipairs(s.names) do
    for _, r in ipairs(list) do
      if quotas.covers(r.name, name) then
        local digests = {}
        for d in pairs(s.repos[name].layers) do digests[d] = true end
        for d in pairs(s.repos[name].revisions) do digests[d] = true end
        want[name] = digests
        for d in pairs(digests) do all[d] = true end
        break
      end
    end
  end
  local size
  size, msg, code = scan.blob_sizes(ctx, scan.keys(all))
  if not size then return nil, msg, code end
  local out = {}
  for name, digests in pairs(want) do
    local total = 0
    for d in pairs(digests) do total = total + (size[d] or 0) end
    out[name] = total
  end
  return out
end

--- Sets every rule's counter (or rule opts.only's) to what the tree holds
-- plus what commits added while it counted: each counter is read before
-- the count and moved by (count - that value), one atomic add, so nothing
-- added meanwhile is lost.
function quota.recount(target, opts)
  opts = opts or {}
  local ctx = context.of(target, opts, "recount")
  local list, msg, code = quotas.read(ctx)
  if not list then return nil, msg, code end
  if opts.only then
    local keep = {}
    for _, r in ipairs(list) do if r.name == opts.only then keep[1] = r end end
    list = keep
  end
  if #list == 0 then return {} end
  for _, r in ipairs(list) do
    r.counter = quotas.counter(ctx, r.name)
    r.was, msg, code = ctx.drv:counter(r.counter)
    if not r.was then return nil, msg, code end
  end
  local held
  held, msg, code = holdings(ctx, list)
  if not held then return nil, msg, code end
  for _, r in ipairs(list) do
    local total = 0
    for name, n in pairs(held) do
      if quotas.covers(r.name, name) then total = total + n end
    end
    r.used, msg, code = ctx.drv:counter_add(r.counter, total - r.was)
    if not r.used then return nil, msg, code end
    r.counter = nil
  end
  return list
end

local function check_name(name, fname)
  if type(name) ~= "string" then
    error(string.format("bad argument #2 to '%s' (string expected, got %s)", fname, type(name)), 3)
  end
  return validate.name(name)
end

function quota.set(target, name, bytes, opts)
  local ok, msg, code = check_name(name, "set")
  if not ok then return nil, msg, code end
  if type(bytes) ~= "number" or bytes < 0 or bytes ~= math.floor(bytes) or bytes >= 2 ^ 53 then
    error("bad argument #3 to 'set' (a whole number of bytes expected)", 2)
  end
  local ctx = context.of(target, opts, "set")
  local list
  list, msg, code = quotas.read(ctx)
  if not list then return nil, msg, code end
  local found = false
  for _, r in ipairs(list) do
    if r.name == name then r.limit, found = bytes, true end
  end
  if not found then list[#list + 1] = { name = name, limit = bytes } end
  ok, msg, code = write_rules(ctx, list)
  if not ok then return nil, msg, code end
  local counted
  counted, msg, code = quota.recount(target, { only = name, root = ctx.root })
  if not counted then return nil, msg, code end
  return counted[1]
end

function quota.remove(target, name, opts)
  local ok, msg, code = check_name(name, "remove")
  if not ok then return nil, msg, code end
  local ctx = context.of(target, opts, "remove")
  local list
  list, msg, code = quotas.read(ctx)
  if not list then return nil, msg, code end
  local keep = {}
  for _, r in ipairs(list) do
    if r.name ~= name then keep[#keep + 1] = r end
  end
  if #keep == #list then return nil, "regstore: no quota for " .. name, "not_found" end
  return write_rules(ctx, keep)
end

return quota
