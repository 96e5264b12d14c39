/* Lua binding for gzip: files written beside a static export's pages for gzip_static. */
#include <lauxlib.h>
#include <lua.h>
#include <zlib.h>

#include "lua_api.h"

/* core.gzip(data [, level]) -> data in the gzip format (level 1..9, default 9: written once,
 * read many times). The output buffer is a userdata, so a Lua error cannot leak it. */
static int l_gzip(lua_State *L) {
  size_t n;
  const char *in = luaL_checklstring(L, 1, &n);
  int level = (int)luaL_optinteger(L, 2, 9);
  luaL_argcheck(L, level >= 1 && level <= 9, 2, "level 1..9");
  luaL_argcheck(L, n <= (size_t)0x7fffffff, 1, "at most 2 GiB");
  z_stream z = {0};
  if (deflateInit2(&z, level, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) != Z_OK) return luaL_error(L, "gzip: out of memory");
  size_t bound = deflateBound(&z, (uLong)n) + 32;
  unsigned char *out = lua_newuserdatauv(L, bound, 0);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)bound;
  int rc = deflate(&z, Z_FINISH);
  size_t len = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return luaL_error(L, "gzip: deflate failed (%d)", rc);
  lua_pushlstring(L, (const char *)out, len);
  return 1;
}

void qr_lua_gzip_open(lua_State *L) {
  lua_pushcfunction(L, l_gzip);
  lua_setfield(L, -2, "gzip");
}
