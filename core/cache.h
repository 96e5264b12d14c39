/* The page cache: whole responses for anonymous GETs, with their gzip variant, each tagged with
 * the cache tags it was built from; a write bumps the versions of the tags it touches (table
 * cache_tags), so only the pages built from them go stale. Freshness costs one look at the
 * WAL-index header per request while nothing changed (qr_store_data_version). */
#ifndef QR_CACHE_H
#define QR_CACHE_H
#include "http.h"
#include "pg.h"
#include "store.h"

typedef struct qr_cache_s qr_cache_t;

/* store is borrowed and must outlive the cache. max_bytes bounds the bodies kept (least recently
 * used out first). Owned by the caller: qr_cache_free. */
qr_cache_t *qr_cache_new(qr_store_t *store, size_t max_bytes);
/* The same over PostgreSQL (pg borrowed, must outlive the cache): a sync reads the tags changed
 * since the last version seen only when qr_pg_heard_version moved (a commit that wrote was heard
 * by NOTIFY quire_data, or the connection was re-established: notifications sent meanwhile were
 * lost, the versions are the log it catches up from) or this connection wrote. Pages go stale on other nodes after the commit plus the
 * notification's delay. A sync that cannot reach the server keeps the pages and tries again. */
qr_cache_t *qr_cache_new_pg(qr_pg_t *pg, size_t max_bytes);
void qr_cache_free(qr_cache_t *c);

/* Stale-while-revalidate: a hot page (asked for 10 times a second or more) whose tags moved may
 * still be given, for at most grace_ms after the write (0, the default: never), while its one
 * refresh is due; see qr_cache_get. */
void qr_cache_set_grace(qr_cache_t *c, long long grace_ms);

/* The tag a write bumps when it takes something out of public view (unpublish, trash, delete, a
 * comment hidden): no page kept before that write is given stale any more, only fresh. */
#define QR_CACHE_WITHDRAWN_TAG "quire:withdrawn"

/* Brings the tag versions up to date when the database changed since the last call. Call it
 * once at the start of each request. */
void qr_cache_sync(qr_cache_t *c);

/* The store's data_version the last sync read (over PostgreSQL as far as notifications tell:
 * qr_pg_heard_version), what a memo of reads may compare against; or -1 before one did or when
 * it failed (the memo then asks the store itself). */
long long qr_cache_data_version(const qr_cache_t *c);

/* What qr_cache_get found. */
enum {
  QR_CACHE_MISS = 0,
  QR_CACHE_HIT = 1,          /* fresh */
  QR_CACHE_STALE = 2,        /* the previous copy: the caller must refresh it (qr_cache_put, or
                              * qr_cache_drop when the refresh may not be kept) */
  QR_CACHE_STALE_QUEUED = 3, /* the previous copy; its refresh was asked for already */
};

/* On a fresh hit copies the stored response (status, headers, ETag, and the one body the client
 * will get: the gzip variant when want_gzip and there is one, else the identity body) into res,
 * adds an Age header, and returns QR_CACHE_HIT. A hot page whose tags moved is given the same way
 * (QR_CACHE_STALE, then _QUEUED until it is refreshed) only while the write that moved them is
 * surely less than the grace old (it came after the previous sync, which is less than the grace
 * ago) and no write withdrew anything since the page was kept (QR_CACHE_WITHDRAWN_TAG);
 * otherwise a stale or expired entry is dropped and QR_CACHE_MISS returned. */
int qr_cache_get(qr_cache_t *c, const char *key, size_t klen, qr_http_response_t *res, int want_gzip);

/* Stores a prepared response (gzip made) under key, tagged with tags (space-separated), at the
 * tag versions of the last sync, so a write that lands while the page renders makes it stale.
 * lifetime is decided by the caller (qr_worker_lifetime): 0 not kept, -1 until a tag moves, else
 * at most that many seconds. Returns 1 when stored. Everything is copied. */
int qr_cache_put(qr_cache_t *c, const char *key, size_t klen, const qr_http_response_t *res, const char *tags,
                 long lifetime);

/* Drops the page kept under key, if any. */
void qr_cache_drop(qr_cache_t *c, const char *key, size_t klen);

/* What one worker's cache did since it started (for `quire cache stats`). */
typedef struct {
  unsigned long long hits;
  unsigned long long misses;        /* pages rendered and stored because no fresh copy was kept */
  unsigned long long entries, bytes, max_bytes;
  unsigned long long evictions;     /* least recently used pages dropped to stay under max_bytes */
  unsigned long long invalidations; /* stale pages dropped: a tag they were built from moved */
  unsigned long long expirations;   /* pages dropped when their max-age ran out */
  unsigned long long stale;         /* previous copies given while their refresh was due */
} qr_cache_stats_t;

/* Fills out; c may be NULL (the cache is off: all zero). */
void qr_cache_stats(const qr_cache_t *c, qr_cache_stats_t *out);

/* Writes s to path as "name value" lines, atomically (path.tmp, then rename), so a reader never
 * sees half a file. Returns 0 or QR_EIO. */
int qr_cache_stats_save(const qr_cache_stats_t *s, const char *path);

#endif
