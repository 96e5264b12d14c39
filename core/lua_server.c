/* Lua binding for `quire serve`: core.serve_master{...} and core.serve_worker{...}; the worker
 * answers each request from static folders or by calling the Lua handler. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "lua_api.h"
#include "sandbox.h"
#include "server.h"
#include "static.h"

typedef struct {
  lua_State *L;
  int handler_ref;
  qr_static_t *statics;
  qr_cache_t *cache; /* NULL with --no-cache */
  int access_log;
} worker_ud;

/* Anonymous GET/HEAD requests may be answered from the page cache: no credentials, no session
 * cookie. The key is host + target. */
static int cacheable_request(const qr_http_request_t *req) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  if (qr_http_header(req, "authorization")) return 0;
  const char *cookie = qr_http_header(req, "cookie");
  return !(cookie && strstr(cookie, "quire_session="));
}

/* A handler's response may be kept: 200, tagged, no cookie set, not private. */
static int cacheable_response(const qr_http_response_t *res) {
  if (res->status != 200 || !res->head.data) return res->status == 200;
  const char *h = res->head.data;
  if (strcasestr(h, "Set-Cookie:")) return 0;
  const char *cc = strcasestr(h, "Cache-Control:");
  if (cc) {
    const char *end = strstr(cc, "\r\n");
    size_t n = end ? (size_t)(end - cc) : strlen(cc);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(n < 255 ? n : 255), cc);
    if (strcasestr(line, "private") || strcasestr(line, "no-store")) return 0;
  }
  return 1;
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

/* core.serve_master{ exe =, listen = {...}, workers = n, worker_argv = {...}, watch = {...} } */
static int l_serve_master(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  qr_server_master_opts_t o = {0};
  lua_getfield(L, 1, "exe");
  o.exe = luaL_checkstring(L, -1);
  lua_getfield(L, 1, "workers");
  o.workers = (int)luaL_optinteger(L, -1, 1);
  o.listen = string_list(L, 1, "listen");
  o.worker_argv = string_list(L, 1, "worker_argv");
  o.watch = string_list(L, 1, "watch");
  if (!o.listen[0]) return luaL_error(L, "no listen address");
  lua_pushinteger(L, qr_server_master(&o));
  return 1;
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void access_log(const qr_http_request_t *req, const qr_http_response_t *res, double ms) {
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  /* The target is printed with %.*s and control bytes would reach the log: replace them. */
  char target[512];
  size_t n = req->target_len < sizeof target - 1 ? req->target_len : sizeof target - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)req->target[i];
    target[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
  }
  target[n] = '\0';
  printf("%s %s \"%s %s\" %d %zu %.2fms\n", date, req->remote, req->method, target, res->status, res->body.len, ms);
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

/* The per-request bridge: static files first, then the Lua handler(req) -> status, headers, body. */
static void handle(void *ud, const qr_http_request_t *req, qr_http_response_t *res) {
  worker_ud *w = ud;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  char key[1024];
  size_t klen = 0;
  int use_cache = w->cache && cacheable_request(req);
  if (use_cache) {
    const char *host = qr_http_header(req, "host");
    int n = snprintf(key, sizeof key, "%s %.*s", host ? host : "", (int)req->target_len, req->target);
    use_cache = n > 0 && (size_t)n < sizeof key;
    klen = (size_t)n;
  }
  if (use_cache) qr_cache_sync(w->cache);
  if (use_cache && qr_cache_get(w->cache, key, klen, res)) {
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
      fprintf(stderr, "quire: request handler failed: %s\n", lua_tostring(L, -1));
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
      /* The 4th result: the cache tags the page was built from; untagged pages are not kept. */
      const char *tags = lua_tostring(L, top + 5);
      if (use_cache && tags && *tags && cacheable_response(res)) {
        qr_http_response_prepare(res, 1);
        qr_cache_put(w->cache, key, klen, res, tags);
        qr_http_response_header(res, "X-Cache", "miss");
      }
    }
    lua_settop(L, top);
  }
  if (w->access_log) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    access_log(req, res, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
  }
}

static size_t opt_size(lua_State *L, int t, const char *field, size_t dflt) {
  lua_getfield(L, t, field);
  size_t v = lua_isinteger(L, -1) ? (size_t)lua_tointeger(L, -1) : dflt;
  lua_pop(L, 1);
  return v;
}

/* core.serve_worker{ fds = {3, 4}, ready_fd = 5, handler = fn, limits = {...},
 *                    static = { { prefix, dir }, ... }, access_log = bool,
 *                    store = the site's store (for the page cache), cache_bytes = n (0: off) }
 * -> exit status. handler(req) returns status, headers, body, cache tags ("entry:1 list:all"). */
static int l_serve_worker(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int fds[16], nfds = 0;
  lua_getfield(L, 1, "fds");
  luaL_checktype(L, -1, LUA_TTABLE);
  for (int i = 1; i <= (int)lua_rawlen(L, -1) && nfds < 16; i++) {
    lua_rawgeti(L, -1, i);
    fds[nfds++] = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
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
  w.access_log = lua_toboolean(L, -1);
  lua_pop(L, 1);
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
  if (w.access_log) setvbuf(stdout, NULL, _IOLBF, 0);
  lua_getfield(L, 1, "store");
  qr_store_t *store = qr_lua_store_get(L, -1);
  lua_pop(L, 1);
  size_t cache_bytes = opt_size(L, 1, "cache_bytes", 0);
  if (store && cache_bytes) w.cache = qr_cache_new(qr_store_db(store), cache_bytes);
  /* Each request pcalls the handler, so nothing here can longjmp past the loop. */
  int status = qr_server_worker(fds, nfds, ready_fd, &limits, handle, &w);
  fflush(stdout);
  qr_static_free(w.statics);
  qr_cache_free(w.cache);
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
                                 {"fd_write", l_fd_write}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
