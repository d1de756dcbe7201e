-- Lua 5.4 and LuaJIT both run this code: allow the union of their globals.
std = "max"
max_line_length = 120
-- `local ok, err, code = f()` is the everyday idiom; shadowing them is fine.
ignore = { "421/ok", "421/err", "421/code", "431/ok", "431/err", "431/code" }
files["spec/"] = { std = "+busted" }
files["bench/"] = { std = "max" }
-- Maintenance scripts run by `regstore run`, which gives them these globals.
files["examples/scripts/"] = {
  read_globals = { "drv", "reg", "paths", "regstore", "registry", "policy", "json", "options", "log", "progress" },
}
-- The OpenResty registry runs inside nginx (the ngx API) on LuaJIT.
files["examples/openresty-registry/"] = { std = "ngx_lua" }
-- The nginx library (regstore.nginx, regstore.oci) runs inside nginx too.
files["lua/regstore/nginx.lua"] = { std = "ngx_lua" }
files["lua/regstore/nginx/"] = { std = "ngx_lua" }
files["lua/regstore/oci.lua"] = { std = "ngx_lua" }
files["lua/regstore/oci/"] = { std = "ngx_lua" }
