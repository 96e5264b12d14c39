/* Lua binding for Markdown and the HTML sanitizer (quire.markdown, quire.html). Placeholder. */
#include <lua.h>

#include "lua_api.h"

void qr_lua_markdown_open(lua_State *L) { (void)L; }
