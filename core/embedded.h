/* Files compiled into the binary: SQL migrations (text) and the Lua half of the core (bytecode
 * with debug info, from cmake/luabc.c). */
#ifndef QR_EMBEDDED_H
#define QR_EMBEDDED_H
#include <stddef.h>

typedef struct {
  const char *name; /* migration file name, or Lua module name ("quire.content") */
  const char *data; /* NUL-terminated contents (SQL text, or Lua bytecode), static */
  size_t len;
} qr_embedded_t;

/* Both arrays end with an entry whose name is NULL; migrations are sorted by name. */
extern const qr_embedded_t qr_embedded_migrations[];
extern const qr_embedded_t qr_embedded_pg_migrations[]; /* db/pg: the same numbers, for PostgreSQL */
extern const qr_embedded_t qr_embedded_lua[];

#endif
