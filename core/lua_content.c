/* Lua binding for the C content helpers and byte-level checks: slugify, slug_valid, utf8_valid,
 * and copy (of values read from the database). */
#include <lauxlib.h>
#include <lua.h>

#include "content.h"
#include "lua_api.h"
#include "util.h"

#define SLUG_CAP 201 /* slugs are at most 200 bytes */

/* core.slugify(text [, max]) -> slug (may be "") */
static int l_slugify(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer max = luaL_optinteger(L, 2, SLUG_CAP - 1);
  luaL_argcheck(L, max > 0 && max < SLUG_CAP, 2, "slug length must be 1..200");
  char out[SLUG_CAP];
  size_t n = qr_content_slugify(text, len, out, (size_t)max + 1);
  lua_pushlstring(L, out, n);
  return 1;
}

static int l_slug_valid(lua_State *L) {
  size_t len;
  const char *slug = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, qr_content_slug_valid(slug, len, (size_t)luaL_optinteger(L, 2, SLUG_CAP - 1)));
  return 1;
}

static int l_utf8_valid(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, qr_utf8_valid(s, len));
  return 1;
}

#define COPY_DEPTH 64

/* Pushes a deep copy of the value at src. Tables are presized, so filling them never rehashes;
 * a table with a metatable (a read-only proxy) cannot be changed through and is kept as is. */
static void push_copy(lua_State *L, int src, int depth) {
  if (lua_type(L, src) != LUA_TTABLE) {
    lua_pushvalue(L, src);
    return;
  }
  if (lua_getmetatable(L, src)) {
    lua_pop(L, 1);
    lua_pushvalue(L, src);
    return;
  }
  if (depth > COPY_DEPTH) luaL_error(L, "copy: tables nested deeper than %d (a cycle?)", COPY_DEPTH);
  luaL_checkstack(L, 4, "copy");
  lua_Unsigned narr = lua_rawlen(L, src), n = 0;
  lua_pushnil(L);
  while (lua_next(L, src)) {
    n++;
    lua_pop(L, 1);
  }
  lua_createtable(L, (int)narr, n > narr ? (int)(n - narr) : 0);
  int dst = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) { /* dst key value */
    push_copy(L, lua_gettop(L), depth + 1);
    lua_pushvalue(L, -3);
    lua_insert(L, -2);
    lua_rawset(L, dst);
    lua_pop(L, 1);
  }
}

/* core.copy(v) -> a deep copy of plain tables (keys are not copied); other values as they are. */
static int l_copy(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  push_copy(L, 1, 0);
  return 1;
}

void qr_lua_content_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"slugify", l_slugify},     {"slug_valid", l_slug_valid},
                                 {"utf8_valid", l_utf8_valid}, {"copy", l_copy},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
