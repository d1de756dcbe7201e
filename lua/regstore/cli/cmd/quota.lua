--- regstore quota: the registry's quotas (registry/quotas.lua enforces them).
local quota = require "regstore.policy.quota"
local units = require "regstore.units"
local validate = require "regstore.registry.validate"

local function row(env, r)
  local pct = r.limit > 0 and string.format(" (%.0f%%)", 100 * r.used / r.limit) or ""
  env.print("%-40s %12s of %12s%s", r.name, units.bytes(r.used), units.bytes(r.limit), pct)
end

return {
  name = "quota",
  summary = "set, remove, list or recount quotas per repository or name",
  usage = "regstore quota [list | set NAME SIZE | rm NAME | recount] [--json]",
  help = [[
A quota on NAME covers repository NAME and every repository under NAME/:
together they may hold SIZE bytes (the blobs each links and its manifests,
each once per repository). Every serve node refuses an upload commit, a
mount or a manifest put that would pass it (403 DENIED) within its poll
period (2 s). SIZE: bytes, or with a unit (500MB, 10GiB).
set writes the rule and counts what NAME holds now. Deletes free quota
when gc next runs (it recounts) or on `regstore quota recount`.
JSON: {"quotas":[{"name","limit","used"}]}.]],
  options = {
    { "json", "flag", "print one JSON object" },
  },
  args = { 0, 3 },
  check = function(env)
    local a, n = env.args[1] or "list", #env.args
    local want = ({ list = 1, recount = 1, set = 3, rm = 2 })[a]
    if not want then return nil, 'expected list, set, rm or recount, got "' .. a .. '"' end
    if n > want or (n < want and a ~= "list") then return nil, "usage: " .. "regstore quota " .. a
      .. ({ list = "", recount = "", set = " NAME SIZE", rm = " NAME" })[a] end
    if a == "set" or a == "rm" then
      local ok, msg = validate.name(env.args[2])
      if not ok then return nil, tostring(msg):gsub("^regstore: ", "") end
    end
    if a == "set" then
      local bytes, why = units.parse_bytes(env.args[3])
      if not bytes then return nil, why end
      env.bytes = bytes
    end
    return true
  end,
  run = function(env)
    local a = env.args[1] or "list"
    local list, msg, code
    if a == "set" then
      local r
      r, msg, code = quota.set(env.reg, env.args[2], env.bytes)
      list = r and { r }
    elseif a == "rm" then
      local ok
      ok, msg, code = quota.remove(env.reg, env.args[2])
      if ok then list, msg, code = quota.list(env.reg) end
    elseif a == "recount" then
      list, msg, code = quota.recount(env.reg)
    else
      list, msg, code = quota.list(env.reg)
    end
    if not list then return env.fail(msg, code) end
    if env.json then
      local out = {}
      for i, r in ipairs(list) do out[i] = { name = r.name, limit = r.limit, used = r.used } end
      env.emit { quotas = out }
    elseif #list == 0 then
      env.print("no quotas")
    else
      for _, r in ipairs(list) do row(env, r) end
    end
    return 0
  end,
}
