/* Lua binding for `quire serve`: core.serve_master{...} and core.serve_worker{...}; the worker
 * answers each request from the page cache, static folders or the Lua handler, adds the HTTPS
 * policy (redirect, HSTS) and writes the access log. */
#include <lauxlib.h>
#include <errno.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache.h"
#include "lua_api.h"
#include "sandbox.h"
#include "server.h"
#include "static.h"
#include "tls.h"

typedef struct {
  lua_State *L;
  int handler_ref;
  qr_static_t *statics;
  qr_cache_t *cache;  /* NULL with --no-cache */
  qr_tls_t *tls;      /* NULL without TLS listeners */
  char hsts[256];     /* Strict-Transport-Security value for HTTPS responses, or "" */
  int redirect_http;  /* answer plain-HTTP requests with a redirect to HTTPS */
  int https_port;     /* the port redirects name (443 is left out) */
  /* the request being answered, for its access log line */
  char rid[64];
  struct timespec t0;
  int tick_ref;       /* Lua function for scheduled work, or LUA_NOREF */
  const char *stats_path; /* where `quire cache stats` reads this worker's numbers, or NULL */
  qr_cache_stats_t saved; /* the numbers last written there */
  int stats_saved;
} worker_ud;

/* Runs the Lua tick function (due jobs, scheduled publishing; its errors are logged), then
 * publishes the page-cache numbers when they moved: a file per worker, not the database,
 * whose every write would make the other workers' caches re-read their tag versions. */
static void tick(void *ud) {
  worker_ud *w = ud;
  if (w->tick_ref != LUA_NOREF) {
    lua_State *L = w->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->tick_ref);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) qr_server_log(QR_LOG_ERROR, "scheduled work failed: %s", lua_tostring(L, -1));
    lua_settop(L, top);
  }
  if (!w->stats_path) return;
  qr_cache_stats_t now;
  qr_cache_stats(w->cache, &now);
  if (w->stats_saved && memcmp(&now, &w->saved, sizeof now) == 0) return;
  if (qr_cache_stats_save(&now, w->stats_path) != 0) {
    qr_server_log(QR_LOG_WARN, "cannot write the cache statistics to %s: %s", w->stats_path, strerror(errno));
    w->stats_path = NULL; /* say it once */
    return;
  }
  w->saved = now;
  w->stats_saved = 1;
}

/* Anonymous GET/HEAD requests may be answered from the page cache: no credentials, no session
 * cookie. The key is host + target. */
static int cacheable_request(const qr_http_request_t *req) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  if (qr_http_header(req, "authorization")) return 0;
  const char *cookie = qr_http_header(req, "cookie");
  return !(cookie && strstr(cookie, "quire_session="));
}

/* A handler's response may be kept: 200 or a redirect from the redirects table (tagged, so a
 * change to it drops them), and no cookie set (its Cache-Control is the cache's to read). */
static int cacheable_response(const qr_http_response_t *res) {
  int st = res->status;
  return (st == 200 || st == 301 || st == 302 || st == 308) &&
         !(res->head.data && strcasestr(res->head.data, "Set-Cookie:"));
}

/* Collects a NULL-terminated array of the strings in the list at t[field] (borrowed: they stay
 * referenced by the table). */
static const char **string_list(lua_State *L, int t, const char *field) {
  lua_getfield(L, t, field);
  int n = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
  const char **out = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -2, i + 1);
    out[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  out[n] = NULL;
  lua_insert(L, -2);
  lua_pop(L, 1); /* keep the userdata (and so the array) on the stack */
  return out;
}

/* core.serve_master{ exe =, listen = {...}, listen_tls = {...}, workers = n, worker_argv = {...},
 *                    watch = {...} } */
static int l_serve_master(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  qr_server_master_opts_t o = {0};
  lua_getfield(L, 1, "exe");
  o.exe = luaL_checkstring(L, -1);
  lua_getfield(L, 1, "workers");
  o.workers = (int)luaL_optinteger(L, -1, 1);
  o.listen = string_list(L, 1, "listen");
  o.listen_tls = string_list(L, 1, "listen_tls");
  o.worker_argv = string_list(L, 1, "worker_argv");
  o.watch = string_list(L, 1, "watch");
  if (!o.listen[0] && !o.listen_tls[0]) return luaL_error(L, "no listen address");
  lua_pushinteger(L, qr_server_master(&o));
  return 1;
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
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

/* The combined log format, then the request id and the time taken in seconds:
 * 127.0.0.1 - - [31/Jan/2025:10:00:00 +0000] "GET / HTTP/1.1" 200 5120 "REFERER" "AGENT" "ID" 0.002 */
static void log_request(void *ud, const qr_http_request_t *req, const qr_http_response_t *res, int status,
                        size_t body_bytes) {
  worker_ud *w = ud;
  if (!qr_server_access_log_enabled()) return;
  static time_t cached;
  static char when[48];
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    cached = now;
  }
  static qr_buf_t line;
  line.len = 0;
  qr_buf_puts(&line, req->remote && req->remote[0] ? req->remote : "-");
  qr_buf_puts(&line, " - - [");
  qr_buf_puts(&line, when);
  qr_buf_puts(&line, "] \"");
  if (req->method && req->target) {
    qr_buf_puts(&line, req->method);
    qr_buf_append(&line, " ", 1);
    log_field(&line, req->target, req->target_len, 2048);
    qr_buf_puts(&line, req->http_minor == 0 ? " HTTP/1.0" : " HTTP/1.1");
  } else {
    qr_buf_append(&line, "-", 1);
  }
  qr_buf_puts(&line, "\" ");
  qr_buf_append_uint(&line, (unsigned)status, 10);
  qr_buf_append(&line, " ", 1);
  qr_buf_append_uint(&line, body_bytes, 10);
  qr_buf_puts(&line, " \"");
  log_str(&line, qr_http_header(req, "referer"), 1024);
  qr_buf_puts(&line, "\" \"");
  log_str(&line, qr_http_header(req, "user-agent"), 512);
  qr_buf_puts(&line, "\" \"");
  log_str(&line, res && w->rid[0] ? w->rid : req->id, 64);
  if (res) { /* seconds taken, to the millisecond: "0.002" */
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ms = (t1.tv_sec - w->t0.tv_sec) * 1000LL + (t1.tv_nsec - w->t0.tv_nsec + 500000) / 1000000;
    if (ms < 0) ms = 0;
    char frac[4] = {(char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10), '\0'};
    qr_buf_puts(&line, "\" ");
    qr_buf_append_uint(&line, (unsigned long long)(ms / 1000), 10);
    qr_buf_append(&line, ".", 1);
    qr_buf_puts(&line, frac);
    qr_buf_append(&line, "\n", 1);
  } else {
    qr_buf_puts(&line, "\" -\n");
  }
  qr_server_access_log_write(line.data, line.len);
}

/* Removes the header line name from head and copies its value into out (cap bytes); 1 if found. */
static int take_header(qr_buf_t *head, const char *name, char *out, size_t cap) {
  if (!head->data) return 0;
  size_t n = strlen(name);
  char *p = head->data, *end = head->data + head->len;
  while (p < end) {
    char *eol = strstr(p, "\r\n");
    char *next = eol ? eol + 2 : end;
    if ((size_t)(next - p) > n + 1 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      const char *v = p + n + 1;
      while (*v == ' ') v++;
      size_t vlen = (size_t)((eol ? eol : end) - v);
      snprintf(out, cap, "%.*s", (int)vlen, v);
      memmove(p, next, (size_t)(end - next));
      head->len -= (size_t)(next - p);
      head->data[head->len] = '\0';
      return 1;
    }
    p = next;
  }
  return 0;
}

/* The host name of a Host header without its port ("example.org:80" -> "example.org",
 * "[::1]:8080" -> "[::1]"), when it is well-formed; else 0. */
static int host_only(const char *host, char *out, size_t cap) {
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

/* Plain HTTP -> https://host[:port]/target: 301 for GET and HEAD, 308 for the rest (so a POST
 * stays a POST). */
static void redirect_to_https(worker_ud *w, const qr_http_request_t *req, qr_http_response_t *res) {
  char host[256];
  if (!host_only(qr_http_header(req, "host"), host, sizeof host)) {
    res->status = 400;
    qr_buf_puts(&res->body, "Bad Request: a Host header is needed to redirect to HTTPS\n");
    qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    return;
  }
  qr_buf_t loc = {0};
  char port[16] = "";
  if (w->https_port && w->https_port != 443) snprintf(port, sizeof port, ":%d", w->https_port);
  qr_buf_puts(&loc, "https://");
  qr_buf_puts(&loc, host);
  qr_buf_puts(&loc, port);
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

/* "content-type" -> "Content-Type": Lua handlers may write header names in any case. */
static void canonical_name(const char *in, char *out, size_t cap) {
  size_t i = 0;
  int upper = 1;
  for (; in[i] && i + 1 < cap; i++) {
    char c = in[i];
    if (upper && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    else if (!upper && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    out[i] = c;
    upper = c == '-';
  }
  out[i] = '\0';
}

/* The per-request bridge: HTTPS redirect, page cache, static files, then the Lua
 * handler(req) -> status, headers, body. */
static void handle(void *ud, const qr_http_request_t *req, qr_http_response_t *res) {
  worker_ud *w = ud;
  clock_gettime(CLOCK_MONOTONIC, &w->t0);
  w->rid[0] = '\0';
  if (w->redirect_http && !req->secure && !is_acme_challenge(req)) {
    redirect_to_https(w, req, res);
    qr_http_response_header(res, "X-Request-Id", req->id);
    return;
  }
  char key[1024];
  size_t klen = 0;
  int use_cache = w->cache && cacheable_request(req);
  if (use_cache) { /* "HOST TARGET" */
    const char *host = qr_http_header(req, "host");
    size_t hlen = host ? strlen(host) : 0;
    use_cache = hlen + 1 + req->target_len < sizeof key;
    if (use_cache) {
      if (hlen) memcpy(key, host, hlen);
      key[hlen] = ' ';
      memcpy(key + hlen + 1, req->target, req->target_len);
      klen = hlen + 1 + req->target_len;
      key[klen] = '\0';
    }
  }
  if (use_cache) qr_cache_sync(w->cache);
  if (use_cache && qr_cache_get(w->cache, key, klen, res, req->accepts_gzip)) {
    qr_http_response_header(res, "X-Cache", "hit");
  } else if (!w->statics || !qr_static_serve(w->statics, req, res)) {
    lua_State *L = w->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->handler_ref);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, req->method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, req->target, req->target_len);
    lua_setfield(L, -2, "target");
    lua_pushlstring(L, req->body.data, req->body.len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, req->remote);
    lua_setfield(L, -2, "remote");
    long long dv = use_cache ? qr_cache_data_version(w->cache) : -1;
    if (dv >= 0) { /* already read for the cache: the Lua memo need not ask again */
      lua_pushinteger(L, (lua_Integer)dv);
      lua_setfield(L, -2, "data_version");
    }
    lua_createtable(L, 0, (int)req->nheaders);
    for (unsigned i = 0; i < req->nheaders; i++) {
      /* Repeated fields are joined with ", " (RFC 9110 5.3). */
      lua_getfield(L, -1, req->headers[i].name);
      if (lua_isstring(L, -1)) {
        lua_pushliteral(L, ", ");
        lua_pushstring(L, req->headers[i].value);
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushstring(L, req->headers[i].value);
      }
      lua_setfield(L, -2, req->headers[i].name);
    }
    lua_setfield(L, -2, "headers");
    if (lua_pcall(L, 1, 4, top + 1) != LUA_OK) {
      qr_server_log(QR_LOG_ERROR, "request %s: the request handler failed: %s", req->id, lua_tostring(L, -1));
      res->status = 500;
      res->body.len = 0;
      qr_buf_puts(&res->body, "Internal Server Error\n");
      qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    } else {
      res->status = (int)luaL_optinteger(L, top + 2, 500);
      if (lua_istable(L, top + 3)) {
        lua_pushnil(L);
        while (lua_next(L, top + 3)) {
          if (lua_type(L, -2) == LUA_TSTRING) {
            char name[128];
            canonical_name(lua_tostring(L, -2), name, sizeof name);
            if (lua_istable(L, -1)) { /* several values: one line each (Set-Cookie) */
              for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
                lua_rawgeti(L, -1, i);
                if (lua_isstring(L, -1)) qr_http_response_header(res, name, lua_tostring(L, -1));
                lua_pop(L, 1);
              }
            } else if (lua_isstring(L, -1)) {
              qr_http_response_header(res, name, lua_tostring(L, -1));
            }
          }
          lua_pop(L, 1);
        }
      }
      size_t blen = 0;
      const char *body = lua_tolstring(L, top + 4, &blen);
      if (body) qr_buf_append(&res->body, body, blen);
      /* The app's request id belongs to this request only: keep it out of the cached page. */
      take_header(&res->head, "X-Request-Id", w->rid, sizeof w->rid);
      /* The 4th result: the cache tags the page was built from; untagged pages are not kept. */
      const char *tags = lua_tostring(L, top + 5);
      if (use_cache && tags && *tags && cacheable_response(res)) {
        qr_http_response_prepare(res, 1);
        if (qr_cache_put(w->cache, key, klen, res, tags)) qr_http_response_header(res, "X-Cache", "miss");
      }
    }
    lua_settop(L, top);
  }
  qr_http_response_header(res, "X-Request-Id", w->rid[0] ? w->rid : req->id);
  if (req->secure && w->hsts[0] && !(res->head.data && strcasestr(res->head.data, "Strict-Transport-Security:")))
    qr_http_response_header(res, "Strict-Transport-Security", w->hsts);
}

static size_t opt_size(lua_State *L, int t, const char *field, size_t dflt) {
  lua_getfield(L, t, field);
  size_t v = lua_isinteger(L, -1) ? (size_t)lua_tointeger(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

/* Reads the certificate list at index idx ({ { cert =, key =, hosts = {...} }, ... }) into arrays
 * kept in userdata on the stack (the strings stay referenced by the table). */
static qr_tls_cert_t *cert_list(lua_State *L, int idx, int *n) {
  idx = lua_absindex(L, idx);
  *n = lua_istable(L, idx) ? (int)lua_rawlen(L, idx) : 0;
  qr_tls_cert_t *certs = lua_newuserdatauv(L, sizeof(qr_tls_cert_t) * (size_t)(*n + 1), 0);
  for (int i = 0; i < *n; i++) {
    lua_rawgeti(L, idx, i + 1);
    if (!lua_istable(L, -1)) luaL_error(L, "tls.certificates[%d] must be a table", i + 1);
    lua_getfield(L, -1, "cert");
    certs[i].cert = lua_tostring(L, -1);
    lua_getfield(L, -2, "key");
    certs[i].key = lua_tostring(L, -1);
    lua_pop(L, 2);
    if (!certs[i].cert || !certs[i].key) luaL_error(L, "tls.certificates[%d] needs cert and key", i + 1);
    certs[i].hosts = NULL;
    lua_getfield(L, -1, "hosts");
    if (lua_istable(L, -1)) {
      int nh = (int)lua_rawlen(L, -1);
      const char **hosts = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nh + 1), 0);
      for (int j = 0; j < nh; j++) {
        lua_rawgeti(L, -2, j + 1);
        hosts[j] = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (!hosts[j]) luaL_error(L, "tls.certificates[%d].hosts must hold strings", i + 1);
      }
      hosts[nh] = NULL;
      certs[i].hosts = hosts;
      lua_insert(L, idx + 1); /* keep the array alive: above idx, below what we are reading */
    }
    lua_pop(L, 2);
  }
  return certs;
}

/* core.tls_check(certificates) -> { { hosts = "a, b", not_after = "...", expired = bool }, ... }
 * or nil, message: loads them the way a worker does (for `quire config check` and start-up). */
static int l_tls_check(lua_State *L) {
  int n;
  int base = lua_gettop(L);
  qr_tls_cert_t *certs = cert_list(L, 1, &n);
  qr_tls_t *tls;
  char err[512];
  if (qr_tls_new(&tls, certs, n, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_settop(L, base);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    char hosts[1024], not_after[64];
    int expired = 0;
    qr_tls_cert_info(tls, i, hosts, sizeof hosts, not_after, sizeof not_after, &expired);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, hosts);
    lua_setfield(L, -2, "hosts");
    lua_pushstring(L, not_after);
    lua_setfield(L, -2, "not_after");
    lua_pushboolean(L, expired);
    lua_setfield(L, -2, "expired");
    lua_rawseti(L, -2, i + 1);
  }
  qr_tls_free(tls);
  return 1;
}

/* core.listen_check("127.0.0.1:8080") -> true, or nil and a message. */
static int l_listen_check(lua_State *L) {
  struct sockaddr_storage addr;
  const char *spec = luaL_checkstring(L, 1);
  if (qr_server_parse_listen(spec, &addr) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushfstring(L, "cannot read listen address '%s' (use HOST:PORT or [IPV6]:PORT)", spec);
  return 2;
}

static int int_list(lua_State *L, int t, const char *field, int *out, int max) {
  int n = 0;
  lua_getfield(L, t, field);
  if (lua_istable(L, -1))
    for (int i = 1; i <= (int)lua_rawlen(L, -1) && n < max; i++) {
      lua_rawgeti(L, -1, i);
      out[n++] = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  lua_pop(L, 1);
  return n;
}

static int fd_port(int fd) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) return 0;
  if (a.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
  return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static void fail_ready(int ready_fd, const char *msg) {
  if (ready_fd < 0) return;
  char line[600];
  int n = snprintf(line, sizeof line, "fail %s\n", msg);
  (void)!write(ready_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* core.serve_worker{ fds = {3, 4}, tls_fds = {5}, ready_fd = 6, handler = fn, limits = {...},
 *                    static = { { prefix, dir }, ... }, access_log = "path" | "-" | "stderr" | "off",
 *                    tls = { certificates = {...}, hsts = "max-age=...", redirect_http = bool,
 *                            redirect_port = n },
 *                    store = the site's store (for the page cache), cache_bytes = n (0: off),
 *                    cache_stats = "DIR/.quire/cache-PID" (written every tick_ms when it changed,
 *                    removed at exit), tick = fn, tick_ms = n }
 * -> exit status. handler(req) returns status, headers, body, cache tags ("entry:1 list:all").
 * A TLS or access-log problem is reported on ready_fd ("fail MESSAGE") and returns 1. */
static int l_serve_worker(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int fds[16], tls_fds[16];
  int nfds = int_list(L, 1, "fds", fds, 16);
  int ntls = int_list(L, 1, "tls_fds", tls_fds, 16);
  int ready_fd = (int)opt_size(L, 1, "ready_fd", (size_t)-1);
  qr_http_limits_t limits;
  qr_http_limits_default(&limits);
  lua_getfield(L, 1, "limits");
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    limits.request_line_max = opt_size(L, t, "request_line", limits.request_line_max);
    limits.header_max = opt_size(L, t, "header", limits.header_max);
    limits.headers_max = opt_size(L, t, "headers", limits.headers_max);
    limits.header_count_max = (unsigned)opt_size(L, t, "header_count", limits.header_count_max);
    limits.body_max = opt_size(L, t, "request_body", limits.body_max);
    limits.header_timeout_ms = (unsigned)opt_size(L, t, "header_timeout_ms", limits.header_timeout_ms);
    limits.idle_timeout_ms = (unsigned)opt_size(L, t, "keepalive_timeout_ms", limits.idle_timeout_ms);
    limits.body_min_rate = (unsigned)opt_size(L, t, "body_min_rate", limits.body_min_rate);
    limits.max_connections = (unsigned)opt_size(L, t, "connections", limits.max_connections);
    limits.max_per_ip = (unsigned)opt_size(L, t, "connections_per_ip", limits.max_per_ip);
  }
  lua_pop(L, 1);
  worker_ud w = {.L = L};
  lua_getfield(L, 1, "handler");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  w.handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, 1, "access_log");
  const char *alog_path = lua_isstring(L, -1) ? lua_tostring(L, -1) : lua_toboolean(L, -1) ? "-" : "off";
  char err[512];
  if (qr_server_access_log_open(alog_path, err, sizeof err) != 0) {
    fail_ready(ready_fd, err);
    luaL_unref(L, LUA_REGISTRYINDEX, w.handler_ref);
    lua_pushinteger(L, 1);
    return 1;
  }
  lua_pop(L, 1);
  if (ntls) {
    lua_getfield(L, 1, "tls");
    if (!lua_istable(L, -1)) luaL_error(L, "tls_fds given without tls settings");
    int t = lua_gettop(L);
    lua_getfield(L, t, "certificates");
    int ncerts;
    qr_tls_cert_t *certs = cert_list(L, -1, &ncerts);
    int rc = qr_tls_new(&w.tls, certs, ncerts, err, sizeof err);
    lua_settop(L, t);
    if (rc != 0) {
      fail_ready(ready_fd, err);
      qr_server_access_log_open(NULL, err, sizeof err);
      luaL_unref(L, LUA_REGISTRYINDEX, w.handler_ref);
      lua_pushinteger(L, 1);
      return 1;
    }
    lua_getfield(L, t, "hsts");
    if (lua_isstring(L, -1)) snprintf(w.hsts, sizeof w.hsts, "%s", lua_tostring(L, -1));
    else if (lua_toboolean(L, -1)) snprintf(w.hsts, sizeof w.hsts, "max-age=31536000");
    lua_getfield(L, t, "redirect_http");
    w.redirect_http = lua_toboolean(L, -1);
    lua_getfield(L, t, "redirect_port");
    w.https_port = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : fd_port(tls_fds[0]);
    lua_settop(L, t - 1);
  }
  lua_getfield(L, 1, "static");
  if (lua_istable(L, -1)) {
    w.statics = qr_static_new();
    for (int i = 1; i <= (int)lua_rawlen(L, -1); i++) {
      lua_rawgeti(L, -1, i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (lua_isstring(L, -2) && lua_isstring(L, -1)) qr_static_mount(w.statics, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 3);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "store");
  qr_store_t *store = qr_lua_store_get(L, -1);
  lua_pop(L, 1);
  size_t cache_bytes = opt_size(L, 1, "cache_bytes", 0);
  if (store && cache_bytes) w.cache = qr_cache_new(store, cache_bytes);
  qr_http_listener_t listeners[32];
  int n = 0;
  for (int i = 0; i < nfds; i++) listeners[n++] = (qr_http_listener_t){.fd = fds[i], .tls = NULL};
  for (int i = 0; i < ntls; i++) listeners[n++] = (qr_http_listener_t){.fd = tls_fds[i], .tls = w.tls};
  qr_http_callbacks_t cbs = {.handle = handle, .log = log_request, .ud = &w};
  /* Each request pcalls the handler, so nothing here can longjmp past the loop. */
  w.tick_ref = LUA_NOREF;
  lua_getfield(L, 1, "tick");
  if (lua_isfunction(L, -1)) w.tick_ref = luaL_ref(L, LUA_REGISTRYINDEX); else lua_pop(L, 1);
  unsigned tick_ms = (unsigned)opt_size(L, 1, "tick_ms", 2000);
  lua_getfield(L, 1, "cache_stats");
  w.stats_path = lua_tostring(L, -1); /* stays referenced by the options table */
  lua_pop(L, 1);
  const char *stats_path = w.stats_path;
  int status = qr_server_worker(listeners, n, ready_fd, &limits, &cbs, tick, tick_ms);
  if (stats_path) unlink(stats_path); /* a worker that is gone has no numbers */
  luaL_unref(L, LUA_REGISTRYINDEX, w.tick_ref);
  qr_server_access_log_open(NULL, err, sizeof err); /* flushes */
  fflush(stdout);
  qr_static_free(w.statics);
  qr_cache_free(w.cache);
  qr_tls_free(w.tls);
  luaL_unref(L, LUA_REGISTRYINDEX, w.handler_ref);
  lua_pushinteger(L, status);
  return 1;
}

/* core.exepath() -> the path of this binary */
static int l_exepath(lua_State *L) {
  char buf[4096];
  size_t n = sizeof buf;
  if (uv_exepath(buf, &n) != 0) return 0;
  lua_pushlstring(L, buf, n);
  return 1;
}

/* core.fd_write(fd, text): a best-effort write to an inherited descriptor (worker readiness). */
static int l_fd_write(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  lua_pushboolean(L, write((int)luaL_checkinteger(L, 1), s, n) == (ssize_t)n);
  return 1;
}

/* core.cpus() -> number of CPUs */
static int l_cpus(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)uv_available_parallelism());
  return 1;
}

void qr_lua_server_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"serve_master", l_serve_master}, {"serve_worker", l_serve_worker},
                                 {"exepath", l_exepath}, {"cpus", l_cpus},
                                 {"tls_check", l_tls_check}, {"listen_check", l_listen_check},
                                 {"fd_write", l_fd_write}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
