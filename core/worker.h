/* HTTP policy of a serving worker, between the parser and the page renderer (Lua): the HTTPS
 * redirect and host handling, the page-cache key, the one decision whether a response may be
 * kept and for how long, HSTS, the request id on every answer, and the access-log line. */
#ifndef QR_WORKER_H
#define QR_WORKER_H
#include <time.h>

#include "cache.h"
#include "http.h"
#include "static.h"

/* What the renderer says about the page it made, besides status, headers and body. */
typedef struct {
  int private;   /* per visitor (a cookie set, a form's answer): never kept by any cache */
  long max_age;  /* seconds browsers and caches may keep it; 0: none ("no-cache"); -1: not said */
  qr_buf_t tags; /* the cache tags it was built from, space-separated; empty: not kept */
} qr_worker_page_t;

/* Renders req into res (status, headers, body) and page. data_version is the PRAGMA data_version
 * the page cache read for this request, or -1. Errors are the renderer's to turn into a 500. */
typedef void (*qr_worker_render_cb)(void *ud, const qr_http_request_t *req, long long data_version,
                                    qr_http_response_t *res, qr_worker_page_t *page);

typedef struct {
  qr_static_t *statics;       /* borrowed; NULL: no static folders */
  qr_cache_t *cache;          /* borrowed; NULL: no page cache */
  const char *hsts;           /* Strict-Transport-Security value for HTTPS answers, or NULL; copied */
  int redirect_http;          /* answer plain-HTTP requests with a redirect to HTTPS */
  int https_port;             /* the port redirects name (443 is left out) */
  const char *upload_path;    /* POSTs of multipart/form-data to this path are spooled to disk... */
  const char *upload_dir;     /* ...in this directory (NULL: none are) */
  size_t upload_max;          /* ...up to this many bytes (limits.upload_request) */
  int edge_tags;              /* cacheable pages carry their tags as Surrogate-Key and Cache-Tag */
  int log_health;             /* access-log GET /healthz answered 200 too (a probe's, every few seconds) */
  qr_worker_render_cb render; /* required */
  void *ud;                   /* passed to render */
} qr_worker_opts_t;

typedef struct qr_worker_s qr_worker_t;

/* opts is copied (what it points to is borrowed, but hsts). Owned by the caller: qr_worker_free. */
qr_worker_t *qr_worker_new(const qr_worker_opts_t *opts);
void qr_worker_free(qr_worker_t *w);

/* Answers one request: 400 for a path qr_http_path_problem refuses, else HTTPS redirect, else
 * the page cache, else a static file, else the
 * renderer (whose page is kept when qr_worker_apply says so); then X-Request-Id (req->id) and
 * HSTS. A qr_http_handler_cb with w as ud. */
void qr_worker_handle(void *w, const qr_http_request_t *req, qr_http_response_t *res);

/* The spool decision (a qr_http_spool_cb with w as ud): a POST of multipart/form-data to
 * opts.upload_path streams to a temporary file in opts.upload_dir, at most opts.upload_max
 * bytes; every other body stays in memory. */
const char *qr_worker_spool(void *w, const qr_http_request_t *head, size_t *max);
/* A renderer that deferred its answer (qr_http_defer) notes when the request arrived (during the
 * render call), makes the answer later and passes it here right before qr_http_deferred_finish:
 * Cache-Control from page (it is never kept), request id, HSTS; its access-log line counts the
 * time from started. */
struct timespec qr_worker_started(const qr_worker_t *w);
void qr_worker_finish(qr_worker_t *w, const qr_http_request_t *req, qr_http_response_t *res,
                      const qr_worker_page_t *page, struct timespec started);

/* Stale-while-revalidate: a page the cache gave stale (qr_cache_get) is queued here, rendered
 * again after the answer was written, and kept (or dropped when it may not be kept any more).
 * With run 0 says whether a refresh is waiting; with run 1 does one and says whether more are. */
int qr_worker_refresh(qr_worker_t *w, int run);

/* Writes the access-log line of an answer (a qr_http_log_cb with w as ud): the combined format,
 * then the request id and the seconds taken (or "-" for the server's own error answers). */
void qr_worker_log(void *w, const qr_http_request_t *req, const qr_http_response_t *res, int status,
                   size_t body_bytes);

/* --- the policy's parts (for the binding and the tests) */

/* The page-cache key of req ("HOST TARGET") into key (cap bytes); returns its length, or 0 when
 * the request may not be answered from the cache: not GET or HEAD, credentials, a session
 * cookie or a read-your-writes one (quire_lsn), or a key longer than cap. */
size_t qr_worker_cache_key(const qr_http_request_t *req, char *key, size_t cap);

/* The host name of a Host header without its port ("example.org:80" -> "example.org",
 * "[::1]:8080" -> "[::1]") into out (cap bytes) when it is well-formed; else 0. */
int qr_worker_host(const char *host, char *out, size_t cap);

/* The Cache-Control value a page must carry, given the one it has (cc, len bytes; NULL: none):
 * private pages say "private, no-store" unless cc already says private or no-store; a max_age
 * >= 0 says "max-age=N" ("no-cache" for 0). NULL: keep cc as it is. buf holds the text made. */
const char *qr_worker_cache_control(const char *cc, size_t len, int private, long max_age, char buf[32]);

/* How long a Cache-Control value lets a shared cache keep the response, in seconds: s-maxage,
 * else max-age; 0 when it must not be kept (no-store, no-cache, private, an unreadable age); -1
 * when nothing bounds it. */
long qr_worker_lifetime(const char *cc, size_t len);

/* The one decision on a rendered page: sets its Cache-Control (qr_worker_cache_control; a page
 * that sets a cookie is private too) and returns how long the page cache may keep it: 0 not at
 * all (not a 200, 301, 302 or 308, private, no tags, no-store...), -1 until a tag moves, else
 * seconds. */
long qr_worker_apply(qr_http_response_t *res, const qr_worker_page_t *page);

/* For an edge cache in front (Varnish xkey and Fastly read Surrogate-Key, space-separated;
 * Cloudflare reads Cache-Tag, comma-separated): adds both with page's tags to a response that
 * may be kept (lifetime != 0), so a purge by tag reaches the edge. Tags over 16,000 bytes in
 * all, or one with a control character, cannot be sent: the page gets Surrogate-Control:
 * no-store instead, so no edge keeps a page it could not be told to purge. */
void qr_worker_edge_tags(qr_http_response_t *res, const qr_worker_page_t *page, long lifetime);

/* Appends the access-log line (see qr_worker_log) to out; when is the local time
 * ("31/Jan/2025:10:00:00 +0000"), ms the milliseconds taken or -1. */
void qr_worker_log_line(qr_buf_t *out, const qr_http_request_t *req, int status, size_t body_bytes,
                        const char *when, long long ms);

#endif
