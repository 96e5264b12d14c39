/* The page cache: whole responses for anonymous GETs, with their gzip variant, each tagged with
 * the cache tags it was built from; a write bumps the versions of the tags it touches (table
 * cache_tags), so only the pages built from them go stale. Freshness costs one PRAGMA
 * data_version per request while nothing changed. */
#ifndef QR_CACHE_H
#define QR_CACHE_H
#include <sqlite3.h>

#include "http.h"

typedef struct qr_cache_s qr_cache_t;

/* db is borrowed and must outlive the cache. max_bytes bounds the bodies kept (least recently
 * used out first). Owned by the caller: qr_cache_free. */
qr_cache_t *qr_cache_new(sqlite3 *db, size_t max_bytes);
void qr_cache_free(qr_cache_t *c);

/* Brings the tag versions up to date when the database changed since the last call. Call it
 * once at the start of each request. */
void qr_cache_sync(qr_cache_t *c);

/* On a fresh hit copies the stored response (status, headers, body, ETag, gzip variant) into
 * res and returns 1; a stale entry is dropped and 0 returned. */
int qr_cache_get(qr_cache_t *c, const char *key, size_t klen, qr_http_response_t *res);

/* Stores a prepared response (gzip made) under key, tagged with tags (space-separated), at the
 * tag versions of the last sync, so a write that lands while the page renders makes it stale. */
void qr_cache_put(qr_cache_t *c, const char *key, size_t klen, const qr_http_response_t *res, const char *tags);

/* Entries, hits and misses so far (for tests and logs). */
void qr_cache_stats(const qr_cache_t *c, unsigned long *entries, unsigned long *hits, unsigned long *misses);

#endif
