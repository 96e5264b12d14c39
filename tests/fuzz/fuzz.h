/* Shared by the fuzz targets: the libFuzzer entry point each defines, and the Lua-side runner
 * for the targets whose code under test is Lua (WXR import, JSON, site.lua). */
#ifndef QR_FUZZ_H
#define QR_FUZZ_H
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A Lua state made on the first call (the full quire core, like `quire run`), in which chunk was
 * run: it returns the function each input is given to (as a string), and optionally a cleanup
 * function run at exit. Later calls return the same state. Borrowed; lives until exit. */
lua_State *qr_fuzz_lua_state(const char *chunk);

/* Calls the chunk's function with data. An error whose message starts with "BUG:" (the chunk's
 * oracle failed), or any error that is not one of the expected refusals the chunk caught, is
 * printed and aborts, so libFuzzer (or the replay run) records the input as a crash. */
void qr_fuzz_lua_run(lua_State *L, const uint8_t *data, size_t size);

#endif
