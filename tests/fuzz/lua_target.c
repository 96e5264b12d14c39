/* The Lua-side runner of the fuzz targets whose code under test is Lua. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sandbox.h"

static lua_State *state;

/* Runs the chunk's cleanup function (its second result: temporary folders) at exit. */
static void cleanup(void) {
  lua_getfield(state, LUA_REGISTRYINDEX, "quire.fuzz.cleanup");
  if (lua_isfunction(state, -1)) qr_sandbox_pcall(state, 0, 0, 1);
  else lua_pop(state, 1);
}

lua_State *qr_fuzz_lua_state(const char *chunk) {
  if (state) return state;
  lua_State *L = qr_sandbox_open();
  if (!L) abort();
  if (luaL_loadbufferx(L, chunk, strlen(chunk), "=fuzz", "t") != LUA_OK) {
    fprintf(stderr, "fuzz: the target's Lua chunk does not compile: %s\n", lua_tostring(L, -1));
    abort();
  }
  if (qr_sandbox_pcall(L, 0, 2, 1) != LUA_OK || !lua_isfunction(L, -2)) abort();
  lua_setfield(L, LUA_REGISTRYINDEX, "quire.fuzz.cleanup");
  lua_setfield(L, LUA_REGISTRYINDEX, "quire.fuzz.target");
  state = L;
  atexit(cleanup);
  return L;
}

void qr_fuzz_lua_run(lua_State *L, const uint8_t *data, size_t size) {
  lua_getfield(L, LUA_REGISTRYINDEX, "quire.fuzz.target");
  lua_pushlstring(L, (const char *)data, size);
  if (qr_sandbox_pcall(L, 1, 0, 1) != LUA_OK) abort(); /* the message and traceback are printed */
  /* Each input's garbage goes now, so one input's leftovers never count against the next. */
  lua_gc(L, LUA_GCCOLLECT);
}
