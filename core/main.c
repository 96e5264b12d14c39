/* quire: the command-line entry point. Commands are dispatched by lua/quire/cli.lua. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>

#include "sandbox.h"

int main(int argc, char **argv) {
  lua_State *L = qr_sandbox_open();
  if (!L) {
    fprintf(stderr, "quire: cannot create a Lua state (out of memory)\n");
    return 1;
  }
  lua_getglobal(L, "require");
  lua_pushliteral(L, "quire.cli");
  if (qr_sandbox_pcall(L, 1, 1, 1) != LUA_OK) {
    qr_sandbox_close(L);
    return 1;
  }
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  int status = 1;
  if (qr_sandbox_pcall(L, 1, 1, 1) == LUA_OK) status = (int)luaL_optinteger(L, -1, 0);
  qr_sandbox_close(L);
  return status;
}
