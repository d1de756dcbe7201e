--- The `regstore` command: maintenance of a registry on RADOS (gc,
-- purge-uploads, migrate, fsck, retention), the registry's repositories (repos, tags,
-- manifests, untag, delete, read-only, quota), the driver's calls on paths (ls, stat,
-- cat, put, rm, mv, walk, du) and `run` of a maintenance script. bin/regstore
-- only calls `require("regstore.cli").main(arg)`; each subcommand is a
-- module regstore.cli.cmd.<name> (its options, usage and run function).
--
-- Exit status: 0 done, 1 failures or findings, 2 usage. Messages go to
-- stderr and never carry a key (connect.scrub); --json prints one JSON
-- document on stdout; progress is drawn on stderr only when it is a terminal.

local args = require "regstore.cli.args"
local connect = require "regstore.cli.connect"
local progress = require "regstore.cli.progress"
local json = require "regstore.cli.json"
local metrics_file = require "regstore.cli.metrics_file"
local clock = require("regstore").clock
local paths = require "regstore.registry.paths"

local cli = {}

cli.COMMANDS = {
  "gc", "purge-uploads", "migrate", "fsck", "retention",
  "repos", "tags", "manifests", "untag", "delete", "read-only", "quota",
  "ls", "stat", "cat", "put", "rm", "mv", "walk", "du", "run",
}

cli.GLOBAL = {
  { "conf", "string", "ceph.conf to read (default $CEPH_CONF, then librados' search)", "FILE" },
  { "id", "string", "cephx client id, as in client.ID (default $REGSTORE_ID, else admin)", "ID" },
  { "keyring", "string", "keyring file (default $REGSTORE_KEYRING, else the conf's)", "FILE" },
  { "pool", "string", "RADOS pool (default $REGSTORE_POOL; required)", "POOL" },
  { "namespace", "string", "RADOS namespace (default $REGSTORE_NAMESPACE, else none)", "NS" },
  { "root", "string", "registry root (default " .. paths.DEFAULT_ROOT .. ")", "PATH" },
  { "quiet", "flag", "no progress on stderr, even on a terminal" },
}

local function load(name)
  return require("regstore.cli.cmd." .. name:gsub("%-", "_"))
end

local function is_command(name)
  for _, c in ipairs(cli.COMMANDS) do
    if c == name then return true end
  end
  return false
end

function cli.help()
  local out = {
    "usage: regstore [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]",
    "",
    "Maintenance of a container registry stored on Ceph RADOS by regstore.",
    "",
    "Commands:",
  }
  for _, name in ipairs(cli.COMMANDS) do
    out[#out + 1] = string.format("  %-14s %s", name, load(name).summary)
  end
  out[#out + 1] = ""
  out[#out + 1] = "Global options (before or after the command):"
  out[#out + 1] = args.describe(cli.GLOBAL)
  out[#out + 1] = ""
  out[#out + 1] = "DURATION is a number with a unit: 0s, 90m, 1h, 7d (or 1h30m)."
  out[#out + 1] = "Exit status: 0 done, 1 failures or findings, 2 usage."
  out[#out + 1] = "`regstore COMMAND --help` describes a command."
  return table.concat(out, "\n") .. "\n"
end

function cli.command_help(cmd)
  local out = { "usage: " .. cmd.usage, "", cmd.summary .. "." }
  if cmd.help then out[#out + 1] = "" out[#out + 1] = cmd.help end
  if cmd.options and #cmd.options > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Options:"
    out[#out + 1] = args.describe(cmd.options)
  end
  out[#out + 1] = ""
  out[#out + 1] = "Global options: --conf --id --keyring --pool --namespace --root --quiet (see regstore --help)."
  return table.concat(out, "\n") .. "\n"
end

local function usage_error(msg, cmd)
  io.stderr:write("regstore: ", connect.scrub(msg), "\n")
  io.stderr:write("usage: ", cmd and cmd.usage or "regstore [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]", "\n")
  io.stderr:write("try 'regstore ", cmd and cmd.name .. " " or "", "--help' for more\n")
  return 2
end

-- The first argument that is not an option nor an option's value.
local function find_command(argv)
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then return argv[i + 1], i + 1 end
    if a:sub(1, 2) == "--" and not a:find("=", 1, true) then
      local name = a:sub(3)
      for _, o in ipairs(cli.GLOBAL) do
        if o[1] == name and o[2] ~= "flag" then i = i + 1 end
      end
    elseif a:sub(1, 1) ~= "-" or a == "-" then
      return a, i
    end
    i = i + 1
  end
  return nil
end

-- What a subcommand's run gets.
local function environment(cmd, opts, pos)
  local env = { cmd = cmd, opts = opts, args = pos, json = opts.json, out = io.stdout }
  env.root = opts.root or paths.DEFAULT_ROOT
  env.conn = connect.options(opts)
  local draw, finish = progress.new(not opts.quiet and not cmd.no_progress and progress.stderr_is_tty())
  env.progress, env.finish = draw, finish
  --- Reports a failure: stderr (and a JSON error document with --json); 1.
  function env.fail(msg, code)
    finish()
    msg = connect.scrub(msg)
    io.stderr:write("regstore: ", (msg:gsub("^regstore: ", "")), "\n")
    if env.json then
      io.stdout:write(json.encode { error = msg, code = code or "io" }, "\n")
    end
    return 1
  end
  function env.emit(doc)
    finish()
    io.stdout:write(json.encode(doc), "\n")
  end
  function env.print(fmt, ...)
    finish()
    io.stdout:write(string.format(fmt, ...), "\n")
  end
  return env
end

--- Runs the command line argv (arg of the script); returns the exit status.
function cli.main(argv)
  argv = argv or {}
  local name, at = find_command(argv)
  if not name then
    for _, a in ipairs(argv) do
      if a == "-h" or a == "--help" then
        io.stdout:write(cli.help())
        return 0
      end
    end
    local opts, msg = args.parse(argv, 1, { cli.GLOBAL })
    if not opts then return usage_error(msg) end
    return usage_error("no command given")
  end
  if not is_command(name) then return usage_error("unknown command " .. string.format("%q", name)) end
  local cmd = load(name)
  local rest = {}
  for i = 1, #argv do
    if i ~= at then rest[#rest + 1] = argv[i] end
  end
  local opts, pos = args.parse(rest, 1, { cli.GLOBAL, cmd.options or {} }, cmd.stop_at)
  if not opts then return usage_error(pos, cmd) end
  if opts.help then
    io.stdout:write(cli.command_help(cmd))
    return 0
  end
  local min, max = cmd.args and cmd.args[1] or 0, cmd.args and cmd.args[2] or 0
  if #pos < min then return usage_error("missing argument: " .. cmd.usage, cmd) end
  if max >= 0 and #pos > max then
    return usage_error("unexpected argument " .. string.format("%q", pos[max + 1]), cmd)
  end
  if opts.root then
    local ok, err = pcall(paths.new, opts.root)
    if not ok then return usage_error("--root: " .. tostring(err):gsub("^.-paths: ", ""), cmd) end
  end
  local env = environment(cmd, opts, pos)
  if opts.metrics_file then
    local start, t0 = os.time(), clock()
    local status = cli.run(cmd, env)
    local ok, msg = metrics_file.write(opts.metrics_file, metrics_file.render(cmd.name:gsub("%-", "_"),
      { start = start, duration = clock() - t0, status = status }, env.report and cmd.metrics(env.report)))
    if not ok then
      io.stderr:write("regstore: ", msg, "\n")
      return status == 0 and 1 or status
    end
    return status
  end
  return cli.run(cmd, env)
end

--- Runs cmd once its arguments are parsed: its check, the connection, its
-- run. Returns the exit status.
function cli.run(cmd, env)
  if cmd.check then
    local ok, msg = cmd.check(env)
    if not ok then return usage_error(msg, cmd) end
  end
  if cmd.connect ~= false then
    local drv, msg, code = connect.driver(env.conn)
    if not drv then
      if code == "usage" then return usage_error(msg, cmd) end
      return env.fail(msg, code)
    end
    env.drv = drv
    env.reg = connect.registry(drv, env.root)
  end
  local ok, status = pcall(cmd.run, env)
  env.finish()
  if env.drv then env.drv:close() end
  if not ok then
    -- a raised error still answers --json with its error document
    if env.json then return env.fail(tostring(status), "internal") end
    io.stderr:write("regstore: ", connect.scrub(tostring(status)), "\n")
    return 1
  end
  return status or 0
end

return cli
