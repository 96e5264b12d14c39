/* The C functions each Lua binding file exports to the state builder (sandbox.c). */
#ifndef QR_LUA_API_H
#define QR_LUA_API_H
#include <lua.h>

#include "store.h"

/* Each adds its functions as fields of the table on top of the stack (quire.core). */
void qr_lua_store_open(lua_State *L);
void qr_lua_content_open(lua_State *L);
void qr_lua_os_open(lua_State *L);
void qr_lua_router_open(lua_State *L);
void qr_lua_crypto_open(lua_State *L);
void qr_lua_server_open(lua_State *L);
void qr_lua_template_open(lua_State *L); /* core.template_* */
void qr_lua_markdown_open(lua_State *L); /* core.markdown_*, core.html_* */
void qr_lua_related_open(lua_State *L);  /* core.related_rank */
void qr_lua_regex_open(lua_State *L);    /* core.regex (PCRE2) */

/* The store behind a store userdata at idx, or NULL (borrowed; the userdata owns it). */
qr_store_t *qr_lua_store_get(lua_State *L, int idx);

#endif
