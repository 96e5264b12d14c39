/* Lua binding for Brotli (Debian's libbrotli): .br files written beside a static export's pages,
 * for servers and CDNs that serve precompressed Brotli. */
#include <brotli/encode.h>
#include <lauxlib.h>
#include <lua.h>

#include "lua_api.h"

/* core.brotli(data [, quality]) -> data in the Brotli format (quality 0..11, default 5: on a
 * page of some kB, 11 is 10% smaller at 80 times the time). The output buffer is a userdata, so
 * a Lua error cannot leak it. */
static int l_brotli(lua_State *L) {
  size_t n;
  const char *in = luaL_checklstring(L, 1, &n);
  int quality = (int)luaL_optinteger(L, 2, 5);
  luaL_argcheck(L, quality >= BROTLI_MIN_QUALITY && quality <= BROTLI_MAX_QUALITY, 2, "quality 0..11");
  luaL_argcheck(L, n <= (size_t)0x7fffffff, 1, "at most 2 GiB");
  size_t len = BrotliEncoderMaxCompressedSize(n);
  if (len == 0) len = n + 1024; /* (0: the bound overflowed; only for sizes refused above) */
  uint8_t *out = lua_newuserdatauv(L, len, 0);
  if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, n, (const uint8_t *)in, &len, out))
    return luaL_error(L, "brotli: compression failed");
  lua_pushlstring(L, (const char *)out, len);
  return 1;
}

void qr_lua_brotli_open(lua_State *L) {
  lua_pushcfunction(L, l_brotli);
  lua_setfield(L, -2, "brotli");
}
