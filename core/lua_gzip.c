/* Lua binding for gzip: files written beside a static export's pages for gzip_static. */
#include <lauxlib.h>
#include <libdeflate.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "lua_api.h"
#include "util.h"

/* libdeflate rather than zlib: whole-buffer only, which is all a file needs, and on the export's
 * pages its level 6 is 2.4 times as fast as zlib's 6 and 2.5% smaller (as small as zlib's 9). */
typedef struct {
  struct libdeflate_compressor *c[13]; /* one per level, made when first asked for */
  unsigned char *out;                  /* the output buffer kept for the next call (malloc'd) */
  size_t cap;
} gz_state;

/* An output buffer larger than this (a big static file's) is freed after the call, not kept. */
#define GZ_KEEP_MAX ((size_t)1 << 20)

static int gz_gc(lua_State *L) {
  gz_state *s = lua_touserdata(L, 1);
  for (int i = 0; i < 13; i++)
    if (s->c[i]) libdeflate_free_compressor(s->c[i]), s->c[i] = NULL;
  free(s->out);
  s->out = NULL, s->cap = 0;
  return 0;
}

/* Compresses the string at index 1 at the level at index `at` (default 9) into s->out, or past
 * GZ_KEEP_MAX into a userdata pushed on the stack (a big static file's: the GC frees it); returns
 * the output and sets *len (0: compression failed). */
static unsigned char *compress(lua_State *L, int at, size_t *len) {
  size_t n;
  const char *in = luaL_checklstring(L, 1, &n);
  int level = (int)luaL_optinteger(L, at, 9);
  luaL_argcheck(L, level >= 1 && level <= 12, at, "level 1..12");
  luaL_argcheck(L, n <= (size_t)0x7fffffff, 1, "at most 2 GiB");
  gz_state *s = lua_touserdata(L, lua_upvalueindex(1));
  if (!s->c[level] && !(s->c[level] = libdeflate_alloc_compressor(level))) luaL_error(L, "gzip: out of memory");
  size_t bound = libdeflate_gzip_compress_bound(s->c[level], n);
  unsigned char *out;
  if (bound > GZ_KEEP_MAX) {
    out = lua_newuserdatauv(L, bound, 0);
  } else {
    if (s->cap < bound) {
      free(s->out);
      s->cap = bound < 65536 ? 65536 : bound;
      s->out = qr_xmalloc(s->cap);
    }
    out = s->out;
  }
  *len = libdeflate_gzip_compress(s->c[level], in, n, out, bound);
  return out;
}

/* core.gzip(data [, level]) -> data in the gzip format (level 1..12, default 9: written once,
 * read many times). The compressor (some hundred kB) and the output buffer are kept for the
 * next call, in the function's upvalue. */
static int l_gzip(lua_State *L) {
  size_t len;
  unsigned char *out = compress(L, 2, &len);
  if (len == 0) return luaL_error(L, "gzip: compression failed");
  lua_pushlstring(L, (const char *)out, len);
  return 1;
}

/* core.gzip_file(data, level, root, file, tmp_prefix) -> true | nil, message[, link]: data
 * compressed (as core.gzip) and written to root/file through a temporary file beside it (as
 * core.write_file: nothing outside root), with no Lua string made of it. */
static int l_gzip_file(lua_State *L) {
  const char *root = luaL_checkstring(L, 3), *file = luaL_checkstring(L, 4), *prefix = luaL_checkstring(L, 5);
  size_t len;
  unsigned char *out = compress(L, 2, &len);
  if (len == 0) return luaL_error(L, "gzip: compression failed");
  return qr_lua_replace_beneath(L, root, file, prefix, out, len);
}

void qr_lua_gzip_open(lua_State *L) {
  gz_state *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, gz_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_gzip, 1);
  lua_setfield(L, -3, "gzip");
  lua_pushcclosure(L, l_gzip_file, 1);
  lua_setfield(L, -2, "gzip_file");
}
