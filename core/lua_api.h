/* The C functions each Lua binding file exports to the state builder (sandbox.c). */
#ifndef QR_LUA_API_H
#define QR_LUA_API_H
#include <lua.h>

#include "store.h"
#include "util.h"

/* Each adds its functions as fields of the table on top of the stack (quire.core). */
void qr_lua_store_open(lua_State *L);
void qr_lua_pg_open(lua_State *L); /* core.open_pg, core.pg_translate (PostgreSQL store) */
/* A store check's problem reporter (both stores): appends {what=, detail=} to the list on the
 * top of ud's (a lua_State's) stack. */
void qr_lua_check_report(void *ud, const char *what, const char *detail);
void qr_lua_content_open(lua_State *L);
void qr_lua_os_open(lua_State *L);
/* For the bindings that write or look inside a folder and nowhere else (core.write_file,
 * core.copy_file, core.gzip_file, core.remove_at, core.stat_at, core.siblings_at, core.read_at):
 * opens the folder holding rel under root as qr_dir_open_beneath does (make: making those missing). Returns its
 * descriptor (the caller closes it) with *name set; or pushes nil, a message naming what failed
 * and the path of the symbolic link in the way (or nil), and returns -1: the caller returns 3. */
int qr_lua_open_beneath(lua_State *L, const char *root, const char *rel, int make, const char **name);
/* Writes data[0..n) to root/file through the temporary file prefix NAME beside it (its missing
 * folders made; qr_file_replace_at): returns what a binding returns, true or nil, a message and
 * the symbolic link in the way (core.write_file, core.gzip_file). */
int qr_lua_replace_beneath(lua_State *L, const char *root, const char *file, const char *prefix, const void *data, size_t n);
/* Pushes nil and "ROOT/DIR/LEAF: <errno's message>" (DIR: rel's folder, the part of rel before
 * name; LEAF: the name that failed, in it); returns 2. */
int qr_lua_errno_beneath(lua_State *L, const char *root, const char *rel, const char *name, const char *leaf);
void qr_lua_router_open(lua_State *L);
void qr_lua_crypto_open(lua_State *L);
/* argon2id for the thread pool (no Lua; safe on any thread): hash pw into out ("$argon2id$v=19$
 * m=65536,t=3,p=1$...", RFC 9106's second recommended option), 0 or -1; verify: 1 when pw
 * matches encoded. */
#define QR_PASSWORD_HASH_MAX 128
int qr_crypto_password_hash(const char *pw, size_t len, char out[QR_PASSWORD_HASH_MAX]);
int qr_crypto_password_verify(const char *encoded, const char *pw, size_t len);
void qr_lua_server_open(lua_State *L);
void qr_lua_template_open(lua_State *L); /* core.template_* */
void qr_lua_markdown_open(lua_State *L); /* core.markdown_render */
void qr_lua_html_open(lua_State *L);     /* core.html_*, core.url_safe */
void qr_lua_related_open(lua_State *L);  /* core.related_rank, related_profiles, related_candidates */
void qr_lua_regex_open(lua_State *L);    /* core.regex (PCRE2) */
void qr_lua_media_open(lua_State *L);    /* core.media_probe, core.media_process (libvips) */
void qr_lua_multipart_open(lua_State *L); /* core.multipart_read */
void qr_lua_tz_open(lua_State *L);       /* core.tz_check, core.tz_lookup, core.tz_from_local */
void qr_lua_gzip_open(lua_State *L);     /* core.gzip (libdeflate) */
void qr_lua_brotli_open(lua_State *L);   /* core.brotli (libbrotlienc) */
void qr_lua_xxhash_open(lua_State *L);   /* core.xxh128 (libxxhash) */

/* A text buffer for a binding's output, in a new userdata pushed on the stack, so a Lua error
 * before the result is pushed cannot leak it (its __gc frees it). Owned by the userdata. */
qr_buf_t *qr_lua_buf_new(lua_State *L);

/* Pushes b's text as a string and frees b's memory early; returns 1. */
int qr_lua_buf_push(lua_State *L, qr_buf_t *b);

/* Reads the list of URL scheme names at idx into list (room for QR_LUA_MAX_SCHEMES + 1; NULL-
 * terminated; strings borrowed from the table, which must stay on the stack). Raises on more
 * than QR_LUA_MAX_SCHEMES or a non-string, naming what. */
#define QR_LUA_MAX_SCHEMES 16
void qr_lua_schemes(lua_State *L, int idx, const char **list, const char *what);

/* The store behind a store userdata at idx, or NULL (borrowed; the userdata owns it). */
qr_store_t *qr_lua_store_get(lua_State *L, int idx);
/* The PostgreSQL store behind a store userdata at idx, or NULL (borrowed, as above). */
#include "pg.h"
qr_pg_t *qr_lua_pg_get(lua_State *L, int idx);

#endif
