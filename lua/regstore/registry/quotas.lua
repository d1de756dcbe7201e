--- Quotas: how many bytes a repository, or every repository under a name,
-- may hold; checked where a repository gains bytes (an upload's commit, a
-- cross-repository mount, a manifest's new revision).
--
-- Rules live with the data, in <root>/_config/quotas (JSON
-- {"rules": {"<name>": <bytes>, ...}}, written by `regstore quota set`), so
-- every process and node over the tree enforces the same ones. A rule named
-- N covers repository N and every repository under N/. A repository holds
-- the bytes of the blobs it links (_layers) and of its manifests
-- (_manifests/revisions), each digest once.
--
-- What a rule has used is a counter in RADOS (drv:counter_add), one per
-- rule: a commit adds its bytes with the rule's limit as the guard, in one
-- atomic compare-and-set, before it writes its link, so commits from any
-- number of nodes never pass a limit together. A commit that finds its
-- link there already adds nothing; one that fails after adding gives its
-- bytes back. Deletes do not subtract: a recount (policy/quota.lua: after
-- each gc that deleted, and `regstore quota recount`) sets each counter to
-- what the tree holds, plus what was added while it counted. Between
-- recounts the count is at or above what is stored (a push refused early,
-- never data lost). Overshoot: a recount cannot see a commit that had
-- added its bytes but not yet written its link when the recount read the
-- counter, so a limit may be passed by at most the blobs being committed
-- at that moment (a commit is milliseconds between the two), or by a link
-- write that timed out but landed (its bytes given back), until the next
-- recount.
--
--   quotas.rules(ctx)                          --> { { name, limit } } (cached for ctx.quota_poll s)
--   quotas.charge(ctx, repo, bytes)            --> token, or nil, msg, "denied" (or the store's code)
--   quotas.charge_link(ctx, repo, kind, fields, digest, bytes) --> token: nothing when the link holds digest
--   quotas.refund(ctx, token)                  -- gives a charge back (a commit that failed after it)

local json = require "cjson.safe"
local regstore = require "regstore"
local units = require "regstore.units"
local batch = require "regstore.registry.batch"
local links = require "regstore.registry.links"

local quotas = {}

quotas.POLL = 2 -- seconds a process reuses the rules it read

local NONE = {}

--- The rules in text (the rules file's content), sorted by name; nil and
-- why when it is malformed.
function quotas.decode(text)
  local t = json.decode(text)
  if type(t) ~= "table" or type(t.rules) ~= "table" then
    return nil, "not a quota file (want {\"rules\": {\"<name>\": <bytes>}})"
  end
  local list = {}
  for name, limit in pairs(t.rules) do
    if type(name) ~= "string" or type(limit) ~= "number" or limit < 0 or limit ~= math.floor(limit) then
      return nil, "rule " .. tostring(name) .. ": the limit is not a whole number of bytes"
    end
    list[#list + 1] = { name = name, limit = limit }
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

--- The rules file's text for a list of rules.
function quotas.encode(list)
  local rules = {}
  for _, r in ipairs(list) do rules[r.name] = r.limit end
  if next(rules) == nil then return '{"rules":{}}' end
  return json.encode { rules = rules }
end

--- The rules as stored now: a list ({} when there is no file), or nil,
-- message, code. A file that is not a quota file is an error, never "no
-- quotas".
function quotas.read(ctx)
  local path = ctx.paths:path_for("quota_rules")
  -- shallow: no rules file (the usual case) is an absence at once
  local text, msg, code = batch.get_shallow(ctx.drv, path)
  if not text then
    if code == "not_found" then return {} end
    return nil, msg, code
  end
  local list, why = quotas.decode(text)
  if not list then return nil, "regstore: " .. why .. ": " .. path, "io" end
  return list
end

--- quotas.read, reused for quota_poll seconds (default quotas.POLL).
function quotas.rules(ctx)
  local now, seen = regstore.clock(), ctx.quota_rules
  if seen and now - seen.at < (ctx.quota_poll or quotas.POLL) then return seen.list end
  local list, msg, code = quotas.read(ctx)
  if not list then return nil, msg, code end
  ctx.quota_rules = { at = now, list = list }
  return list
end

--- Whether rule name covers repository repo.
function quotas.covers(name, repo)
  return repo == name or repo:sub(1, #name + 1) == name .. "/"
end

--- The counter that holds what rule name has used under this tree.
function quotas.counter(ctx, name)
  return "quota." .. regstore.sha256():update(ctx.paths.root .. "\n" .. name):hexdigest():sub(1, 40)
end

--- Gives back what token charged (best effort: a failed refund leaves the
-- count high, which the next recount mends).
function quotas.refund(ctx, token)
  if not token or not token.bytes then return end
  for _, c in ipairs(token) do ctx.drv:counter_add(c, -token.bytes) end
end

local function denied(ctx, repo, rule, bytes)
  local used = ctx.drv:counter(quotas.counter(ctx, rule.name))
  return nil, string.format("regstore: repository %s: over the quota of %s (%s): %s used, %s more refused",
    repo, rule.name, units.bytes(rule.limit), used and units.bytes(used) or "?", units.bytes(bytes)), "denied"
end

-- The rules that cover repo, when bytes are to be counted: a list, empty
-- when none do (or bytes is 0); nil, message, code when the rules cannot
-- be read.
local function covering(ctx, repo, bytes)
  if bytes <= 0 then return {} end
  local list, msg, code = quotas.rules(ctx)
  if not list then return nil, msg, code end
  local out = {}
  for _, r in ipairs(list) do
    if quotas.covers(r.name, repo) then out[#out + 1] = r end
  end
  return out
end

local function charge_rules(ctx, repo, rules, bytes)
  local token = { bytes = bytes }
  for _, r in ipairs(rules) do
    local name = quotas.counter(ctx, r.name)
    local ok, msg, code = ctx.drv:counter_add(name, bytes, r.limit)
    if not ok then
      quotas.refund(ctx, token)
      if code == "limit" then return denied(ctx, repo, r, bytes) end
      return nil, msg, code
    end
    token[#token + 1] = name
  end
  return token
end

--- Counts bytes more for repository repo against every rule that covers
-- it: a token for quotas.refund, or nil, message, "denied" when one rule
-- would pass its limit (then nothing is counted).
function quotas.charge(ctx, repo, bytes)
  local rules, msg, code = covering(ctx, repo, bytes)
  if not rules then return nil, msg, code end
  if #rules == 0 then return NONE end
  return charge_rules(ctx, repo, rules, bytes)
end

--- quotas.charge for a link about to be written: nothing when the link
-- holds digest already (a re-push), read only when a rule covers repo.
-- A token from that read has `unlinked` set: the link did not hold digest
-- (links.write need not read it again).
function quotas.charge_link(ctx, repo, kind, fields, digest, bytes)
  local rules, msg, code = covering(ctx, repo, bytes)
  if not rules then return nil, msg, code end
  if #rules == 0 then return NONE end
  local text
  text, msg, code = links.read(ctx, kind, fields)
  if text == digest then return NONE end
  if not text and code ~= "not_found" then return nil, msg, code end
  local token
  token, msg, code = charge_rules(ctx, repo, rules, bytes)
  if token then token.unlinked = true end
  return token, msg, code
end

return quotas
