/* Lua binding for the Mustache engine (quire.template). Placeholder until the engine lands. */
#include <lua.h>

#include "lua_api.h"

void qr_lua_template_open(lua_State *L) { (void)L; }
