/* Lua patterns with a step budget: string.find, match, gmatch and gsub with Lua 5.4's semantics,
 * but every step of the search counted, so a pattern that backtracks without end (".-.-.-b" on a
 * long subject, a trim over a long run of spaces) stops with an error instead of spinning in C
 * where no instruction hook can reach it. */
#ifndef QR_PATTERN_H
#define QR_PATTERN_H
#include <lua.h>

/* Replaces find, match, gmatch and gsub in the state's string table (and so the string
 * metatable's methods, and every copy of the table made after this). A call may take
 * qr_pattern_steps_base() steps plus 100 per byte of its subject; past that it raises
 * "... exceeded the pattern step limit ...". Inside a budgeted call (sandbox.h) the steps also
 * count against the instruction budget, whose error is raised when that runs out first. */
void qr_pattern_install(lua_State *L);

/* Registry key of a table of the standard library's find, match, gmatch and gsub, kept by
 * qr_pattern_install for tests that compare the two (core.stock_patterns). */
#define QR_PATTERN_STOCK "quire.stock_patterns"


/* The per-call base of the step limit (limits.pattern_steps); process-wide. Default 1,000,000. */
void qr_pattern_set_steps(long long base);
long long qr_pattern_steps_base(void);

#endif
