/* Lua binding for the Mustache engine: core.template_* functions behind quire.template. */
#include <lauxlib.h>
#include <lua.h>
#include <sys/stat.h>

#include "lua_api.h"
#include "template.h"

static const qr_template_t *check_template(lua_State *L, int idx) {
  const qr_template_t *t = qr_template_to(L, idx);
  if (!t) luaL_typeerror(L, idx, "template");
  return t;
}

/* core.template_compile(source [, name]) -> template; raises "name:line:col: message". */
static int l_compile(lua_State *L) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  qr_template_load(L, src, len, luaL_optstring(L, 2, "<string>"));
  return 1;
}

/* core.template_render(template, view, resolver, partials, strict [, cache]) -> string.
 * resolver(name, partials) returns the template for a partial or parent, or nil [, detail];
 * cache (from core.template_cache) keeps what it found across renders. */
static int l_render(lua_State *L) {
  check_template(L, 1);
  lua_settop(L, 6);
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  qr_template_render_opts_t o = {
      .view = 2,
      .resolver = lua_isnil(L, 3) ? 0 : 3,
      .partials = lua_isnil(L, 4) ? 0 : 4,
      .strict = lua_toboolean(L, 5),
      .cache = lua_isnil(L, 6) ? 0 : 6,
  };
  qr_template_render(L, 1, &o);
  return 1;
}

/* core.template_cache() -> an empty cache of resolved partials for core.template_render */
static int l_cache(lua_State *L) {
  qr_template_push_cache(L);
  return 1;
}

/* core.template_name(template) -> the name it was compiled under */
static int l_name(lua_State *L) {
  lua_pushstring(L, qr_template_name(check_template(L, 1)));
  return 1;
}

/* core.template_stat(path) -> modification time in nanoseconds, size | nil when not a regular file.
 * Nanoseconds, so a template saved twice within a second is still seen to change (dev mode). */
static int l_stat(lua_State *L) {
  struct stat st;
  if (stat(luaL_checkstring(L, 1), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec * 1000000000 + (lua_Integer)st.st_mtim.tv_nsec);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  return 2;
}

/* core.template_escape(s) -> s with & < > " ' as HTML entities, as {{x}} prints it */
static int l_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  size_t len = qr_template_escape(NULL, s, n);
  luaL_Buffer lb;
  char *dst = luaL_buffinitsize(L, &lb, len);
  qr_template_escape(dst, s, n);
  luaL_pushresultsize(&lb, len);
  return 1;
}

void qr_lua_template_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"template_compile", l_compile}, {"template_render", l_render},
                                 {"template_name", l_name},       {"template_stat", l_stat},
                                 {"template_escape", l_escape},   {"template_cache", l_cache},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
