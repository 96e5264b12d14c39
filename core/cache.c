/* Page cache: a hash of responses, and a hash of tag versions refreshed from cache_tags. */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 4096
#define TAG_BUCKETS 4096

typedef struct tag_version {
  struct tag_version *next;
  long long version;
  /* Its writes within one grace: the first came after moved_ms (the sync before it was seen),
   * from version burst_from. A page built at burst_from or later misses only writes that young. */
  long long moved_ms, burst_from;
  char name[];
} tag_version;

typedef struct {
  char *name;
  long long version;
} entry_tag;

typedef struct entry {
  struct entry *next;           /* bucket chain */
  struct entry *older, *newer;  /* use order, least recent first, for eviction */
  char *key;
  size_t klen;
  qr_http_response_t res;
  entry_tag *tags;
  int ntags;
  size_t bytes;
  long long stored_ms, expires_ms; /* expires_ms 0: until a tag moves */
  long long withdrawn;             /* QR_CACHE_WITHDRAWN_TAG's version when kept */
  int refreshing;                  /* given stale: its refresh is queued */
  long long second_ms;             /* hits counted per second, to tell a hot page */
  unsigned hits_now, hits_before;  /* in the second from second_ms, and in the one before */
} entry;

struct qr_cache_s {
  qr_store_t *store;
  qr_pg_t *pg;            /* instead of store, over PostgreSQL */
  int pg_retry;           /* the last sync failed: look again */
  sqlite3_stmt *changed_tags;
  long long last_data_version, last_changes, max_version;
  int synced;
  long long grace_ms, synced_ms; /* stale-while-revalidate; when the last sync looked */
  tag_version *tags[TAG_BUCKETS];
  entry *buckets[BUCKETS];
  entry *oldest, *newest;
  size_t bytes, max_bytes;
  unsigned long long entries, hits, misses, evictions, invalidations, expirations, stale;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned hash(const char *s, size_t n) {
  unsigned h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

qr_cache_t *qr_cache_new(qr_store_t *store, size_t max_bytes) {
  qr_cache_t *c = qr_xcalloc(1, sizeof *c);
  c->store = store;
  c->max_bytes = max_bytes;
  sqlite3_prepare_v3(qr_store_db(store), "SELECT tag, version FROM cache_tags WHERE version > ?", -1,
                     SQLITE_PREPARE_PERSISTENT, &c->changed_tags, NULL);
  return c;
}

qr_cache_t *qr_cache_new_pg(qr_pg_t *pg, size_t max_bytes) {
  qr_cache_t *c = qr_xcalloc(1, sizeof *c);
  c->pg = pg;
  c->max_bytes = max_bytes;
  return c;
}

void qr_cache_set_grace(qr_cache_t *c, long long grace_ms) { c->grace_ms = grace_ms > 0 ? grace_ms : 0; }

static tag_version **tag_slot(qr_cache_t *c, const char *name, size_t n) {
  tag_version **slot = &c->tags[hash(name, n) % TAG_BUCKETS];
  while (*slot && !(strlen((*slot)->name) == n && memcmp((*slot)->name, name, n) == 0)) slot = &(*slot)->next;
  return slot;
}

static long long tag_current(qr_cache_t *c, const char *name, size_t n) {
  tag_version *t = *tag_slot(c, name, n);
  return t ? t->version : 0;
}

/* A tag's version moved to v (seen by a sync that started at synced_ms; the one before it at before). */
static void tag_moved(qr_cache_t *c, const char *name, size_t n, long long v, long long before) {
  tag_version **slot = tag_slot(c, name, n);
  if (!*slot) {
    *slot = qr_xcalloc(1, sizeof(tag_version) + n + 1);
    memcpy((*slot)->name, name, n);
  }
  if (c->grace_ms && (!(*slot)->moved_ms || (*slot)->moved_ms + c->grace_ms <= c->synced_ms)) {
    (*slot)->burst_from = (*slot)->version;
    (*slot)->moved_ms = before;
  }
  (*slot)->version = v;
  if (v > c->max_version) c->max_version = v;
}

/* As for SQLite below: the version moves on commits heard by NOTIFY (and on a reconnect,
 * after which the tags are read again: what was sent meanwhile is lost); total_changes on this
 * connection's own writes. Only then is cache_tags read. */
static void sync_pg(qr_cache_t *c) {
  long long before = c->synced_ms;
  if (c->grace_ms) c->synced_ms = now_ms();
  long long dv = qr_pg_heard_version(c->pg);
  long long changes = qr_pg_total_changes(c->pg);
  if (c->synced && !c->pg_retry && dv == c->last_data_version && changes == c->last_changes) return;
  c->pg_retry = 1; /* until the versions below are read */
  if (dv < 0) return;
  char since[24];
  const qr_pg_param_t param = {'i', since};
  if (!c->synced) {
    PGresult *top = qr_pg_query(c->pg, "SELECT coalesce(max(version), 0) FROM cache_tags", 0, NULL, 0);
    if (!top) return;
    c->max_version = atoll(PQgetvalue(top, 0, 0));
    PQclear(top);
    c->synced = 1;
  }
  snprintf(since, sizeof since, "%lld", c->max_version);
  PGresult *r = qr_pg_query(c->pg, "SELECT tag, version FROM cache_tags WHERE version > ?", 1, &param, 0);
  if (!r) return;
  for (int i = 0; i < PQntuples(r); i++)
    tag_moved(c, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), atoll(PQgetvalue(r, i, 1)), before);
  PQclear(r);
  /* dv was read before the query, so a commit heard since moves it again next time; a reconnect
   * the query made moves it too. Its own changes (none) are accounted for. */
  c->last_data_version = dv;
  c->last_changes = qr_pg_total_changes(c->pg);
  c->pg_retry = 0;
}

void qr_cache_sync(qr_cache_t *c) {
  if (c->pg) {
    sync_pg(c);
    return;
  }
  if (!c->changed_tags) return;
  /* data_version moves on other connections' commits; total_changes on this one's. */
  long long dv = qr_store_data_version(c->store);
  long long changes = sqlite3_total_changes64(qr_store_db(c->store));
  /* A write seen now came after the previous look: its age is at most now - that look. */
  long long before = c->synced_ms;
  if (c->grace_ms) c->synced_ms = now_ms();
  if (c->synced && dv == c->last_data_version && changes == c->last_changes) return;
  if (!c->synced) {
    /* The cache starts empty, so only versions that move from now on can make a page stale:
     * the history of every tag (one per entry ever written, a million on a large archive) is
     * not read into memory. A tag not in the hash counts as version 0. */
    sqlite3_stmt *top = qr_store_prepare(c->store, "SELECT coalesce(max(version), 0) FROM cache_tags");
    if (top && sqlite3_step(top) == SQLITE_ROW) c->max_version = sqlite3_column_int64(top, 0);
    if (top) qr_store_release(c->store, top);
  }
  c->synced = 1;
  c->last_data_version = dv;
  c->last_changes = changes;
  sqlite3_bind_int64(c->changed_tags, 1, c->max_version);
  while (sqlite3_step(c->changed_tags) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(c->changed_tags, 0);
    size_t n = (size_t)sqlite3_column_bytes(c->changed_tags, 0);
    tag_moved(c, name, n, sqlite3_column_int64(c->changed_tags, 1), before);
  }
  sqlite3_reset(c->changed_tags);
}

long long qr_cache_data_version(const qr_cache_t *c) { return c->synced && !c->pg_retry ? c->last_data_version : -1; }

static void unlink_entry(qr_cache_t *c, entry *e) {
  entry **slot = &c->buckets[hash(e->key, e->klen) % BUCKETS];
  while (*slot && *slot != e) slot = &(*slot)->next;
  if (*slot) *slot = e->next;
  if (e->older) e->older->newer = e->newer; else c->oldest = e->newer;
  if (e->newer) e->newer->older = e->older; else c->newest = e->older;
  c->bytes -= e->bytes;
  c->entries--;
  for (int i = 0; i < e->ntags; i++) free(e->tags[i].name);
  free(e->tags);
  free(e->key);
  qr_http_response_free(&e->res);
  free(e);
}

/* Pages asked for less often than this many times a second render at once when stale: the wait
 * behind one render is short and rare, and their next reader sees the write. */
#define HOT_PER_SECOND 10

static int hot(const entry *e, long long now) {
  long long age = now - e->second_ms;
  unsigned n = age < 1000 ? (e->hits_now > e->hits_before ? e->hits_now : e->hits_before) : age < 2000 ? e->hits_now : 0;
  return n >= HOT_PER_SECOND;
}

static entry *find(qr_cache_t *c, const char *key, size_t klen) {
  for (entry *e = c->buckets[hash(key, klen) % BUCKETS]; e; e = e->next)
    if (e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
  return NULL;
}

static void copy_buf(qr_buf_t *dst, const qr_buf_t *src) {
  dst->len = 0;
  if (src->len) qr_buf_append(dst, src->data, src->len);
}

int qr_cache_get(qr_cache_t *c, const char *key, size_t klen, qr_http_response_t *res, int want_gzip) {
  entry *e = find(c, key, klen);
  if (!e) return 0;
  long long now = now_ms();
  if (e->expires_ms && now >= e->expires_ms) {
    unlink_entry(c, e);
    c->expirations++;
    return 0;
  }
  int stale = 0;
  for (int i = 0; i < e->ntags; i++) {
    tag_version *t = *tag_slot(c, e->tags[i].name, strlen(e->tags[i].name));
    if ((t ? t->version : 0) == e->tags[i].version) continue;
    /* Given stale only while the write is surely younger than the grace, and never once a write
     * took anything out of public view (it may be this page's entry, or a comment on it). */
    if (!t || !c->grace_ms || !hot(e, now) || t->moved_ms <= 0 || now - t->moved_ms >= c->grace_ms ||
        e->tags[i].version < t->burst_from ||
        tag_current(c, QR_CACHE_WITHDRAWN_TAG, sizeof QR_CACHE_WITHDRAWN_TAG - 1) != e->withdrawn) {
      unlink_entry(c, e);
      c->invalidations++;
      return QR_CACHE_MISS;
    }
    stale = 1;
  }
  res->status = e->res.status;
  qr_http_headers_copy(&res->headers, &e->res.headers);
  /* Only the representation that will be sent: a page is copied once, not twice. */
  if (want_gzip && e->res.gz.len > 0)
    copy_buf(&res->gz, &e->res.gz);
  else
    copy_buf(&res->body, &e->res.body);
  memcpy(res->etag, e->res.etag, sizeof res->etag);
  res->compressible = e->res.compressible;
  res->prepared = 1;
  res->gz_made = e->res.gz_made;
  /* Caches downstream count a max-age from when we rendered the page, not from now. */
  char age[32];
  qr_fmt_uint(age, (unsigned long long)((now - e->stored_ms) / 1000), 10);
  qr_http_response_header(res, "Age", age);
  /* Least recently used goes first: a hit moves the page to the young end. */
  if (c->newest != e) {
    if (e->older) e->older->newer = e->newer; else c->oldest = e->newer;
    e->newer->older = e->older;
    e->older = c->newest;
    e->newer = NULL;
    c->newest->newer = e;
    c->newest = e;
  }
  if (!stale) {
    if (now - e->second_ms >= 1000) {
      e->hits_before = now - e->second_ms < 2000 ? e->hits_now : 0;
      e->hits_now = 0;
      e->second_ms = now;
    }
    e->hits_now++;
    c->hits++;
    return QR_CACHE_HIT;
  }
  c->stale++;
  if (e->refreshing) return QR_CACHE_STALE_QUEUED;
  e->refreshing = 1;
  return QR_CACHE_STALE;
}

void qr_cache_drop(qr_cache_t *c, const char *key, size_t klen) {
  entry *e = find(c, key, klen);
  if (e) unlink_entry(c, e);
}

int qr_cache_put(qr_cache_t *c, const char *key, size_t klen, const qr_http_response_t *res, const char *tags,
                 long lifetime) {
  size_t bytes = res->body.len + res->gz.len + res->headers.lines.len + res->headers.n * sizeof(qr_http_field_t) +
                 klen + 256;
  if (bytes > c->max_bytes / 8) return 0; /* one page may not crowd out the rest */
  if (lifetime == 0) return 0;
  entry *old = find(c, key, klen);
  entry *e = qr_xcalloc(1, sizeof *e);
  if (old) { /* a refresh: the page is as hot as it was */
    e->second_ms = old->second_ms;
    e->hits_now = old->hits_now;
    e->hits_before = old->hits_before;
    unlink_entry(c, old);
  }
  e->key = qr_xmalloc(klen + 1);
  memcpy(e->key, key, klen);
  e->key[klen] = '\0';
  e->klen = klen;
  e->res.status = res->status;
  qr_http_headers_copy(&e->res.headers, &res->headers);
  copy_buf(&e->res.body, &res->body);
  copy_buf(&e->res.gz, &res->gz);
  memcpy(e->res.etag, res->etag, sizeof e->res.etag);
  e->res.compressible = res->compressible;
  e->res.prepared = 1;
  e->res.gz_made = res->gz_made;
  for (const char *p = tags; *p;) {
    while (*p == ' ') p++;
    size_t n = strcspn(p, " ");
    if (n) {
      e->tags = qr_xrealloc(e->tags, sizeof(entry_tag) * (size_t)(e->ntags + 1));
      e->tags[e->ntags].name = qr_xmalloc(n + 1);
      memcpy(e->tags[e->ntags].name, p, n);
      e->tags[e->ntags].name[n] = '\0';
      e->tags[e->ntags].version = tag_current(c, p, n);
      e->ntags++;
    }
    p += n;
  }
  e->withdrawn = tag_current(c, QR_CACHE_WITHDRAWN_TAG, sizeof QR_CACHE_WITHDRAWN_TAG - 1);
  e->bytes = bytes;
  e->stored_ms = now_ms();
  /* A miss is counted here, when a page the cache could keep had to be rendered: static files
   * and pages it may not keep are no misses of its own, and would drown the hit ratio. */
  c->misses++;
  e->expires_ms = lifetime > 0 ? e->stored_ms + lifetime * 1000LL : 0;
  unsigned b = hash(key, klen) % BUCKETS;
  e->next = c->buckets[b];
  c->buckets[b] = e;
  e->older = c->newest;
  if (c->newest) c->newest->newer = e; else c->oldest = e;
  c->newest = e;
  c->bytes += bytes;
  c->entries++;
  while (c->bytes > c->max_bytes && c->oldest) {
    unlink_entry(c, c->oldest);
    c->evictions++;
  }
  return 1;
}

void qr_cache_stats(const qr_cache_t *c, qr_cache_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!c) return;
  *out = (qr_cache_stats_t){.hits = c->hits, .misses = c->misses, .entries = c->entries, .bytes = c->bytes,
                            .max_bytes = c->max_bytes, .evictions = c->evictions,
                            .invalidations = c->invalidations, .expirations = c->expirations, .stale = c->stale};
}

int qr_cache_stats_save(const qr_cache_stats_t *s, const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return QR_EIO;
  FILE *f = fopen(tmp, "w");
  if (!f) return QR_EIO;
  fprintf(f,
          "pid %d\nhits %llu\nmisses %llu\nentries %llu\nbytes %llu\nmax_bytes %llu\nevictions %llu\n"
          "invalidations %llu\nexpirations %llu\nstale %llu\n",
          (int)getpid(), s->hits, s->misses, s->entries, s->bytes, s->max_bytes, s->evictions, s->invalidations,
          s->expirations, s->stale);
  int failed = ferror(f) | fclose(f);
  if (failed || rename(tmp, path) != 0) {
    unlink(tmp);
    return QR_EIO;
  }
  return 0;
}

void qr_cache_free(qr_cache_t *c) {
  if (!c) return;
  while (c->oldest) unlink_entry(c, c->oldest);
  for (int i = 0; i < TAG_BUCKETS; i++)
    while (c->tags[i]) {
      tag_version *n = c->tags[i]->next;
      free(c->tags[i]);
      c->tags[i] = n;
    }
  sqlite3_finalize(c->changed_tags);
  free(c);
}
