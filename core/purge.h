/* Edge purges: one HTTP request on the worker's loop (never blocking it), for the sender in
 * lua/quire/edge.lua. Lua: core.edge_purge(url, keys, timeout_ms, fn) sends
 * "PURGE <path>" with the header "xkey-purge: <keys>" to url (http://host:port/path) and calls
 * fn(status) with the HTTP status, or fn(nil, message) on a DNS, connect, write or read error
 * or when timeout_ms passes first. Raises when no worker loop runs (outside `quire serve`),
 * for a URL that is not http://HOST[:PORT][/PATH], or for keys with bytes a header cannot hold.
 * The request owns copies of what it needs; fn is held until it is called, once. */
#ifndef QR_PURGE_H
#define QR_PURGE_H
#include <lua.h>

#define QR_PURGE_KEYS_MAX 16384 /* bytes of keys in one request */

void qr_lua_purge_open(lua_State *L);

#endif
