/* Lua binding for the HTML sanitizer, escaping and URL checks (core.html_*, core.url_*), and the
 * output-buffer userdata the text bindings share. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "html.h"
#include "lua_api.h"
#include "markdown.h"

#define BUF_MT "quire.scratch"
#define POLICY_MT "quire.html.policy"

/* Output buffers live in a userdata so a Lua error (memory cap) while pushing the result
 * cannot leak them: __gc frees whatever is left. */
static int buf_gc(lua_State *L) {
  qr_buf_free(luaL_checkudata(L, 1, BUF_MT));
  return 0;
}

qr_buf_t *qr_lua_buf_new(lua_State *L) {
  qr_buf_t *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  if (luaL_newmetatable(L, BUF_MT)) { /* first use in this state */
    lua_pushcfunction(L, buf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

int qr_lua_buf_push(lua_State *L, qr_buf_t *b) {
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  qr_buf_free(b);
  return 1;
}

void qr_lua_schemes(lua_State *L, int idx, const char **list, const char *what) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n > QR_LUA_MAX_SCHEMES) luaL_error(L, "%s: at most %d schemes", what, QR_LUA_MAX_SCHEMES);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "%s: schemes must be strings", what);
    list[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the table */
  }
  list[n] = NULL;
}

static int push_error(lua_State *L, int rc, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, rc == QR_ELIMIT ? "input too large or too deeply nested" : qr_strerror(rc));
  return 2;
}

static int opt_bool(lua_State *L, int idx, const char *key, int dflt) {
  lua_getfield(L, idx, key);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ---- Policies ---- */

typedef struct {
  qr_html_policy_t *p;
} lpolicy;

static int policy_gc(lua_State *L) {
  lpolicy *u = luaL_checkudata(L, 1, POLICY_MT);
  qr_html_policy_free(u->p);
  u->p = NULL;
  return 0;
}

static lpolicy *new_policy(lua_State *L) {
  lpolicy *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->p = NULL;
  luaL_setmetatable(L, POLICY_MT);
  u->p = qr_html_policy_new(); /* owned by the userdata from here on */
  return u;
}

static void add_attrs(lua_State *L, qr_html_policy_t *p, const char *tag, int idx) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    const char *attr = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING || qr_html_policy_allow_attr(p, tag, attr) < 0)
      luaL_error(L, "html policy: attribute %s on <%s> cannot be allowed", attr ? attr : "(not a string)", tag);
    lua_pop(L, 1);
  }
}

static void add_schemes(lua_State *L, qr_html_policy_t *p, const char *attr, int idx) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    const char *s = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING || qr_html_policy_allow_scheme(p, attr, s) < 0)
      luaL_error(L, "html policy: bad scheme %s%s%s", s ? s : "(not a string)", attr ? " for " : "", attr ? attr : "");
    lua_pop(L, 1);
  }
}

/* core.html_policy(spec) -> policy. spec = { elements = { tag = {attr...} | true }, attributes =
 * {attr...}, schemes = { scheme..., attr = {scheme...} }, relative = bool, rel = string }.
 * Raises on anything it cannot honour (unknown or forbidden element/attribute, bad scheme). */
static int l_html_policy(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  qr_html_policy_t *p = new_policy(L)->p;
  int top = lua_gettop(L);
  lua_getfield(L, 1, "elements");
  if (!lua_istable(L, -1)) luaL_error(L, "html policy: 'elements' must be a table");
  for (lua_pushnil(L); lua_next(L, top + 1); lua_pop(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "html policy: element names must be strings");
    const char *tag = lua_tostring(L, -2);
    if (qr_html_policy_allow_element(p, tag) < 0) luaL_error(L, "html policy: element <%s> cannot be allowed", tag);
    if (lua_istable(L, -1)) add_attrs(L, p, tag, lua_gettop(L));
    else if (!lua_isboolean(L, -1) || !lua_toboolean(L, -1))
      luaL_error(L, "html policy: elements.%s must be a list of attributes or true", tag);
  }
  lua_settop(L, top);
  lua_getfield(L, 1, "attributes");
  if (lua_istable(L, -1)) add_attrs(L, p, "*", top + 1);
  else if (!lua_isnil(L, -1)) luaL_error(L, "html policy: 'attributes' must be a list");
  lua_settop(L, top);
  lua_getfield(L, 1, "schemes");
  if (lua_istable(L, -1)) {
    add_schemes(L, p, NULL, top + 1);
    for (lua_pushnil(L); lua_next(L, top + 1); lua_pop(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING) continue; /* the list part, done above */
      if (!lua_istable(L, -1)) luaL_error(L, "html policy: schemes.%s must be a list", lua_tostring(L, -2));
      add_schemes(L, p, lua_tostring(L, -2), lua_gettop(L));
    }
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "html policy: 'schemes' must be a table");
  }
  lua_settop(L, top);
  qr_html_policy_set_relative(p, opt_bool(L, 1, "relative", 1));
  lua_getfield(L, 1, "rel");
  if (lua_type(L, -1) == LUA_TSTRING) qr_html_policy_set_rel(p, lua_tostring(L, -1));
  else if (!lua_isnil(L, -1) && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
    luaL_error(L, "html policy: 'rel' must be a string");
  lua_settop(L, top);
  return 1;
}

/* core.html_default_policy() -> policy for article bodies (see qr_html_policy_default). */
static int l_html_default_policy(lua_State *L) {
  lpolicy *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->p = NULL;
  luaL_setmetatable(L, POLICY_MT);
  u->p = qr_html_policy_default();
  return 1;
}

/* core.html_is_policy(v) -> boolean */
static int l_html_is_policy(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, POLICY_MT) != NULL);
  return 1;
}

/* core.html_sanitize(html, policy) -> html | nil, err */
static int l_html_sanitize(lua_State *L) {
  size_t len;
  const char *html = luaL_checklstring(L, 1, &len);
  lpolicy *u = luaL_checkudata(L, 2, POLICY_MT);
  qr_buf_t *out = qr_lua_buf_new(L);
  int rc = qr_html_sanitize(html, len, u->p, out);
  if (rc < 0) return push_error(L, rc, "html.sanitize");
  return qr_lua_buf_push(L, out);
}

/* core.html_markdown(src, policy) -> html | nil, err: editor Markdown rendered (quire.markdown's
 * defaults) and sanitized with policy, as html_sanitize(markdown_render(src), policy) gives it,
 * mostly without parsing the HTML again (qr_markdown_render_sanitized). */
static int l_html_markdown(lua_State *L) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  lpolicy *u = luaL_checkudata(L, 2, POLICY_MT);
  qr_markdown_opts_t o;
  qr_markdown_opts_init(&o, 0);
  qr_buf_t *out = qr_lua_buf_new(L);
  int rc = qr_markdown_render_sanitized(src, len, &o, u->p, out);
  if (rc < 0) return push_error(L, rc, "html.markdown");
  return qr_lua_buf_push(L, out);
}

/* core.html_audit(html) -> count, findings (one per line) | nil, err. See qr_html_audit. */
static int l_html_audit(lua_State *L) {
  size_t len;
  const char *html = luaL_checklstring(L, 1, &len);
  qr_buf_t *out = qr_lua_buf_new(L);
  int n = qr_html_audit(html, len, out);
  if (n < 0) return push_error(L, n, "html.audit");
  lua_pushinteger(L, n);
  qr_lua_buf_push(L, out);
  return 2;
}

static int escape_with(lua_State *L, void (*fn)(qr_buf_t *, const char *, size_t)) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  qr_buf_t *out = qr_lua_buf_new(L);
  fn(out, s, len);
  if (out->len == len && (len == 0 || memcmp(out->data, s, len) == 0)) { /* nothing to escape: no copy */
    qr_buf_free(out);
    lua_pushvalue(L, 1);
    return 1;
  }
  return qr_lua_buf_push(L, out);
}

static int l_html_escape(lua_State *L) { return escape_with(L, qr_html_escape); }
static int l_html_attr(lua_State *L) { return escape_with(L, qr_html_escape_attr); }

/* core.url_safe(url [, schemes]) -> boolean. schemes: a list of names, with `relative = false`
 * to refuse relative URLs; default http, https, mailto and relative. */
static int l_url_safe(lua_State *L) {
  static const char *const dflt[] = {"http", "https", "mailto", NULL};
  size_t len;
  const char *url = luaL_checklstring(L, 1, &len);
  const char *list[QR_LUA_MAX_SCHEMES + 1];
  const char *const *schemes = dflt;
  int relative = 1;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    qr_lua_schemes(L, 2, list, "url.safe");
    schemes = list;
    relative = opt_bool(L, 2, "relative", 1);
  }
  lua_pushboolean(L, qr_url_allowed(url, len, schemes, relative));
  return 1;
}

void qr_lua_html_open(lua_State *L) {
  static const luaL_Reg policy_mt[] = {{"__gc", policy_gc}, {NULL, NULL}};
  static const luaL_Reg fns[] = {
      {"html_policy", l_html_policy}, {"html_default_policy", l_html_default_policy},
      {"html_is_policy", l_html_is_policy}, {"html_sanitize", l_html_sanitize}, {"html_markdown", l_html_markdown}, {"html_audit", l_html_audit},
      {"html_escape", l_html_escape}, {"html_attr", l_html_attr}, {"url_safe", l_url_safe},
      {NULL, NULL}};
  luaL_newmetatable(L, POLICY_MT);
  luaL_setfuncs(L, policy_mt, 0);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  luaL_setfuncs(L, fns, 0);
}
