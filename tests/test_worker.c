/* Unit tests for a worker's HTTP policy (worker.c) and the response header vector it works on:
 * which pages are kept and for how long, Cache-Control, the cache key, host handling, the HTTPS
 * redirect, HSTS, request ids and the access-log line; with a real page cache over SQLite. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "store.h"
#include "util.h"
#include "worker.h"

static long lifetime(const char *cc) { return qr_worker_lifetime(cc, strlen(cc)); }

/* The header value as a NUL-terminated string (static buffer), or NULL. */
static const char *hdr(const qr_http_response_t *res, unsigned id) {
  static char out[256];
  size_t n;
  const char *v = qr_http_response_get(res, id, &n);
  if (!v || n >= sizeof out) return NULL;
  memcpy(out, v, n);
  out[n] = '\0';
  return out;
}

static qr_http_request_t request(const char *method, const char *target, qr_http_header_t *h, unsigned nh) {
  static qr_buf_t empty;
  qr_http_request_t req = {.method = method, .target = (char *)target, .target_len = strlen(target),
                           .headers = h, .nheaders = nh, .body = empty, .http_minor = 1,
                           .remote = "127.0.0.1", .id = "1a-s1"};
  return req;
}

/* A renderer standing in for Lua: the page for each path is decided here. */
static int renders;
static void render(void *ud, const qr_http_request_t *req, long long dv, qr_http_response_t *res,
                   qr_worker_page_t *page) {
  (void)ud;
  (void)dv;
  renders++;
  qr_http_response_header(res, "content-type", "text/html; charset=utf-8");
  qr_buf_puts(&res->body, "<p>page ");
  qr_buf_append(&res->body, req->target, req->target_len);
  qr_buf_puts(&res->body, "</p>");
  if (strcmp(req->target, "/private") == 0) {
    page->private = 1;
    qr_http_response_header(res, "set-cookie", "a=1; Path=/");
  }
  if (strcmp(req->target, "/live") == 0) page->max_age = 30;
  if (strcmp(req->target, "/raw-cookie") == 0) qr_http_response_header(res, "Set-Cookie", "b=2");
  if (strcmp(req->target, "/missing") == 0) res->status = 404;
  if (strcmp(req->target, "/untagged") != 0) qr_buf_puts(&page->tags, "entry:1 list:home");
}

/* GET target through the worker; returns whether it rendered. */
static int serve(qr_worker_t *w, const char *target, int secure, qr_http_response_t *res) {
  qr_http_header_t h[] = {{"host", "news.example"}};
  qr_http_request_t req = request("GET", target, h, 1);
  req.secure = secure;
  memset(res, 0, sizeof *res);
  res->status = 200;
  int before = renders;
  qr_worker_handle(w, &req, res);
  return renders > before;
}

int main(void) {
  /* The header vector: names interned in any case, others capitalised, injection dropped. */
  qr_http_response_t res = {.status = 200};
  CHECK(qr_http_header_id("CACHE-control", 13) == QR_HDR_CACHE_CONTROL);
  CHECK(qr_http_header_id("x-robots-tag", 12) == QR_HDR_OTHER);
  qr_http_response_header(&res, "content-TYPE", "text/plain");
  qr_http_response_header(&res, "x-robots-tag", "noindex");
  qr_http_response_header(&res, "Cache-Control", "max-age=5");
  qr_http_response_header(&res, "Bad Name", "x");
  qr_http_response_header(&res, "X-Evil", "a\r\nSet-Cookie: x=1");
  qr_http_response_header(&res, "cache-control", "public");
  CHECK(res.headers.n == 4);
  CHECK_STR(res.headers.lines.data,
            "Content-Type: text/plain\r\nX-Robots-Tag: noindex\r\nCache-Control: max-age=5\r\nCache-Control: public\r\n");
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "max-age=5");
  CHECK(hdr(&res, QR_HDR_SET_COOKIE) == NULL);
  qr_http_response_unset(&res, QR_HDR_CACHE_CONTROL);
  CHECK(res.headers.n == 2);
  CHECK_STR(res.headers.lines.data, "Content-Type: text/plain\r\nX-Robots-Tag: noindex\r\n");
  CHECK_STR(hdr(&res, QR_HDR_CONTENT_TYPE), "text/plain");
  qr_http_response_header(&res, "ETag", "\"x\"");
  CHECK_STR(hdr(&res, QR_HDR_ETAG), "\"x\"");
  qr_http_response_free(&res);

  /* Which responses a Cache-Control lets a shared cache keep, and for how long. */
  CHECK(lifetime("") == -1);
  CHECK(lifetime("public") == -1);
  CHECK(lifetime("max-age=60") == 60);
  CHECK(lifetime("public, MAX-AGE=\"30\"") == 30);
  CHECK(lifetime("max-age=600, s-maxage=5") == 5);
  CHECK(lifetime("max-age=0") == 0);
  CHECK(lifetime("no-cache") == 0);
  CHECK(lifetime("max-age=60, no-store") == 0);
  CHECK(lifetime("private, max-age=60") == 0);
  CHECK(lifetime("max-age=soon") == 0);
  CHECK(lifetime("max-age=99999999999999999999") > 0);

  /* The Cache-Control a page carries. */
  char buf[32];
  CHECK_STR(qr_worker_cache_control(NULL, 0, 1, -1, buf), "private, no-store");
  CHECK_STR(qr_worker_cache_control("max-age=30", 10, 1, 30, buf), "private, no-store");
  CHECK(qr_worker_cache_control("Private, max-age=5", 18, 1, -1, buf) == NULL);
  CHECK(qr_worker_cache_control("no-store", 8, 1, -1, buf) == NULL);
  CHECK_STR(qr_worker_cache_control(NULL, 0, 0, 30, buf), "max-age=30");
  CHECK_STR(qr_worker_cache_control("public", 6, 0, 0, buf), "no-cache");
  CHECK(qr_worker_cache_control("public", 6, 0, -1, buf) == NULL);

  /* The one decision on a rendered page. */
  qr_worker_page_t page = {.max_age = -1};
  qr_buf_puts(&page.tags, "entry:1");
  res = (qr_http_response_t){.status = 200};
  CHECK(qr_worker_apply(&res, &page) == -1); /* kept until a tag moves */
  CHECK(hdr(&res, QR_HDR_CACHE_CONTROL) == NULL);
  page.max_age = 30;
  CHECK(qr_worker_apply(&res, &page) == 30);
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "max-age=30");
  page.max_age = 0;
  CHECK(qr_worker_apply(&res, &page) == 0);
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "no-cache");
  CHECK(res.headers.n == 1);
  qr_http_response_free(&res);
  page.max_age = -1;
  res = (qr_http_response_t){.status = 200};
  qr_http_response_header(&res, "Cache-Control", "public, s-maxage=5");
  CHECK(qr_worker_apply(&res, &page) == 5);
  qr_http_response_header(&res, "Cache-Control", "max-age=600");
  CHECK(qr_worker_apply(&res, &page) == 5); /* s-maxage on any line wins */
  page.private = 1;
  CHECK(qr_worker_apply(&res, &page) == 0);
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "private, no-store");
  CHECK(res.headers.n == 1);
  qr_http_response_free(&res);
  page.private = 0;
  res = (qr_http_response_t){.status = 200};
  qr_http_response_header(&res, "Set-Cookie", "a=1");
  CHECK(qr_worker_apply(&res, &page) == 0); /* a cookie is someone's: never kept */
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "private, no-store");
  qr_http_response_free(&res);
  res = (qr_http_response_t){.status = 404};
  CHECK(qr_worker_apply(&res, &page) == 0);
  qr_http_response_free(&res);
  res = (qr_http_response_t){.status = 301}; /* an old URL's redirect, tagged "redirects" */
  CHECK(qr_worker_apply(&res, &page) == -1);
  qr_http_response_free(&res);
  res = (qr_http_response_t){.status = 303}; /* a form's answer */
  CHECK(qr_worker_apply(&res, &page) == 0);
  qr_http_response_free(&res);
  page.tags.len = 0;
  res = (qr_http_response_t){.status = 200};
  CHECK(qr_worker_apply(&res, &page) == 0); /* untagged: nothing would ever invalidate it */
  qr_http_response_free(&res);

  /* Tags for an edge cache: on pages that may be kept, never on the others. */
  qr_buf_puts(&page.tags, "entry:1 list:home");
  res = (qr_http_response_t){.status = 200};
  qr_worker_edge_tags(&res, &page, -1);
  CHECK(strstr(res.headers.lines.data, "Surrogate-Key: entry:1 list:home\r\n") != NULL);
  CHECK(strstr(res.headers.lines.data, "Cache-Tag: entry:1,list:home\r\n") != NULL);
  CHECK(res.headers.n == 2);
  qr_http_response_free(&res);
  res = (qr_http_response_t){.status = 200};
  qr_worker_edge_tags(&res, &page, 0); /* private, an error, no-store: the edge learns nothing */
  CHECK(res.headers.n == 0);
  page.tags.len = 0;
  qr_buf_puts(&page.tags, "entry:1 odd,tag"); /* a comma would split a Cache-Tag */
  qr_worker_edge_tags(&res, &page, -1);
  CHECK(res.headers.n == 1 && strstr(res.headers.lines.data, "Surrogate-Control: no-store\r\n") != NULL);
  qr_http_response_free(&res);
  page.tags.len = 0;
  for (int i = 0; i < 2000; i++) qr_buf_puts(&page.tags, "entry:123456 "); /* 26,000 bytes */
  res = (qr_http_response_t){.status = 200};
  qr_worker_edge_tags(&res, &page, -1);
  CHECK(res.headers.n == 1 && strstr(res.headers.lines.data, "Surrogate-Control: no-store\r\n") != NULL);
  qr_http_response_free(&res);
  qr_buf_free(&page.tags);

  /* The cache key, and the requests that may not be answered from the cache. */
  char key[64];
  qr_http_header_t h[] = {{"host", "news.example"}, {"cookie", "theme=dark"}};
  qr_http_request_t req = request("GET", "/a?b=1", h, 2);
  CHECK(qr_worker_cache_key(&req, key, sizeof key) == 19);
  CHECK_STR(key, "news.example /a?b=1");
  req.method = "HEAD";
  CHECK(qr_worker_cache_key(&req, key, sizeof key) == 19);
  req.method = "POST";
  CHECK(qr_worker_cache_key(&req, key, sizeof key) == 0);
  req.method = "GET";
  h[1] = (qr_http_header_t){"cookie", "theme=dark; quire_session=abc"};
  CHECK(qr_worker_cache_key(&req, key, sizeof key) == 0);
  h[1] = (qr_http_header_t){"cookie", "quire_lsn=0000000003001160"}; /* it just wrote: past the cache */
  CHECK(qr_worker_cache_key(&req, key, sizeof key) == 0);
  h[1] = (qr_http_header_t){"authorization", "Bearer x"};
  CHECK(qr_worker_cache_key(&req, key, sizeof key) == 0);
  req.nheaders = 1;
  CHECK(qr_worker_cache_key(&req, key, 19) == 0); /* no room */

  /* Host headers. */
  char host[64];
  CHECK(qr_worker_host("example.org:80", host, sizeof host) && strcmp(host, "example.org") == 0);
  CHECK(qr_worker_host("[::1]:8080", host, sizeof host) && strcmp(host, "[::1]") == 0);
  CHECK(!qr_worker_host("evil.org/x", host, sizeof host));
  CHECK(!qr_worker_host("[::1", host, sizeof host));
  CHECK(!qr_worker_host("", host, sizeof host));
  CHECK(!qr_worker_host(NULL, host, sizeof host));

  /* A worker over a real page cache: rendered once, then hits; private and cookie pages every
   * time; request id and HSTS on every answer. */
  qr_store_t *store;
  char err[256];
  CHECK(qr_store_open(&store, ":memory:", NULL, err, sizeof err) == 0);
  qr_cache_t *cache = qr_cache_new(store, 1 << 20);
  qr_worker_opts_t o = {.cache = cache, .hsts = "max-age=60", .render = render};
  qr_worker_t *w = qr_worker_new(&o);
  CHECK(serve(w, "/story", 0, &res));
  CHECK_STR(hdr(&res, QR_HDR_X_CACHE), "miss");
  CHECK_STR(hdr(&res, QR_HDR_X_REQUEST_ID), "1a-s1");
  CHECK(hdr(&res, QR_HDR_STRICT_TRANSPORT_SECURITY) == NULL); /* plain HTTP */
  qr_http_response_free(&res);
  CHECK(!serve(w, "/story", 1, &res));
  CHECK_STR(hdr(&res, QR_HDR_X_CACHE), "hit");
  CHECK_STR(hdr(&res, QR_HDR_STRICT_TRANSPORT_SECURITY), "max-age=60");
  CHECK(res.body.len == strlen("<p>page /story</p>"));
  CHECK(strstr(res.headers.lines.data, "X-Request-Id: 1a-s1\r\n") != NULL);
  /* The cached page carries no request id of its own: one line only. */
  CHECK(strstr(strstr(res.headers.lines.data, "X-Request-Id") + 1, "X-Request-Id") == NULL);
  qr_http_response_free(&res);
  for (int i = 0; i < 2; i++) {
    CHECK(serve(w, "/private", 0, &res));
    CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "private, no-store");
    CHECK(hdr(&res, QR_HDR_X_CACHE) == NULL);
    qr_http_response_free(&res);
    CHECK(serve(w, "/raw-cookie", 0, &res));
    CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "private, no-store");
    qr_http_response_free(&res);
    CHECK(serve(w, "/missing", 0, &res));
    qr_http_response_free(&res);
    CHECK(serve(w, "/untagged", 0, &res));
    qr_http_response_free(&res);
  }
  CHECK(serve(w, "/live", 0, &res));
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "max-age=30");
  qr_http_response_free(&res);
  CHECK(!serve(w, "/live", 0, &res));
  CHECK_STR(hdr(&res, QR_HDR_CACHE_CONTROL), "max-age=30");
  qr_http_response_free(&res);
  /* A write to a tag the page was built from: rendered again. */
  CHECK(sqlite3_exec(qr_store_db(store), "INSERT INTO cache_tags VALUES ('list:home', 1)", NULL, NULL, NULL) == SQLITE_OK);
  CHECK(serve(w, "/story", 0, &res));
  qr_http_response_free(&res);
  qr_worker_free(w);

  /* Plain HTTP to an HTTPS site: 301 for GET, 308 for POST, the port named unless 443; ACME
   * challenges stay on HTTP; no Host, no redirect. */
  o = (qr_worker_opts_t){.redirect_http = 1, .https_port = 8443, .render = render};
  w = qr_worker_new(&o);
  CHECK(!serve(w, "/a?x=1", 0, &res));
  CHECK(res.status == 301);
  CHECK_STR(hdr(&res, QR_HDR_LOCATION), "https://news.example:8443/a?x=1");
  CHECK_STR(hdr(&res, QR_HDR_X_REQUEST_ID), "1a-s1");
  qr_http_response_free(&res);
  CHECK(serve(w, "/.well-known/acme-challenge/tok", 0, &res));
  CHECK(res.status == 200);
  qr_http_response_free(&res);
  qr_http_header_t hh[] = {{"host", "news.example:80"}};
  req = request("POST", "/comment", hh, 1);
  res = (qr_http_response_t){.status = 200};
  qr_worker_handle(w, &req, &res);
  CHECK(res.status == 308);
  CHECK_STR(hdr(&res, QR_HDR_LOCATION), "https://news.example:8443/comment");
  qr_http_response_free(&res);
  req = request("GET", "/", NULL, 0);
  res = (qr_http_response_t){.status = 200};
  qr_worker_handle(w, &req, &res);
  CHECK(res.status == 400);
  qr_http_response_free(&res);
  qr_worker_free(w);

  /* Refused paths: one rule, raw or %-encoded, the query left alone; answered 400 with the reason
   * before the HTTPS redirect, the page cache and the renderer. */
  const char *refused[] = {"/a\\b", "/a%5cb", "/a%5Cb", "/a/./c", "/a/../c", "/a/.", "/a/..", "/./a", "/%2e/a", "/a/.%2E/c",
                           "/a%2f..%2fb", "/a%00b", "/a%zz", "/a%4", "/a%"};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) CHECK(qr_http_path_problem(refused[i], strlen(refused[i])) != NULL);
  const char *passed[] = {"/", "/a/b", "/.well-known/x", "/a/.b", "/a/b.", "/...", "/a..b", "/a?x=/./\\%zz", "/a#/../", "*",
                          "/a%20b", "//a", "/a/"};
  for (size_t i = 0; i < sizeof passed / sizeof *passed; i++) CHECK(qr_http_path_problem(passed[i], strlen(passed[i])) == NULL);
  CHECK(strstr(qr_http_path_problem("/a\\b", 4), "backslash") != NULL);
  CHECK(strstr(qr_http_path_problem("/a/./b", 6), ". or .. segment") != NULL);
  CHECK(strstr(qr_http_path_problem("/a%zz", 5), "%-escape") != NULL);
  CHECK(strstr(qr_http_path_problem("/a%00", 5), "NUL") != NULL);
  o = (qr_worker_opts_t){.cache = cache, .redirect_http = 1, .https_port = 8443, .render = render};
  w = qr_worker_new(&o);
  CHECK(!serve(w, "/a/../b", 0, &res));
  CHECK(res.status == 400);
  CHECK(strstr(res.body.data, "400 Bad Request: the request path has a . or .. segment") == res.body.data);
  CHECK_STR(hdr(&res, QR_HDR_X_REQUEST_ID), "1a-s1");
  CHECK(hdr(&res, QR_HDR_X_CACHE) == NULL && hdr(&res, QR_HDR_LOCATION) == NULL);
  qr_http_response_free(&res);
  qr_worker_free(w);

  /* The access-log line: combined format, request id, seconds; client bytes escaped. */
  qr_http_header_t lh[] = {{"referer", "https://ref.example/"}, {"user-agent", "a \"quoted\"\nagent"}};
  req = request("GET", "/x y", lh, 2);
  qr_buf_t line = {0};
  qr_worker_log_line(&line, &req, 200, 5120, "31/Jan/2025:10:00:00 +0000", 1234);
  CHECK_STR(line.data, "127.0.0.1 - - [31/Jan/2025:10:00:00 +0000] \"GET /x y HTTP/1.1\" 200 5120 "
                       "\"https://ref.example/\" \"a \\x22quoted\\x22\\x0Aagent\" \"1a-s1\" 1.234\n");
  line.len = 0;
  req.method = NULL;
  req.target = NULL;
  req.nheaders = 0;
  qr_worker_log_line(&line, &req, 408, 0, "31/Jan/2025:10:00:00 +0000", -1);
  CHECK_STR(line.data, "127.0.0.1 - - [31/Jan/2025:10:00:00 +0000] \"-\" 408 0 \"-\" \"-\" \"1a-s1\" -\n");
  qr_buf_free(&line);

  /* Request ids: the pid, then a counter. */
  char id1[32], id2[32], want[32];
  qr_http_request_id(id1);
  qr_http_request_id(id2);
  snprintf(want, sizeof want, "%x-s", (unsigned)getpid());
  CHECK(strncmp(id1, want, strlen(want)) == 0);
  CHECK(strcmp(id1, id2) != 0);

  qr_cache_free(cache);
  qr_store_close(store);
  return check_summary("worker");
}
