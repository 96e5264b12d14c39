/* core.media_probe / core.media_process: the media subsystem for the Lua half (quire.media). */
#include <lauxlib.h>
#include <lua.h>

#include "lua_api.h"
#include "media.h"

/* opts = { max_bytes = n, max_pixels = n, widths = { ascending ints } } */
static void read_opts(lua_State *L, int idx, qr_media_opts_t *o) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "max_bytes");
  lua_Integer mb = luaL_optinteger(L, -1, 20 * 1024 * 1024);
  lua_getfield(L, idx, "max_pixels");
  lua_Integer mp = luaL_optinteger(L, -1, 50 * 1000 * 1000);
  lua_pop(L, 2);
  luaL_argcheck(L, mb > 0 && mp > 0, idx, "max_bytes and max_pixels must be positive");
  o->max_bytes = (size_t)mb;
  o->max_pixels = (uint64_t)mp;
  o->nwidths = 0;
  lua_getfield(L, idx, "widths");
  if (lua_istable(L, -1)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    luaL_argcheck(L, n >= 1 && n <= QR_MEDIA_MAX_WIDTHS, idx, "widths: 1 to 16 widths");
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      lua_Integer w = lua_tointeger(L, -1);
      lua_pop(L, 1);
      luaL_argcheck(L, w >= 16 && w <= 10000 && (i == 1 || w > o->widths[i - 2]), idx,
                    "widths must be ascending whole numbers from 16 to 10000");
      o->widths[o->nwidths++] = (int)w;
    }
  }
  lua_pop(L, 1);
}

static void push_info(lua_State *L, const qr_media_info_t *in) {
  lua_createtable(L, 0, 8);
  lua_pushstring(L, in->hash);
  lua_setfield(L, -2, "hash");
  lua_pushstring(L, in->format);
  lua_setfield(L, -2, "format");
  lua_pushstring(L, in->ext);
  lua_setfield(L, -2, "ext");
  lua_pushinteger(L, in->width);
  lua_setfield(L, -2, "width");
  lua_pushinteger(L, in->height);
  lua_setfield(L, -2, "height");
  if (in->colour[0]) {
    lua_pushstring(L, in->colour);
    lua_setfield(L, -2, "colour");
  }
  lua_createtable(L, in->nvariants, 0);
  for (int i = 0; i < in->nvariants; i++) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, in->variants[i].width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, in->variants[i].height);
    lua_setfield(L, -2, "height");
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "variants");
}

/* core.media_probe(path, opts) -> { hash, format, ext, width, height } | nil, message */
static int l_media_probe(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  qr_media_opts_t o;
  read_opts(L, 2, &o);
  qr_media_info_t info;
  char err[512];
  if (qr_media_probe(path, &o, &info, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  push_info(L, &info);
  return 1;
}

/* core.media_process(path, dir, opts) -> { ..., colour, variants = { {width, height}... } }
 * | nil, message. Writes DIR/hh/rest-W.webp and .EXT files (see media.h). */
static int l_media_process(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *dir = luaL_checkstring(L, 2);
  qr_media_opts_t o;
  read_opts(L, 3, &o);
  luaL_argcheck(L, o.nwidths > 0, 3, "widths needed");
  qr_media_info_t info;
  char err[512];
  if (qr_media_process(path, dir, &o, &info, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  push_info(L, &info);
  return 1;
}

/* core.media_draw(path, width, height, seed) -> true | nil, message: a photo-like JPEG (demo). */
static int l_media_draw(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3), seed = luaL_checkinteger(L, 4);
  char err[512];
  if (qr_media_draw(path, (int)(w < 0 || w > 100000 ? 0 : w), (int)(h < 0 || h > 100000 ? 0 : h), (unsigned)seed, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

void qr_lua_media_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"media_probe", l_media_probe}, {"media_process", l_media_process},
                                 {"media_draw", l_media_draw}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
