/* Lua binding for the router: core.router() -> r; r:add(method, pattern, id); r:match(method, path). */
#include <lauxlib.h>
#include <lua.h>

#include "lua_api.h"
#include "router.h"
#include "util.h"

#define ROUTER_MT "quire.router"

typedef struct {
  qr_router_t *r;
} lrouter;

static qr_router_t *check(lua_State *L) { return ((lrouter *)luaL_checkudata(L, 1, ROUTER_MT))->r; }

static int l_add(lua_State *L) {
  qr_router_t *r = check(L);
  char err[256];
  if (qr_router_add(r, luaL_checkstring(L, 2), luaL_checkstring(L, 3), (int)luaL_checkinteger(L, 4), err, sizeof err))
    return luaL_error(L, "%s", err);
  return 0;
}

/* Pushes the percent-decoded value; returns 0 when it is not valid UTF-8 or holds a NUL. */
static int push_decoded(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n &&
        (hi = qr_hexval(s[i + 1])) >= 0 && (lo = qr_hexval(s[i + 2])) >= 0) {
      luaL_addchar(&b, (char)(hi * 16 + lo));
      i += 2;
    } else {
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
  size_t len;
  const char *v = lua_tolstring(L, -1, &len);
  for (size_t i = 0; i < len; i++)
    if (v[i] == '\0') return 0;
  return qr_utf8_valid(v, len);
}

/* r:match(method, path) -> id, params | nil, 404 | nil, 405, allow | nil, 400 (bad encoding) */
static int l_match(lua_State *L) {
  qr_router_t *r = check(L);
  const char *method = luaL_checkstring(L, 2);
  size_t len;
  const char *path = luaL_checklstring(L, 3, &len);
  qr_route_param_t params[QR_ROUTE_MAX_PARAMS];
  int handler = 0, np = 0;
  char allow[256];
  int rc = qr_router_match(r, method, path, len, &handler, params, &np, allow, sizeof allow);
  if (rc == QR_ENOENT) {
    lua_pushnil(L);
    lua_pushinteger(L, 404);
    return 2;
  }
  if (rc == QR_EMETHOD) {
    lua_pushnil(L);
    lua_pushinteger(L, 405);
    lua_pushstring(L, allow);
    return 3;
  }
  lua_pushinteger(L, handler);
  lua_createtable(L, 0, np);
  for (int i = 0; i < np; i++) {
    lua_pushlstring(L, params[i].name, params[i].name_len);
    if (!push_decoded(L, params[i].value, params[i].value_len)) {
      lua_pushnil(L);
      lua_pushinteger(L, 400);
      return 2;
    }
    lua_rawset(L, -3);
  }
  return 2;
}

static int l_gc(lua_State *L) {
  lrouter *u = luaL_checkudata(L, 1, ROUTER_MT);
  qr_router_free(u->r);
  u->r = NULL;
  return 0;
}

static int l_new(lua_State *L) {
  lrouter *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->r = qr_router_new();
  luaL_setmetatable(L, ROUTER_MT);
  return 1;
}

void qr_lua_router_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"add", l_add}, {"match", l_match}, {NULL, NULL}};
  if (luaL_newmetatable(L, ROUTER_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "router");
}
