/* A worker's HTTP policy: refused paths, redirect, cache, static files, renderer; cacheability; access log. */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

/* A page given stale, waiting for its one refresh: the request that found it, copied. */
typedef struct {
  char key[1024];
  size_t klen;
  qr_http_request_t req;
} refresh_t;

#define REFRESH_MAX 16 /* pages waiting per worker; past it a stale page is rendered at once */
#define HEALTH_PATH "/healthz" /* lua/quire/app.lua HEALTH_PATH: answered before any plugin route */

struct qr_worker_s {
  qr_worker_opts_t o;
  char *hsts;
  refresh_t refresh[REFRESH_MAX];
  int nrefresh;
  qr_worker_page_t page; /* reused for every request */
  struct timespec t0;    /* when the request being answered arrived, for its log line */
};

qr_worker_t *qr_worker_new(const qr_worker_opts_t *opts) {
  qr_worker_t *w = qr_xcalloc(1, sizeof *w);
  w->o = *opts;
  w->hsts = opts->hsts && *opts->hsts ? qr_xstrdup(opts->hsts) : NULL;
  return w;
}

const char *qr_worker_spool(void *ud, const qr_http_request_t *head, size_t *max) {
  qr_worker_t *w = ud;
  if (!w->o.upload_dir || !w->o.upload_path || strcmp(head->method, "POST") != 0) return NULL;
  size_t plen = strlen(w->o.upload_path), tlen = strcspn(head->target, "?");
  if (tlen != plen || memcmp(head->target, w->o.upload_path, plen) != 0) return NULL;
  const char *ct = qr_http_header(head, "content-type");
  if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0) return NULL;
  *max = w->o.upload_max;
  return w->o.upload_dir;
}

static void request_free(qr_http_request_t *r) {
  for (unsigned i = 0; i < r->nheaders; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->headers);
  free(r->target);
  free((char *)r->remote);
  free((char *)r->id);
}

void qr_worker_free(qr_worker_t *w) {
  if (!w) return;
  for (int i = 0; i < w->nrefresh; i++) request_free(&w->refresh[i].req);
  free(w->hsts);
  qr_buf_free(&w->page.tags);
  free(w);
}

size_t qr_worker_cache_key(const qr_http_request_t *req, char *key, size_t cap) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  if (qr_http_header(req, "authorization")) return 0;
  const char *cookie = qr_http_header(req, "cookie");
  /* quire_lsn: a client that just wrote reads past the cache for a few seconds (lua_server.c). */
  if (cookie && (strstr(cookie, "quire_session=") || strstr(cookie, "quire_lsn="))) return 0;
  const char *host = qr_http_header(req, "host");
  size_t hlen = host ? strlen(host) : 0;
  if (hlen + 1 + req->target_len >= cap) return 0;
  if (hlen) memcpy(key, host, hlen);
  key[hlen] = ' ';
  memcpy(key + hlen + 1, req->target, req->target_len);
  key[hlen + 1 + req->target_len] = '\0';
  return hlen + 1 + req->target_len;
}

int qr_worker_host(const char *host, char *out, size_t cap) {
  if (!host || !*host) return 0;
  size_t n = 0;
  if (host[0] == '[') {
    const char *close = strchr(host, ']');
    if (!close) return 0;
    n = (size_t)(close - host) + 1;
    for (size_t i = 1; i + 1 < n; i++)
      if (!strchr("0123456789abcdefABCDEF:.", host[i])) return 0;
  } else {
    while (host[n] && host[n] != ':') {
      char c = host[n];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
        return 0;
      n++;
    }
  }
  if (n == 0 || n >= cap) return 0;
  memcpy(out, host, n);
  out[n] = '\0';
  return 1;
}

/* 1 when the word (lower case) occurs in s[0..len) in any case. */
static int contains_word(const char *s, size_t len, const char *word) {
  size_t n = strlen(word);
  for (size_t i = 0; i + n <= len; i++)
    if (strncasecmp(s + i, word, n) == 0) return 1;
  return 0;
}

const char *qr_worker_cache_control(const char *cc, size_t len, int private, long max_age, char buf[32]) {
  if (private) {
    if (cc && (contains_word(cc, len, "private") || contains_word(cc, len, "no-store"))) return NULL;
    return "private, no-store";
  }
  if (max_age < 0) return NULL;
  if (max_age == 0) return "no-cache";
  memcpy(buf, "max-age=", 8);
  qr_fmt_uint(buf + 8, (unsigned long long)max_age, 10);
  return buf;
}

/* The value of a max-age style directive at p (after the '='): digits, maybe quoted; -1 if not. */
static long directive_seconds(const char *p, const char *end) {
  if (p < end && *p == '"') p++;
  if (p >= end || *p < '0' || *p > '9') return -1;
  long v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++) v = v < 100000000 ? v * 10 + (*p - '0') : v; /* ~3 years is plenty */
  return v;
}

/* Reads one Cache-Control value into the ages seen so far; 0 when it forbids keeping. */
static int read_directives(const char *cc, size_t len, long *max_age, long *s_maxage) {
  const char *end = cc + len;
  for (const char *d = cc; d < end;) {
    while (d < end && (*d == ' ' || *d == '\t' || *d == ',')) d++;
    const char *tok = d;
    while (d < end && *d != ',' && *d != '=' && *d != ' ') d++;
    size_t n = (size_t)(d - tok);
    const char *val = d < end && *d == '=' ? d + 1 : NULL;
    while (d < end && *d != ',') d++;
    if ((n == 8 && strncasecmp(tok, "no-store", n) == 0) || (n == 8 && strncasecmp(tok, "no-cache", n) == 0) ||
        (n == 7 && strncasecmp(tok, "private", n) == 0))
      return 0;
    int is_max_age = n == 7 && strncasecmp(tok, "max-age", n) == 0;
    int is_s_maxage = n == 8 && strncasecmp(tok, "s-maxage", n) == 0;
    if (is_max_age || is_s_maxage) {
      long v = val ? directive_seconds(val, d) : -1;
      if (v < 0) return 0; /* an unreadable age means stale (RFC 9111 4.2.1) */
      if (is_max_age) *max_age = v; else *s_maxage = v;
    }
  }
  return 1;
}

long qr_worker_lifetime(const char *cc, size_t len) {
  long max_age = -1, s_maxage = -1;
  if (!read_directives(cc, len, &max_age, &s_maxage)) return 0;
  return s_maxage >= 0 ? s_maxage : max_age;
}

long qr_worker_apply(qr_http_response_t *res, const qr_worker_page_t *page) {
  size_t len = 0, n;
  /* A cookie is someone's: the page is theirs however the handler set it. */
  int private = page->private || qr_http_response_get(res, QR_HDR_SET_COOKIE, &n) != NULL;
  const char *cc = qr_http_response_get(res, QR_HDR_CACHE_CONTROL, &len);
  char buf[32];
  const char *set = qr_worker_cache_control(cc, len, private, page->max_age, buf);
  if (set) {
    qr_http_response_unset(res, QR_HDR_CACHE_CONTROL);
    qr_http_response_header(res, "Cache-Control", set);
  }
  /* Redirects are kept too: the redirects table's answers carry their tags (lua/quire/redirects.lua). */
  int st = res->status;
  if (private || !(st == 200 || st == 301 || st == 302 || st == 308) || page->tags.len == 0) return 0;
  /* Several Cache-Control lines are one list (RFC 9110 5.3). */
  long max_age = -1, s_maxage = -1;
  for (unsigned i = 0; i < res->headers.n; i++) {
    const qr_http_field_t *f = &res->headers.v[i];
    if (f->name == QR_HDR_CACHE_CONTROL &&
        !read_directives(res->headers.lines.data + f->value, f->line + f->len - 2 - f->value, &max_age, &s_maxage))
      return 0;
  }
  return s_maxage >= 0 ? s_maxage : max_age;
}

#define EDGE_TAGS_MAX 16000 /* Fastly's and Cloudflare's limit on the header */

void qr_worker_edge_tags(qr_http_response_t *res, const qr_worker_page_t *page, long lifetime) {
  if (lifetime == 0 || page->tags.len == 0) return;
  const char *t = page->tags.data;
  int sendable = page->tags.len <= EDGE_TAGS_MAX;
  for (size_t i = 0; sendable && i < page->tags.len; i++)
    sendable = (unsigned char)t[i] >= 0x20 && t[i] != 0x7f && t[i] != ',';
  if (!sendable) {
    qr_http_response_header(res, "Surrogate-Control", "no-store");
    return;
  }
  qr_http_response_header(res, "Surrogate-Key", t);
  char *comma = qr_xmalloc(page->tags.len + 1);
  for (size_t i = 0; i <= page->tags.len; i++) comma[i] = t[i] == ' ' ? ',' : t[i];
  qr_http_response_header(res, "Cache-Tag", comma);
  free(comma);
}

/* Plain HTTP -> https://host[:port]/target: 301 for GET and HEAD, 308 for the rest (so a POST
 * stays a POST). */
static void redirect_to_https(qr_worker_t *w, const qr_http_request_t *req, qr_http_response_t *res) {
  char host[256];
  if (!qr_worker_host(qr_http_header(req, "host"), host, sizeof host)) {
    res->status = 400;
    qr_buf_puts(&res->body, "Bad Request: a Host header is needed to redirect to HTTPS\n");
    qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    return;
  }
  qr_buf_t loc = {0};
  qr_buf_puts(&loc, "https://");
  qr_buf_puts(&loc, host);
  if (w->o.https_port && w->o.https_port != 443) {
    qr_buf_append(&loc, ":", 1);
    qr_buf_append_uint(&loc, (unsigned)w->o.https_port, 10);
  }
  if (req->target_len && req->target[0] == '/') qr_buf_append(&loc, req->target, req->target_len);
  else qr_buf_append(&loc, "/", 1);
  int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
  res->status = get ? 301 : 308;
  qr_http_response_header(res, "Location", loc.data);
  qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
  qr_buf_puts(&res->body, "Moved to ");
  qr_buf_append(&res->body, loc.data, loc.len);
  qr_buf_append(&res->body, "\n", 1);
  qr_buf_free(&loc);
}

/* ACME HTTP-01 challenges (certbot --webroot and the like) must stay reachable over plain HTTP. */
static int is_acme_challenge(const qr_http_request_t *req) {
  static const char prefix[] = "/.well-known/acme-challenge/";
  return req->target_len >= sizeof prefix - 1 && strncmp(req->target, prefix, sizeof prefix - 1) == 0;
}

/* Queues the refresh of the page under key, as a GET of what req asked (headers and all, no
 * body); 0 when the queue is full. */
static int refresh_queue(qr_worker_t *w, const char *key, size_t klen, const qr_http_request_t *req) {
  if (w->nrefresh == REFRESH_MAX) return 0;
  refresh_t *r = &w->refresh[w->nrefresh++];
  memcpy(r->key, key, klen);
  r->klen = klen;
  qr_http_request_t *c = &r->req;
  *c = (qr_http_request_t){.method = "GET", .http_minor = req->http_minor, .secure = req->secure,
                           .accepts_gzip = req->accepts_gzip, .nheaders = req->nheaders,
                           .fd = -1};
  c->target = qr_xmalloc(req->target_len + 1);
  memcpy(c->target, req->target, req->target_len);
  c->target[req->target_len] = '\0';
  c->target_len = req->target_len;
  c->headers = qr_xcalloc(req->nheaders ? req->nheaders : 1, sizeof *c->headers);
  for (unsigned i = 0; i < req->nheaders; i++) {
    c->headers[i].name = qr_xstrdup(req->headers[i].name);
    c->headers[i].value = qr_xstrdup(req->headers[i].value);
  }
  c->remote = qr_xstrdup(req->remote ? req->remote : "");
  char id[96];
  snprintf(id, sizeof id, "%s-refresh", req->id ? req->id : "");
  c->id = qr_xstrdup(id);
  return 1;
}

int qr_worker_refresh(qr_worker_t *w, int run) {
  if (!run || w->nrefresh == 0) return w->nrefresh > 0;
  refresh_t r = w->refresh[0];
  memmove(&w->refresh[0], &w->refresh[1], sizeof r * (size_t)--w->nrefresh);
  qr_cache_sync(w->o.cache);
  qr_http_response_t res = {0};
  qr_worker_page_t *page = &w->page;
  page->private = 0;
  page->max_age = -1;
  page->tags.len = 0;
  w->o.render(w->o.ud, &r.req, qr_cache_data_version(w->o.cache), &res, page);
  long lifetime = qr_worker_apply(&res, page);
  if (w->o.edge_tags) qr_worker_edge_tags(&res, page, lifetime);
  int kept = 0;
  if (lifetime != 0) {
    qr_http_response_prepare(&res, 1);
    kept = qr_cache_put(w->o.cache, r.key, r.klen, &res, page->tags.data, lifetime);
  }
  /* A page that may not be kept any more (gone, private, an error) is not given stale again. */
  if (!kept) qr_cache_drop(w->o.cache, r.key, r.klen);
  qr_http_response_free(&res);
  request_free(&r.req);
  return w->nrefresh > 0;
}

/* What every answer carries: its request id, and HSTS over HTTPS. */
static void stamp(qr_worker_t *w, const qr_http_request_t *req, qr_http_response_t *res) {
  qr_http_response_header(res, "X-Request-Id", req->id);
  size_t n;
  if (req->secure && w->hsts && !qr_http_response_get(res, QR_HDR_STRICT_TRANSPORT_SECURITY, &n))
    qr_http_response_header(res, "Strict-Transport-Security", w->hsts);
}

void qr_worker_handle(void *ud, const qr_http_request_t *req, qr_http_response_t *res) {
  qr_worker_t *w = ud;
  clock_gettime(CLOCK_MONOTONIC, &w->t0);
  /* Before anything looks at the path, so the answer is the same on every site: with or
   * without a folder mounted there, cached or not. */
  const char *problem = qr_http_path_problem(req->target, req->target_len);
  if (problem) {
    res->status = 400;
    qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    qr_http_response_header(res, "X-Content-Type-Options", "nosniff");
    qr_buf_puts(&res->body, "400 Bad Request: ");
    qr_buf_puts(&res->body, problem);
    qr_buf_append(&res->body, "\n", 1);
    stamp(w, req, res);
    return;
  }
  if (w->o.redirect_http && !req->secure && !is_acme_challenge(req)) {
    redirect_to_https(w, req, res);
    qr_http_response_header(res, "X-Request-Id", req->id);
    return;
  }
  char key[1024];
  size_t klen = w->o.cache ? qr_worker_cache_key(req, key, sizeof key) : 0;
  if (klen) qr_cache_sync(w->o.cache);
  int got = klen ? qr_cache_get(w->o.cache, key, klen, res, req->accepts_gzip) : QR_CACHE_MISS;
  if (got == QR_CACHE_STALE && !refresh_queue(w, key, klen, req)) {
    /* No room to refresh later: this request renders it now, as without a grace. */
    qr_cache_drop(w->o.cache, key, klen);
    qr_http_response_free(res);
    res->status = 200;
    got = QR_CACHE_MISS;
  }
  if (got != QR_CACHE_MISS) {
    qr_http_response_header(res, "X-Cache", got == QR_CACHE_HIT ? "hit" : "stale");
  } else if (!w->o.statics || !qr_static_serve(w->o.statics, req, res)) {
    qr_worker_page_t *page = &w->page;
    page->private = 0;
    page->max_age = -1;
    page->tags.len = 0;
    w->o.render(w->o.ud, req, klen ? qr_cache_data_version(w->o.cache) : -1, res, page);
    if (qr_http_is_deferred(req)) return; /* the renderer finishes it: qr_worker_finish */
    long lifetime = qr_worker_apply(res, page);
    if (w->o.edge_tags) qr_worker_edge_tags(res, page, lifetime);
    if (klen && lifetime != 0) {
      qr_http_response_prepare(res, 1);
      if (qr_cache_put(w->o.cache, key, klen, res, page->tags.data, lifetime))
        qr_http_response_header(res, "X-Cache", "miss");
    }
  }
  stamp(w, req, res);
}

struct timespec qr_worker_started(const qr_worker_t *w) { return w->t0; }

void qr_worker_finish(qr_worker_t *w, const qr_http_request_t *req, qr_http_response_t *res,
                      const qr_worker_page_t *page, struct timespec started) {
  qr_worker_apply(res, page); /* never kept: a deferred request is no GET the cache answers */
  stamp(w, req, res);
  w->t0 = started; /* its log line (written as the answer is sent) counts from its arrival */
}

/* Appends s (n bytes, at most max of them) to out for a quoted log field: quotes, backslashes,
 * control and non-ASCII bytes are written as \xHH (as nginx does), so a client cannot forge
 * lines or fields. */
static void log_field(qr_buf_t *out, const char *s, size_t n, size_t max) {
  if (!s || n == 0) {
    qr_buf_append(out, "-", 1);
    return;
  }
  if (n > max) n = max;
  char tmp[4 * 512];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (k + 4 > sizeof tmp) {
      qr_buf_append(out, tmp, k);
      k = 0;
    }
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static const char hex[] = "0123456789ABCDEF";
      tmp[k++] = '\\';
      tmp[k++] = 'x';
      tmp[k++] = hex[c >> 4];
      tmp[k++] = hex[c & 15];
    } else {
      tmp[k++] = (char)c;
    }
  }
  qr_buf_append(out, tmp, k);
}

static void log_str(qr_buf_t *out, const char *s, size_t max) { log_field(out, s, s ? strlen(s) : 0, max); }

/* 127.0.0.1 - - [31/Jan/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 5120 "REFERER" "AGENT" "ID" 0.002 */
void qr_worker_log_line(qr_buf_t *out, const qr_http_request_t *req, int status, size_t body_bytes,
                        const char *when, long long ms) {
  qr_buf_puts(out, req->remote && req->remote[0] ? req->remote : "-");
  qr_buf_puts(out, " - - [");
  qr_buf_puts(out, when);
  qr_buf_puts(out, "] \"");
  if (req->method && req->target) {
    qr_buf_puts(out, req->method);
    qr_buf_append(out, " ", 1);
    log_field(out, req->target, req->target_len, 2048);
    qr_buf_puts(out, req->http_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
  } else {
    qr_buf_append(out, "-", 1);
  }
  qr_buf_puts(out, "\" ");
  qr_buf_append_uint(out, (unsigned)status, 10);
  qr_buf_append(out, " ", 1);
  qr_buf_append_uint(out, body_bytes, 10);
  qr_buf_puts(out, " \"");
  log_str(out, qr_http_header(req, "referer"), 1024);
  qr_buf_puts(out, "\" \"");
  log_str(out, qr_http_header(req, "user-agent"), 512);
  qr_buf_puts(out, "\" \"");
  log_str(out, req->id, 64);
  if (ms >= 0) { /* seconds taken, to the millisecond: "0.002" */
    char frac[4] = {(char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10), '\0'};
    qr_buf_puts(out, "\" ");
    qr_buf_append_uint(out, (unsigned long long)(ms / 1000), 10);
    qr_buf_append(out, ".", 1);
    qr_buf_puts(out, frac);
    qr_buf_append(out, "\n", 1);
  } else {
    qr_buf_puts(out, "\" -\n");
  }
}

void qr_worker_log(void *ud, const qr_http_request_t *req, const qr_http_response_t *res, int status,
                   size_t body_bytes) {
  qr_worker_t *w = ud;
  if (!qr_log_access_enabled()) return;
  /* A health probe that found the node well says nothing worth a line every few seconds. */
  if (!w->o.log_health && status == 200 && req->target_len == sizeof HEALTH_PATH - 1 &&
      !memcmp(req->target, HEALTH_PATH, sizeof HEALTH_PATH - 1))
    return;
  static time_t cached;
  static char when[48];
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    cached = now;
  }
  long long ms = -1;
  if (res) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - w->t0.tv_sec) * 1000LL + (t1.tv_nsec - w->t0.tv_nsec + 500000) / 1000000;
    if (ms < 0) ms = 0;
  }
  static qr_buf_t line;
  line.len = 0;
  qr_worker_log_line(&line, req, status, body_bytes, when, ms);
  qr_log_access_write(line.data, line.len);
}
