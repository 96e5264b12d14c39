/* Lua binding for core/regex: compiled PCRE2 patterns as userdata, freed by __gc. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>

#include "lua_api.h"
#include "regex.h"

#define REGEX_MT "quire.regex"

typedef struct {
  qr_regex_t *re;
} regex_ud;

/* core.regex(pattern) -> regex | nil, "message at offset N" */
static int l_regex(lua_State *L) {
  size_t len;
  const char *pattern = luaL_checklstring(L, 1, &len);
  regex_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
  ud->re = NULL;
  luaL_setmetatable(L, REGEX_MT);
  char err[300];
  if (!(ud->re = qr_regex_compile(pattern, len, err, sizeof err))) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

/* regex:gsub(subject, replacement) -> text, count; raises on a runaway match or a bad $group. */
static int l_gsub(lua_State *L) {
  regex_ud *ud = luaL_checkudata(L, 1, REGEX_MT);
  size_t len, rlen, outlen;
  const char *subject = luaL_checklstring(L, 2, &len);
  const char *repl = luaL_checklstring(L, 3, &rlen);
  char *out, err[300];
  int n = qr_regex_replace(ud->re, subject, len, repl, rlen, &out, &outlen, err, sizeof err);
  if (n < 0) return luaL_error(L, "%s", err);
  lua_pushlstring(L, out, outlen);
  free(out);
  lua_pushinteger(L, n);
  return 2;
}

static int l_gc(lua_State *L) {
  regex_ud *ud = luaL_checkudata(L, 1, REGEX_MT);
  qr_regex_free(ud->re);
  ud->re = NULL;
  return 0;
}

void qr_lua_regex_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"gsub", l_gsub}, {NULL, NULL}};
  luaL_newmetatable(L, REGEX_MT);
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_regex);
  lua_setfield(L, -2, "regex");
}
