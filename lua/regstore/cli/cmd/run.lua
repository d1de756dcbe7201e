--- regstore run: a maintenance script with a connected driver and registry.
local regstore = require "regstore"
local registry = require "regstore.registry"
local json = require "cjson.safe"

local unpack = table.unpack or unpack

-- A chunk of source text running in env (Lua 5.4's load, 5.1's setfenv).
local function compile(source, name, env)
  if setfenv and loadstring then
    local chunk, err = loadstring(source, name)
    if chunk then setfenv(chunk, env) end
    return chunk, err
  end
  return load(source, name, "t", env)
end

local help = [[
Runs SCRIPT.lua (Lua 5.4) in an environment that reads through to the
globals and adds:
  drv       the connected driver (regstore.connect with the global options)
  reg       regstore.registry.new(drv, { root = --root })
  paths     the registry's path mapper: paths:path_for(kind, fields)
            (regstore.registry.paths draws the tree)
  regstore  require "regstore"           registry  require "regstore.registry"
  policy    { gc, purge_uploads, migrate, fsck } (the regstore.policy modules)
  json      require "cjson.safe"
  options   { pool, namespace, root, conf, id, keyring } (paths, no secret)
  arg       arg[0] = SCRIPT, arg[1..] = ARGS (everything after SCRIPT)
  log       log(fmt, ...) writes a line to stderr
  progress  progress(phase, counts): the command's progress line
The script's return value is the exit status: nil or true 0, false 1, a
number itself; an error prints its message and exits 1.]]

return {
  name = "run",
  summary = "run a maintenance script with a connected driver and registry",
  usage = "regstore run SCRIPT.lua [ARGS...]",
  help = help,
  args = { 1, -1 },
  stop_at = 1,
  run = function(env)
    local file = env.args[1]
    local f, err = io.open(file, "rb")
    if not f then return env.fail(err, "not_found") end
    local source = f:read("*a")
    f:close()
    local script_arg = { [0] = file }
    for i = 2, #env.args do script_arg[i - 1] = env.args[i] end
    local c = env.conn
    local sandbox = setmetatable({
      drv = env.drv, reg = env.reg, regstore = regstore, registry = registry, json = json,
      paths = require("regstore.registry.paths").new(env.root),
      policy = {
        gc = require "regstore.policy.gc",
        purge_uploads = require "regstore.policy.purge_uploads",
        migrate = require "regstore.policy.migrate",
        fsck = require "regstore.policy.fsck",
      },
      options = { pool = c.pool, namespace = c.namespace, root = env.root, conf = c.conf, id = c.id,
        keyring = c.keyring },
      arg = script_arg,
      log = function(fmt, ...)
        env.finish()
        io.stderr:write(string.format(fmt, ...), "\n")
      end,
      progress = env.progress,
    }, { __index = _G })
    local chunk
    chunk, err = compile(source, "@" .. file, sandbox)
    if not chunk then return env.fail(err, "invalid") end
    local ok, result = xpcall(function() return chunk(unpack(script_arg)) end, debug.traceback)
    if not ok then return env.fail(result, "script") end
    if result == nil or result == true then return 0 end
    if result == false then return 1 end
    if type(result) == "number" and result == math.floor(result) then return result end
    return 0
  end,
}
