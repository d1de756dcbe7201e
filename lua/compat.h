/*
 * The few differences between Lua 5.4, Lua 5.1 and LuaJIT (the 5.1 API with
 * some 5.2 additions) that the binding meets; everything else is written
 * against the common API.  One source builds against /usr/include/lua5.4,
 * /usr/include/lua5.1 (what `luarocks --lua-version 5.1` uses by default)
 * and /usr/include/luajit-2.1.
 */
#ifndef REGSTORE_COMPAT_H
#define REGSTORE_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM >= 504
/* Sets the value on top of the stack as the user value of the udata at idx. */
#define rs_setuservalue(L, idx) lua_setiuservalue((L), (idx), 1)
#define rs_newudata(L, sz) lua_newuserdatauv((L), (sz), 1)
#define rs_getuservalue(L, idx) lua_getiuservalue((L), (idx), 1)
#else
#define rs_setuservalue(L, idx) lua_setfenv((L), (idx))
#define rs_newudata(L, sz) lua_newuserdata((L), (sz))
#define rs_getuservalue(L, idx) lua_getfenv((L), (idx))
#endif

#if LUA_VERSION_NUM < 502
#define lua_rawlen lua_objlen

/*
 * luaL_setfuncs from Lua 5.2, as lua-cjson backports it.  Plain Lua 5.1 has
 * no such function; LuaJIT's lauxlib.h declares one, so the backport takes
 * a name of its own and the macro sends both to it.
 */
static void rs_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  int i;
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name != NULL; l++) {
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#undef luaL_setfuncs
#define luaL_setfuncs rs_compat_setfuncs
#endif

/* Integer subtypes exist from 5.3 on: there an integer is checked as such. */
#if LUA_VERSION_NUM >= 503
#define rs_isinteger(L, i) lua_isinteger((L), (i))
#else
#define rs_isinteger(L, i) 0
#endif

#endif
