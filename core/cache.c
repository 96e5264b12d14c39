/* Page cache: a hash of responses, and a hash of tag versions refreshed from cache_tags. */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096
#define TAG_BUCKETS 4096

typedef struct tag_version {
  struct tag_version *next;
  long long version;
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
} entry;

struct qr_cache_s {
  sqlite3 *db;
  sqlite3_stmt *data_version, *changed_tags;
  long long last_data_version, last_changes, max_version;
  int synced;
  tag_version *tags[TAG_BUCKETS];
  entry *buckets[BUCKETS];
  entry *oldest, *newest;
  size_t bytes, max_bytes;
  unsigned long entries, hits, misses;
};

static unsigned hash(const char *s, size_t n) {
  unsigned h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

qr_cache_t *qr_cache_new(sqlite3 *db, size_t max_bytes) {
  qr_cache_t *c = qr_xcalloc(1, sizeof *c);
  c->db = db;
  c->max_bytes = max_bytes;
  sqlite3_prepare_v3(db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT, &c->data_version, NULL);
  sqlite3_prepare_v3(db, "SELECT tag, version FROM cache_tags WHERE version > ?", -1, SQLITE_PREPARE_PERSISTENT,
                     &c->changed_tags, NULL);
  return c;
}

static tag_version **tag_slot(qr_cache_t *c, const char *name, size_t n) {
  tag_version **slot = &c->tags[hash(name, n) % TAG_BUCKETS];
  while (*slot && !(strlen((*slot)->name) == n && memcmp((*slot)->name, name, n) == 0)) slot = &(*slot)->next;
  return slot;
}

static long long tag_current(qr_cache_t *c, const char *name, size_t n) {
  tag_version *t = *tag_slot(c, name, n);
  return t ? t->version : 0;
}

void qr_cache_sync(qr_cache_t *c) {
  if (!c->data_version || !c->changed_tags) return;
  long long dv = 0;
  if (sqlite3_step(c->data_version) == SQLITE_ROW) dv = sqlite3_column_int64(c->data_version, 0);
  sqlite3_reset(c->data_version);
  /* data_version moves on other connections' commits; total_changes on this one's. */
  long long changes = sqlite3_total_changes64(c->db);
  if (c->synced && dv == c->last_data_version && changes == c->last_changes) return;
  c->synced = 1;
  c->last_data_version = dv;
  c->last_changes = changes;
  sqlite3_bind_int64(c->changed_tags, 1, c->max_version);
  while (sqlite3_step(c->changed_tags) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(c->changed_tags, 0);
    size_t n = (size_t)sqlite3_column_bytes(c->changed_tags, 0);
    long long v = sqlite3_column_int64(c->changed_tags, 1);
    tag_version **slot = tag_slot(c, name, n);
    if (!*slot) {
      *slot = qr_xcalloc(1, sizeof(tag_version) + n + 1);
      memcpy((*slot)->name, name, n);
    }
    (*slot)->version = v;
    if (v > c->max_version) c->max_version = v;
  }
  sqlite3_reset(c->changed_tags);
}

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

static entry *find(qr_cache_t *c, const char *key, size_t klen) {
  for (entry *e = c->buckets[hash(key, klen) % BUCKETS]; e; e = e->next)
    if (e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
  return NULL;
}

static void copy_buf(qr_buf_t *dst, const qr_buf_t *src) {
  dst->len = 0;
  if (src->len) qr_buf_append(dst, src->data, src->len);
}

int qr_cache_get(qr_cache_t *c, const char *key, size_t klen, qr_http_response_t *res) {
  entry *e = find(c, key, klen);
  if (!e) {
    c->misses++;
    return 0;
  }
  for (int i = 0; i < e->ntags; i++) {
    if (tag_current(c, e->tags[i].name, strlen(e->tags[i].name)) != e->tags[i].version) {
      unlink_entry(c, e);
      c->misses++;
      return 0;
    }
  }
  res->status = e->res.status;
  copy_buf(&res->head, &e->res.head);
  copy_buf(&res->body, &e->res.body);
  copy_buf(&res->gz, &e->res.gz);
  memcpy(res->etag, e->res.etag, sizeof res->etag);
  res->compressible = e->res.compressible;
  res->prepared = 1;
  res->gz_made = e->res.gz_made;
  /* Least recently used goes first: a hit moves the page to the young end. */
  if (c->newest != e) {
    if (e->older) e->older->newer = e->newer; else c->oldest = e->newer;
    e->newer->older = e->older;
    e->older = c->newest;
    e->newer = NULL;
    c->newest->newer = e;
    c->newest = e;
  }
  c->hits++;
  return 1;
}

void qr_cache_put(qr_cache_t *c, const char *key, size_t klen, const qr_http_response_t *res, const char *tags) {
  size_t bytes = res->body.len + res->gz.len + res->head.len + klen + 256;
  if (bytes > c->max_bytes / 8) return; /* one page may not crowd out the rest */
  entry *old = find(c, key, klen);
  if (old) unlink_entry(c, old);
  entry *e = qr_xcalloc(1, sizeof *e);
  e->key = qr_xmalloc(klen + 1);
  memcpy(e->key, key, klen);
  e->key[klen] = '\0';
  e->klen = klen;
  e->res.status = res->status;
  copy_buf(&e->res.head, &res->head);
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
  e->bytes = bytes;
  unsigned b = hash(key, klen) % BUCKETS;
  e->next = c->buckets[b];
  c->buckets[b] = e;
  e->older = c->newest;
  if (c->newest) c->newest->newer = e; else c->oldest = e;
  c->newest = e;
  c->bytes += bytes;
  c->entries++;
  while (c->bytes > c->max_bytes && c->oldest) unlink_entry(c, c->oldest);
}

void qr_cache_stats(const qr_cache_t *c, unsigned long *entries, unsigned long *hits, unsigned long *misses) {
  *entries = c->entries;
  *hits = c->hits;
  *misses = c->misses;
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
  sqlite3_finalize(c->data_version);
  sqlite3_finalize(c->changed_tags);
  free(c);
}
