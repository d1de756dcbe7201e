--- regstore read-only: the registry-wide switch every serve node polls.
local read_only = require "regstore.policy.read_only"

return {
  name = "read-only",
  summary = "turn the registry's read-only mode on or off, or show it",
  usage = "regstore read-only [on [--reason TEXT] | off] [--json]",
  help = [[
on: every serve node over this registry answers pushes and deletes with
405 UNSUPPORTED and the reason (pulls go on) within its poll period, until
off. Without on or off, shows the state. Exit 0 in every case.
JSON: {"read_only":false} or {"read_only":true,"reason","since","by"}.]],
  options = {
    { "reason", "string", "the reason clients are told", "TEXT" },
    { "json", "flag", "print one JSON object" },
  },
  args = { 0, 1 },
  check = function(env)
    local a = env.args[1]
    if a ~= nil and a ~= "on" and a ~= "off" then return nil, 'expected "on" or "off", got ' .. a end
    if env.opts.reason and a ~= "on" then return nil, "--reason goes with on" end
    return true
  end,
  run = function(env)
    local a = env.args[1]
    local ok, msg, code
    if a == "on" then
      local host = io.popen("hostname 2>/dev/null")
      local by = host and host:read("l") or nil
      if host then host:close() end
      ok, msg, code = read_only.set(env.reg, env.opts.reason, by)
    elseif a == "off" then
      ok, msg, code = read_only.clear(env.reg)
    end
    if a and not ok then return env.fail(msg, code) end
    local state
    state, msg, code = read_only.get(env.reg)
    if state == nil then return env.fail(msg, code) end
    if env.json then
      local doc = { read_only = state and true or false }
      if state then doc.reason, doc.since, doc.by = state.reason, state.since, state.by end
      env.emit(doc)
    elseif state then
      env.print("read-only since %s%s: %s", state.since and os.date("!%Y-%m-%dT%H:%M:%SZ", state.since) or "?",
        state.by and " (by " .. state.by .. ")" or "", state.reason)
    else
      env.print("read-write")
    end
    return 0
  end,
}
