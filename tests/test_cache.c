/* Unit tests for the page cache: expiry, tag invalidation, LRU eviction, and the statistics
 * `quire cache stats` reads. (Which pages may be kept, and for how long: test_worker.c.) */
#include <stdlib.h>
#include <unistd.h>

#include "cache.h"
#include "check.h"
#include "util.h"

/* A 200 page with the given header (NULL: none) and body. */
static void page(qr_http_response_t *res, const char *name, const char *value, const char *body) {
  memset(res, 0, sizeof *res);
  res->status = 200;
  if (name) qr_http_response_header(res, name, value);
  qr_buf_puts(&res->body, body);
  qr_http_response_prepare(res, 1);
}

static int get_as(qr_cache_t *c, const char *key, qr_http_response_t *out, int want_gzip) {
  memset(out, 0, sizeof *out);
  qr_cache_sync(c);
  return qr_cache_get(c, key, strlen(key), out, want_gzip);
}
static int get(qr_cache_t *c, const char *key, qr_http_response_t *out) { return get_as(c, key, out, 0); }

int main(void) {
  qr_store_t *store;
  char err[256];
  CHECK(qr_store_open(&store, ":memory:", NULL, err, sizeof err) == 0);
  sqlite3 *db = qr_store_db(store);
  qr_cache_t *c = qr_cache_new(store, 64 * 1024);
  qr_http_response_t res, out;
  qr_cache_stats_t st;

  /* Pages whose lifetime is 0 are not stored; others are, and a hit says its Age. */
  page(&res, "Cache-Control", "no-store", "secret");
  CHECK(qr_cache_put(c, "k private", 9, &res, "entry:1", 0) == 0);
  qr_http_response_free(&res);
  CHECK(!get(c, "k private", &out));
  page(&res, NULL, NULL, "front page");
  CHECK(qr_cache_put(c, "k front", 7, &res, "list:home", -1) == 1);
  qr_http_response_free(&res);
  CHECK(get(c, "k front", &out));
  CHECK(out.body.len == 10 && memcmp(out.body.data, "front page", 10) == 0);

  size_t n;
  const char *v = qr_http_response_get(&out, QR_HDR_AGE, &n);
  CHECK(v && n == 1 && *v == '0');
  CHECK(strstr(out.headers.lines.data, "Age: 0\r\n") != NULL);
  qr_http_response_free(&out);

  /* max-age bounds how long a page is served, even when no write touched it. */
  page(&res, "Cache-Control", "max-age=1", "breaking");
  CHECK(qr_cache_put(c, "k live", 6, &res, "entry:2", 1) == 1);
  qr_http_response_free(&res);
  CHECK(get(c, "k live", &out));
  v = qr_http_response_get(&out, QR_HDR_CACHE_CONTROL, &n);
  CHECK(v && n == 9 && memcmp(v, "max-age=1", 9) == 0);
  qr_http_response_free(&out);
  usleep(1100 * 1000);
  CHECK(!get(c, "k live", &out));
  qr_http_response_free(&out);
  CHECK(get(c, "k front", &out)); /* no lifetime: still there */
  qr_http_response_free(&out);

  /* A write that bumps a tag drops the pages built from it. */
  CHECK(sqlite3_exec(db, "INSERT INTO cache_tags VALUES ('list:home', 1)", NULL, NULL, NULL) == SQLITE_OK);
  CHECK(!get(c, "k front", &out));
  qr_http_response_free(&out);

  qr_cache_stats(c, &st);
  CHECK(st.hits == 3);
  CHECK(st.misses == 2); /* the pages stored; the refused one was no miss */
  CHECK(st.expirations == 1);
  CHECK(st.invalidations == 1);
  CHECK(st.entries == 0 && st.bytes == 0);
  CHECK(st.max_bytes == 64 * 1024);

  /* Over the cap, the least recently used page goes first. */
  char body[4000], key[16];
  memset(body, 'x', sizeof body - 1);
  body[sizeof body - 1] = '\0';
  for (int i = 0; i < 20; i++) {
    snprintf(key, sizeof key, "k %d", i);
    page(&res, "Content-Type", "application/octet-stream", body);
    CHECK(qr_cache_put(c, key, strlen(key), &res, "list:all", -1) == 1);
    qr_http_response_free(&res);
    if (i >= 1) { /* keep page 0 young */
      CHECK(get(c, "k 0", &out));
      qr_http_response_free(&out);
    }
  }
  qr_cache_stats(c, &st);
  CHECK(st.evictions > 0);
  CHECK(st.bytes <= st.max_bytes);
  CHECK(st.entries == 20 - st.evictions);
  CHECK(get(c, "k 0", &out));
  qr_http_response_free(&out);
  CHECK(!get(c, "k 1", &out));
  qr_http_response_free(&out);

  /* The statistics file is whole "name value" lines, written in one rename. */
  char path[] = "/tmp/quire-test-cache-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  qr_cache_stats(c, &st);
  CHECK(qr_cache_stats_save(&st, path) == 0);
  FILE *f = fopen(path, "r");
  char text[512] = "";
  n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = '\0';
  if (f) fclose(f);
  char want[64];
  snprintf(want, sizeof want, "pid %d\nhits %llu\n", (int)getpid(), st.hits);
  CHECK(strncmp(text, want, strlen(want)) == 0);
  snprintf(want, sizeof want, "\nevictions %llu\n", st.evictions);
  CHECK(strstr(text, want) != NULL);
  CHECK(strstr(text, "\nmax_bytes 65536\n") != NULL);
  unlink(path);
  CHECK(qr_cache_stats_save(&st, "/nonexistent/dir/cache-1") == QR_EIO);

  qr_cache_stats(NULL, &st);
  CHECK(st.max_bytes == 0 && st.hits == 0);

  qr_cache_free(c);

  /* A hit carries the representation the client takes: the gzip variant or the identity body
   * (a page too short to compress has no variant: everyone gets the body). */
  c = qr_cache_new(store, 64 * 1024);
  qr_cache_sync(c);
  char html[2048];
  memset(html, 'a', sizeof html - 1);
  html[sizeof html - 1] = '\0';
  page(&res, "Content-Type", "text/html", html);
  CHECK(res.gz.len > 0);
  CHECK(qr_cache_put(c, "k long", 6, &res, "list:home", -1) == 1);
  qr_http_response_free(&res);
  page(&res, "Content-Type", "text/html", "short");
  CHECK(qr_cache_put(c, "k short", 7, &res, "list:home", -1) == 1);
  qr_http_response_free(&res);
  CHECK(get_as(c, "k long", &out, 1));
  CHECK(out.gz.len > 0 && out.body.len == 0 && out.compressible && out.gz_made);
  qr_http_response_free(&out);
  CHECK(get_as(c, "k long", &out, 0));
  CHECK(out.body.len == sizeof html - 1 && out.gz.len == 0);
  qr_http_response_free(&out);
  CHECK(get_as(c, "k short", &out, 1));
  CHECK(out.body.len == 5 && out.gz.len == 0);
  qr_http_response_free(&out);
  /* That cache started on a database with history (list:home at version 1): it read none of it
   * (on a large archive, a tag per entry ever written), and a tag that moves after it started
   * still drops the pages built from it. */
  CHECK(sqlite3_exec(db, "UPDATE cache_tags SET version = version + 1 WHERE tag = 'list:home'", NULL, NULL, NULL) == SQLITE_OK);
  CHECK(!get(c, "k long", &out));
  qr_http_response_free(&out);
  CHECK(!get(c, "k short", &out));
  qr_http_response_free(&out);
  qr_cache_free(c);

  /* Stale-while-revalidate: within the grace of a write a page whose tags moved is given once
   * with a refresh to make (STALE), then as queued, until the refresh replaces it; never past
   * the grace, never when it also misses an older write of the tag, never after a withdrawal. */
  c = qr_cache_new(store, 64 * 1024);
  qr_cache_set_grace(c, 300);
  qr_cache_sync(c);
#define BUMP(tag) CHECK(sqlite3_exec(db, "INSERT INTO cache_tags VALUES ('" tag "', (SELECT max(version) + 1 FROM cache_tags))" \
                                     " ON CONFLICT (tag) DO UPDATE SET version = excluded.version", NULL, NULL, NULL) == SQLITE_OK)
#define PUT(key, body) do { page(&res, NULL, NULL, body); CHECK(qr_cache_put(c, key, strlen(key), &res, "entry:9", -1) == 1); \
                            qr_http_response_free(&res); } while (0)
#define WARM(key) for (int i = 0; i < 10; i++) { CHECK(get(c, key, &out) == QR_CACHE_HIT); qr_http_response_free(&out); }
  /* A page asked for seldom renders at once: its next reader sees the write. */
  PUT("k nine", "cold");
  for (int i = 0; i < 9; i++) { CHECK(get(c, "k nine", &out) == QR_CACHE_HIT); qr_http_response_free(&out); }
  BUMP("entry:9");
  CHECK(get(c, "k nine", &out) == QR_CACHE_MISS);
  qr_http_response_free(&out);
  PUT("k nine", "old");
  WARM("k nine");
  BUMP("entry:9");
  CHECK(get(c, "k nine", &out) == QR_CACHE_STALE);
  CHECK(out.body.len == 3 && memcmp(out.body.data, "old", 3) == 0);
  CHECK(qr_http_response_get(&out, QR_HDR_AGE, &n) != NULL);
  qr_http_response_free(&out);
  CHECK(get(c, "k nine", &out) == QR_CACHE_STALE_QUEUED);
  qr_http_response_free(&out);
  PUT("k nine", "new"); /* the refresh: as hot as it was */
  CHECK(get(c, "k nine", &out) == QR_CACHE_HIT);
  qr_http_response_free(&out);
  BUMP("entry:9");
  usleep(350 * 1000);
  CHECK(get(c, "k nine", &out) == QR_CACHE_MISS); /* past the grace: dropped */
  qr_http_response_free(&out);
  /* A page built before a write that is past the grace is not given stale when the same tag
   * moves again: its copy misses the older write too. */
  PUT("k nine", "v1");
  WARM("k nine");
  BUMP("entry:9");
  qr_cache_sync(c);
  usleep(350 * 1000);
  qr_cache_sync(c);
  BUMP("entry:9");
  CHECK(get(c, "k nine", &out) == QR_CACHE_MISS);
  qr_http_response_free(&out);
  /* A withdrawal (unpublish, trash, a comment hidden) ends stale copies of pages kept before. */
  PUT("k nine", "v2");
  WARM("k nine");
  BUMP("entry:9");
  BUMP("quire:withdrawn");
  CHECK(get(c, "k nine", &out) == QR_CACHE_MISS);
  qr_http_response_free(&out);
  PUT("k nine", "v3"); /* kept after the withdrawal: stale again on an edit */
  WARM("k nine");
  BUMP("entry:9");
  CHECK(get(c, "k nine", &out) == QR_CACHE_STALE);
  qr_http_response_free(&out);
  qr_cache_drop(c, "k nine", 6);
  CHECK(get(c, "k nine", &out) == QR_CACHE_MISS);
  qr_http_response_free(&out);
  qr_cache_stats(c, &st);
  CHECK(st.stale == 3);
  qr_cache_free(c);

  qr_store_close(store);
  return check_summary("cache");
}
