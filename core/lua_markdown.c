/* Lua binding for Markdown (core.markdown_render); output goes through html's buffer userdata. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "lua_api.h"
#include "markdown.h"

static int opt_bool(lua_State *L, int idx, const char *key, int dflt) {
  lua_getfield(L, idx, key);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* core.markdown_render(src [, opts]) -> html | nil, err. opts: untrusted, images, heading_ids,
 * relative (booleans), id_prefix, rel (string, or false for none), schemes, image_schemes
 * (lists). The Lua half (quire.markdown) validates opts; here unknown keys are ignored. */
static int l_markdown_render(lua_State *L) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  const char *links[QR_LUA_MAX_SCHEMES + 1], *images[QR_LUA_MAX_SCHEMES + 1];
  qr_markdown_opts_t o;
  if (lua_isnoneornil(L, 2)) {
    qr_markdown_opts_init(&o, 0);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    qr_markdown_opts_init(&o, opt_bool(L, 2, "untrusted", 0));
    o.images = opt_bool(L, 2, "images", o.images);
    o.heading_ids = opt_bool(L, 2, "heading_ids", o.heading_ids);
    o.relative = opt_bool(L, 2, "relative", o.relative);
    lua_getfield(L, 2, "id_prefix"); /* strings stay referenced by opts */
    if (lua_type(L, -1) == LUA_TSTRING) o.id_prefix = lua_tostring(L, -1);
    lua_getfield(L, 2, "rel");
    if (lua_type(L, -1) == LUA_TSTRING) o.rel = lua_tostring(L, -1);
    else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) o.rel = NULL;
    lua_getfield(L, 2, "schemes");
    if (lua_istable(L, -1)) qr_lua_schemes(L, lua_gettop(L), links, "markdown"), o.link_schemes = links;
    lua_getfield(L, 2, "image_schemes");
    if (lua_istable(L, -1)) qr_lua_schemes(L, lua_gettop(L), images, "markdown"), o.image_schemes = images;
  }
  qr_buf_t *out = qr_lua_buf_new(L);
  int rc = qr_markdown_render(src, len, &o, out);
  if (rc < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "markdown: %s", rc == QR_ELIMIT ? "input too large" : qr_strerror(rc));
    return 2;
  }
  return qr_lua_buf_push(L, out);
}

void qr_lua_markdown_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"markdown_render", l_markdown_render}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
