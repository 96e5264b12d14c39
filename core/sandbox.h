/* Lua states for the core: standard libraries (string matching bounded, pattern.h), the embedded
 * Lua half of the core, bindings; budgets on calls into plugin code. */
#ifndef QR_SANDBOX_H
#define QR_SANDBOX_H
#include <lua.h>

/* A new Lua state where require("quire.*") finds the embedded core modules and
 * require("quire.core") returns the C bindings. Owned by the caller: qr_sandbox_close. */
lua_State *qr_sandbox_open(void);
void qr_sandbox_close(lua_State *L);

/* Message handler for lua_pcall: turns an error into "message" plus a traceback in field 2.
 * Leaves the message string alone so `file:line: message` stays the first line. */
int qr_sandbox_traceback(lua_State *L);

/* Calls the function under nargs arguments with qr_sandbox_traceback; on error prints
 * "quire: <message>" to stderr (traceback too when verbose) and returns nonzero. */
int qr_sandbox_pcall(lua_State *L, int nargs, int nresults, int verbose);

/* For C that does long work on behalf of Lua code (pattern matching): the instructions left to
 * the running budgeted call (LLONG_MAX outside one, 0 once it ran out), and charging units of
 * work to it, which raises the budget error (longjmp) when it runs out. */
long long qr_sandbox_budget_left(lua_State *L);
void qr_sandbox_charge(lua_State *L, long long units);

#endif
