rockspec_format = "3.0"
package = "regstore"
version = "scm-1"
source = {
  -- Where the project is published; `luarocks make` in a clone never fetches it.
  url = "git+https://github.com/regstore/regstore.git",
}
description = {
  summary = "Container registry storage on Ceph RADOS: a C engine with a Lua face",
  detailed = [[
A virtual file system on RADOS (striped blobs, omap directories, atomic
commits and moves, walk, streaming SHA-256) implementing distribution's
storage driver contract, plus the registry storage layer in Lua.
]],
  license = "Apache-2.0",
}
dependencies = {
  "lua >= 5.1, <= 5.4",
  "lua-cjson",
  "luafilesystem",   -- migrate's filesystem trees (Debian: lua-filesystem)
}
external_dependencies = {
  RADOS = { header = "rados/librados.h", library = "rados" },
  UUID = { header = "uuid/uuid.h", library = "uuid" },
  CRYPTO = { header = "openssl/sha.h", library = "crypto" },
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    INSTALL_CMOD = "$(LIBDIR)",
    INSTALL_LMOD = "$(LUADIR)",
  },
  -- the `regstore` command (a Lua 5.4 script; LuaRocks wraps it in the tree's bin/),
  -- and `regstore-serve`, the example registry on nginx (a shell script that
  -- finds the tree's modules and its nginx.conf template from its own place)
  install = { bin = { regstore = "bin/regstore", ["regstore-serve"] = "examples/openresty-registry/serve" } },
}
test_dependencies = { "busted" }
test = { type = "busted" }
