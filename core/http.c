/* HTTP/1.1 connections: llhttp callbacks with hard limits, timers, TLS, the response writer. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"

#define IP_BUCKETS 1024
#define BODY_GRACE_MS 5000
#define GZIP_MIN 256

typedef struct ip_count {
  struct ip_count *next;
  unsigned n;
  char ip[64];
} ip_count;

typedef struct conn conn;

struct qr_http_server_s {
  uv_loop_t *loop;
  uv_tcp_t *listeners;
  qr_tls_t **listener_tls; /* per listener: borrowed TLS context, or NULL */
  int nlisteners, listeners_open;
  qr_http_limits_t limits;
  qr_http_callbacks_t cbs;
  conn *conns; /* doubly linked list of open connections */
  unsigned nconns;
  ip_count *ips[IP_BUCKETS];
  int draining;
  void (*drained)(void *);
  void *drained_ud;
  size_t output;             /* bytes of responses queued and unsent, and of paused input, in all connections */
  uint64_t output_logged_at; /* when the last "over limits.worker_output" line was logged */
  unsigned output_closed;    /* connections closed for it since that line */
  unsigned spooling;         /* uploads being spooled to disk (limits.upload_spools) */
};

/* ST_WAIT: a complete request whose answer was deferred (qr_http_defer). */
enum conn_state { ST_IDLE, ST_HEAD, ST_BODY, ST_WAIT, ST_LINGER, ST_CLOSING };

struct qr_http_deferred_s {
  conn *c;              /* NULL once the connection has gone */
  qr_http_request_t req; /* its pointers lie in c, which parses nothing while it waits */
  int keep_alive;       /* what the request asked for */
};
#define LINGER_MS 2000
#define DRAIN_GRACE_MS 1000

struct conn {
  uv_tcp_t tcp; /* first: the handle's address is the connection's */
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  int handles_open;
  qr_http_server_t *srv;
  conn *prev, *next;
  llhttp_t parser;
  enum conn_state state;
  int pending_status;   /* a limit hit inside a callback: answer with this and close */
  const char *pending_reason;
  char remote[64];      /* the peer's address */
  int proxied;          /* the peer is a trusted proxy (limits.trusted_proxies) */
  char client[64];      /* the current request's client: remote, or what a trusted proxy forwarded */
  int forwarded_https;  /* a trusted proxy says the client used https */
  /* the request being parsed */
  qr_buf_t url, field, value;
  qr_http_header_t *headers;
  unsigned nheaders, headers_cap;
  size_t head_bytes;
  qr_buf_t body;
  int spool_fd;          /* the body's unnamed temporary file when spooled (qr_http_spool_cb), else -1 */
  size_t spool_len, spool_max;
  uint64_t started;      /* when the request's first byte arrived (loop time, ms) */
  uint64_t body_started;
  /* Where the request line's parts lie in the connection's byte stream: one space between them. */
  uint64_t in_off;       /* stream offset of in_base: bytes parsed before the buffer being parsed */
  const char *in_base;
  uint64_t method_end, url_end;
  int version_seen;
  int close_after; /* close once the queued responses are written */
  int reading;
  int paused;           /* the parser waits for the client to read what is queued */
  int peer_eof;         /* the client finished sending: close once its answers are out */
  qr_buf_t unparsed;    /* input received behind the pause (at most one read), counted in output */
  size_t queue_mark;    /* unsent bytes when the idle timer was set: less later means it is reading */
  qr_tls_conn_t *tls; /* NULL: plain HTTP */
  int tls_seen;       /* the first bytes were looked at */
  char id[32];        /* the current request's id */
  qr_http_deferred_t *deferred; /* the answer being waited for (ST_WAIT), or NULL */
};

static const llhttp_settings_t *parser_settings(void);

/* An address's 16 bytes (IPv4 mapped into IPv6): 4 or 6 for its family, 0 when not an address. */
static int addr16(const char *text, unsigned char out[16]) {
  unsigned char v4[4];
  if (inet_pton(AF_INET, text, v4) == 1) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, v4, 4);
    return 4;
  }
  return inet_pton(AF_INET6, text, out) == 1 ? 6 : 0;
}

int qr_http_net_parse(const char *text, qr_http_net_t *out) {
  char host[INET6_ADDRSTRLEN];
  const char *slash = strchr(text, '/');
  size_t n = slash ? (size_t)(slash - text) : strlen(text);
  if (n == 0 || n >= sizeof host) return -1;
  memcpy(host, text, n);
  host[n] = 0;
  qr_http_net_t net;
  int family = addr16(host, net.addr);
  if (!family) return -1;
  unsigned max = family == 4 ? 32 : 128, bits = max;
  if (slash) {
    char *end;
    if (slash[1] < '0' || slash[1] > '9') return -1;
    unsigned long b = strtoul(slash + 1, &end, 10);
    if (*end || b > max) return -1;
    bits = (unsigned)b;
  }
  net.bits = family == 4 ? bits + 96 : bits;
  for (unsigned i = net.bits; i < 128; i++) net.addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
  *out = net;
  return 0;
}

static int trusted(const qr_http_limits_t *l, const char *text) {
  unsigned char a[16];
  if (!l->ntrusted_proxies || !addr16(text, a)) return 0;
  for (unsigned i = 0; i < l->ntrusted_proxies; i++) {
    const qr_http_net_t *net = &l->trusted_proxies[i];
    unsigned whole = net->bits / 8, rest = net->bits % 8;
    if (memcmp(a, net->addr, whole) != 0) continue;
    if (rest && ((a[whole] ^ net->addr[whole]) & (0xffu << (8 - rest)) & 0xffu)) continue;
    return 1;
  }
  return 0;
}

void qr_http_limits_default(qr_http_limits_t *l) {
  l->request_line_max = 8 * 1024;
  l->header_max = 8 * 1024;
  l->headers_max = 32 * 1024;
  l->header_count_max = 100;
  l->body_max = 1024 * 1024;
  l->header_timeout_ms = 10000;
  l->request_timeout_ms = 60000;
  l->idle_timeout_ms = 15000;
  l->body_min_rate = 1024;
  l->max_connections = 10000;
  l->max_per_ip = 256;
  l->write_queue_max = 256 * 1024;
  l->output_max = 128 * 1024 * 1024;
  l->upload_timeout_ms = 600000;
  l->upload_spools = 8;
}

const char *qr_http_header(const qr_http_request_t *req, const char *name) {
  for (unsigned i = 0; i < req->nheaders; i++)
    if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
  return NULL;
}

static const struct {
  const char *name;
  unsigned char len;
} known_headers[] = {
    [QR_HDR_AGE] = {"Age", 3},
    [QR_HDR_CACHE_CONTROL] = {"Cache-Control", 13},
    [QR_HDR_CONTENT_ENCODING] = {"Content-Encoding", 16},
    [QR_HDR_CONTENT_RANGE] = {"Content-Range", 13},
    [QR_HDR_CONTENT_TYPE] = {"Content-Type", 12},
    [QR_HDR_ETAG] = {"ETag", 4},
    [QR_HDR_LOCATION] = {"Location", 8},
    [QR_HDR_SET_COOKIE] = {"Set-Cookie", 10},
    [QR_HDR_STRICT_TRANSPORT_SECURITY] = {"Strict-Transport-Security", 25},
    [QR_HDR_VARY] = {"Vary", 4},
    [QR_HDR_X_CACHE] = {"X-Cache", 7},
    [QR_HDR_X_REQUEST_ID] = {"X-Request-Id", 12},
};
#define NKNOWN (sizeof known_headers / sizeof known_headers[0])

unsigned qr_http_header_id(const char *name, size_t len) {
  for (unsigned i = 1; i < NKNOWN; i++)
    if (known_headers[i].len == len && strncasecmp(known_headers[i].name, name, len) == 0) return i;
  return QR_HDR_OTHER;
}

/* RFC 9110 token characters. */
static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

void qr_http_response_header_n(qr_http_response_t *res, const char *name, size_t nlen, const char *value,
                               size_t vlen) {
  if (nlen == 0 || nlen > 127 || memchr(value, '\r', vlen) || memchr(value, '\n', vlen) || memchr(value, '\0', vlen))
    return; /* no header injection */
  for (size_t i = 0; i < nlen; i++)
    if (!is_tchar((unsigned char)name[i])) return;
  qr_http_headers_t *h = &res->headers;
  if (h->n == h->cap) {
    h->cap = h->cap ? 2 * h->cap : 16;
    h->v = qr_xrealloc(h->v, h->cap * sizeof *h->v);
  }
  unsigned id = qr_http_header_id(name, nlen);
  qr_http_field_t *f = &h->v[h->n++];
  f->name = id;
  f->line = (unsigned)h->lines.len;
  if (id != QR_HDR_OTHER) {
    qr_buf_append(&h->lines, known_headers[id].name, nlen);
  } else { /* "x-robots-tag" -> "X-Robots-Tag": handlers may write names in any case */
    char canon[128];
    int upper = 1;
    for (size_t i = 0; i < nlen; i++) {
      char c = name[i];
      if (upper && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
      else if (!upper && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      canon[i] = c;
      upper = c == '-';
    }
    qr_buf_append(&h->lines, canon, nlen);
  }
  qr_buf_append(&h->lines, ": ", 2);
  f->value = (unsigned)h->lines.len;
  qr_buf_append(&h->lines, value, vlen);
  qr_buf_append(&h->lines, "\r\n", 2);
  f->len = (unsigned)h->lines.len - f->line;
}

void qr_http_response_header(qr_http_response_t *res, const char *name, const char *value) {
  qr_http_response_header_n(res, name, strlen(name), value, strlen(value));
}

const char *qr_http_response_get(const qr_http_response_t *res, unsigned id, size_t *len) {
  const qr_http_headers_t *h = &res->headers;
  for (unsigned i = 0; i < h->n; i++)
    if (h->v[i].name == id) {
      *len = h->v[i].line + h->v[i].len - 2 - h->v[i].value;
      return h->lines.data + h->v[i].value;
    }
  return NULL;
}

void qr_http_response_unset(qr_http_response_t *res, unsigned id) {
  qr_http_headers_t *h = &res->headers;
  unsigned kept = 0, shift = 0;
  for (unsigned i = 0; i < h->n; i++) {
    qr_http_field_t f = h->v[i];
    if (f.name == id) {
      memmove(h->lines.data + f.line - shift, h->lines.data + f.line + f.len - shift,
              h->lines.len - (f.line + f.len - shift));
      h->lines.len -= f.len;
      shift += f.len;
      continue;
    }
    f.line -= shift;
    f.value -= shift;
    h->v[kept++] = f;
  }
  h->n = kept;
  if (h->lines.data) h->lines.data[h->lines.len] = '\0';
}

void qr_http_headers_copy(qr_http_headers_t *dst, const qr_http_headers_t *src) {
  dst->n = 0;
  dst->lines.len = 0;
  if (src->n > dst->cap) {
    dst->cap = src->n;
    dst->v = qr_xrealloc(dst->v, dst->cap * sizeof *dst->v);
  }
  if (src->n) memcpy(dst->v, src->v, src->n * sizeof *src->v);
  dst->n = src->n;
  if (src->lines.len) qr_buf_append(&dst->lines, src->lines.data, src->lines.len);
}

void qr_http_headers_free(qr_http_headers_t *h) {
  free(h->v);
  qr_buf_free(&h->lines);
  memset(h, 0, sizeof *h);
}

static const char *reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

/* --- per-client-address connection counts */

static ip_count **ip_slot(qr_http_server_t *s, const char *ip) {
  unsigned h = 5381;
  for (const char *p = ip; *p; p++) h = h * 33 + (unsigned char)*p;
  ip_count **slot = &s->ips[h % IP_BUCKETS];
  while (*slot && strcmp((*slot)->ip, ip) != 0) slot = &(*slot)->next;
  return slot;
}

static unsigned ip_add(qr_http_server_t *s, const char *ip, int delta) {
  ip_count **slot = ip_slot(s, ip);
  if (!*slot) {
    if (delta < 0) return 0;
    *slot = qr_xcalloc(1, sizeof(ip_count));
    snprintf((*slot)->ip, sizeof (*slot)->ip, "%s", ip);
  }
  (*slot)->n += (unsigned)delta;
  unsigned n = (*slot)->n;
  if (n == 0) {
    ip_count *dead = *slot;
    *slot = dead->next;
    free(dead);
  }
  return n;
}

/* --- connection life cycle */

/* Ends a spooled body: its unnamed file goes with its bytes. */
static void spool_close(conn *c) {
  if (c->spool_fd < 0) return;
  close(c->spool_fd);
  c->spool_fd = -1;
  c->srv->spooling--;
}

static void reset_request(conn *c) {
  c->url.len = c->field.len = c->value.len = 0;
  for (unsigned i = 0; i < c->nheaders; i++) {
    free(c->headers[i].name);
    free(c->headers[i].value);
  }
  c->nheaders = 0;
  c->head_bytes = 0;
  c->version_seen = 0;
  c->body.len = 0;
  if (c->body.cap > 64 * 1024) qr_buf_free(&c->body); /* do not keep a big buffer per idle client */
  spool_close(c);
  c->spool_len = 0;
}

static void maybe_drained(qr_http_server_t *s) {
  if (s->draining && s->nconns == 0 && s->listeners_open == 0 && s->drained) {
    void (*done)(void *) = s->drained;
    void *ud = s->drained_ud;
    s->drained = NULL;
    for (int i = 0; i < IP_BUCKETS; i++)
      while (s->ips[i]) {
        ip_count *n = s->ips[i]->next;
        free(s->ips[i]);
        s->ips[i] = n;
      }
    free(s->listeners);
    free(s->listener_tls);
    free(s);
    done(ud);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->handles_open > 0) return;
  qr_http_server_t *s = c->srv;
  reset_request(c);
  qr_buf_free(&c->url);
  qr_buf_free(&c->field);
  qr_buf_free(&c->value);
  qr_buf_free(&c->body);
  s->output -= c->unparsed.len;
  qr_buf_free(&c->unparsed);
  free(c->headers);
  qr_tls_conn_free(c->tls);
  if (c->deferred) c->deferred->c = NULL; /* its answer will have no one to go to */
  if (c->remote[0] && !c->proxied) ip_add(s, c->remote, -1);
  if (c->prev) c->prev->next = c->next; else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  free(c);
  maybe_drained(s);
}

static void conn_close(conn *c) {
  if (c->state == ST_CLOSING) return;
  c->state = ST_CLOSING;
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

typedef struct {
  uv_write_t req;
  conn *c;
  int close_after;
  size_t held; /* bytes counted in the server's output until written */
  char *owned; /* freed once written (TLS output, or a response body handed over), or NULL */
  char data[];
} write_req;

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_timeout(uv_timer_t *t);

static void start_timer(conn *c, uint64_t ms, uint64_t repeat) {
  uv_timer_start(&c->timer, on_timeout, ms, repeat);
}

static void resume_reading(conn *c) {
  if (!c->reading && c->state != ST_CLOSING) {
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status;
}

/* Lingering close: after the last response, stop sending and discard what the client still
 * sends for a moment, so closing with unread input does not reset the connection before the
 * client has read our answer (a 400 or 413 sent while it was still writing). */
static void queue_write(conn *c, char *owned, const char *head, size_t hlen, const char *body, size_t blen,
                        int close_after);

static void linger(conn *c) {
  c->state = ST_LINGER;
  uv_timer_stop(&c->timer);
  start_timer(c, LINGER_MS, 0);
  if (c->tls) { /* end the TLS session properly before the TCP one */
    qr_tls_conn_close_notify(c->tls);
    if (qr_tls_conn_pending(c->tls)) {
      qr_buf_t out;
      qr_tls_conn_take_output(c->tls, &out);
      queue_write(c, out.data, NULL, 0, NULL, 0, 0);
      if (c->state == ST_CLOSING) return;
    }
  }
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    conn_close(c);
    return;
  }
  resume_reading(c);
}

static void resume_parsing(conn *c);

static void on_written(uv_write_t *w, int status) {
  write_req *wr = (write_req *)w;
  conn *c = wr->c;
  int close_after = wr->close_after;
  c->srv->output -= wr->held;
  free(wr->owned);
  free(wr);
  if (c->state == ST_CLOSING || c->state == ST_LINGER) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (close_after) {
    linger(c);
    return;
  }
  if (c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= c->srv->limits.write_queue_max / 2)
    resume_parsing(c);
  if (c->peer_eof && !c->paused && c->state == ST_IDLE && !uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp))
    conn_close(c);
}

/* Writes what the socket takes at once, when nothing is queued before it: most responses go
 * out here without a write request, and so without the epoll_ctl libuv makes for every uv_write,
 * even one that completes at once. Returns the bytes written. A closing write always goes
 * through uv_write: the lingering close starts from its callback. */
static size_t write_now(conn *c, uv_buf_t *b, unsigned n, int close_after) {
  if (close_after || c->state == ST_CLOSING || c->state == ST_LINGER) return 0;
  int r = uv_try_write((uv_stream_t *)&c->tcp, b, n); /* UV_EAGAIN while others are queued */
  return r > 0 ? (size_t)r : 0;
}

/* The worker holds more unsent output than limits.output_max: the connection adding to it is
 * closed (a client that reads its responses seldom has anything queued). One line a second. */
static void output_over(conn *c) {
  qr_http_server_t *s = c->srv;
  uint64_t now = uv_now(s->loop);
  if (!s->output_logged_at || now - s->output_logged_at >= 1000) {
    qr_log(QR_LOG_WARN,
                  "closing the connection from %s: %zu bytes of responses wait unsent in this worker, over "
                  "limits.worker_output (%zu); its client reads too slowly or not at all (%u more closed since the "
                  "last such line)",
                  c->remote, s->output, s->limits.output_max, s->output_closed);
    s->output_logged_at = now;
    s->output_closed = 0;
  } else {
    s->output_closed++;
  }
  conn_close(c);
}

static void after_queued(conn *c, write_req *wr, size_t held) {
  qr_http_server_t *s = c->srv;
  wr->held = held;
  s->output += held;
  if (s->output > s->limits.output_max) output_over(c);
}

/* Sends bytes: either owned (a malloc'd block of hlen bytes, freed once written) or head and
 * body, borrowed until this returns (what the socket does not take at once is copied). */
static void queue_write(conn *c, char *owned, const char *head, size_t hlen, const char *body, size_t blen,
                        int close_after) {
  write_req *wr;
  uv_buf_t b;
  size_t held;
  if (owned) {
    b = uv_buf_init(owned, (unsigned)hlen);
    size_t done = write_now(c, &b, 1, close_after);
    if (done == hlen) {
      free(owned);
      return;
    }
    wr = qr_xmalloc(sizeof *wr);
    wr->owned = owned;
    b = uv_buf_init(owned + done, (unsigned)(hlen - done));
    held = hlen;
  } else {
    uv_buf_t parts[2] = {uv_buf_init((char *)head, (unsigned)hlen), uv_buf_init((char *)body, (unsigned)blen)};
    size_t done = write_now(c, parts, blen ? 2 : 1, close_after);
    if (done == hlen + blen) return;
    if (done < hlen) {
      head += done;
      hlen -= done;
    } else {
      body += done - hlen;
      blen -= done - hlen;
      hlen = 0;
    }
    wr = qr_xmalloc(sizeof *wr + hlen + blen);
    wr->owned = NULL;
    if (hlen) memcpy(wr->data, head, hlen);
    if (blen) memcpy(wr->data + hlen, body, blen);
    b = uv_buf_init(wr->data, (unsigned)(hlen + blen));
    held = hlen + blen;
  }
  wr->c = c;
  wr->close_after = close_after;
  wr->held = 0;
  if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(wr->owned);
    free(wr);
    conn_close(c);
    return;
  }
  after_queued(c, wr, held);
}

/* Plain HTTP: sends head (borrowed until this returns) and the body block itself, which this
 * takes over and frees once written (no copy of a large body). */
static void queue_write_body(conn *c, const char *head, size_t hlen, char *body, size_t blen, int close_after) {
  uv_buf_t b[2] = {uv_buf_init((char *)head, (unsigned)hlen), uv_buf_init(body, (unsigned)blen)};
  size_t done = write_now(c, b, 2, close_after);
  if (done == hlen + blen) {
    free(body);
    return;
  }
  size_t head_left = done < hlen ? hlen - done : 0;
  write_req *wr = qr_xmalloc(sizeof *wr + head_left);
  memcpy(wr->data, head + (hlen - head_left), head_left);
  wr->owned = body;
  wr->c = c;
  wr->close_after = close_after;
  wr->held = 0;
  size_t body_done = done > hlen ? done - hlen : 0;
  uv_buf_t rest[2] = {uv_buf_init(wr->data, (unsigned)head_left),
                      uv_buf_init(body + body_done, (unsigned)(blen - body_done))};
  if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, head_left ? rest : rest + 1, head_left ? 2 : 1, on_written) != 0) {
    free(wr->owned);
    free(wr);
    conn_close(c);
    return;
  }
  after_queued(c, wr, head_left + blen);
}

/* Sends the TLS engine's pending output (handshake messages, records, alerts). With close_after
 * and nothing pending, goes straight to the lingering close. */
static void tls_flush(conn *c, int close_after) {
  if (!qr_tls_conn_pending(c->tls)) {
    if (close_after) linger(c);
    return;
  }
  qr_buf_t out;
  qr_tls_conn_take_output(c->tls, &out);
  queue_write(c, out.data, NULL, out.len, NULL, 0, close_after);
}

static void send_bytes(conn *c, const char *head, size_t hlen, const char *body, size_t blen, int close_after) {
  if (!c->tls) {
    queue_write(c, NULL, head, hlen, body, blen, close_after);
    return;
  }
  /* One TLS record for a small response rather than one for the head and one for the body. */
  static char joined[16 * 1024];
  int rc;
  if (hlen + blen <= sizeof joined) {
    memcpy(joined, head, hlen);
    if (blen) memcpy(joined + hlen, body, blen);
    rc = qr_tls_conn_write(c->tls, joined, hlen + blen);
  } else {
    rc = qr_tls_conn_write(c->tls, head, hlen);
    if (rc == 0 && blen) rc = qr_tls_conn_write(c->tls, body, blen);
  }
  if (rc != 0) {
    conn_close(c);
    return;
  }
  tls_flush(c, close_after);
}

void qr_http_request_id(char out[32]) {
  static unsigned pid;
  static unsigned long long next;
  if (!pid) pid = (unsigned)getpid(); /* a worker is forked by exec: never a parent's stale pid */
  size_t n = qr_fmt_uint(out, pid, 16);
  out[n++] = '-';
  out[n++] = 's';
  qr_fmt_uint(out + n, ++next, 16);
}

static void new_request_id(conn *c) { qr_http_request_id(c->id); }

/* The Date header's value, formatted once a second. */
static const char *http_date(void) {
  static time_t cached;
  static char text[64];
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return text;
}

/* An error answer produced by the server itself (limits, bad framing); always closes. */
static void send_error(conn *c, int status, const char *why) {
  if (c->state == ST_CLOSING) return;
  char head[512];
  const char *date = http_date();
  if (c->state != ST_HEAD && c->state != ST_BODY) new_request_id(c); /* not inside a request */
  char body[256];
  int blen = snprintf(body, sizeof body, "%d %s: %s\n", status, reason(status), why);
  int hlen = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: quire\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: %d\r\n%sConnection: close\r\nX-Request-Id: %s\r\n\r\n",
                      status, reason(status), date, blen, status == 503 ? "Retry-After: 5\r\n" : "", c->id);
  uv_timer_stop(&c->timer);
  c->close_after = 1; /* parse nothing more from this client */
  if (c->srv->cbs.log) {
    /* What is known of the request: the method and target once the request line began. */
    qr_http_request_t req = {
        .method = c->url.len ? llhttp_method_name((llhttp_method_t)c->parser.method) : NULL,
        .target = c->url.len ? c->url.data : NULL,
        .target_len = c->url.len,
        .headers = c->headers,
        .nheaders = c->nheaders,
        .http_minor = c->parser.http_minor,
        .remote = c->client,
        .secure = c->tls != NULL || c->forwarded_https,
        .id = c->id,
    };
    c->srv->cbs.log(c->srv->cbs.ud, &req, NULL, status, (size_t)blen);
  }
  send_bytes(c, head, (size_t)hlen, body, (size_t)blen, 1);
}

static void on_timeout(uv_timer_t *t) {
  conn *c = t->data;
  qr_http_limits_t *l = &c->srv->limits;
  if (c->state == ST_IDLE) {
    /* Responses still going out to a client that takes them (a large file, a slow link) keep
     * the connection another period; one that took nothing since the last is closed. */
    size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (q && q < c->queue_mark) {
      c->queue_mark = q;
      start_timer(c, l->idle_timeout_ms, 0);
      return;
    }
    conn_close(c); /* keep-alive idleness: close quietly */
  } else if (c->state == ST_LINGER) {
    conn_close(c);
  } else if (c->state == ST_HEAD) {
    send_error(c, 408, "the request head did not arrive within limits.header_timeout_ms of its first byte");
  } else if (c->state == ST_BODY) {
    uint64_t now = uv_now(c->srv->loop), elapsed = now - c->body_started;
    size_t got = c->spool_fd >= 0 ? c->spool_len : c->body.len;
    if (c->spool_fd >= 0 && now - c->started >= l->upload_timeout_ms)
      send_error(c, 408, "the upload did not arrive within limits.upload_timeout_ms of its first byte");
    else if (c->spool_fd < 0 && now - c->started >= l->request_timeout_ms)
      send_error(c, 408, "the request did not arrive within limits.request_timeout_ms of its first byte");
    else if (elapsed > BODY_GRACE_MS && got < (size_t)(l->body_min_rate * (elapsed / 1000)))
      send_error(c, 408, "the request body arrived too slowly");
  }
}

/* --- llhttp callbacks */

static int limit(conn *c, int status, const char *why) {
  c->pending_status = status;
  c->pending_reason = why;
  return -1;
}

/* The first byte of a request (empty lines before it are skipped and change nothing): its head
 * and its whole must arrive within fixed deadlines from here. */
static int on_message_begin(llhttp_t *p) {
  conn *c = p->data;
  qr_http_limits_t *l = &c->srv->limits;
  reset_request(c);
  new_request_id(c);
  snprintf(c->client, sizeof c->client, "%s", c->remote); /* until its headers say otherwise */
  c->forwarded_https = 0;
  c->state = ST_HEAD;
  c->started = uv_now(c->srv->loop);
  start_timer(c, l->header_timeout_ms < l->request_timeout_ms ? l->header_timeout_ms : l->request_timeout_ms, 0);
  return 0;
}

/* A byte's offset in the connection's input (at lies in the buffer being parsed). */
static uint64_t stream_off(const conn *c, const char *at) { return c->in_off + (uint64_t)(at - c->in_base); }

/* The request line is method SP target SP HTTP-version, one space each (RFC 9112 3): llhttp
 * skips extra spaces, so their positions are compared. */
static int on_method(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  c->method_end = stream_off(c, at) + len;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->url.len == 0 && stream_off(c, at) != c->method_end + 1)
    return limit(c, 400, "the request line has more than one space after the method");
  if (c->url.len + len > c->srv->limits.request_line_max) return limit(c, 414, "the request line is longer than limits.request_line_max");
  qr_buf_append(&c->url, at, len);
  c->url_end = stream_off(c, at) + len;
  return 0;
}

static int on_version(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  (void)len;
  if (!c->version_seen && stream_off(c, at) != c->url_end + sizeof " HTTP/" - 1)
    return limit(c, 400, "the request line has more than one space before the HTTP version");
  c->version_seen = 1;
  return 0;
}

static int commit_header(llhttp_t *p) {
  conn *c = p->data;
  if (c->nheaders >= c->srv->limits.header_count_max) return limit(c, 431, "more header fields than limits.header_count_max");
  if (c->nheaders == c->headers_cap) {
    c->headers_cap = c->headers_cap ? c->headers_cap * 2 : 16;
    c->headers = qr_xrealloc(c->headers, sizeof(qr_http_header_t) * c->headers_cap);
  }
  for (size_t i = 0; i < c->field.len; i++)
    if (c->field.data[i] >= 'A' && c->field.data[i] <= 'Z') c->field.data[i] += 'a' - 'A';
  c->headers[c->nheaders].name = qr_xstrdup(c->field.len ? c->field.data : "");
  c->headers[c->nheaders].value = qr_xstrdup(c->value.len ? c->value.data : "");
  c->nheaders++;
  c->field.len = c->value.len = 0;
  return 0;
}

static int header_bytes(conn *c, size_t len) {
  c->head_bytes += len;
  if (c->field.len + c->value.len + len > c->srv->limits.header_max) return limit(c, 431, "a header field is longer than limits.header_max");
  if (c->head_bytes > c->srv->limits.headers_max) return limit(c, 431, "the headers are larger than limits.headers_max");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  if (header_bytes(c, len)) return -1;
  /* llhttp takes "Name :" with the space in the name; RFC 9112 5.1 says reject it. */
  if (memchr(at, ' ', len) || memchr(at, '\t', len))
    return limit(c, 400, "a header field has whitespace before its colon");
  qr_buf_append(&c->field, at, len);
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  conn *c = p->data;
  if (c->field.len == 0) return limit(c, 400, "a header field has an empty name");
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  if (header_bytes(c, len)) return -1;
  qr_buf_append(&c->value, at, len);
  return 0;
}

/* A Host value: uri-host [":" port], i.e. reg-name or IP-literal characters (RFC 3986); may be empty. */
static int valid_host(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          strchr("-._~%!$&'()*+,;=:[]", ch)))
      return 0;
  }
  return 1;
}

/* absolute-form ("GET http://example.org/a HTTP/1.1"): RFC 9112 3.2.2 has the target's
 * authority replace Host; the handler gets origin-form ("/a") like any other request. */
static int absolute_form(conn *c, int host_at) {
  size_t skip = c->url.len >= 7 && strncasecmp(c->url.data, "http://", 7) == 0    ? 7
                : c->url.len >= 8 && strncasecmp(c->url.data, "https://", 8) == 0 ? 8
                                                                                   : 0;
  if (!skip) return 0;
  const char *auth = c->url.data + skip;
  size_t alen = strcspn(auth, "/?#");
  if (alen == 0 || !valid_host(auth, alen)) return limit(c, 400, "the request target's authority is not a valid host");
  char *host = qr_xmalloc(alen + 1);
  memcpy(host, auth, alen);
  host[alen] = '\0';
  if (host_at >= 0) {
    free(c->headers[host_at].value);
    c->headers[host_at].value = host;
  } else { /* HTTP/1.0 may come without Host */
    if (c->nheaders == c->headers_cap) {
      c->headers_cap = c->headers_cap ? c->headers_cap * 2 : 16;
      c->headers = qr_xrealloc(c->headers, sizeof(qr_http_header_t) * c->headers_cap);
    }
    c->headers[c->nheaders++] = (qr_http_header_t){qr_xstrdup("host"), host};
  }
  const char *tail = auth + alen; /* "/path?query", "?query" or "" */
  size_t rest = c->url.len - skip - alen;
  if (rest && tail[0] == '/') {
    memmove(c->url.data, tail, rest);
    c->url.len = rest;
  } else {
    memmove(c->url.data + 1, tail, rest);
    c->url.data[0] = '/';
    c->url.len = rest + 1;
  }
  c->url.data[c->url.len] = '\0';
  return 0;
}

/* What RFC 9112 and 9110 ask of a request head before it is answered: 400, 417, 501 or 505, and
 * at most one 100 Continue. */
static int check_head(conn *c, llhttp_t *p, int has_body) {
  if (p->http_major == 0) return limit(c, 400, "the request line has no HTTP version (HTTP/0.9 is not served)");
  if (p->http_major != 1) return limit(c, 505, "this server speaks HTTP/1.1 and HTTP/1.0 on this connection");
  /* CONNECT asks for a tunnel, which only a proxy makes; what follows its head is not HTTP, so the
   * connection closes after the 501 (RFC 9110 9.3.6, 15.6.2). */
  if (p->method == HTTP_CONNECT) return limit(c, 501, "CONNECT is not supported: this server is not a proxy");
  /* Chunked framing did not exist in HTTP/1.0: such a message's framing is faulty (RFC 9112 6.1). */
  if (p->http_minor == 0 && (p->flags & F_TRANSFER_ENCODING))
    return limit(c, 400, "Transfer-Encoding in an HTTP/1.0 request");
  unsigned hosts = 0;
  int host_at = -1;
  int expect_continue = 0;
  for (unsigned i = 0; i < c->nheaders; i++) {
    const qr_http_header_t *h = &c->headers[i];
    if (strcmp(h->name, "host") == 0) {
      hosts++;
      host_at = (int)i;
      if (!valid_host(h->value, strlen(h->value))) return limit(c, 400, "the Host header is not a valid host");
    }
    if (strcmp(h->name, "expect") == 0 && p->http_minor >= 1) { /* HTTP/1.0 expectations are ignored */
      if (strcasecmp(h->value, "100-continue") != 0)
        return limit(c, 417, "the only expectation served is 100-continue");
      expect_continue = 1;
    }
  }
  if (hosts > 1) return limit(c, 400, "the request has more than one Host header");
  if (hosts == 0 && p->http_minor >= 1) return limit(c, 400, "an HTTP/1.1 request needs a Host header");
  if (c->url.data[0] != '/' && absolute_form(c, host_at)) return -1;
  /* Upgrade (websocket, h2c) is declined by answering over HTTP/1.1 on the same connection, which
   * RFC 9110 7.8 allows: one response, and the next request is parsed as HTTP/1.1. */
  p->upgrade = 0;
  if (expect_continue && has_body) { /* once, however many Expect lines */
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    send_bytes(c, cont, sizeof cont - 1, NULL, 0, 0);
  }
  return 0;
}

/* Asks the spool callback whether this body goes to disk; opens its file when it does. */
static int spool_open(conn *c, llhttp_t *p) {
  qr_http_request_t head = {.method = llhttp_method_name((llhttp_method_t)p->method), .target = c->url.data,
                            .target_len = c->url.len, .headers = c->headers, .nheaders = c->nheaders,
                            .remote = c->client, .secure = c->tls != NULL || c->forwarded_https, .id = c->id, .fd = -1};
  size_t max = 0;
  const char *dir = c->srv->cbs.spool(c->srv->cbs.ud, &head, &max);
  if (!dir) return 0;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > max)
    return limit(c, 413, "the upload is larger than limits.upload_request");
  /* The body is on disk before the route knows who sent it: a bound on the uploads at once keeps
   * any number of clients (signed in or not) from filling the site's disk. */
  if (c->srv->spooling >= c->srv->limits.upload_spools)
    return limit(c, 503, "too many uploads at once (limits.upload_spools): try again in a moment");
  /* An unnamed file (O_TMPFILE): an upload cut off, a crash, anything, leaves nothing behind. */
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) { /* no O_TMPFILE there */
    char path[4096];
    snprintf(path, sizeof path, "%s/.upload-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
  }
  if (fd < 0) {
    qr_log(QR_LOG_ERROR, "request %s: cannot spool an upload in %s: %s", c->id, dir, strerror(errno));
    return limit(c, errno == ENOSPC ? 507 : 500, "the server cannot store the upload now");
  }
  c->spool_fd = fd;
  c->srv->spooling++;
  c->spool_max = max;
  c->spool_len = 0;
  return 0;
}

/* The client of a request that came through a trusted proxy: X-Forwarded-For read from its
 * last hop back, the first address that is not a trusted proxy (when all are, the first one);
 * an item that is not an address stops the walk at the hop before it, which vouched for it.
 * https when the last X-Forwarded-Proto item is https. */
static void forwarded(conn *c) {
  const qr_http_limits_t *l = &c->srv->limits;
  snprintf(c->client, sizeof c->client, "%s", c->remote);
  c->forwarded_https = 0;
  if (!c->proxied) return;
  int proto_seen = 0;
  for (unsigned h = c->nheaders; h-- > 0;) {
    const char *v = c->headers[h].value;
    if (!proto_seen && strcmp(c->headers[h].name, "x-forwarded-proto") == 0) {
      proto_seen = 1;
      const char *last = strrchr(v, ',');
      last = last ? last + 1 : v;
      while (*last == ' ' || *last == '\t') last++;
      size_t n = strcspn(last, " \t");
      c->forwarded_https = n == 5 && strncasecmp(last, "https", 5) == 0;
    }
  }
  for (unsigned h = c->nheaders; h-- > 0;) {
    if (strcmp(c->headers[h].name, "x-forwarded-for") != 0) continue;
    const char *v = c->headers[h].value;
    size_t end = strlen(v);
    while (end > 0) {
      size_t start = end;
      while (start > 0 && v[start - 1] != ',') start--;
      size_t a = start, b = end;
      while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
      while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
      char hop[INET6_ADDRSTRLEN];
      unsigned char bytes[16];
      if (b - a == 0 || b - a >= sizeof hop) return;
      memcpy(hop, v + a, b - a);
      hop[b - a] = 0;
      if (!addr16(hop, bytes)) return;
      snprintf(c->client, sizeof c->client, "%s", hop);
      if (!trusted(l, hop)) return;
      end = start ? start - 1 : 0;
    }
  }
}

static int on_headers_complete(llhttp_t *p) {
  conn *c = p->data;
  forwarded(c);
  if (c->url.len == 0) qr_buf_append(&c->url, "/", 1);
  int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  if (has_body && c->srv->cbs.spool && spool_open(c, p)) return -1;
  if (c->spool_fd < 0 && (p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->limits.body_max)
    return limit(c, 413, "the body is larger than limits.body_max");
  /* (closed when its 100 Continue could not be queued) */
  if (check_head(c, p, has_body) || c->state == ST_CLOSING) return -1;
  if (has_body) {
    c->state = ST_BODY;
    c->body_started = uv_now(c->srv->loop);
    start_timer(c, 1000, 1000);
  } else {
    uv_timer_stop(&c->timer);
  }
  return 0;
}

/* A chunk that cannot fit is refused when its size arrives, not after its bytes. */
static int on_chunk_header(llhttp_t *p) {
  conn *c = p->data;
  if (c->spool_fd >= 0) {
    if (p->content_length > c->spool_max - c->spool_len)
      return limit(c, 413, "the upload is larger than limits.upload_request");
    return 0;
  }
  if (p->content_length > c->srv->limits.body_max - c->body.len)
    return limit(c, 413, "a chunk is larger than limits.body_max allows");
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  conn *c = p->data;
  if (c->spool_fd >= 0) {
    if (len > c->spool_max - c->spool_len) return limit(c, 413, "the upload is larger than limits.upload_request");
    for (size_t done = 0; done < len;) {
      ssize_t w = write(c->spool_fd, at + done, len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int e = w < 0 ? errno : EIO;
        qr_log(QR_LOG_ERROR, "request %s: writing an upload: %s", c->id, strerror(e));
        return limit(c, e == ENOSPC || e == EDQUOT ? 507 : 500, "the server cannot store the upload now");
      }
      done += (size_t)w;
    }
    c->spool_len += len;
    return 0;
  }
  if (c->body.len + len > c->srv->limits.body_max) return limit(c, 413, "the body is larger than limits.body_max");
  qr_buf_append(&c->body, at, len);
  return 0;
}

/* --- responses */

/* The ETag of a body: 64 bits over 8-byte words in four independent lanes. Byte-wise FNV-1a
 * was a chain of dependent multiplies per byte: 7% of an uncached page's CPU time. */
static uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

static uint64_t body_hash(const char *s, size_t n) {
  const uint64_t k = 0x9e3779b97f4a7c15ull;
  uint64_t h[4] = {1469598103934665603ull, k, ~k, n};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; j++) {
      uint64_t w;
      memcpy(&w, s + i + 8 * j, 8);
      h[j] = (h[j] ^ w) * 1099511628211ull;
      h[j] ^= h[j] >> 29;
    }
  }
  for (; i < n; i++) h[0] = (h[0] ^ (unsigned char)s[i]) * 1099511628211ull;
  return mix64(h[0] ^ mix64(h[1] ^ mix64(h[2] ^ mix64(h[3]))));
}

/* 1 when the client takes gzip (a "gzip" or "*" coding whose q is not 0). */
static int accepts_gzip(const char *ae) {
  if (!ae) return 0;
  const char *p = ae;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    const char *tok = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ') p++;
    size_t tlen = (size_t)(p - tok);
    int match = (tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tlen == 1 && *tok == '*');
    const char *params = p;
    while (*p && *p != ',') p++;
    if (match) {
      const char *q = strstr(params, "q=");
      if (!q || q >= p) return 1;
      return strtod(q + 2, NULL) > 0;
    }
  }
  return 0;
}

static int compressible(const char *type, size_t len) {
  if (!type) return 0;
  static const char *prefixes[] = {"text/", "application/json", "application/javascript", "application/xml",
                                   "application/rss+xml", "application/atom+xml", "image/svg+xml", NULL};
  for (int i = 0; prefixes[i]; i++)
    if (len >= strlen(prefixes[i]) && strncasecmp(type, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  return 0;
}

static const char dot_segment[] = "the request path has a . or .. segment (a client resolves them before it sends a URL)";

const char *qr_http_path_problem(const char *target, size_t len) {
  size_t seg = 0, dots = 0; /* the current segment's length (decoded) and how many of it are dots */
  for (size_t i = 0; i < len && target[i] != '?' && target[i] != '#'; i++) {
    char c = target[i];
    if (c == '%') {
      int hi = i + 2 < len ? qr_hexval(target[i + 1]) : -1, lo = i + 2 < len ? qr_hexval(target[i + 2]) : -1;
      if (hi < 0 || lo < 0) return "the request path has a malformed %-escape (% must be followed by two hex digits)";
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return "the request path has an encoded NUL (%00)";
    if (c == '\\') return "the request path has a backslash (\\ or %5C)";
    if (c == '/') {
      if (seg && seg == dots && dots <= 2) return dot_segment;
      seg = dots = 0;
    } else {
      seg++;
      dots += c == '.';
    }
  }
  return seg && seg == dots && dots <= 2 ? dot_segment : NULL;
}

int qr_http_gzip_candidate(const char *type, size_t len) {
  return len >= GZIP_MIN && compressible(type, strlen(type));
}

static int gzip_into(const char *in, size_t n, qr_buf_t *out) {
  z_stream z = {0};
  if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
  size_t bound = deflateBound(&z, (uLong)n);
  out->len = 0;
  qr_buf_append(out, "", 0);
  if (out->cap < bound + 1) {
    out->data = qr_xrealloc(out->data, bound + 1);
    out->cap = bound + 1;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out->data;
  z.avail_out = (uInt)bound;
  int rc = deflate(&z, Z_FINISH);
  out->len = z.total_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END ? 0 : -1;
}

/* If-None-Match holds etag (or *)? Weak comparison, per RFC 9110 for GET. */
static int etag_matches(const char *inm, const char *etag) {
  if (!inm) return 0;
  if (strcmp(inm, "*") == 0) return 1;
  const char *tag = etag[0] == 'W' ? etag + 2 : etag;
  size_t tlen = strlen(tag);
  const char *p = inm;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (p[0] == 'W' && p[1] == '/') p += 2;
    if (strncmp(p, tag, tlen) == 0 && (p[tlen] == '\0' || p[tlen] == ',' || p[tlen] == ' ')) return 1;
    while (*p && *p != ',') p++;
  }
  return 0;
}

void qr_http_response_prepare(qr_http_response_t *res, int want_gzip) {
  if (!res->prepared) {
    size_t tlen = 0, n;
    const char *type = qr_http_response_get(res, QR_HDR_CONTENT_TYPE, &tlen);
    res->compressible = res->status == 200 && res->body.len >= GZIP_MIN && compressible(type, tlen) &&
                        !qr_http_response_get(res, QR_HDR_CONTENT_ENCODING, &n) &&
                        !qr_http_response_get(res, QR_HDR_CONTENT_RANGE, &n);
    if (res->status == 200 && !res->etag[0] && !qr_http_response_get(res, QR_HDR_ETAG, &n))
      snprintf(res->etag, sizeof res->etag, "\"%016llx\"",
               (unsigned long long)body_hash(res->body.data ? res->body.data : "", res->body.len));
    res->prepared = 1;
  }
  if (want_gzip && res->compressible && !res->gz_made) {
    res->gz_made = 1;
    if (gzip_into(res->body.data, res->body.len, &res->gz) != 0 || res->gz.len >= res->body.len) res->gz.len = 0;
  }
}

void qr_http_response_free(qr_http_response_t *res) {
  qr_http_headers_free(&res->headers);
  qr_buf_free(&res->body);
  qr_buf_free(&res->gz);
  memset(res, 0, sizeof *res);
}

static void respond(conn *c, const qr_http_request_t *req, qr_http_response_t *res, int keep_alive) {
  int is_head = strcmp(req->method, "HEAD") == 0;
  int cacheable = (is_head || strcmp(req->method, "GET") == 0) && res->status == 200;
  int gzip = req->accepts_gzip;
  qr_http_response_prepare(res, gzip);
  const char *body = res->body.data ? res->body.data : "";
  size_t blen = res->body.len;
  char extra[256] = "";
  int use_gz = gzip && res->compressible && res->gz.len > 0;
  if (res->compressible) strcat(extra, "Vary: Accept-Encoding\r\n");
  if (use_gz) {
    body = res->gz.data;
    blen = res->gz.len;
    strcat(extra, "Content-Encoding: gzip\r\n");
  }
  /* The gzip variant is another representation: its ETag differs ("...-gz"). */
  char etag[64] = "";
  if (res->etag[0]) {
    size_t n = strlen(res->etag); /* a quoted hash, well under the room */
    memcpy(etag, res->etag, n - 1);
    if (use_gz) {
      memcpy(etag + n - 1, "-gz", 3);
      n += 3;
    }
    memcpy(etag + n - 1, "\"", 2);
    strcat(extra, "ETag: ");
    strcat(extra, etag);
    strcat(extra, "\r\n");
  } else if (cacheable) {
    size_t elen;
    const char *e = qr_http_response_get(res, QR_HDR_ETAG, &elen);
    if (e && elen < sizeof etag) {
      memcpy(etag, e, elen);
      etag[elen] = '\0';
    }
  }
  int status = res->status;
  if (cacheable && etag[0] && etag_matches(qr_http_header(req, "if-none-match"), etag)) {
    status = 304;
    blen = 0;
  }
  int no_body = is_head || status == 304 || status == 204 || (status >= 100 && status < 200);
  qr_buf_t head = {0};
  qr_buf_puts(&head, "HTTP/1.1 ");
  qr_buf_append_uint(&head, (unsigned)status, 10);
  qr_buf_append(&head, " ", 1);
  qr_buf_puts(&head, reason(status));
  qr_buf_puts(&head, "\r\nDate: ");
  qr_buf_puts(&head, http_date());
  qr_buf_puts(&head, "\r\nServer: quire\r\n");
  if (status != 304 && status != 204) {
    qr_buf_puts(&head, "Content-Length: ");
    qr_buf_append_uint(&head, blen, 10);
    qr_buf_puts(&head, "\r\n");
  }
  if (!keep_alive) qr_buf_puts(&head, "Connection: close\r\n");
  else if (req->http_minor == 0) qr_buf_puts(&head, "Connection: keep-alive\r\n");
  qr_buf_puts(&head, extra);
  if (res->headers.lines.len) qr_buf_append(&head, res->headers.lines.data, res->headers.lines.len);
  qr_buf_append(&head, "\r\n", 2);
  qr_buf_t *whole = body == res->body.data ? &res->body : body == res->gz.data ? &res->gz : NULL;
  if (!c->tls && !no_body && blen >= 4096 && whole && whole->len == blen) {
    char *owned = whole->data; /* the response is freed after this: hand its body to the write */
    memset(whole, 0, sizeof *whole);
    queue_write_body(c, head.data, head.len, owned, blen, !keep_alive);
  } else {
    send_bytes(c, head.data, head.len, body, no_body ? 0 : blen, !keep_alive);
  }
  qr_buf_free(&head);
  if (c->srv->cbs.log) c->srv->cbs.log(c->srv->cbs.ud, req, res, status, no_body ? 0 : blen);
}

static int on_message_complete(llhttp_t *p) {
  conn *c = p->data;
  qr_http_server_t *s = c->srv;
  uv_timer_stop(&c->timer);
  if (!c->body.data) qr_buf_append(&c->body, "", 0); /* body.data is never NULL for handlers */
  qr_http_request_t req = {
      .method = llhttp_method_name((llhttp_method_t)p->method),
      .target = c->url.data,
      .target_len = c->url.len,
      .headers = c->headers,
      .nheaders = c->nheaders,
      .body = c->body,
      .http_minor = p->http_minor,
      .remote = c->client,
      .secure = c->tls != NULL || c->forwarded_https,
      .id = c->id,
      .spooled = c->spool_fd >= 0,
      .spool_fd = c->spool_fd,
      .spool_len = c->spool_len,
  };
  req.accepts_gzip = accepts_gzip(qr_http_header(&req, "accept-encoding")); /* once: cache and respond */
  uv_os_fd_t fd;
  req.fd = !c->tls && !uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) &&
           uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
  req.conn = c;
  qr_http_response_t res = {.status = 200};
  s->cbs.handle(s->cbs.ud, &req, &res);
  if (c->deferred) { /* answered later: parse nothing more until then */
    c->deferred->req = req;
    c->deferred->keep_alive = llhttp_should_keep_alive(p);
    qr_http_response_free(&res);
    c->state = ST_WAIT;
    c->paused = 1;
    return HPE_PAUSED;
  }
  int keep_alive = llhttp_should_keep_alive(p) && !res.close && !s->draining;
  respond(c, &req, &res, keep_alive);
  qr_http_response_free(&res);
  spool_close(c);
  if (c->state == ST_CLOSING) return HPE_PAUSED; /* closed while answering (see output_over) */
  c->state = ST_IDLE;
  if (!keep_alive) {
    c->close_after = 1;
    return HPE_PAUSED; /* stop parsing pipelined requests behind a closing one */
  }
  c->queue_mark = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
  start_timer(c, s->limits.idle_timeout_ms, 0);
  if (c->queue_mark > s->limits.write_queue_max) {
    c->paused = 1; /* back-pressure: parse nothing more until the client has read some */
    return HPE_PAUSED;
  }
  return 0;
}

static const llhttp_settings_t *parser_settings(void) {
  static llhttp_settings_t settings;
  static int ready;
  if (!ready) {
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_method = on_method;
    settings.on_url = on_url;
    settings.on_version = on_version;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = commit_header;
    settings.on_headers_complete = on_headers_complete;
    settings.on_chunk_header = on_chunk_header;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    ready = 1;
  }
  return &settings;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[64 * 1024]; /* one loop thread: a shared read buffer is safe */
  *buf = uv_buf_init(slab, sizeof slab);
}

/* Parses request bytes (as received, or as decrypted from TLS). Bytes between requests do not
 * touch the timer: only a request's first byte does (on_message_begin). */
static void feed(conn *c, const char *data, size_t n) {
  c->in_base = data;
  llhttp_errno_t err = llhttp_execute(&c->parser, data, n);
  if (err == HPE_OK) {
    c->in_off += n;
    return;
  }
  if (c->state == ST_CLOSING) return;
  if (err == HPE_PAUSED && c->close_after) return;
  if (err == HPE_PAUSED && c->paused) { /* keep what follows for when the client has read */
    const char *at = llhttp_get_error_pos(&c->parser);
    size_t used = at ? (size_t)(at - data) : n;
    c->in_off += used;
    qr_buf_append(&c->unparsed, data + used, n - used);
    c->srv->output += n - used;
    if (c->reading) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->reading = 0;
    }
    return;
  }
  if (c->pending_status) {
    send_error(c, c->pending_status, c->pending_reason);
  } else {
    /* Malformed or ambiguous framing (CL with TE, conflicting lengths, bad chunk sizes): 400,
     * never a guess. */
    const char *why = llhttp_get_error_reason(&c->parser);
    send_error(c, err == HPE_INVALID_VERSION ? 505 : 400, why ? why : llhttp_errno_name(err));
  }
}

/* TLS: ciphertext in, handshake, then plaintext to the parser. The handshake shares the request
 * head deadline set at accept: reads during it do not extend it, so a client cannot hold a
 * connection by trickling handshake bytes. */
static void tls_pump(conn *c);

static void tls_read(conn *c, const char *data, size_t n) {
  if (!c->tls_seen) {
    c->tls_seen = 1;
    if ((unsigned char)data[0] != 0x16) { /* not a TLS handshake record: plain HTTP, most likely */
      qr_tls_conn_free(c->tls);
      c->tls = NULL;
      send_error(c, 400, "this port speaks HTTPS; the request was sent as plain HTTP");
      return;
    }
  }
  qr_tls_conn_input(c->tls, data, n);
  if (!qr_tls_conn_established(c->tls)) {
    int rc = qr_tls_conn_handshake(c->tls);
    if (rc < 0) { /* send the alert mbedTLS queued, if any, then close */
      uv_timer_stop(&c->timer);
      c->close_after = 1;
      tls_flush(c, 1);
      return;
    }
    tls_flush(c, 0);
    if (rc == QR_TLS_AGAIN || c->state == ST_CLOSING) return;
  }
  tls_pump(c);
}

/* Decrypts and parses what the engine holds, until it needs more or the parser pauses. */
static void tls_pump(conn *c) {
  static char plain[16 * 1024]; /* one record's worth; one loop thread */
  while (c->tls && c->state != ST_CLOSING && c->state != ST_LINGER && !c->close_after && !c->paused) {
    ssize_t r = qr_tls_conn_read(c->tls, plain, sizeof plain);
    if (r == 0) break;
    if (r < 0) { /* close_notify or a bad record: we are done with this client */
      c->close_after = 1;
      tls_flush(c, 1);
      return;
    }
    feed(c, plain, (size_t)r);
  }
  if (c->tls && c->state != ST_CLOSING && c->state != ST_LINGER && qr_tls_conn_pending(c->tls)) tls_flush(c, 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  conn *c = (conn *)stream;
  if (nread == 0) return;
  if (nread < 0) {
    /* EOF between requests (a client that half-closes after its last pipelined request): what
     * it asked for is still answered, then the connection closes (on_written). */
    if (nread == UV_EOF && (c->state == ST_IDLE || c->state == ST_WAIT) && !c->close_after &&
        (c->paused || uv_stream_get_write_queue_size(stream) > 0)) {
      c->peer_eof = 1;
      uv_read_stop(stream);
      c->reading = 0;
      return;
    }
    conn_close(c);
    return;
  }
  if (c->state == ST_CLOSING || c->state == ST_LINGER || c->close_after) return; /* discarded */
  if (c->paused) { /* read before reading stopped: kept for later */
    if (c->tls) {
      qr_tls_conn_input(c->tls, buf->base, (size_t)nread);
    } else {
      qr_buf_append(&c->unparsed, buf->base, (size_t)nread);
      c->srv->output += (size_t)nread;
    }
    return;
  }
  if (c->tls) tls_read(c, buf->base, (size_t)nread);
  else feed(c, buf->base, (size_t)nread);
}

/* The client has read enough of its responses: parse what waited, then read again. */
static void resume_parsing(conn *c) {
  c->paused = 0;
  llhttp_resume(&c->parser);
  qr_buf_t in = c->unparsed;
  memset(&c->unparsed, 0, sizeof c->unparsed);
  c->srv->output -= in.len;
  if (in.len) feed(c, in.data, in.len); /* may pause again: what is left goes back to unparsed */
  qr_buf_free(&in);
  if (c->tls && !c->paused) tls_pump(c);
  if (!c->paused && !c->close_after && !c->peer_eof && c->state != ST_CLOSING && c->state != ST_LINGER)
    resume_reading(c);
}

qr_http_deferred_t *qr_http_defer(const qr_http_request_t *req) {
  conn *c = req->conn;
  if (!c || c->deferred || c->state == ST_CLOSING) return NULL;
  c->deferred = qr_xcalloc(1, sizeof *c->deferred);
  c->deferred->c = c;
  return c->deferred;
}

int qr_http_is_deferred(const qr_http_request_t *req) {
  conn *c = req->conn;
  return c && c->deferred && c->state != ST_WAIT; /* asked for during this handler call */
}

const qr_http_request_t *qr_http_deferred_request(const qr_http_deferred_t *d) {
  return d->c && d->c->state == ST_WAIT ? &d->req : NULL;
}

void qr_http_deferred_finish(qr_http_deferred_t *d, qr_http_response_t *res) {
  conn *c = d->c;
  if (c) {
    c->deferred = NULL;
    if (c->state == ST_WAIT) {
      qr_http_server_t *s = c->srv;
      int keep_alive = d->keep_alive && !res->close && !s->draining;
      c->state = ST_IDLE;
      respond(c, &d->req, res, keep_alive);
      if (c->state != ST_CLOSING && c->state != ST_LINGER) {
        if (!keep_alive) {
          c->close_after = 1; /* the closing write's callback lingers, then closes */
        } else {
          c->queue_mark = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
          start_timer(c, s->limits.idle_timeout_ms, 0);
          /* Back-pressure as after any answer: parsing resumes once the client reads. */
          if (c->queue_mark <= s->limits.write_queue_max) resume_parsing(c);
          if (c->state == ST_IDLE && c->peer_eof && !c->paused && !uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp))
            conn_close(c);
        }
      }
    }
  }
  qr_http_response_free(res);
  free(d);
}

static void on_connection(uv_stream_t *server, int status) {
  qr_http_server_t *s = server->data;
  if (status < 0 || s->draining) return;
  conn *c = qr_xcalloc(1, sizeof *c);
  c->srv = s;
  c->spool_fd = -1;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles_open = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage addr;
  int alen = sizeof addr;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &alen) == 0) {
    if (addr.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&addr, c->remote, sizeof c->remote);
    else
      uv_ip4_name((struct sockaddr_in *)&addr, c->remote, sizeof c->remote);
  }
  llhttp_init(&c->parser, HTTP_REQUEST, parser_settings());
  c->parser.data = c;
  c->state = ST_IDLE;
  qr_tls_t *tls = s->listener_tls[(uv_tcp_t *)server - s->listeners];
  if (tls) c->tls = qr_tls_conn_new(tls);
  c->proxied = trusted(&s->limits, c->remote);
  snprintf(c->client, sizeof c->client, "%s", c->remote);
  unsigned per_ip = c->remote[0] && !c->proxied ? ip_add(s, c->remote, 1) : 0;
  if (s->nconns > s->limits.max_connections) {
    send_error(c, 503, "too many connections (limits.max_connections)");
    return;
  }
  if (per_ip > s->limits.max_per_ip) {
    send_error(c, 429, "too many connections from your address (limits.max_per_ip)");
    return;
  }
  start_timer(c, s->limits.header_timeout_ms, 0);
  resume_reading(c);
}

int qr_http_server_start(qr_http_server_t **out, uv_loop_t *loop, const qr_http_listener_t *listeners, int n,
                         const qr_http_limits_t *limits, const qr_http_callbacks_t *cbs) {
  qr_http_server_t *s = qr_xcalloc(1, sizeof *s);
  s->loop = loop;
  s->limits = *limits;
  s->cbs = *cbs;
  /* Every worker accepts from the same sockets. libuv's accept loop takes all pending
   * connections at once, so a burst of clients could land on one worker and leave the others
   * idle; with this libuv yields after each accept and the burst spreads (read once, at the first
   * listen; an operator's own setting wins). */
  setenv("UV_TCP_SINGLE_ACCEPT", "1", 0);
  s->listeners = qr_xcalloc((size_t)n, sizeof(uv_tcp_t));
  s->listener_tls = qr_xcalloc((size_t)n, sizeof(qr_tls_t *));
  for (int i = 0; i < n; i++) {
    uv_tcp_init(loop, &s->listeners[i]);
    s->listeners[i].data = s;
    s->listener_tls[i] = listeners[i].tls;
    s->nlisteners++;
    s->listeners_open++;
    int rc = uv_tcp_open(&s->listeners[i], listeners[i].fd);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listeners[i], 1024, on_connection);
    if (rc != 0) {
      qr_log(QR_LOG_ERROR, "cannot listen on inherited socket %d: %s", listeners[i].fd, uv_strerror(rc));
      return QR_EIO; /* the worker exits; its handles go with the process */
    }
  }
  *out = s;
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  qr_http_server_t *s = h->data;
  s->listeners_open--;
  maybe_drained(s);
}

void qr_http_server_drain(qr_http_server_t *s, void (*done)(void *ud), void *ud) {
  if (s->draining) return;
  s->draining = 1;
  s->drained = done;
  s->drained_ud = ud;
  for (int i = 0; i < s->nlisteners; i++) uv_close((uv_handle_t *)&s->listeners[i], on_listener_closed);
  /* An idle connection may have a request on its way (a client that just connected): give it
   * a moment; whatever arrives is answered with Connection: close. */
  for (conn *c = s->conns; c; c = c->next)
    if (c->state == ST_IDLE) start_timer(c, DRAIN_GRACE_MS, 0);
  maybe_drained(s);
}
