/* HTTP/1.1 over libuv: llhttp parsing with hard limits, keep-alive, pipelining, 100-continue,
 * timeouts, per-IP caps, optional TLS per listener; and the response writer (Date, length,
 * ETag/304, gzip). */
#ifndef QR_HTTP_H
#define QR_HTTP_H
#include <stddef.h>
#include <uv.h>

#include "tls.h"
#include "util.h"

/* An address or a network: 16 bytes (IPv4 as ::ffff:a.b.c.d) and the prefix length on them. */
typedef struct {
  unsigned char addr[16];
  unsigned bits;
} qr_http_net_t;

/* Reads "ADDRESS" or "ADDRESS/BITS", IPv4 or IPv6: 0, or -1 (out untouched) when it is neither. */
int qr_http_net_parse(const char *text, qr_http_net_t *out);

typedef struct {
  size_t request_line_max;   /* 8 KiB: a longer request line is 414 */
  size_t header_max;         /* 8 KiB: one header line; larger is 431 */
  size_t headers_max;        /* 32 KiB: all headers together; larger is 431 */
  unsigned header_count_max; /* 100 fields; more is 431 */
  size_t body_max;           /* 1 MiB: larger is 413 */
  /* Deadlines are fixed when set: bytes that make no progress (empty lines between requests, a
   * trickled head) never extend them. */
  unsigned header_timeout_ms; /* 10 s from a request's first byte (or from accept) to its last header: 408 */
  unsigned request_timeout_ms; /* 60 s from a request's first byte to its last body byte: 408 */
  unsigned idle_timeout_ms;  /* 15 s of keep-alive idleness, or of a reader that takes nothing: close */
  unsigned body_min_rate;    /* bytes per second a body must keep up after the first 5 s */
  unsigned max_connections;  /* per worker */
  unsigned max_per_ip;       /* connections per client address, per worker */
  size_t write_queue_max;    /* 256 KiB of unsent responses on a connection: its pipelined requests wait */
  size_t output_max;         /* 128 MiB of unsent responses in the worker: connections adding more close */
  unsigned upload_timeout_ms; /* 10 min from a spooled request's first byte to its last body byte: 408 */
  unsigned upload_spools;    /* 8 uploads spooled to disk at once per worker: 503 past it */
  /* Reverse proxies (a CDN, Varnish, a TLS terminator): a request coming through one of these
   * takes its client address from X-Forwarded-For (the nearest hop not in the list) and
   * https from X-Forwarded-Proto, and their connections are not counted per address. None by
   * default: the headers are anyone's to send. Owned by the caller, alive as long as the server. */
  const qr_http_net_t *trusted_proxies;
  unsigned ntrusted_proxies;
} qr_http_limits_t;

/* Hardened-nginx-like defaults. */
void qr_http_limits_default(qr_http_limits_t *l);

typedef struct {
  char *name; /* lower-cased */
  char *value;
} qr_http_header_t;

/* A parsed request; everything is owned by the connection and valid during the handler call. */
typedef struct {
  const char *method;  /* "GET", ... (static) */
  char *target;        /* the request target as sent: path and query */
  size_t target_len;
  qr_http_header_t *headers;
  unsigned nheaders;
  qr_buf_t body;
  int http_minor;      /* 0 or 1 */
  const char *remote;  /* client address text */
  int secure;          /* 1 when the request came over TLS */
  const char *id;      /* a request id made by the server ("<pid>-s<n>", hex) */
  int accepts_gzip;    /* 1 when Accept-Encoding takes gzip (a "gzip" or "*" coding, q not 0) */
  int fd;              /* the connection's socket when it is plain HTTP with nothing unsent (the
                        * master's watchdog may answer a stuck request there), else -1 */
  /* A body the spool callback sent to disk (spooled 1): body is empty, and spool_len bytes are in
   * spool_fd, an unnamed temporary file (read from offset 0; closed by the server after the
   * handler, so nothing of it is left behind, even when the upload breaks off). */
  int spooled;
  int spool_fd;
  size_t spool_len;
  void *conn;          /* the connection it came on (for qr_http_defer); NULL when made elsewhere */
} qr_http_request_t;

/* The first header named name (lower-case), or NULL. Borrowed from req. */
const char *qr_http_header(const qr_http_request_t *req, const char *name);

/* Why the path of target (up to its '?' or '#') is refused, or NULL when it is not: a malformed
 * %-escape, an encoded NUL, a backslash, or a "." or ".." segment, each raw or %-encoded. The one
 * rule for every request, whatever answers it (static files, the page cache, the router):
 * conforming clients never send these (they resolve dot segments, RFC 3986 5.2.4, and browsers
 * read "\" as "/"), so they are refused with 400 rather than guessed at. A static string. */
const char *qr_http_path_problem(const char *target, size_t len);

/* Response header names the server itself looks at, interned once when a header is added, so
 * nothing searches header text again. */
enum {
  QR_HDR_OTHER,
  QR_HDR_AGE,
  QR_HDR_CACHE_CONTROL,
  QR_HDR_CONTENT_ENCODING,
  QR_HDR_CONTENT_RANGE,
  QR_HDR_CONTENT_TYPE,
  QR_HDR_ETAG,
  QR_HDR_LOCATION,
  QR_HDR_SET_COOKIE,
  QR_HDR_STRICT_TRANSPORT_SECURITY,
  QR_HDR_VARY,
  QR_HDR_X_CACHE,
  QR_HDR_X_REQUEST_ID,
};

/* One response header: its interned name and where its line sits in the vector's text. */
typedef struct {
  unsigned name;  /* QR_HDR_* */
  unsigned line;  /* offset of "Name: value\r\n" in lines */
  unsigned len;   /* that line's length, CRLF included */
  unsigned value; /* offset of the value in lines (it ends 2 bytes before the line does) */
} qr_http_field_t;

/* The response's header vector: fields in the order added, and their lines composed once as
 * they will be written ("Name: value\r\n"...), so the writer copies them in one piece. */
typedef struct {
  qr_http_field_t *v;
  unsigned n, cap;
  qr_buf_t lines;
} qr_http_headers_t;

/* What a handler fills in. Everything is owned by the server and reset for each request. */
typedef struct {
  int status;
  qr_http_headers_t headers;
  qr_buf_t body;
  int close;           /* set to close the connection after this response */
  /* Derived once by qr_http_response_prepare (the page cache keeps them with the page): */
  int prepared;
  int compressible;    /* a text type worth compressing, not already encoded or ranged */
  char etag[48];       /* strong ETag of the identity body: the handler's (e.g. static files), else the
                        * body's hash; "" when the handler wrote an ETag line itself. The gzip
                        * variant is sent with "-gz" inside the quotes. */
  qr_buf_t gz;         /* the gzip variant (len 0 until made, or when it would not be smaller) */
  int gz_made;
} qr_http_response_t;

/* Computes the ETag and compressibility; with want_gzip also the gzip variant. Idempotent. */
void qr_http_response_prepare(qr_http_response_t *res, int want_gzip);
/* 1 when a 200 with this Content-Type and body length is offered gzip-encoded (it is sent so
 * when the client takes gzip and the result is smaller): lets a handler name the representation
 * (its ETag) before it has read the body. */
int qr_http_gzip_candidate(const char *type, size_t len);

/* Frees everything a response holds and zeroes it. */
void qr_http_response_free(qr_http_response_t *res);

/* The QR_HDR_* id of a header name (any case), QR_HDR_OTHER for names the server ignores. */
unsigned qr_http_header_id(const char *name, size_t len);

/* Adds a header. name may be in any case: known names are written in their usual spelling,
 * others with each word capitalised ("x-robots-tag" -> "X-Robots-Tag"). A name that is not a
 * token (empty, longer than 127 bytes, ':', spaces, controls) or a value with CR, LF or NUL is
 * dropped: no header injection. Both are copied. */
void qr_http_response_header(qr_http_response_t *res, const char *name, const char *value);
void qr_http_response_header_n(qr_http_response_t *res, const char *name, size_t nlen, const char *value,
                               size_t vlen);

/* The value of the first header with that id (borrowed from res until it changes, not
 * NUL-terminated: *len says how long), or NULL. */
const char *qr_http_response_get(const qr_http_response_t *res, unsigned id, size_t *len);

/* Removes every header with that id. */
void qr_http_response_unset(qr_http_response_t *res, unsigned id);

/* Copies src's headers over dst's (which are freed first). */
void qr_http_headers_copy(qr_http_headers_t *dst, const qr_http_headers_t *src);
void qr_http_headers_free(qr_http_headers_t *h);

/* Called once per complete request, in order, on the loop thread. */
typedef void (*qr_http_handler_cb)(void *ud, const qr_http_request_t *req, qr_http_response_t *res);

/* An answer given later: a handler whose answer waits for work off the loop (a password hash on
 * the thread pool) calls qr_http_defer during its call and returns with res untouched. The
 * connection then reads and parses nothing more (pipelined requests wait, in order) until
 * qr_http_deferred_finish sends the answer; other connections are served meanwhile. */
typedef struct qr_http_deferred_s qr_http_deferred_t;

/* Returns the handle the answer is finished with, or NULL when req cannot wait (made outside a
 * connection, or already deferred). Owned by the server until qr_http_deferred_finish. */
qr_http_deferred_t *qr_http_defer(const qr_http_request_t *req);

/* 1 when the handler called qr_http_defer for req. */
int qr_http_is_deferred(const qr_http_request_t *req);

/* The request as the handler saw it (borrowed until finish), or NULL when the client has gone. */
const qr_http_request_t *qr_http_deferred_request(const qr_http_deferred_t *d);

/* Sends res (when the client is still there) as the answer to the deferred request, frees res's
 * contents and d, and lets the connection go on with its next request. On the loop thread. */
void qr_http_deferred_finish(qr_http_deferred_t *d, qr_http_response_t *res);

/* Called once per response after it was queued, with what was sent: the status (304 when the
 * validators matched) and the body bytes (the gzip variant's size, 0 for HEAD). For errors the
 * server answers itself (400, 408, 413, 414, 417, 431, 429, 501, 503, 505) res is NULL, and
 * req->method and req->target are NULL when the request line never arrived. For the access log. */
typedef void (*qr_http_log_cb)(void *ud, const qr_http_request_t *req, const qr_http_response_t *res, int status,
                               size_t body_bytes);

/* Asked once a request with a body has its head (method, target, headers; no body yet): a
 * directory to spool the body to instead of memory, with *max the most bytes it may have (413
 * past it, in place of limits.body_max, and limits.upload_timeout_ms in place of
 * request_timeout_ms); NULL to buffer it as usual. The directory is borrowed until the request
 * ends. */
typedef const char *(*qr_http_spool_cb)(void *ud, const qr_http_request_t *head, size_t *max);

typedef struct {
  qr_http_handler_cb handle;
  qr_http_log_cb log;     /* may be NULL */
  qr_http_spool_cb spool; /* may be NULL: every body in memory */
  void *ud;               /* passed to all */
} qr_http_callbacks_t;

/* A listening socket and what it speaks. */
typedef struct {
  int fd;        /* bound and listening (e.g. inherited from the master) */
  qr_tls_t *tls; /* borrowed, must outlive the server: TLS on this listener; NULL: plain HTTP */
} qr_http_listener_t;

typedef struct qr_http_server_s qr_http_server_t;

/* Starts accepting on the given listeners. limits and cbs are copied. The server is owned by the
 * caller until qr_http_server_drain's callback. */
int qr_http_server_start(qr_http_server_t **out, uv_loop_t *loop, const qr_http_listener_t *listeners, int n,
                         const qr_http_limits_t *limits, const qr_http_callbacks_t *cbs);

/* Stops accepting, lets in-flight requests finish, closes idle connections, then calls done and
 * frees the server. */
void qr_http_server_drain(qr_http_server_t *s, void (*done)(void *ud), void *ud);

/* Writes the next request id of this process into out: "PID-sN" in hex, the pid then a counter.
 * The one source of request ids: the server's, and Lua's for requests made without one. */
void qr_http_request_id(char out[32]);

#endif
