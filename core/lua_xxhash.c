/* Lua binding for XXH3 (Debian's libxxhash): the content hash a static export keeps per file to
 * tell a page rendered again with the same bytes from a changed one. Not a MAC and not meant to
 * resist a chosen collision: the pages are the site's own output. */
#include <lauxlib.h>
#include <lua.h>
#include <xxhash.h>

#include "lua_api.h"

#define SKIPS_MAX 64 /* byte ranges left out of one hash */

/* core.xxh128(data [, skips]) -> 32 lowercase hex digits: XXH3-128 of data, less the byte ranges
 * listed in skips ({ first1, last1, first2, last2, ... }, 1-based and inclusive, in increasing
 * order, not overlapping: at most 64 ranges), hashed as if those bytes were cut out. */
static int l_xxh128(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  XXH128_hash_t h;
  if (lua_isnoneornil(L, 2)) {
    h = XXH3_128bits(s, n);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer k = (lua_Integer)lua_rawlen(L, 2);
    luaL_argcheck(L, k % 2 == 0 && k / 2 <= SKIPS_MAX, 2, "pairs of positions, at most 64 ranges");
    size_t cut[2 * SKIPS_MAX]; /* 0-based [start, end) of each range, checked before the state is made */
    size_t at = 0;
    for (lua_Integer i = 0; i < k; i += 2) {
      lua_rawgeti(L, 2, i + 1);
      lua_rawgeti(L, 2, i + 2);
      int ok1, ok2;
      lua_Integer first = lua_tointegerx(L, -2, &ok1), last = lua_tointegerx(L, -1, &ok2);
      lua_pop(L, 2);
      luaL_argcheck(L, ok1 && ok2 && first >= 1 && (size_t)first - 1 >= at && last >= first - 1 && (size_t)last <= n, 2,
                    "ranges within the data, in order, not overlapping");
      cut[i] = (size_t)first - 1;
      cut[i + 1] = at = (size_t)last;
    }
    /* (the state is opaque in the shared library's ABI: made and freed here, nothing raised between) */
    XXH3_state_t *st = XXH3_createState();
    if (!st) return luaL_error(L, "xxh128: out of memory");
    XXH3_128bits_reset(st);
    at = 0;
    for (lua_Integer i = 0; i < k; i += 2) {
      XXH3_128bits_update(st, s + at, cut[i] - at);
      at = cut[i + 1];
    }
    XXH3_128bits_update(st, s + at, n - at);
    h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
  }
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  static const char hex[] = "0123456789abcdef";
  char out[32];
  for (int i = 0; i < 16; i++) {
    out[2 * i] = hex[c.digest[i] >> 4];
    out[2 * i + 1] = hex[c.digest[i] & 15];
  }
  lua_pushlstring(L, out, sizeof out);
  return 1;
}

void qr_lua_xxhash_open(lua_State *L) {
  lua_pushcfunction(L, l_xxh128);
  lua_setfield(L, -2, "xxh128");
}
