/* Lua binding for time zones: core.tz_check, core.tz_lookup, core.tz_from_local. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lua_api.h"
#include "tz.h"

/* Loaded zones, kept for the life of the process (zones are immutable; a site uses one or a
 * few). Past ZONES_MAX names the zone is loaded for the call and freed. */
#define ZONES_MAX 32
static struct {
  char name[QR_TZ_NAME_MAX + 1];
  qr_tz_t *zone;
} zones[ZONES_MAX];
static int nzones;

/* The zone named at idx; raises with the loader's message when it cannot be loaded. *owned is
 * set when the caller must free it (the cache was full). */
static qr_tz_t *zone_arg(lua_State *L, int idx, int *owned) {
  size_t len;
  const char *name = luaL_checklstring(L, idx, &len);
  *owned = 0;
  for (int i = 0; i < nzones; i++)
    if (strcmp(zones[i].name, name) == 0) return zones[i].zone;
  qr_tz_t *z;
  char err[512];
  if (qr_tz_load(NULL, name, &z, err, sizeof err) != 0) luaL_error(L, "%s", err);
  if (nzones == ZONES_MAX) {
    *owned = 1;
    return z;
  }
  memcpy(zones[nzones].name, name, len + 1); /* len <= QR_TZ_NAME_MAX: the loader checked */
  zones[nzones++].zone = z;
  return z;
}

/* core.tz_check(name) -> true | nil, message */
static int l_tz_check(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (int i = 0; i < nzones; i++)
    if (strcmp(zones[i].name, name) == 0) return lua_pushboolean(L, 1), 1;
  qr_tz_t *z;
  char err[512];
  if (qr_tz_load(NULL, name, &z, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  qr_tz_free(z);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.tz_lookup(name, epoch) -> offset seconds east of UTC, isdst, abbreviation, and the span
 * [from, until) of epochs around it with the same three (math.mininteger, math.maxinteger:
 * unbounded) */
static int l_tz_lookup(lua_State *L) {
  lua_Integer t = luaL_checkinteger(L, 2);
  int owned;
  qr_tz_t *z = zone_arg(L, 1, &owned);
  qr_tz_info_t info;
  qr_tz_lookup(z, (int64_t)t, &info);
  lua_pushinteger(L, info.offset);
  lua_pushboolean(L, info.isdst);
  lua_pushstring(L, info.abbr);
  lua_pushinteger(L, (lua_Integer)info.from);
  lua_pushinteger(L, (lua_Integer)info.until);
  if (owned) qr_tz_free(z);
  return 5;
}

/* core.tz_from_local(name, local_seconds) -> epoch, "exact" | "ambiguous" | "gap" */
static int l_tz_from_local(lua_State *L) {
  lua_Integer local = luaL_checkinteger(L, 2);
  int owned, kind;
  qr_tz_t *z = zone_arg(L, 1, &owned);
  int64_t t = qr_tz_from_local(z, (int64_t)local, &kind);
  if (owned) qr_tz_free(z);
  lua_pushinteger(L, (lua_Integer)t);
  lua_pushstring(L, kind == QR_TZ_EXACT ? "exact" : kind == QR_TZ_AMBIGUOUS ? "ambiguous" : "gap");
  return 2;
}

void qr_lua_tz_open(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"tz_check", l_tz_check}, {"tz_lookup", l_tz_lookup}, {"tz_from_local", l_tz_from_local}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
