--- Command-line parsing: `--name value`, `--name=value`, flags, `--` to
-- end the options, `-h`/`--help`. Options may come before or after the
-- subcommand; a spec lists each option as { name, kind, help } with kind
-- "flag", "string" or "duration". Errors are usage errors (exit 2): the
-- message says which argument was wrong.

local duration = require "regstore.cli.duration"

local args = {}

local function find(specs, name)
  for _, list in ipairs(specs) do
    for _, o in ipairs(list) do
      if o[1] == name then return o end
    end
  end
  return nil
end

--- Parses argv[from..] against the option lists in specs. stop_at: after
-- this many positionals, everything else is positional (run's script args).
-- Returns options (keys with "-" made "_"), positionals; or nil, message.
function args.parse(argv, from, specs, stop_at)
  local opts, pos = {}, {}
  local i = from
  local only_pos = false
  while i <= #argv do
    local a = argv[i]
    if only_pos or (stop_at and #pos >= stop_at) then
      pos[#pos + 1] = a
    elseif a == "--" then
      only_pos = true
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a:sub(1, 2) == "--" then
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      local o = find(specs, name)
      if not o then return nil, "unknown option --" .. name end
      local key = name:gsub("%-", "_")
      if o[2] == "flag" then
        if value then return nil, "option --" .. name .. " takes no value" end
        opts[key] = true
      else
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, "option --" .. name .. " needs a value" end
        end
        if o[2] == "duration" then
          local secs, why = duration.parse(value)
          if not secs then return nil, "--" .. name .. ": " .. why end
          value = secs
        elseif value == "" then
          return nil, "option --" .. name .. " needs a value"
        end
        opts[key] = value
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option " .. a
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

--- Help text of an option list.
function args.describe(list)
  local out = {}
  for _, o in ipairs(list) do
    local left = "--" .. o[1] .. (o[2] == "flag" and "" or " " .. (o[4] or o[2]:upper()))
    out[#out + 1] = string.format("  %-24s %s", left, o[3])
  end
  return table.concat(out, "\n")
end

return args
