/* Edge purges: an HTTP PURGE on the worker's libuv loop (see purge.h). */
#include "purge.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server.h"

typedef struct {
  lua_State *L; /* the main thread: the callback may outlive the coroutine that asked */
  int fn_ref;
  char *request;
  size_t request_len;
  char host[256], port[8];
  uv_getaddrinfo_t resolve;
  uv_connect_t connect;
  uv_write_t write;
  uv_tcp_t tcp;
  uv_timer_t timer;
  int tcp_open, resolving, done, closing;
  char head[64]; /* the start of the answer: "HTTP/1.1 200" is all we read */
  size_t head_len;
} purge_t;

/* Frees p when the last of its handles and its pending lookup are done with it. */
static void release(purge_t *p) {
  if (--p->closing > 0) return;
  luaL_unref(p->L, LUA_REGISTRYINDEX, p->fn_ref);
  free(p->request);
  free(p);
}
static void on_closed(uv_handle_t *h) { release(h->data); }

/* Calls the Lua function once (status, or nil and why), then closes the handles. */
static void finish(purge_t *p, int status, const char *err) {
  if (p->done) return;
  p->done = 1;
  lua_State *L = p->L;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref);
  if (err) { lua_pushnil(L); lua_pushstring(L, err); } else { lua_pushinteger(L, status); lua_pushnil(L); }
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) fprintf(stderr, "quire: edge purge callback failed: %s\n", lua_tostring(L, -1));
  lua_settop(L, top);
  uv_timer_stop(&p->timer);
  p->closing = 1 + p->tcp_open + p->resolving;
  uv_close((uv_handle_t *)&p->timer, on_closed);
  if (p->tcp_open) uv_close((uv_handle_t *)&p->tcp, on_closed);
}

static void fail_uv(purge_t *p, const char *what, int rc) {
  char msg[400];
  snprintf(msg, sizeof msg, "%s %s:%s: %s", what, p->host, p->port, uv_strerror(rc));
  finish(p, 0, msg);
}

static void on_timeout(uv_timer_t *t) {
  purge_t *p = t->data;
  char msg[400];
  snprintf(msg, sizeof msg, "no answer from %s:%s in time", p->host, p->port);
  finish(p, 0, msg);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  purge_t *p = h->data;
  (void)hint;
  *buf = uv_buf_init(p->head + p->head_len, (unsigned)(sizeof p->head - 1 - p->head_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  purge_t *p = s->data;
  (void)buf;
  if (p->done) return;
  if (n > 0) p->head_len += (size_t)n;
  p->head[p->head_len] = '\0';
  int status;
  if (strchr(p->head, '\n') || p->head_len == sizeof p->head - 1) {
    if (sscanf(p->head, "HTTP/1.%*1[01] %3d", &status) == 1) finish(p, status, NULL);
    else finish(p, 0, "not an HTTP answer");
  } else if (n < 0) {
    fail_uv(p, "reading from", (int)n);
  }
}

static void on_written(uv_write_t *w, int rc) {
  purge_t *p = w->data;
  if (p->done) return;
  if (rc) return fail_uv(p, "writing to", rc);
  if ((rc = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read))) fail_uv(p, "reading from", rc);
}

static void on_connected(uv_connect_t *c, int rc) {
  purge_t *p = c->data;
  if (p->done) return;
  if (rc) return fail_uv(p, "cannot connect to", rc);
  uv_buf_t b = uv_buf_init(p->request, (unsigned)p->request_len);
  p->write.data = p;
  if ((rc = uv_write(&p->write, (uv_stream_t *)&p->tcp, &b, 1, on_written))) fail_uv(p, "writing to", rc);
}

static void on_resolved(uv_getaddrinfo_t *r, int rc, struct addrinfo *ai) {
  purge_t *p = r->data;
  p->resolving = 0;
  if (p->done) { if (ai) uv_freeaddrinfo(ai); release(p); return; }
  if (rc) return fail_uv(p, "cannot resolve", rc);
  uv_tcp_init(r->loop, &p->tcp);
  p->tcp.data = p;
  p->tcp_open = 1;
  p->connect.data = p;
  rc = uv_tcp_connect(&p->connect, &p->tcp, ai->ai_addr, on_connected);
  uv_freeaddrinfo(ai);
  if (rc) fail_uv(p, "cannot connect to", rc);
}

/* core.edge_purge(url, keys, timeout_ms, fn) */
static int l_edge_purge(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  size_t klen;
  const char *keys = luaL_checklstring(L, 2, &klen);
  lua_Integer timeout = luaL_checkinteger(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  uv_loop_t *loop = qr_server_worker_loop();
  if (!loop) return luaL_error(L, "edge purges are sent by `quire serve` workers only");
  if (timeout < 1 || timeout > 600000) return luaL_error(L, "edge purge timeout must be 1..600000 ms");
  if (klen == 0 || klen > QR_PURGE_KEYS_MAX) return luaL_error(L, "edge purge keys must be 1..%d bytes", QR_PURGE_KEYS_MAX);
  for (size_t i = 0; i < klen; i++)
    if ((unsigned char)keys[i] < 0x20 || keys[i] == 0x7f) return luaL_error(L, "edge purge keys hold a control byte");
  /* http://HOST[:PORT][/PATH] */
  if (strncmp(url, "http://", 7) != 0) return luaL_error(L, "edge purger %s: only http:// URLs", url);
  const char *h = url + 7, *end = h + strcspn(h, ":/");
  if (end == h || (size_t)(end - h) >= 256) return luaL_error(L, "edge purger %s: no host", url);
  purge_t *p = calloc(1, sizeof *p);
  if (!p) return luaL_error(L, "out of memory");
  memcpy(p->host, h, (size_t)(end - h));
  strcpy(p->port, "80");
  if (*end == ':') {
    size_t n = strspn(end + 1, "0123456789");
    if (n == 0 || n > 5) { free(p); return luaL_error(L, "edge purger %s: bad port", url); }
    memcpy(p->port, end + 1, n);
    p->port[n] = '\0';
    end += 1 + n;
  }
  const char *path = *end == '/' ? end : "/";
  if (*end && *end != '/') { free(p); return luaL_error(L, "edge purger %s: bad URL", url); }
  for (const char *c = path; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) { free(p); return luaL_error(L, "edge purger %s: bad path", url); }
  size_t cap = strlen(path) + strlen(p->host) + klen + 160;
  p->request = malloc(cap);
  if (!p->request) { free(p); return luaL_error(L, "out of memory"); }
  p->request_len = (size_t)snprintf(p->request, cap,
    "PURGE %s HTTP/1.1\r\nHost: %s:%s\r\nxkey-purge: %.*s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    path, p->host, p->port, (int)klen, keys);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  p->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_pushvalue(L, 4);
  p->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, on_timeout, (uint64_t)timeout, 0);
  p->resolve.data = p;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  int rc = uv_getaddrinfo(loop, &p->resolve, on_resolved, p->host, p->port, &hints);
  if (rc) fail_uv(p, "cannot resolve", rc);
  else p->resolving = 1;
  return 0;
}

void qr_lua_purge_open(lua_State *L) {
  lua_pushcfunction(L, l_edge_purge);
  lua_setfield(L, -2, "edge_purge");
}
