/*
 * The few differences between Lua 5.4 and LuaJIT (Lua 5.1 API) that the
 * binding meets; everything else is written against the common API.
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
#endif

#endif
