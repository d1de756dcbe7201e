--- Retention as configuration: which tags each repository keeps, from a
-- policy file, then gc for what the removed tags alone kept.
--
--   local retention = require "regstore.policy.retention"
--   local policy = assert(retention.load(json_text))
--   retention.run(reg_or_drv, policy, { dry_run = false, grace = 3600, progress = fn })
--   --> { dry_run, tags = { { repository, tag, digest, rule } }, kept = N,
--         manifests = { { repository, digest } }, blobs = { digests }, bytes = N,
--         errors = { messages } }
--
-- A policy (JSON) is a list of rules; each repository takes the FIRST rule
-- whose `repositories` matches its name (none: the repository is left
-- alone). A rule judges the tags matching its `tags` (default: all) and
-- keeps, of those, every tag that meets one of its keep conditions:
-- `keep_newest` N (the N most recently pointed), `keep_younger_than`
-- DURATION (pointed less long ago), `keep_matching` (a pattern). A rule
-- needs at least one keep condition (a rule that keeps nothing must say
-- "keep_newest": 0). Patterns are PCRE2 regular expressions (lua-rex-pcre2),
-- unanchored as grep's: "^v\\d+\\." for release tags.
--
-- Protocol (policies are protocols: docs/policies.md):
--   1. Decide, by reads only: each repository's tags, each judged tag's
--      digest and the time it was last pointed (its current link's
--      modification time). A read that fails stops the run before anything
--      changes (nil, message, code): a tag that could not be read is never
--      taken for absent, nor for old.
--   2. Untag, each tag read again just before: a tag that now points at
--      another manifest (re-tagged meanwhile) or is gone is left alone; one
--      whose read fails is left alone and reported.
--   3. gc with delete_untagged, `only` the manifests the removed tags
--      pointed at: gc's own rules keep what anything still needs (another
--      tag, a kept index, a kept referrer's subject, a re-tag racing it) and
--      everything gc guarantees under read errors, races and kills holds.
-- A kill between 2 and 3 leaves tags removed and manifests untagged: the
-- next run's gc (or `regstore gc --delete-untagged`) deletes them then.
-- A dry run reads and lists the tags it would remove; what gc would then
-- delete is gc's to judge once they are gone, so it is not listed.

local context = require "regstore.policy.context"
local duration = require "regstore.cli.duration"
local gc = require "regstore.policy.gc"
local json = require "cjson.safe"

local retention = {}

local RULE_KEYS = {
  repositories = "string", tags = "string", keep_newest = "number",
  keep_younger_than = "string", keep_matching = "string",
}

-- A compiled PCRE2 pattern, or nil, why.
local function compile(pattern, where)
  local ok, rex = pcall(require, "rex_pcre2")
  if not ok then
    return nil, "retention: patterns need lua-rex-pcre2 (Debian: apt install lua-rex-pcre2)"
  end
  local okc, re = pcall(rex.new, pattern)
  if not okc then return nil, string.format("%s: bad pattern %q: %s", where, pattern, tostring(re)) end
  return re
end

local function check_rule(raw, i)
  local where = string.format("rule %d", i)
  if type(raw) ~= "table" then return nil, where .. ": not an object" end
  for k, v in pairs(raw) do
    local want = RULE_KEYS[k]
    if not want then return nil, string.format("%s: unknown key %q", where, tostring(k)) end
    if type(v) ~= want then return nil, string.format("%s: %s must be a %s", where, k, want) end
  end
  local rule = { index = i, keep_newest = raw.keep_newest }
  if rule.keep_newest and (rule.keep_newest < 0 or rule.keep_newest ~= math.floor(rule.keep_newest)) then
    return nil, where .. ": keep_newest must be a whole number, 0 or more"
  end
  if raw.keep_younger_than then
    local secs, why = duration.parse(raw.keep_younger_than)
    if not secs then return nil, where .. ": keep_younger_than: " .. why end
    rule.keep_younger_than = secs
  end
  if not (raw.keep_newest or raw.keep_younger_than or raw.keep_matching) then
    return nil, where .. ": needs keep_newest, keep_younger_than or keep_matching (\"keep_newest\": 0 keeps none)"
  end
  for _, k in ipairs { "repositories", "tags", "keep_matching" } do
    if raw[k] then
      local re, why = compile(raw[k], where .. ": " .. k)
      if not re then return nil, why end
      rule[k] = re
    end
  end
  rule.text = raw
  return rule
end

--- The policy in text (JSON: { "rules": [ rule, ... ] }), checked and
-- compiled; or nil, why.
function retention.load(text)
  if type(text) ~= "string" then error("bad argument #1 to 'load' (string expected)", 2) end
  local doc, err = json.decode(text)
  if type(doc) ~= "table" then return nil, "policy: not a JSON object" .. (err and " (" .. err .. ")" or "") end
  for k in pairs(doc) do
    if k ~= "rules" then return nil, string.format("policy: unknown key %q", tostring(k)) end
  end
  if type(doc.rules) ~= "table" or #doc.rules == 0 then return nil, "policy: rules must be a non-empty list" end
  local policy = { rules = {} }
  for i, raw in ipairs(doc.rules) do
    local rule, why = check_rule(raw, i)
    if not rule then return nil, "policy: " .. why end
    policy.rules[i] = rule
  end
  return policy
end

local function matches(re, s) return re == nil or re:find(s) ~= nil end

local function rule_for(policy, name)
  for _, r in ipairs(policy.rules) do
    if matches(r.repositories, name) then return r end
  end
  return nil
end

-- The judged tags of repository name that the rule does not keep:
-- { { tag, digest } }, or nil, message, code.
local function doomed(ctx, reg, name, rule)
  local repo = reg:repository(name)
  local tags, msg, code = repo.tags:list()
  if not tags then
    if code == "name_unknown" then return {} end -- deleted since the catalog was read
    return nil, msg, code
  end
  local judged = {}
  for _, t in ipairs(tags) do
    if matches(rule.tags, t) and not (rule.keep_matching and matches(rule.keep_matching, t)) then
      local d
      d, msg, code = repo.tags:get(t)
      if d then
        local info
        info, msg, code = ctx.drv:stat(ctx.paths:path_for("tag_current_link", { name = name, tag = t }))
        if not info then return nil, msg, code end
        judged[#judged + 1] = { tag = t, digest = d, time = info.modtime }
      elseif code ~= "tag_unknown" then
        return nil, msg, code
      end
    end
  end
  table.sort(judged, function(a, b)
    if a.time ~= b.time then return a.time > b.time end
    return a.tag > b.tag
  end)
  local out = {}
  for i, t in ipairs(judged) do
    local keep = (rule.keep_newest and i <= rule.keep_newest)
      or (rule.keep_younger_than and ctx.now - t.time < rule.keep_younger_than)
    if not keep then out[#out + 1] = t end
  end
  return out, #judged - #out
end

-- Removes tag t of repository name if it still points at t.digest; true
-- when removed, false when left alone (re-tagged or gone), nil, message
-- when a read or the removal failed.
local function untag(reg, name, t)
  local tags = reg:repository(name).tags
  local now, msg, code = tags:get(t.tag)
  if not now then
    if code == "tag_unknown" then return false end
    return nil, msg
  end
  if now ~= t.digest then return false end
  local ok
  ok, msg, code = tags:untag(t.tag)
  if not ok then
    if code == "tag_unknown" then return false end
    return nil, msg
  end
  return true
end

--- Applies policy (from retention.load) to the registry; see the top.
function retention.run(target, policy, opts)
  local ctx = context.of(target, opts, "run")
  if type(policy) ~= "table" or type(policy.rules) ~= "table" then
    error("bad argument #2 to 'run' (a policy from retention.load expected)", 2)
  end
  opts = opts or {}
  local reg = target._ctx and target or require("regstore.registry").new(ctx.drv, { root = ctx.root })
  local tick = context.progress(opts)
  local dry = opts.dry_run and true or false
  local report = { dry_run = dry, tags = {}, kept = 0, manifests = {}, blobs = {}, bytes = 0, errors = {} }

  -- 1. decide, by reads only
  local names, msg, code = reg:repositories()
  if not names then return nil, msg, code end
  local plan = {}
  for i, name in ipairs(names) do
    local rule = rule_for(policy, name)
    if rule then
      local out, kept
      out, kept, code = doomed(ctx, reg, name, rule)
      if not out then return nil, kept, code end
      report.kept = report.kept + kept
      for _, t in ipairs(out) do
        plan[#plan + 1] = { repository = name, tag = t.tag, digest = t.digest, rule = rule.index }
      end
    end
    tick("decide", { done = i, total = #names })
  end

  -- 2. untag, each tag read again first
  local only = {}
  for i, t in ipairs(plan) do
    local done
    if dry then
      done = true
    else
      done, msg = untag(reg, t.repository, t)
      if done == nil then report.errors[#report.errors + 1] = msg end
    end
    if done then
      report.tags[#report.tags + 1] = t
      only[t.repository] = only[t.repository] or {}
      only[t.repository][t.digest] = true
    else
      report.kept = report.kept + 1
    end
    tick("untag", { done = i, total = #plan })
  end

  -- 3. gc, limited to what the removed tags pointed at (a dry run stops
  -- here: gc judges only after the tags are gone)
  if dry or next(only) == nil then return report end
  local r
  r, msg, code = gc.run(target, {
    dry_run = dry, grace = opts.grace, root = opts.root, delete_untagged = true, only = only,
    progress = opts.progress, now = opts.now,
  })
  if not r then return nil, msg, code end
  report.manifests, report.blobs, report.bytes = r.manifests, r.blobs, r.bytes
  for _, e in ipairs(r.errors) do report.errors[#report.errors + 1] = e end
  return report
end

return retention
