/* Lua binding for the C content helpers and byte-level checks: slugify, slug_valid, utf8_valid. */
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

void qr_lua_content_open(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"slugify", l_slugify}, {"slug_valid", l_slug_valid}, {"utf8_valid", l_utf8_valid}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
