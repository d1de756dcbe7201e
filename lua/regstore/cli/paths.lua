--- Path arguments of the driver subcommands: an absolute driver path, or a
-- path relative to the registry root (`ls repositories` lists
-- <root>/repositories).

local argpaths = {}

function argpaths.resolve(env, p)
  if p == nil then return "/" end
  if p:sub(1, 1) == "/" then return p end
  if p == "." then return env.root end
  return env.root .. "/" .. p:gsub("/+$", "")
end

return argpaths
