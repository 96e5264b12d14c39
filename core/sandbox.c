/* Builds Lua states: standard libraries, a searcher for the embedded core modules, bindings. */
#include "sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "embedded.h"
#include "lua_api.h"

/* package.searchers entry: finds "quire.x" among the embedded core Lua files. */
static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const qr_embedded_t *f = qr_embedded_lua; f->name; f++) {
    if (strcmp(f->name, name) != 0) continue;
    char chunk[128];
    snprintf(chunk, sizeof chunk, "@lua/%s%s.lua", name, strchr(name, '.') ? "" : "/init");
    for (char *p = chunk + 5; *p; p++)
      if (*p == '.' && strcmp(p, ".lua") != 0) *p = '/';
    if (luaL_loadbufferx(L, f->data, f->len, chunk, "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, chunk + 1);
    return 2;
  }
  lua_pushfstring(L, "no embedded core module '%s'", name);
  return 1;
}

static int open_core(lua_State *L) {
  lua_newtable(L);
  qr_lua_store_open(L);
  qr_lua_content_open(L);
  qr_lua_os_open(L);
  qr_lua_template_open(L);
  qr_lua_markdown_open(L);
  lua_pushliteral(L, QUIRE_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushliteral(L, QUIRE_SOURCE_DIR);
  lua_setfield(L, -2, "source_dir");
  return 1;
}

lua_State *qr_sandbox_open(void) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  luaL_openlibs(L);
  /* Insert the embedded searcher right after the preload searcher. */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = n; i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_embedded);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 1);
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, open_core);
  lua_setfield(L, -2, "quire.core");
  lua_pop(L, 2);
  return L;
}

void qr_sandbox_close(lua_State *L) {
  if (L) lua_close(L);
}

int qr_sandbox_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int qr_sandbox_pcall(lua_State *L, int nargs, int nresults, int verbose) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, qr_sandbox_traceback);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  if (rc != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(error)";
    if (!verbose) {
      const char *tb = strstr(msg, "\nstack traceback:");
      fprintf(stderr, "quire: %.*s\n", tb ? (int)(tb - msg) : (int)strlen(msg), msg);
    } else {
      fprintf(stderr, "quire: %s\n", msg);
    }
    lua_pop(L, 1);
  }
  return rc;
}
