/*
 * regstore.core: the Lua face of the engine, one source for Lua 5.4 and
 * LuaJIT.  Storage failures return nil, message, code; misuse raises.
 * Every handle is a userdata born closed, with one finaliser for __gc and
 * __close; readers and writers keep their driver (and hash) alive through
 * their user value.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "regstore.h"

#define DRIVER "regstore.driver"
#define WRITER "regstore.writer"
#define READER "regstore.reader"
#define SHA256 "regstore.sha256"
#define LOT "regstore.lot"
#define BYTES "regstore.bytes"
#define BATCH "regstore.batch"

typedef struct { rs_conn *c; } Driver;
enum { W_OPEN, W_DONE, W_CLOSED };
typedef struct { rs_writer *w; int state; } Writer;
typedef struct { rs_reader *r; } Reader;
typedef struct { rs_sha256 *h; } Hash;

/* ---------------------------------------------------------------- helpers */

static int push_failure(lua_State *L, const rs_status *st) {
  lua_pushnil(L);
  lua_pushstring(L, st->msg);
  lua_pushstring(L, rs_code_name(st->code));
  return 3;
}

static int push_result(lua_State *L, int rc, const rs_status *st) {
  if (rc < 0) return push_failure(L, st);
  lua_pushboolean(L, 1);
  return 1;
}

/* A string argument, strictly: numbers are not paths. */
static const char *check_string(lua_State *L, int i, size_t *len) {
  if (lua_type(L, i) != LUA_TSTRING)
    luaL_argerror(L, i, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, i)));
  return lua_tolstring(L, i, len);
}

/* A path argument; NULL (after pushing the failure) when it holds a NUL. */
static const char *check_path(lua_State *L, int i) {
  size_t len;
  const char *p = check_string(L, i, &len);
  if (strlen(p) != len) return NULL;
  return p;
}

static int push_bad_path(lua_State *L, int i) {
  size_t len;
  const char *p = lua_tolstring(L, i, &len);
  lua_pushnil(L);
  lua_pushfstring(L, "regstore: invalid path: %s", p); /* cut at the NUL */
  lua_pushstring(L, "invalid_path");
  return 3;
}

#define PATH_ARG(var, i) \
  const char *var = check_path(L, i); \
  if (!var) return push_bad_path(L, i)

/*
 * For calls with more arguments: a path with a NUL is answered only after
 * every argument's type was checked (a wrong type raises, whatever the
 * path); BAD_PATH_CHECK then returns the invalid_path failure.
 */
#define PATH_ARG_LATER(var, i) const char *var = check_path(L, i)
#define BAD_PATH_CHECK(var, i) \
  if (!var) return push_bad_path(L, i)

/* A number argument, strictly: strings are not numbers here. */
static void check_number(lua_State *L, int i) {
  if (lua_type(L, i) != LUA_TNUMBER)
    luaL_argerror(L, i, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, i)));
}

#define TWO_POW_63 9223372036854775808.0

/*
 * The number at i as an unsigned 64-bit value when it is a whole number in
 * [0, 2^63): 0, else -1 (NaN, infinities, fractions, negatives, and what a
 * uint64_t conversion would wrap or make undefined).  Lua 5.4 integers are
 * taken as they are, never through a double.
 */
static int to_offset(lua_State *L, int i, uint64_t *out) {
  double v;
  if (rs_isinteger(L, i)) {
    lua_Integer n = lua_tointeger(L, i);
    if (n < 0) return -1;
    *out = (uint64_t)n;
    return 0;
  }
  v = lua_tonumber(L, i);
  if (!(v >= 0 && v < TWO_POW_63) || v != floor(v)) return -1;
  *out = (uint64_t)v;
  return 0;
}

/* A count: a whole number, 0 or more; from 2^63 on it saturates. */
static int to_count(lua_State *L, int i, uint64_t *out) {
  double v;
  if (to_offset(L, i, out) == 0) return 0;
  v = lua_tonumber(L, i);
  if (rs_isinteger(L, i) || !(v >= TWO_POW_63 && isfinite(v) && v == floor(v))) return -1;
  *out = UINT64_MAX;
  return 0;
}

/* The number at i as text for a message: integers in full, else %.17g. */
static const char *number_text(lua_State *L, int i, char *buf, size_t len) {
  double v;
  if (rs_isinteger(L, i)) {
    snprintf(buf, len, "%lld", (long long)lua_tointeger(L, i));
    return buf;
  }
  v = lua_tonumber(L, i);
  if (isnan(v)) snprintf(buf, len, "nan");
  else if (v == floor(v) && fabs(v) < 1e21) snprintf(buf, len, "%.0f", v);
  else {
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
  }
  return buf;
}

static int opt_bool(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return 0;
  if (lua_type(L, i) != LUA_TBOOLEAN)
    luaL_argerror(L, i, lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, i)));
  return lua_toboolean(L, i);
}

/* { replace = false } at index i: the engine's RS_NOREPLACE. */
static int opt_replace_flags(lua_State *L, int i) {
  int flags = 0;
  if (lua_isnoneornil(L, i)) return 0;
  luaL_checktype(L, i, LUA_TTABLE);
  lua_getfield(L, i, "replace");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) luaL_argerror(L, i, "replace must be a boolean");
    if (!lua_toboolean(L, -1)) flags |= RS_NOREPLACE;
  }
  lua_pop(L, 1);
  return flags;
}

static Driver *check_driver(lua_State *L) {
  Driver *d = luaL_checkudata(L, 1, DRIVER);
  if (!d->c) luaL_error(L, "regstore: driver is closed");
  return d;
}

/* Creates a userdata of the given class whose user value is {owners...}. */
static void *new_handle(lua_State *L, size_t size, const char *cls, int nowners) {
  void *p = rs_newudata(L, size);
  int i;
  memset(p, 0, size);
  luaL_getmetatable(L, cls);
  lua_setmetatable(L, -2);
  lua_createtable(L, nowners, 0);
  for (i = 1; i <= nowners; i++) {
    lua_pushvalue(L, -2 - nowners);
    lua_rawseti(L, -2, i);
  }
  rs_setuservalue(L, -2);
  return p;
}

static void set_methods(lua_State *L, const char *cls, const luaL_Reg *meta,
                        const luaL_Reg *methods) {
  luaL_newmetatable(L, cls);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, cls);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

/* Whether value i is a userdata of class cls (luaL_testudata, which plain
 * Lua 5.1 lacks). */
static int is_udata(lua_State *L, int i, const char *cls) {
  int same;
  if (!lua_touserdata(L, i) || !lua_getmetatable(L, i)) return 0;
  luaL_getmetatable(L, cls);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* ------------------------------------------------------------------ module */

/*
 * The string stays on the stack until l_connect returns: an __index
 * metamethod may hand out a string that nothing else holds, and the next
 * field's metamethod may run the collector.
 */
static const char *opt_field_string(lua_State *L, const char *key) {
  const char *s = NULL;
  lua_getfield(L, 1, key);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "connect: '%s' must be a string", key);
    s = lua_tostring(L, -1);
  }
  return s;
}

static double opt_field_number(lua_State *L, const char *key, double dflt) {
  double v = dflt;
  lua_getfield(L, 1, key);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "connect: '%s' must be a number", key);
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* Longest timeout: librados and the engine's deadlines take whole seconds. */
#define MAX_TIMEOUT 2147483647.0

static int l_connect(lua_State *L) {
  rs_options o;
  rs_status st;
  Driver *d;
  double chunk, window;
  int rc;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(&o, 0, sizeof o);
  o.pool = opt_field_string(L, "pool");
  if (!o.pool) luaL_argerror(L, 1, "'pool' is required");
  o.conf = opt_field_string(L, "conf");
  o.id = opt_field_string(L, "id");
  o.keyring = opt_field_string(L, "keyring");
  o.namespace_ = opt_field_string(L, "namespace");
  chunk = opt_field_number(L, "chunk_size", RS_DEFAULT_CHUNK_SIZE);
  window = opt_field_number(L, "window", RS_DEFAULT_WINDOW);
  o.timeout = opt_field_number(L, "timeout", RS_DEFAULT_TIMEOUT);
  /* Written so that NaN fails every test. */
  if (!(chunk >= 4096 && chunk <= RS_MAX_CHUNK_SIZE && chunk == floor(chunk)))
    luaL_argerror(L, 1, "'chunk_size' must be an integer from 4096 to 64 MiB");
  if (!(window >= 1 && window <= 256 && window == floor(window)))
    luaL_argerror(L, 1, "'window' must be an integer from 1 to 256");
  if (!(o.timeout > 0 && o.timeout <= MAX_TIMEOUT))
    luaL_argerror(L, 1, "'timeout' must be a number of seconds, above 0 and at most 2^31 - 1");
  o.chunk_size = (uint32_t)chunk;
  o.window = (int)window;
  d = new_handle(L, sizeof *d, DRIVER, 0);
  rc = rs_connect(&o, &d->c, &st);
  if (rc < 0) return push_failure(L, &st);
  return 1;
}

/* Monotonic seconds, for timing maintenance runs and benchmarks. */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* Wall-clock seconds with their fraction. os.time() reads the coarse clock,
 * which can lag the one librados stamps an object's mtime with by a tick: a
 * file written just before os.time() may look a second in its future. */
static int l_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* sleep(secs): blocks the calling thread (a maintenance run's rate limit;
 * never for nginx's event loop, which has ngx.sleep). */
static int l_sleep(lua_State *L) {
  lua_Number secs = luaL_checknumber(L, 1);
  struct timespec ts;
  if (!(secs >= 0 && secs <= 86400))
    return luaL_argerror(L, 1, "must be a number of seconds from 0 to 86400");
  ts.tv_sec = (time_t)secs;
  ts.tv_nsec = (long)((secs - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return 0;
}

static int l_uuid(lua_State *L) {
  char u[37];
  rs_uuid(u);
  lua_pushstring(L, u);
  return 1;
}

/* ------------------------------------------------------------------ driver */

/*
 * Closing marks the driver closed at once (every later method call raises)
 * and drops its hold on the connection: readers and writers opened before
 * go on working, and a walk in progress keeps the connection until it ends.
 */
static int d_close(lua_State *L) {
  Driver *d = check_driver(L);
  rs_close(d->c);
  d->c = NULL;
  lua_pushboolean(L, 1);
  return 1;
}

static int d_put_content(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG_LATER(path, 2);
  size_t len;
  const char *data = check_string(L, 3, &len);
  int flags = opt_replace_flags(L, 4);
  rs_status st;
  BAD_PATH_CHECK(path, 2);
  return push_result(L, rs_put(d->c, path, data, len, flags, &st), &st);
}

static int d_get_content(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG(path, 2);
  rs_status st;
  char *data;
  size_t len;
  if (rs_get(d->c, path, &data, &len, &st) < 0) return push_failure(L, &st);
  lua_pushlstring(L, data, len);
  free(data);
  return 1;
}

static void push_stat(lua_State *L, const char *path, const rs_stat *s) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  lua_pushinteger(L, (lua_Integer)s->size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)s->mtime);
  lua_setfield(L, -2, "modtime");
  lua_pushboolean(L, s->is_dir);
  lua_setfield(L, -2, "is_dir");
}

static int d_stat(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG(path, 2);
  rs_status st;
  rs_stat s;
  if (rs_stat_path(d->c, path, &s, &st) < 0) return push_failure(L, &st);
  push_stat(L, path, &s);
  return 1;
}

/* list(path [, { after = name, n = N }]): after and n page the listing. */
static int d_list(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG_LATER(path, 2);
  int root = path && strcmp(path, "/") == 0;
  const char *after = NULL;
  size_t max = 0;
  rs_status st;
  char **names;
  size_t n, i;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "after");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TSTRING) return luaL_argerror(L, 3, "after must be a string");
      after = lua_tostring(L, -1); /* kept on the stack: __index may make it */
    }
    lua_getfield(L, 3, "n");
    if (!lua_isnil(L, -1)) {
      uint64_t v;
      if (lua_type(L, -1) != LUA_TNUMBER) return luaL_argerror(L, 3, "n must be a number");
      if (to_count(L, -1, &v) < 0) return luaL_argerror(L, 3, "n must be a whole number, 0 or more");
      if (v == 0 && path) {
        lua_newtable(L);
        return 1;
      }
      /* No page is that long: beyond 2^53 it means the whole listing (0). */
      max = v < ((uint64_t)1 << 53) ? (size_t)v : 0;
    }
  }
  BAD_PATH_CHECK(path, 2);
  if (rs_list_page(d->c, path, after, max, &names, &n, &st) < 0)
    return push_failure(L, &st);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_pushfstring(L, "%s/%s", root ? "" : path, names[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  rs_names_free(names, n);
  return 1;
}

static int d_move(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG_LATER(src, 2);
  PATH_ARG_LATER(dst, 3);
  int flags = opt_replace_flags(L, 4);
  BAD_PATH_CHECK(src, 2);
  BAD_PATH_CHECK(dst, 3);
  rs_status st;
  return push_result(L, rs_move(d->c, src, dst, flags, &st), &st);
}

static int d_delete(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG(path, 2);
  rs_status st;
  return push_result(L, rs_delete(d->c, path, &st), &st);
}

/* ------------------------------------------------------------------ leases */

/* A lease call's result: a malformed name, owner or duration raises. */
static int lease_result(lua_State *L, int rc, const rs_status *st) {
  if (rc == -EINVAL) return luaL_error(L, "%s", st->msg);
  return push_result(L, rc, st);
}

/* lease(name, owner, secs): takes or renews; nil, msg, "busy" when held. */
static int d_lease(lua_State *L) {
  Driver *d = check_driver(L);
  const char *name = check_string(L, 2, NULL), *owner = check_string(L, 3, NULL);
  lua_Number secs;
  rs_status st;
  check_number(L, 4);
  secs = lua_tonumber(L, 4);
  return lease_result(L, rs_lease_take(d->c, name, owner, (double)secs, &st), &st);
}

static int d_release(lua_State *L) {
  Driver *d = check_driver(L);
  const char *name = check_string(L, 2, NULL), *owner = check_string(L, 3, NULL);
  rs_status st;
  return lease_result(L, rs_lease_drop(d->c, name, owner, &st), &st);
}

/* lease_holder(name): the holder's owner name, or false. */
static int d_lease_holder(lua_State *L) {
  Driver *d = check_driver(L);
  const char *name = check_string(L, 2, NULL);
  char owner[256];
  rs_status st;
  int rc = rs_lease_holder(d->c, name, owner, sizeof owner, &st);
  if (rc < 0) return lease_result(L, rc, &st);
  if (owner[0]) lua_pushstring(L, owner);
  else lua_pushboolean(L, 0);
  return 1;
}

/* ---------------------------------------------------------------- counters */

/* The whole number at i as an int64_t; raises for anything else. */
static int64_t check_int64(lua_State *L, int i) {
  double v;
  check_number(L, i);
  if (rs_isinteger(L, i)) return (int64_t)lua_tointeger(L, i);
  v = lua_tonumber(L, i);
  if (!(v > -TWO_POW_63 && v < TWO_POW_63) || v != floor(v))
    luaL_argerror(L, i, "whole number expected");
  return (int64_t)v;
}

/* A counter call's result: a malformed name raises. */
static int counter_result(lua_State *L, int rc, const rs_status *st, const int64_t *value) {
  if (rc == -EINVAL) return luaL_error(L, "%s", st->msg);
  if (rc < 0) return push_failure(L, st);
  lua_pushinteger(L, (lua_Integer)*value);
  return 1;
}

/* counter(name): its value, 0 when it was never set. */
static int d_counter(lua_State *L) {
  Driver *d = check_driver(L);
  const char *name = check_string(L, 2, NULL);
  int64_t value = 0;
  rs_status st;
  return counter_result(L, rs_counter_get(d->c, name, &value, &st), &st, &value);
}

/* counter_add(name, delta [, limit]): the new value; nil, msg, "limit". */
static int d_counter_add(lua_State *L) {
  Driver *d = check_driver(L);
  const char *name = check_string(L, 2, NULL);
  int64_t delta = check_int64(L, 3), limit = -1, value = 0;
  rs_status st;
  if (!lua_isnoneornil(L, 4)) {
    limit = check_int64(L, 4);
    if (limit < 0) luaL_argerror(L, 4, "limit must be 0 or more");
  }
  return counter_result(L, rs_counter_add(d->c, name, delta, limit, &value, &st), &st, &value);
}

/*
 * Batch calls: get_many, put_many, stat_many.  The items live in a userdata
 * whose finaliser frees them and any content not handed to Lua yet, so
 * that an error raised while the results are built (out of memory) leaks
 * nothing.  Results: an array with one entry per path (the content, true,
 * or the stat table; false for a failed item) and two tables holding, at
 * the index of each failed item, its message and its code: item i is
 * `res[i] or nil, msgs[i], codes[i]`, the single call's nil, msg, code.
 */
typedef struct {
  rs_batch_item *items;
  size_t n;
  unsigned char *nul; /* paths holding a NUL: invalid_path without a call */
} Batch;

static void batch_free(Batch *b) {
  size_t i;
  if (!b->items) return;
  for (i = 0; i < b->n; i++) {
    free(b->items[i].content);
    if (b->items[i].names) rs_names_free(b->items[i].names, b->items[i].count);
  }
  free(b->items);
  free(b->nul);
  b->items = NULL;
  b->nul = NULL;
  b->n = 0;
}

static int b_gc(lua_State *L) {
  batch_free(luaL_checkudata(L, 1, BATCH));
  return 0;
}

/* Each element of the array at index i must be a string; raises otherwise. */
static const char *batch_string(lua_State *L, int i, size_t k, const char *what,
                                size_t *len) {
  const char *s;
  lua_rawgeti(L, i, (int)k);
  if (lua_type(L, -1) != LUA_TSTRING) {
    const char *msg = lua_pushfstring(L, "%s[%d] must be a string, got %s", what, (int)k,
                                      luaL_typename(L, -2));
    luaL_argerror(L, i, msg);
  }
  s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* the table holds it while the call runs */
  return s;
}

/* opts at index i: { window = 1..256 } (and replace, for put_many). */
static int batch_window(lua_State *L, int i) {
  double w;
  if (lua_isnoneornil(L, i)) return 0;
  luaL_checktype(L, i, LUA_TTABLE);
  lua_getfield(L, i, "window");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (lua_type(L, -1) != LUA_TNUMBER) luaL_argerror(L, i, "window must be a number");
  w = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(w >= 1 && w <= RS_BATCH_MAX_WINDOW && w == floor(w)))
    luaL_argerror(L, i, "window must be an integer from 1 to 256");
  return (int)w;
}

/* A Batch userdata (pushed) with one item per element of the paths array. */
static Batch *batch_new(lua_State *L, int paths) {
  Batch *b;
  size_t n, k;
  luaL_checktype(L, paths, LUA_TTABLE);
  n = (size_t)lua_rawlen(L, paths);
  b = rs_newudata(L, sizeof *b);
  memset(b, 0, sizeof *b);
  luaL_getmetatable(L, BATCH);
  lua_setmetatable(L, -2);
  b->items = calloc(n ? n : 1, sizeof *b->items);
  b->nul = calloc(n ? n : 1, 1);
  if (!b->items || !b->nul) {
    batch_free(b);
    luaL_error(L, "regstore: out of memory");
  }
  b->n = n;
  for (k = 0; k < n; k++) {
    size_t len;
    const char *p = batch_string(L, paths, k + 1, "paths", &len);
    b->nul[k] = strlen(p) != len;
    b->items[k].path = b->nul[k] ? "" : p;
  }
  return b;
}

/* results, msgs, codes (see above); push_ok pushes item k's success. */
static int batch_results(lua_State *L, Batch *b, int paths,
                         void (*push_ok)(lua_State *, Batch *, size_t)) {
  size_t k;
  lua_createtable(L, (int)b->n, 0);
  lua_newtable(L);
  lua_newtable(L);
  for (k = 0; k < b->n; k++) {
    rs_batch_item *it = &b->items[k];
    if (b->nul[k]) {
      lua_pushboolean(L, 0);
      lua_rawgeti(L, paths, (int)k + 1);
      lua_pushfstring(L, "regstore: invalid path: %s", lua_tostring(L, -1)); /* cut at the NUL */
      lua_remove(L, -2);
      lua_rawseti(L, -4, (int)k + 1); /* res msgs codes false msg */
      lua_pushstring(L, "invalid_path");
      lua_rawseti(L, -3, (int)k + 1);
    } else if (it->rc < 0) {
      lua_pushboolean(L, 0);
      lua_pushstring(L, it->st.msg);
      lua_rawseti(L, -4, (int)k + 1);
      lua_pushstring(L, rs_code_name(it->rc));
      lua_rawseti(L, -3, (int)k + 1);
    } else {
      push_ok(L, b, k);
    }
    lua_rawseti(L, -4, (int)k + 1);
  }
  return 3;
}

static void push_content(lua_State *L, Batch *b, size_t k) {
  rs_batch_item *it = &b->items[k];
  lua_pushlstring(L, it->content ? it->content : "", it->content_len);
  free(it->content);
  it->content = NULL;
}

static void push_true(lua_State *L, Batch *b, size_t k) {
  (void)b;
  (void)k;
  lua_pushboolean(L, 1);
}

static void push_item_stat(lua_State *L, Batch *b, size_t k) {
  push_stat(L, b->items[k].path, &b->items[k].info);
}

/* A boolean option of the table at index i: flag when true, else 0
 * (put_many's in_order: RS_IN_ORDER; batch's shallow: RS_SHALLOW). */
static int opt_flag(lua_State *L, int i, const char *name, int flag) {
  int on;
  if (lua_isnoneornil(L, i)) return 0;
  lua_getfield(L, i, name);
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
    luaL_argerror(L, i, lua_pushfstring(L, "%s must be a boolean", name));
  on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on ? flag : 0;
}

/* get_many and stat_many: items of one op; opts.shallow makes them an
 * rs_batch with RS_SHALLOW.  Items with a NUL in their path are not run:
 * the engine sees "" there, an invalid path, and the result is replaced by
 * the Lua-side message. */
static int reads_many(lua_State *L, int op, void (*push_ok)(lua_State *, Batch *, size_t)) {
  Driver *d = check_driver(L);
  int window = batch_window(L, 3);
  int flags = opt_flag(L, 3, "shallow", RS_SHALLOW);
  Batch *b;
  size_t k;
  lua_settop(L, 3);
  b = batch_new(L, 2);
  for (k = 0; k < b->n; k++) b->items[k].op = op;
  rs_batch(d->c, b->items, b->n, flags, window);
  return batch_results(L, b, 2, push_ok);
}

static int d_get_many(lua_State *L) { return reads_many(L, RS_BATCH_GET, push_content); }

static int d_stat_many(lua_State *L) { return reads_many(L, RS_BATCH_STAT, push_item_stat); }

/* opts.missing at index i, for put_many: an array whose element k, when a
 * number above 0, is what the caller knows of path k's directory (it and
 * missing[k] - 1 of its parents are missing: rs_put_fresh); nil or 0:
 * nothing known. */
static void batch_missing(lua_State *L, int i, Batch *b) {
  size_t k;
  if (lua_isnoneornil(L, i)) return;
  lua_getfield(L, i, "missing");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (lua_type(L, -1) != LUA_TTABLE) luaL_argerror(L, i, "missing must be a table");
  for (k = 0; k < b->n; k++) {
    double m;
    lua_rawgeti(L, -1, (int)k + 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -1) != LUA_TNUMBER) luaL_argerror(L, i, "missing[k] must be a number");
    m = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(m >= 0 && m <= 64 && m == floor(m))) luaL_argerror(L, i, "missing[k] must be an integer from 0 to 64");
    b->items[k].missing = (int)m;
  }
  lua_pop(L, 1);
}

/* put_many(paths, contents [, { replace = false, window = N, missing = { n... }, in_order = true }]) */
static int d_put_many(lua_State *L) {
  Driver *d = check_driver(L);
  int window = batch_window(L, 4);
  int flags = opt_replace_flags(L, 4) | opt_flag(L, 4, "in_order", RS_IN_ORDER);
  Batch *b;
  size_t k;
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 4);
  b = batch_new(L, 2);
  if ((size_t)lua_rawlen(L, 3) != b->n)
    return luaL_argerror(L, 3, "must hold one content per path");
  for (k = 0; k < b->n; k++)
    b->items[k].data = batch_string(L, 3, k + 1, "contents", &b->items[k].len);
  batch_missing(L, 4, b);
  rs_put_many(d->c, b->items, b->n, flags, window);
  return batch_results(L, b, 2, push_true);
}

/* A listing as list() answers it: absolute paths, sorted. */
static void push_names(lua_State *L, Batch *b, size_t k) {
  rs_batch_item *it = &b->items[k];
  int root = strcmp(it->path, "/") == 0;
  size_t i;
  lua_createtable(L, (int)it->count, 0);
  for (i = 0; i < it->count; i++) {
    lua_pushfstring(L, "%s/%s", root ? "" : it->path, it->names[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  rs_names_free(it->names, it->count);
  it->names = NULL;
  it->count = 0;
}

static void push_any(lua_State *L, Batch *b, size_t k) {
  switch (b->items[k].op) {
    case RS_BATCH_GET: push_content(L, b, k); break;
    case RS_BATCH_STAT: push_item_stat(L, b, k); break;
    case RS_BATCH_LIST: push_names(L, b, k); break;
    default: push_true(L, b, k); break;
  }
}

/*
 * batch(ops [, { replace = false, window = N, shallow = true }]): ops[i] is
 * { "get" | "stat" | "list" | "exists", path } or { "put", path, content };
 * one batch of them all.  Results as get_many's, each item's success as
 * its call's ("exists": true, rs_exists).
 */
static int d_batch(lua_State *L) {
  Driver *d = check_driver(L);
  int window = batch_window(L, 3);
  int flags = opt_replace_flags(L, 3) | opt_flag(L, 3, "shallow", RS_SHALLOW);
  Batch *b;
  size_t n, k;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 3);
  n = (size_t)lua_rawlen(L, 2);
  /* the paths, as batch_new wants them (index 4), then the items */
  lua_createtable(L, (int)n, 0);
  for (k = 1; k <= n; k++) {
    lua_rawgeti(L, 2, (int)k);
    if (lua_type(L, -1) != LUA_TTABLE)
      luaL_argerror(L, 2, lua_pushfstring(L, "ops[%d] must be a table", (int)k));
    lua_rawgeti(L, -1, 2);
    /* a hole would make batch_new's array shorter than ops */
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, 2, lua_pushfstring(L, "ops[%d][2] must be a string", (int)k));
    lua_rawseti(L, 4, (int)k);
    lua_pop(L, 1);
  }
  b = batch_new(L, 4);
  for (k = 0; k < n; k++) {
    const char *op;
    lua_rawgeti(L, 2, (int)k + 1);
    lua_rawgeti(L, -1, 1);
    op = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(op, "get") == 0) b->items[k].op = RS_BATCH_GET;
    else if (strcmp(op, "stat") == 0) b->items[k].op = RS_BATCH_STAT;
    else if (strcmp(op, "put") == 0) b->items[k].op = RS_BATCH_PUT;
    else if (strcmp(op, "list") == 0) b->items[k].op = RS_BATCH_LIST;
    else if (strcmp(op, "exists") == 0) b->items[k].op = RS_BATCH_EXISTS;
    else luaL_argerror(L, 2, lua_pushfstring(L, "ops[%d][1] must be \"get\", \"stat\", \"list\", \"exists\" or \"put\"", (int)k + 1));
    lua_pop(L, 1);
    if (b->items[k].op == RS_BATCH_PUT) {
      lua_rawgeti(L, -1, 3);
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_argerror(L, 2, lua_pushfstring(L, "ops[%d][3] must be a string", (int)k + 1));
      b->items[k].data = lua_tolstring(L, -1, &b->items[k].len); /* held by ops */
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  rs_batch(d->c, b->items, b->n, flags, window);
  return batch_results(L, b, 4, push_any);
}

/*
 * The walk callback runs on the calling thread, inside the engine's walk.
 * Nothing may raise through the engine's frames: the Lua side of each visit
 * (the info table and the call of fn) runs under lua_pcall in walk_call, and
 * an error there is raised again once the engine has freed its listings.
 * The walk holds the connection, so fn may even close the driver.
 */
struct walk_ctx {
  lua_State *L;
  const char *path;
  const rs_stat *info;
  int verdict;
  int failed;
};

#define WALK_LUA_ERROR (-1)

/* Under lua_pcall: fn, ctx -> nothing; sets ctx->verdict. */
static int walk_call(lua_State *L) {
  struct walk_ctx *w = lua_touserdata(L, 2);
  const char *r;
  lua_settop(L, 1);
  push_stat(L, w->path, w->info);
  lua_call(L, 1, 1);
  r = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  if (r && strcmp(r, "skip") == 0) w->verdict = RS_WALK_SKIP;
  else if (r && strcmp(r, "stop") == 0) w->verdict = RS_WALK_STOP;
  else w->verdict = RS_WALK_CONTINUE;
  return 0;
}

/* d_walk's stack: 1 driver, 2 path, 3 fn, 4 walk_call. */
static int walk_visit(void *arg, const char *path, const rs_stat *info) {
  struct walk_ctx *w = arg;
  lua_State *L = w->L;
  w->path = path;
  w->info = info;
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 3);
  lua_pushlightuserdata(L, w);
  if (lua_pcall(L, 2, 0, 0) != 0) {
    w->failed = 1;
    return WALK_LUA_ERROR; /* the error value stays on the stack */
  }
  return w->verdict;
}

static int d_walk(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG_LATER(path, 2);
  struct walk_ctx w = {L, NULL, NULL, RS_WALK_CONTINUE, 0};
  rs_conn *c = d->c;
  rs_status st;
  int rc;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  BAD_PATH_CHECK(path, 2);
  lua_settop(L, 3);
  lua_pushcfunction(L, walk_call); /* allocates in LuaJIT: before the hold */
  rs_conn_hold(c);
  rc = rs_walk(c, path, walk_visit, &w, &st);
  rs_conn_release(c);
  if (w.failed) return lua_error(L);
  return push_result(L, rc, &st);
}

/* A sibling driver: same cluster handle, its own I/O context and per-call
 * state (usable on another thread than this one, see the lot below). */
static int d_sibling(lua_State *L) {
  Driver *d = check_driver(L);
  Driver *s;
  rs_status st;
  s = new_handle(L, sizeof *s, DRIVER, 0);
  if (rs_conn_sibling(d->c, &s->c, &st) < 0) return push_failure(L, &st);
  return 1;
}

static int d_writer(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG_LATER(path, 2);
  int append = opt_bool(L, 3);
  rs_status st;
  Writer *w;
  BAD_PATH_CHECK(path, 2);
  lua_pushvalue(L, 1);
  w = new_handle(L, sizeof *w, WRITER, 1);
  w->state = W_CLOSED;
  if (rs_writer_open(d->c, path, append, &w->w, &st) < 0) return push_failure(L, &st);
  w->state = W_OPEN;
  return 1;
}

/*
 * reader(path [, offset]): an offset that is not a whole number in [0, 2^63)
 * is invalid_offset, as a negative one is; past the end the engine says so.
 */
static int d_reader(lua_State *L) {
  Driver *d = check_driver(L);
  PATH_ARG_LATER(path, 2);
  uint64_t offset = 0;
  rs_status st;
  Reader *r;
  if (!lua_isnoneornil(L, 3)) check_number(L, 3);
  BAD_PATH_CHECK(path, 2);
  if (!lua_isnoneornil(L, 3)) {
    if (to_offset(L, 3, &offset) < 0) {
      char num[64];
      lua_pushnil(L);
      lua_pushfstring(L, "regstore: invalid offset %s for path: %s",
                      number_text(L, 3, num, sizeof num), path);
      lua_pushstring(L, "invalid_offset");
      return 3;
    }
  }
  lua_pushvalue(L, 1);
  r = new_handle(L, sizeof *r, READER, 1);
  if (rs_reader_open(d->c, path, offset, &r->r, &st) < 0) return push_failure(L, &st);
  return 1;
}

/* Findings of fsck, gathered into a Lua table as the engine reports them. */
struct fsck_ctx {
  lua_State *L;
  const rs_finding *f;
  lua_Integer n;
  int failed;
};

/* Under lua_pcall: findings, ctx -> nothing; appends ctx->f to findings. */
static int fsck_call(lua_State *L) {
  struct fsck_ctx *x = lua_touserdata(L, 2);
  const rs_finding *f = x->f;
  lua_settop(L, 1);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, f->kind ? f->kind : "");
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, f->object ? f->object : "");
  lua_setfield(L, -2, "object");
  lua_pushstring(L, f->path ? f->path : "");
  lua_setfield(L, -2, "path");
  lua_pushstring(L, f->detail ? f->detail : "");
  lua_setfield(L, -2, "detail");
  lua_pushboolean(L, f->repaired);
  lua_setfield(L, -2, "repaired");
  lua_rawseti(L, 1, (int)(x->n + 1));
  x->n++;
  return 0;
}

/* d_fsck's stack: 1 driver, 2 opts, 3 findings, 4 fsck_call. */
static int fsck_visit(void *arg, const rs_finding *f) {
  struct fsck_ctx *x = arg;
  lua_State *L = x->L;
  x->f = f;
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 3);
  lua_pushlightuserdata(L, x);
  if (lua_pcall(L, 2, 0, 0) != 0) {
    x->failed = 1; /* out of memory: the error value stays on the stack */
    return 1;
  }
  return 0;
}

/*
 * fsck([{ grace = seconds, repair = bool }]): the engine's consistency check
 * of the driver's namespace.  Returns { objects, repaired, findings = {...} }.
 */
static int d_fsck(lua_State *L) {
  Driver *d = check_driver(L);
  rs_fsck_opts o = {3600, 0};
  struct fsck_ctx x = {L, NULL, 0, 0};
  rs_fsck_report rep;
  rs_status st;
  rs_conn *c = d->c;
  int rc;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "grace");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TNUMBER) return luaL_argerror(L, 2, "grace must be a number");
      o.grace = lua_tonumber(L, -1);
      if (!(o.grace >= 0) || !isfinite(o.grace))
        return luaL_argerror(L, 2, "grace must be a finite number of seconds, 0 or more");
      if (o.grace > 1e12) o.grace = 1e12; /* longer than anything has existed */
    }
    lua_getfield(L, 2, "repair");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TBOOLEAN) return luaL_argerror(L, 2, "repair must be a boolean");
      o.repair = lua_toboolean(L, -1);
    }
  }
  lua_settop(L, 2);
  lua_newtable(L);
  lua_pushcfunction(L, fsck_call);
  memset(&rep, 0, sizeof rep);
  rs_conn_hold(c);
  rc = rs_fsck(c, &o, fsck_visit, &x, &rep, &st);
  rs_conn_release(c);
  if (x.failed) return lua_error(L);
  if (rc < 0) return push_failure(L, &st);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)rep.objects);
  lua_setfield(L, -2, "objects");
  lua_pushinteger(L, (lua_Integer)rep.repaired);
  lua_setfield(L, -2, "repaired");
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "findings");
  return 1;
}

static int d_gc(lua_State *L) {
  Driver *d = luaL_checkudata(L, 1, DRIVER);
  if (d->c) {
    rs_close(d->c);
    d->c = NULL;
  }
  return 0;
}

static int d_tostring(lua_State *L) {
  Driver *d = luaL_checkudata(L, 1, DRIVER);
  lua_pushfstring(L, "regstore.driver (%s)", d->c ? "open" : "closed");
  return 1;
}

/* ------------------------------------------------------------------ bytes */

/*
 * Bytes: a C buffer that a job in another Lua state (an nginx thread VM)
 * writes from without a copy through either state.  The owner fills it
 * (append), lends it for one job (lend: a light userdata carrying a
 * reference), and the job's first step takes that reference over (borrow:
 * a userdata of its own state, whose collection drops it).  A lend that no
 * job took (the job was never posted) is given back with unlend.  The
 * buffer is freed with its last reference, in whichever state.
 */
#define BYTES_MAGIC 0x72736279u

typedef struct BytesState {
  unsigned magic;
  int refs;   /* atomic */
  int taken;  /* atomic: the last lend was borrowed */
  size_t len, cap;
  char *data;
} BytesState;

typedef struct { BytesState *b; } Bytes;

static void bytes_unref(BytesState *b) {
  if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  b->magic = 0;
  free(b->data);
  free(b);
}

static Bytes *check_bytes(lua_State *L, int i) {
  Bytes *b = luaL_checkudata(L, i, BYTES);
  if (!b->b) luaL_error(L, "regstore: bytes are freed");
  return b;
}

/* bytes(cap): an empty buffer of cap bytes. */
static int l_bytes(lua_State *L) {
  lua_Integer cap = luaL_checkinteger(L, 1);
  Bytes *b;
  if (cap < 1 || cap > ((lua_Integer)1 << 30)) return luaL_argerror(L, 1, "from 1 to 1 GiB");
  b = new_handle(L, sizeof *b, BYTES, 0);
  b->b = calloc(1, sizeof *b->b);
  if (b->b) b->b->data = malloc((size_t)cap);
  if (!b->b || !b->b->data) {
    if (b->b) free(b->b);
    b->b = NULL;
    return luaL_error(L, "regstore: out of memory");
  }
  b->b->magic = BYTES_MAGIC;
  b->b->refs = 1;
  b->b->cap = (size_t)cap;
  return 1;
}

static int bytes_append(lua_State *L) {
  Bytes *b = check_bytes(L, 1);
  size_t len;
  const char *s = check_string(L, 2, &len);
  if (len > b->b->cap - b->b->len) return luaL_argerror(L, 2, "more than the buffer holds");
  memcpy(b->b->data + b->b->len, s, len);
  b->b->len += len;
  lua_settop(L, 1);
  return 1;
}

/* sub(i [, j]): bytes i to j as a string, with string.sub's rules. */
static int bytes_sub(lua_State *L) {
  Bytes *b = check_bytes(L, 1);
  lua_Integer len = (lua_Integer)b->b->len;
  lua_Integer i = luaL_checkinteger(L, 2), j = luaL_optinteger(L, 3, -1);
  if (i < 0) i = len + i + 1;
  if (i < 1) i = 1;
  if (j < 0) j = len + j + 1;
  if (j > len) j = len;
  if (i > j) lua_pushliteral(L, "");
  else lua_pushlstring(L, b->b->data + i - 1, (size_t)(j - i + 1));
  return 1;
}

static int bytes_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_bytes(L, 1)->b->len);
  return 1;
}

static int bytes_clear(lua_State *L) {
  check_bytes(L, 1)->b->len = 0;
  lua_settop(L, 1);
  return 1;
}

static int bytes_lend(lua_State *L) {
  Bytes *b = check_bytes(L, 1);
  __atomic_store_n(&b->b->taken, 0, __ATOMIC_RELEASE);
  __atomic_add_fetch(&b->b->refs, 1, __ATOMIC_ACQ_REL);
  lua_pushlightuserdata(L, b->b);
  return 1;
}

static int bytes_taken(lua_State *L) {
  lua_pushboolean(L, __atomic_load_n(&check_bytes(L, 1)->b->taken, __ATOMIC_ACQUIRE));
  return 1;
}

/* Gives back the reference of a lend that no job borrowed. */
static int bytes_unlend(lua_State *L) {
  Bytes *b = check_bytes(L, 1);
  if (__atomic_exchange_n(&b->b->taken, 1, __ATOMIC_ACQ_REL)) return 0;
  bytes_unref(b->b);
  return 0;
}

static int bytes_gc(lua_State *L) {
  Bytes *b = luaL_checkudata(L, 1, BYTES);
  if (b->b) bytes_unref(b->b);
  b->b = NULL;
  return 0;
}

/* borrow(handle): the lent bytes, as a userdata of this state. */
static int l_borrow(lua_State *L) {
  BytesState *s;
  Bytes *b;
  luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
  s = lua_touserdata(L, 1);
  if (!s || s->magic != BYTES_MAGIC) return luaL_argerror(L, 1, "not lent bytes");
  b = new_handle(L, sizeof *b, BYTES, 0);
  if (__atomic_exchange_n(&s->taken, 1, __ATOMIC_ACQ_REL)) return luaL_argerror(L, 1, "borrowed already");
  b->b = s;
  return 1;
}

/* ------------------------------------------------------------------ writer */

static Writer *check_writer(lua_State *L, int need_open) {
  Writer *w = luaL_checkudata(L, 1, WRITER);
  if (need_open && w->state != W_OPEN)
    luaL_error(L, "regstore: writer is %s", w->state == W_DONE ? "committed or cancelled" : "closed");
  return w;
}

static int w_write(lua_State *L) {
  Writer *w = check_writer(L, 1);
  size_t len;
  const char *data = check_string(L, 2, &len);
  rs_status st;
  return push_result(L, rs_writer_write(w->w, data, len, &st), &st);
}

/* writev(data): an array of strings written in order as one write (no
 * concatenation: each is sent, or buffered, from where it is), or bytes
 * (regstore.bytes) written from the buffer itself. */
static int w_writev(lua_State *L) {
  Writer *w = check_writer(L, 1);
  size_t n, i;
  rs_piece *pieces;
  rs_status st;
  if (is_udata(L, 2, BYTES)) {
    Bytes *b = check_bytes(L, 2);
    return push_result(L, rs_writer_write(w->w, b->b->data, b->b->len, &st), &st);
  }
  luaL_checktype(L, 2, LUA_TTABLE);
  n = lua_rawlen(L, 2);
  /* a userdata for scratch: freed by the collector whatever raises below */
  pieces = lua_newuserdata(L, (n ? n : 1) * sizeof *pieces);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i + 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_argerror(L, 2, "an array of strings expected");
    /* the strings stay anchored in the table, which stays on the stack */
    pieces[i].data = lua_tolstring(L, -1, &pieces[i].len);
    lua_pop(L, 1);
  }
  return push_result(L, rs_writer_writev(w->w, pieces, n, &st), &st);
}

static int w_size(lua_State *L) {
  Writer *w = check_writer(L, 0);
  lua_pushinteger(L, w->w ? (lua_Integer)rs_writer_size(w->w) : 0);
  return 1;
}

static int w_commit(lua_State *L) {
  Writer *w = check_writer(L, 1);
  rs_status st;
  w->state = W_DONE;
  return push_result(L, rs_writer_commit(w->w, &st), &st);
}

static int w_cancel(lua_State *L) {
  Writer *w = check_writer(L, 1);
  rs_status st;
  w->state = W_DONE;
  return push_result(L, rs_writer_cancel(w->w, &st), &st);
}

static int w_close(lua_State *L) {
  Writer *w = check_writer(L, 0);
  rs_status st;
  int rc = 0;
  if (w->state == W_CLOSED) return luaL_error(L, "regstore: writer is closed");
  w->state = W_CLOSED;
  rc = rs_writer_close(w->w, &st);
  return push_result(L, rc, &st);
}

/* Attaches a sha256 hasher: every later write also updates it. */
static int w_hash(lua_State *L) {
  Writer *w = check_writer(L, 1);
  Hash *h = luaL_checkudata(L, 2, SHA256);
  rs_getuservalue(L, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2); /* keeps the hasher alive as long as the writer */
  rs_writer_hash(w->w, h->h);
  lua_settop(L, 1);
  return 1;
}

static int w_gc(lua_State *L) {
  Writer *w = luaL_checkudata(L, 1, WRITER);
  if (w->w) {
    rs_writer_free(w->w); /* an open writer is closed: its data stays resumable */
    w->w = NULL;
  }
  w->state = W_CLOSED;
  return 0;
}

/* ------------------------------------------------------------------ reader */

/* The open reader at 1 and the count n at i: a whole number, at least 1
 * (else it raises); huge is fine. */
static Reader *check_read(lua_State *L, int i, uint64_t *n) {
  Reader *r = luaL_checkudata(L, 1, READER);
  if (!r->r) luaL_error(L, "regstore: reader is closed");
  check_number(L, i);
  if (to_count(L, i, n) < 0 || *n < 1) luaL_argerror(L, i, "must be a whole number, at least 1");
  return r;
}

/* read(n) */
static int r_read(lua_State *L) {
  const size_t most = (size_t)1 << 30; /* one call reads at most 1 GiB */
  size_t want;
  uint64_t n;
  Reader *r = check_read(L, 2, &n);
  rs_status st;
  const char *data;
  long got;
  want = n > most ? most : (size_t)n;
  got = rs_reader_read(r->r, &data, want, &st);
  if (got < 0) return push_failure(L, &st);
  if (got == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, data, (size_t)got);
  return 1;
}

/* read_into(buf, n): appends up to n bytes (no more than buf has room for)
 * to buf, a regstore.bytes, straight from the engine's read-ahead: no Lua
 * string is made. Their count, 0 at the end; on a failure, what was
 * appended before it stays in buf. */
static int r_read_into(lua_State *L) {
  uint64_t n;
  Reader *r = check_read(L, 3, &n);
  BytesState *s = check_bytes(L, 2)->b;
  size_t want, done = 0;
  rs_status st;
  const char *data;
  long got;
  want = s->cap - s->len;
  if (n < (uint64_t)want) want = (size_t)n;
  while (done < want) {
    got = rs_reader_read(r->r, &data, want - done, &st);
    if (got < 0) return push_failure(L, &st);
    if (got == 0) break;
    memcpy(s->data + s->len, data, (size_t)got);
    s->len += (size_t)got;
    done += (size_t)got;
  }
  lua_pushinteger(L, (lua_Integer)done);
  return 1;
}

static int r_size(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, READER);
  if (!r->r) return luaL_error(L, "regstore: reader is closed");
  lua_pushinteger(L, (lua_Integer)rs_reader_size(r->r));
  return 1;
}

static int r_close(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, READER);
  if (!r->r) return luaL_error(L, "regstore: reader is closed");
  rs_reader_free(r->r);
  r->r = NULL;
  lua_pushboolean(L, 1);
  return 1;
}

static int r_gc(lua_State *L) {
  Reader *r = luaL_checkudata(L, 1, READER);
  if (r->r) rs_reader_free(r->r);
  r->r = NULL;
  return 0;
}

/* ------------------------------------------------------------------ sha256 */

static Hash *check_hash(lua_State *L) {
  Hash *h = luaL_checkudata(L, 1, SHA256);
  if (!h->h) luaL_error(L, "regstore: hash is freed");
  return h;
}

static int l_sha256(lua_State *L) {
  Hash *h;
  lua_settop(L, 1);
  h = new_handle(L, sizeof *h, SHA256, 0);
  if (!(h->h = rs_sha256_new())) return luaL_error(L, "regstore: out of memory");
  if (!lua_isnoneornil(L, 1)) {
    size_t len;
    const char *state = check_string(L, 1, &len);
    if (rs_sha256_restore(h->h, (const unsigned char *)state, len) < 0)
      return luaL_argerror(L, 1, "not a saved sha256 state");
  }
  return 1;
}

static int h_update(lua_State *L) {
  Hash *h = check_hash(L);
  size_t len;
  const char *data = check_string(L, 2, &len);
  rs_sha256_update(h->h, data, len);
  lua_settop(L, 1);
  return 1;
}

static int h_hexdigest(lua_State *L) {
  Hash *h = check_hash(L);
  static const char hex[] = "0123456789abcdef";
  unsigned char md[32];
  char out[64];
  int i;
  rs_sha256_digest(h->h, md);
  for (i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  lua_pushlstring(L, out, 64);
  return 1;
}

static int h_state(lua_State *L) {
  Hash *h = check_hash(L);
  unsigned char s[RS_SHA256_STATE_LEN];
  rs_sha256_save(h->h, s);
  lua_pushlstring(L, (const char *)s, sizeof s);
  return 1;
}

static int h_size(lua_State *L) {
  Hash *h = check_hash(L);
  lua_pushinteger(L, (lua_Integer)rs_sha256_size(h->h));
  return 1;
}

static int h_gc(lua_State *L) {
  Hash *h = luaL_checkudata(L, 1, SHA256);
  rs_sha256_free(h->h);
  h->h = NULL;
  return 0;
}

/* ------------------------------------------------------------------ lot */

/*
 * A lot keeps open writers between the jobs of a stream that run in
 * different Lua states on different threads (nginx's thread VMs): a job
 * parks a writer, with the sibling connection it was opened on and its
 * hasher, under a key; a later job, in any state, takes it back and goes
 * on.  Only C pointers move; nothing of any Lua state is kept.  The lot
 * itself is a userdata of the state that made it (an nginx worker's), and
 * reaches the other states as a light userdata (lot:handle()).  Whatever
 * is parked belongs to one thread at a time: parking hands it over, taking
 * hands it back.  Entries idle for longer than a sweep's limit, and all of
 * them when the lot is collected, are finished: the writer is closed (its
 * data stays resumable), the hasher's state saved next to it when it
 * covers every byte, and the connection closed.
 */
#define LOT_MAGIC 0x72736c6fu

typedef struct Parked {
  struct Parked *next;
  char *key;
  rs_conn *c;
  rs_writer *w;       /* a writer, or */
  rs_reader *r;       /* a reader (with its read-ahead in flight) */
  rs_sha256 *h;       /* or NULL */
  char *meta;         /* the parker's own fields, handed back as they are */
  size_t metalen;
  char *states;       /* where hash states are saved (a directory), or NULL */
  struct timespec at; /* parked at (monotonic) */
} Parked;

typedef struct LotState {
  unsigned magic;
  pthread_mutex_t mu;
  Parked *list;
  int n, max;
} LotState;

typedef struct { LotState *s; } Lot;

static void parked_free(Parked *p) {
  free(p->key);
  free(p->meta);
  free(p->states);
  free(p);
}

/* Closes what p holds, saving the hash state as the registry does. */
static void parked_finish(Parked *p) {
  rs_status st;
  if (p->r) {
    rs_reader_free(p->r);
    rs_close(p->c);
    parked_free(p);
    return;
  }
  if (rs_writer_close(p->w, &st) == 0 && p->h && p->states &&
      rs_sha256_size(p->h) == rs_writer_size(p->w)) {
    unsigned char state[RS_SHA256_STATE_LEN];
    char path[4200];
    snprintf(path, sizeof path, "%s/%llu", p->states, (unsigned long long)rs_writer_size(p->w));
    rs_sha256_save(p->h, state);
    rs_put(p->c, path, state, sizeof state, 0, &st);
  }
  rs_writer_free(p->w);
  rs_sha256_free(p->h);
  rs_close(p->c);
  parked_free(p);
}

static double since(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static LotState *check_lot_handle(lua_State *L, int i) {
  LotState *s;
  luaL_checktype(L, i, LUA_TLIGHTUSERDATA);
  s = lua_touserdata(L, i);
  if (!s || s->magic != LOT_MAGIC) luaL_argerror(L, i, "not a lot handle");
  return s;
}

/* lot([max]): a new lot holding at most max writers (default 16). */
static int l_lot(lua_State *L) {
  lua_Integer max = luaL_optinteger(L, 1, 16);
  Lot *lot;
  if (max < 1 || max > 4096) return luaL_argerror(L, 1, "from 1 to 4096");
  lot = new_handle(L, sizeof *lot, LOT, 0);
  lot->s = calloc(1, sizeof *lot->s);
  if (!lot->s) return luaL_error(L, "regstore: out of memory");
  if (pthread_mutex_init(&lot->s->mu, NULL) != 0) {
    free(lot->s);
    lot->s = NULL;
    return luaL_error(L, "regstore: cannot make a mutex");
  }
  lot->s->magic = LOT_MAGIC;
  lot->s->max = (int)max;
  return 1;
}

static Lot *check_lot(lua_State *L) {
  Lot *lot = luaL_checkudata(L, 1, LOT);
  if (!lot->s) luaL_error(L, "regstore: lot is freed");
  return lot;
}

static int lot_handle(lua_State *L) {
  lua_pushlightuserdata(L, check_lot(L)->s);
  return 1;
}

/* Removes and returns the entries idle for at least idle seconds (all: < 0). */
static Parked *lot_detach(LotState *s, double idle) {
  Parked *out = NULL, **pp;
  pthread_mutex_lock(&s->mu);
  pp = &s->list;
  while (*pp) {
    Parked *p = *pp;
    if (idle < 0 || since(&p->at) >= idle) {
      *pp = p->next;
      p->next = out;
      out = p;
      s->n--;
    } else {
      pp = &p->next;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return out;
}

static int lot_gc(lua_State *L) {
  Lot *lot = luaL_checkudata(L, 1, LOT);
  Parked *p;
  if (!lot->s) return 0;
  p = lot_detach(lot->s, -1);
  while (p) {
    Parked *next = p->next;
    parked_finish(p);
    p = next;
  }
  lot->s->magic = 0;
  pthread_mutex_destroy(&lot->s->mu);
  free(lot->s);
  lot->s = NULL;
  return 0;
}

static char *dup_bytes(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = '\0';
  }
  return d;
}

/*
 * park(handle, key, driver, writer, hash|nil, meta [, states]): hands the
 * writer (open, opened on driver's connection, which nothing else may use:
 * a sibling), the driver's connection and the hasher over to the lot.  A
 * reader in place of the writer is parked the same way (no hash then).
 * They are unusable here afterwards (closed, finished, freed).  Returns
 * true, or false (nothing moved) when the lot is full or holds the key.
 */
static int l_park(lua_State *L) {
  LotState *s = check_lot_handle(L, 1);
  size_t klen, mlen, slen = 0;
  const char *key = luaL_checklstring(L, 2, &klen);
  Driver *d = luaL_checkudata(L, 3, DRIVER);
  Reader *r = is_udata(L, 4, READER) ? lua_touserdata(L, 4) : NULL;
  Writer *w = r ? NULL : luaL_checkudata(L, 4, WRITER);
  Hash *h = lua_isnoneornil(L, 5) ? NULL : luaL_checkudata(L, 5, SHA256);
  const char *meta = luaL_checklstring(L, 6, &mlen);
  const char *states = luaL_optlstring(L, 7, NULL, &slen);
  Parked *p, *q;
  int ok = 1;
  if (!d->c) return luaL_argerror(L, 3, "driver is closed");
  if (w && (!w->w || w->state != W_OPEN)) return luaL_argerror(L, 4, "writer is not open");
  if (r && !r->r) return luaL_argerror(L, 4, "reader is closed");
  if (h && !h->h) return luaL_argerror(L, 5, "hash is freed");
  p = calloc(1, sizeof *p);
  if (!p) return luaL_error(L, "regstore: out of memory");
  p->key = dup_bytes(key, klen);
  p->meta = dup_bytes(meta, mlen);
  p->states = states ? dup_bytes(states, slen) : NULL;
  p->metalen = mlen;
  if (!p->key || !p->meta || (states && !p->states)) {
    parked_free(p);
    return luaL_error(L, "regstore: out of memory");
  }
  clock_gettime(CLOCK_MONOTONIC, &p->at);
  pthread_mutex_lock(&s->mu);
  if (s->n >= s->max) ok = 0;
  for (q = s->list; ok && q; q = q->next)
    if (strcmp(q->key, p->key) == 0) ok = 0;
  if (ok) {
    p->c = d->c;
    d->c = NULL;
    if (w) {
      p->w = w->w;
      w->w = NULL;
      w->state = W_CLOSED;
    } else {
      p->r = r->r;
      r->r = NULL;
    }
    p->h = h ? h->h : NULL;
    if (h) h->h = NULL;
    p->next = s->list;
    s->list = p;
    s->n++;
  }
  pthread_mutex_unlock(&s->mu);
  if (!ok) parked_free(p);
  lua_pushboolean(L, ok);
  return 1;
}

/* take(handle, key): driver, writer (or reader), hash (false if none),
 * meta; nil when nothing is parked under key. */
static int l_take(lua_State *L) {
  LotState *s = check_lot_handle(L, 1);
  const char *key = luaL_checkstring(L, 2);
  Parked *p, **pp;
  Driver *d;
  Writer *w;
  Reader *r;
  Hash *h;
  lua_settop(L, 2);
  /* the handles first: an allocation that raises leaves the entry parked */
  d = new_handle(L, sizeof *d, DRIVER, 0);
  lua_pushvalue(L, 3);
  w = new_handle(L, sizeof *w, WRITER, 1);
  w->state = W_CLOSED;
  lua_pushvalue(L, 3);
  r = new_handle(L, sizeof *r, READER, 1); /* 3 d, 4 d, 5 w, 6 d, 7 r */
  lua_remove(L, 6);
  lua_remove(L, 4); /* 3 d, 4 w, 5 r */
  h = new_handle(L, sizeof *h, SHA256, 0); /* 6 h */
  pthread_mutex_lock(&s->mu);
  for (pp = &s->list; *pp && strcmp((*pp)->key, key) != 0; pp = &(*pp)->next) {}
  p = *pp;
  if (p) {
    *pp = p->next;
    s->n--;
  }
  pthread_mutex_unlock(&s->mu);
  if (!p) {
    lua_pushnil(L);
    return 1;
  }
  d->c = p->c;
  h->h = p->h;
  if (p->r) {
    r->r = p->r;
    lua_remove(L, 4); /* 3 d, 4 r, 5 h */
  } else {
    w->w = p->w;
    w->state = W_OPEN;
    lua_remove(L, 5); /* 3 d, 4 w, 5 h */
  }
  if (p->h) { /* the writer keeps its hasher alive, as writer:hash does */
    rs_getuservalue(L, 4);
    lua_pushvalue(L, 5);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
    lua_pushboolean(L, 0);
  }
  lua_pushlstring(L, p->meta, p->metalen);
  p->c = NULL;
  p->w = NULL;
  p->r = NULL;
  p->h = NULL;
  parked_free(p);
  return 4;
}

/* sweep(handle, idle): finishes the entries idle for idle seconds or more
 * (every one with a negative idle); returns how many.  Blocks on RADOS. */
static int l_sweep(lua_State *L) {
  LotState *s = check_lot_handle(L, 1);
  Parked *p = lot_detach(s, luaL_checknumber(L, 2));
  lua_Integer n = 0;
  while (p) {
    Parked *next = p->next;
    parked_finish(p);
    n++;
    p = next;
  }
  lua_pushinteger(L, n);
  return 1;
}

static int lot_count(lua_State *L) {
  Lot *lot = check_lot(L);
  int n;
  pthread_mutex_lock(&lot->s->mu);
  n = lot->s->n;
  pthread_mutex_unlock(&lot->s->mu);
  lua_pushinteger(L, n);
  return 1;
}

/* ------------------------------------------------------------------ open */

int luaopen_regstore_core(lua_State *L) {
  static const luaL_Reg driver_meta[] = {
      {"__gc", d_gc}, {"__close", d_gc}, {"__tostring", d_tostring}, {NULL, NULL}};
  static const luaL_Reg driver_methods[] = {
      {"put_content", d_put_content}, {"get_content", d_get_content},
      {"reader", d_reader}, {"writer", d_writer}, {"stat", d_stat},
      {"list", d_list}, {"move", d_move}, {"delete", d_delete},
      {"walk", d_walk}, {"fsck", d_fsck}, {"lease", d_lease}, {"release", d_release},
      {"lease_holder", d_lease_holder}, {"counter", d_counter},
      {"counter_add", d_counter_add}, {"close", d_close}, {"sibling", d_sibling},
      {"get_many", d_get_many}, {"put_many", d_put_many}, {"stat_many", d_stat_many},
      {"batch", d_batch}, {NULL, NULL}};
  static const luaL_Reg writer_meta[] = {{"__gc", w_gc}, {"__close", w_gc}, {NULL, NULL}};
  static const luaL_Reg writer_methods[] = {
      {"write", w_write}, {"writev", w_writev}, {"size", w_size}, {"commit", w_commit},
      {"cancel", w_cancel}, {"close", w_close}, {"hash", w_hash}, {NULL, NULL}};
  static const luaL_Reg reader_meta[] = {{"__gc", r_gc}, {"__close", r_gc}, {NULL, NULL}};
  static const luaL_Reg reader_methods[] = {
      {"read", r_read}, {"read_into", r_read_into}, {"size", r_size}, {"close", r_close}, {NULL, NULL}};
  static const luaL_Reg hash_meta[] = {{"__gc", h_gc}, {NULL, NULL}};
  static const luaL_Reg hash_methods[] = {
      {"update", h_update}, {"hexdigest", h_hexdigest}, {"state", h_state},
      {"size", h_size}, {NULL, NULL}};
  static const luaL_Reg bytes_meta[] = {{"__gc", bytes_gc}, {"__close", bytes_gc}, {NULL, NULL}};
  static const luaL_Reg bytes_methods[] = {
      {"append", bytes_append}, {"sub", bytes_sub}, {"size", bytes_size}, {"free", bytes_gc}, {"clear", bytes_clear},
      {"lend", bytes_lend}, {"taken", bytes_taken}, {"unlend", bytes_unlend}, {NULL, NULL}};
  static const luaL_Reg lot_meta[] = {{"__gc", lot_gc}, {"__close", lot_gc}, {NULL, NULL}};
  static const luaL_Reg lot_methods[] = {
      {"handle", lot_handle}, {"count", lot_count}, {NULL, NULL}};
  static const luaL_Reg module[] = {
      {"lot", l_lot}, {"park", l_park}, {"take", l_take}, {"sweep", l_sweep},
      {"bytes", l_bytes}, {"borrow", l_borrow},
      {"connect", l_connect}, {"uuid", l_uuid}, {"sha256", l_sha256},
      {"clock", l_clock}, {"time", l_time}, {"sleep", l_sleep}, {NULL, NULL}};
  set_methods(L, DRIVER, driver_meta, driver_methods);
  set_methods(L, WRITER, writer_meta, writer_methods);
  set_methods(L, READER, reader_meta, reader_methods);
  set_methods(L, SHA256, hash_meta, hash_methods);
  set_methods(L, LOT, lot_meta, lot_methods);
  set_methods(L, BYTES, bytes_meta, bytes_methods);
  luaL_newmetatable(L, BATCH);
  lua_pushcfunction(L, b_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_setfuncs(L, module, 0);
  lua_pushstring(L, RS_VERSION);
  lua_setfield(L, -2, "VERSION");
  lua_pushinteger(L, RS_DEFAULT_CHUNK_SIZE);
  lua_setfield(L, -2, "DEFAULT_CHUNK_SIZE");
  return 1;
}
