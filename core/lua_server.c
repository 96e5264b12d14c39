/* Lua binding for `quire serve`: core.serve_master{...} and core.serve_worker{...}, whose pages
 * the Lua handler renders under the HTTP policy of worker.c. */
#include <lauxlib.h>
#include <errno.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "lua_api.h"
#include "replica.h"
#include "sandbox.h"
#include "server.h"
#include "static.h"
#include "tls.h"
#include "worker.h"

typedef struct hash_job hash_job;

typedef struct {
  lua_State *L;
  int handler_ref;
  /* Password hashes on the thread pool (limits.password_hashes at once, limits.password_queue
   * waiting): argon2id takes ~100 ms and 64 MiB, never on the loop. */
  unsigned hashes_max, queue_max, running, waiting;
  hash_job *queue_head, *queue_tail;
  qr_worker_t *worker;
  qr_cache_t *cache;  /* NULL with --no-cache */
  qr_pg_t *pg;        /* the site's PostgreSQL store, or NULL on SQLite */
  qr_tls_t *tls;      /* NULL without TLS listeners */
  int tick_ref;       /* Lua function for scheduled work, or LUA_NOREF */
  int heard_ref;      /* Lua function told of commits heard (PostgreSQL), or LUA_NOREF */
  const char *stats_path; /* where `quire cache stats` reads this worker's numbers, or NULL */
  qr_cache_stats_t saved; /* the numbers last written there */
  int stats_saved;
  qr_replica_t *replicas; /* read_replicas, or NULL */
  long long lsn_cookie_s; /* Max-Age of the quire_lsn cookie */
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
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) qr_log(QR_LOG_ERROR, "scheduled work failed: %s", lua_tostring(L, -1));
    lua_settop(L, top);
  }
  if (!w->stats_path) return;
  qr_cache_stats_t now;
  qr_cache_stats(w->cache, &now);
  if (w->stats_saved && memcmp(&now, &w->saved, sizeof now) == 0) return;
  if (qr_cache_stats_save(&now, w->stats_path) != 0) {
    qr_log(QR_LOG_WARN, "cannot write the cache statistics to %s: %s", w->stats_path, strerror(errno));
    w->stats_path = NULL; /* say it once */
    return;
  }
  w->saved = now;
  w->stats_saved = 1;
}

static size_t opt_size(lua_State *L, int t, const char *field, size_t dflt);

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
 *                    watch = {...}, watchdog_timeout_ms = n, drain_timeout_ms = n } */
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
  o.watchdog_timeout_ms = (unsigned)opt_size(L, 1, "watchdog_timeout_ms", 0);
  o.drain_timeout_ms = (unsigned)opt_size(L, 1, "drain_timeout_ms", 0);
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

/* Adds the headers of the table at idx ({ name = value or { values... } }) to res. */
static void fill_headers(lua_State *L, int idx, qr_http_response_t *res) {
  if (!lua_istable(L, idx)) return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t nlen, vlen;
      const char *name = lua_tolstring(L, -2, &nlen);
      if (lua_istable(L, -1)) { /* several values: one line each (Set-Cookie) */
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
          lua_rawgeti(L, -1, i);
          const char *v = lua_isstring(L, -1) ? lua_tolstring(L, -1, &vlen) : NULL;
          if (v) qr_http_response_header_n(res, name, nlen, v, vlen);
          lua_pop(L, 1);
        }
      } else if (lua_isstring(L, -1)) {
        const char *v = lua_tolstring(L, -1, &vlen);
        qr_http_response_header_n(res, name, nlen, v, vlen);
      }
    }
    lua_pop(L, 1);
  }
}

/* --- password hashes off the loop
 * A handler that waits for a hash returns a job table instead of its answer: { kind = "verify"
 * | "hash", hash =, password =, resume = fn }. The request is deferred (qr_http_defer), the hash
 * runs on libuv's thread pool, and resume(result [, err]) is called on the loop afterwards (a
 * fresh pcall, under its own instruction budget in app.lua) for the answer. A job is not a
 * coroutine: the budget of the call that asked lives on the C stack of core.budget_call, and
 * other requests run on the same Lua state while the hash does. */
static void answer(worker_ud *w, const qr_http_request_t *req, int rc, int top, qr_http_response_t *res,
                   qr_worker_page_t *page);
static int traceback(lua_State *L);

struct hash_job {
  uv_work_t work;
  worker_ud *w;
  qr_http_deferred_t *d;
  hash_job *next; /* in the waiting queue */
  int resume_ref;
  struct timespec started; /* when the request arrived (its access-log line) */
  int verify;     /* 1: check pw against encoded; 0: hash pw */
  int result;     /* verify: 1 on a match; hash: 0 or -1 */
  char encoded[QR_PASSWORD_HASH_MAX * 2]; /* verify: the stored hash (other parameters are longer) */
  size_t pwlen;
  char *pw;
};

#define PASSWORD_MAX 4096 /* bytes of a password a job takes (quire.auth takes 1024) */

/* Reads the job table at idx into a new job, or NULL when it is malformed. */
static hash_job *job_from(worker_ud *w, int idx) {
  lua_State *L = w->L;
  size_t plen = 0, hlen = 0;
  lua_getfield(L, idx, "kind");
  const char *kind = lua_tostring(L, -1);
  lua_getfield(L, idx, "password");
  const char *pw = lua_tolstring(L, -1, &plen);
  lua_getfield(L, idx, "hash");
  const char *encoded = lua_tolstring(L, -1, &hlen);
  lua_getfield(L, idx, "resume");
  int verify = kind && strcmp(kind, "verify") == 0;
  if (!kind || (!verify && strcmp(kind, "hash") != 0) || !pw || plen > PASSWORD_MAX || !lua_isfunction(L, -1) ||
      (verify && (!encoded || hlen >= sizeof(((hash_job *)0)->encoded)))) {
    lua_pop(L, 4);
    return NULL;
  }
  hash_job *j = qr_xcalloc(1, sizeof *j);
  j->w = w;
  j->verify = verify;
  j->resume_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (verify) memcpy(j->encoded, encoded, hlen + 1);
  j->pw = qr_xmalloc(plen + 1);
  memcpy(j->pw, pw, plen);
  j->pwlen = plen;
  lua_pop(L, 3);
  j->work.data = j;
  return j;
}

static void job_free(hash_job *j) {
  luaL_unref(j->w->L, LUA_REGISTRYINDEX, j->resume_ref);
  explicit_bzero(j->pw, j->pwlen);
  free(j->pw);
  free(j);
}

static void hash_work(uv_work_t *work) {
  hash_job *j = work->data;
  if (j->verify) j->result = qr_crypto_password_verify(j->encoded, j->pw, j->pwlen);
  else j->result = qr_crypto_password_hash(j->pw, j->pwlen, j->encoded);
}

/* Pushes resume and its arguments: the result, or nil and why ("busy", "failed"). */
static int push_resume(lua_State *L, hash_job *j, const char *err) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, j->resume_ref);
  if (err) {
    lua_pushnil(L);
    lua_pushstring(L, err);
  } else if (j->verify) {
    lua_pushboolean(L, j->result);
    lua_pushnil(L);
  } else if (j->result == 0) {
    lua_pushstring(L, j->encoded);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    lua_pushliteral(L, "failed");
  }
  return 2;
}

static void hash_done(uv_work_t *work, int status);
static int resume_now(worker_ud *w, hash_job *j, const char *err, int top);

static void queue_work(hash_job *j) {
  j->w->running++;
  if (uv_queue_work(qr_server_worker_loop(), &j->work, hash_work, hash_done) != 0) {
    /* libuv refused the work (it does not, for a valid loop): do it here rather than lose it. */
    hash_work(&j->work);
    hash_done(&j->work, 0);
  }
}

/* Runs the job's continuation and sends its answer on the deferred request. */
static void finish(hash_job *j, const char *err) {
  worker_ud *w = j->w;
  lua_State *L = w->L;
  qr_http_deferred_t *d = j->d;
  const qr_http_request_t *req = qr_http_deferred_request(d);
  qr_http_response_t res = {.status = 200};
  qr_worker_page_t page = {.max_age = -1};
  if (req) { /* the client is still there */
    int top = lua_gettop(L);
    struct timespec started = j->started; /* resume_now frees j */
    answer(w, req, resume_now(w, j, err, top), top, &res, &page);
    qr_worker_finish(w->worker, req, &res, &page, started);
  } else {
    job_free(j);
  }
  qr_buf_free(&page.tags);
  qr_http_deferred_finish(d, &res);
}

static void hash_done(uv_work_t *work, int status) {
  hash_job *j = work->data;
  worker_ud *w = j->w;
  w->running--;
  while (w->queue_head && w->running < w->hashes_max) { /* the next waiting job gets the slot */
    hash_job *next = w->queue_head;
    w->queue_head = next->next;
    if (!w->queue_head) w->queue_tail = NULL;
    w->waiting--;
    if (qr_http_deferred_request(next->d)) queue_work(next);
    else finish(next, NULL); /* its client has gone: no hash for no one */
  }
  finish(j, status == UV_ECANCELED ? "busy" : NULL);
}

/* Starts (or queues) a job whose request was deferred. */
static void hash_start(worker_ud *w, hash_job *j) {
  if (w->running < w->hashes_max) {
    queue_work(j);
  } else {
    if (w->queue_tail) w->queue_tail->next = j; else w->queue_head = j;
    w->queue_tail = j;
    w->waiting++;
  }
}

/* Calls the job's continuation here and now (the job is freed); its answer is left at top + 2
 * (a traceback handler at top + 1). */
static int resume_now(worker_ud *w, hash_job *j, const char *err, int top) {
  lua_State *L = w->L;
  lua_settop(L, top);
  lua_pushcfunction(L, traceback);
  push_resume(L, j, err);
  job_free(j);
  return lua_pcall(L, 2, 6, top + 1);
}

/* An anonymous GET or HEAD (no staff session, no Authorization) may read from a replica (one
 * that replayed the write its client's quire_lsn cookie names, if any): 1 when one was asked
 * for, to end after the render. Staff, writes, the API's callers and the CLI read the primary. */
static int replica_begin(worker_ud *w, const qr_http_request_t *req) {
  if (!w->replicas || (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) || qr_http_header(req, "authorization"))
    return 0;
  const char *cookie = qr_http_header(req, "cookie");
  unsigned long long lsn = 0;
  if (cookie) {
    if (strstr(cookie, "quire_session=")) return 0;
    for (const char *c = cookie; (c = strstr(c, "quire_lsn=")); c += 10)
      if (c == cookie || c[-1] == ' ' || c[-1] == ';') {
        char hex[17] = "";
        sscanf(c + 10, "%16[0-9a-fA-F]", hex);
        lsn = strtoull(hex, NULL, 16);
        break;
      }
  }
  qr_replica_begin(w->replicas, lsn);
  return 1;
}

/* Read-your-writes: a request that wrote (not a GET or HEAD) gets a short-lived cookie with the
 * primary's WAL position after its commit; the client's next renders read a replica only once
 * it has replayed that far, and skip the page cache meanwhile (worker.c), so the client sees
 * its write even before the page cache hears of it. moved: qr_pg_moved before the render. */
static void replica_cookie(worker_ud *w, const qr_http_request_t *req, long long moved, qr_http_response_t *res) {
  unsigned long long lsn;
  if (!w->replicas || !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD") || qr_pg_moved(w->pg) == moved ||
      qr_pg_wal_lsn(w->pg, &lsn) != 0)
    return;
  char v[128];
  snprintf(v, sizeof v, "quire_lsn=%016llx; Max-Age=%lld; Path=/; HttpOnly; SameSite=Lax%s", lsn, w->lsn_cookie_s,
           req->secure ? "; Secure" : "");
  qr_http_response_header(res, "Set-Cookie", v);
}

/* The renderer worker.c calls: handler(req) -> status, headers, body, tags, private, max_age.
 * req carries the server's request id. Header names are interned once as the vector is filled. */
static void render(void *ud, const qr_http_request_t *req, long long data_version, qr_http_response_t *res,
                   qr_worker_page_t *page) {
  worker_ud *w = ud;
  lua_State *L = w->L;
  int top = lua_gettop(L);
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, w->handler_ref);
  lua_createtable(L, 0, 7);
  lua_pushstring(L, req->method);
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, req->target, req->target_len);
  lua_setfield(L, -2, "target");
  lua_pushlstring(L, req->body.data, req->body.len);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, req->remote);
  lua_setfield(L, -2, "remote");
  lua_pushstring(L, req->id);
  lua_setfield(L, -2, "id");
  if (req->spooled) { /* the body is in this file (core.multipart_read), open for this call only */
    lua_pushinteger(L, req->spool_fd);
    lua_setfield(L, -2, "spool_fd");
    lua_pushinteger(L, (lua_Integer)req->spool_len);
    lua_setfield(L, -2, "spool_len");
  }
  /* Without a page cache an anonymous page over PostgreSQL keeps the page cache's rule all the
   * same (fresh after the commit plus the notification's delay): no round trip to ask. */
  char key[1024];
  if (data_version < 0 && w->pg && !w->cache && qr_worker_cache_key(req, key, sizeof key))
    data_version = qr_pg_heard_version(w->pg);
  if (data_version >= 0) { /* already read for the cache: the Lua memo need not ask again */
    lua_pushinteger(L, (lua_Integer)data_version);
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
  lua_pushboolean(L, req->secure);
  lua_setfield(L, -2, "secure");
  int replica = replica_begin(w, req);
  long long moved = w->replicas ? qr_pg_moved(w->pg) : 0;
  int rc = lua_pcall(L, 1, 6, top + 1);
  if (replica) qr_replica_end(w->replicas);
  if (rc == LUA_OK && lua_istable(L, top + 2)) { /* it waits for a password hash */
    hash_job *j = job_from(w, top + 2);
    if (!j) {
      lua_settop(L, top);
      lua_pushliteral(L, "the request handler returned a malformed password job");
      rc = LUA_ERRRUN;
    } else if (w->running >= w->hashes_max && w->waiting >= w->queue_max) {
      rc = resume_now(w, j, "busy", top); /* limits.password_queue is full: the handler says 503 */
    } else if ((j->d = qr_http_defer(req)) != NULL) {
      j->started = qr_worker_started(w->worker);
      hash_start(w, j);
      lua_settop(L, top);
      return;
    } else { /* a request that cannot wait (made outside a connection): hash here */
      hash_work(&j->work);
      rc = resume_now(w, j, NULL, top);
    }
  }
  answer(w, req, rc, top, res, page);
  replica_cookie(w, req, moved, res);
}

/* Reads the handler's answer (status, headers, body, tags, private, max_age at top + 2...) into
 * res and page, or a 500 when rc says it failed (its message on top). Empties the stack to top. */
static void answer(worker_ud *w, const qr_http_request_t *req, int rc, int top, qr_http_response_t *res,
                   qr_worker_page_t *page) {
  lua_State *L = w->L;
  if (rc != LUA_OK || lua_istable(L, top + 2)) {
    qr_log(QR_LOG_ERROR, "request %s: the request handler failed: %s", req->id,
           rc != LUA_OK ? lua_tostring(L, -1) : "it asked for a second password hash");
    res->status = 500;
    res->body.len = 0;
    qr_buf_puts(&res->body, "Internal Server Error\n");
    qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    lua_settop(L, top);
    return;
  }
  res->status = (int)luaL_optinteger(L, top + 2, 500);
  fill_headers(L, top + 3, res);
  size_t len = 0;
  const char *body = lua_tolstring(L, top + 4, &len);
  if (body) qr_buf_append(&res->body, body, len);
  const char *tags = lua_tolstring(L, top + 5, &len);
  if (tags) qr_buf_append(&page->tags, tags, len);
  page->private = lua_toboolean(L, top + 6);
  page->max_age = lua_isnumber(L, top + 7) && lua_tonumber(L, top + 7) >= 0 ? (long)lua_tonumber(L, top + 7) : -1;
  lua_settop(L, top);
}

static int refresh(void *ud, int run) { return qr_worker_refresh(((worker_ud *)ud)->worker, run); }

/* The PostgreSQL connection's socket, watched by the loop (qr_server_worker_input): a commit's
 * NOTIFY is read when it arrives and the page cache reads the tags it moved there and then, so
 * the next request finds them read, however long it comes after. */
static int pg_socket(void *ud, long long *generation, int *pending) {
  worker_ud *w = ud;
  *generation = qr_pg_resets(w->pg);
  *pending = qr_pg_heard_pending(w->pg);
  return qr_pg_socket(w->pg);
}

static int pg_input(void *ud) {
  worker_ud *w = ud;
  int rc = qr_pg_listen_input(w->pg);
  if (rc <= 0) return rc < 0 ? rc : 0;
  if (w->cache) qr_cache_sync(w->cache);
  /* The Lua memo drops what the commit moved now too, so the next request reads nothing more
   * of the purge log than the page cache did here. */
  long long dv = w->cache ? qr_cache_data_version(w->cache) : qr_pg_heard_version(w->pg);
  if (w->heard_ref != LUA_NOREF && dv >= 0) {
    lua_State *L = w->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->heard_ref);
    lua_pushinteger(L, (lua_Integer)dv);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) qr_log(QR_LOG_ERROR, "reading the commits heard failed: %s", lua_tostring(L, -1));
    lua_settop(L, top);
  }
  return 0;
}

static void handle(void *ud, const qr_http_request_t *req, qr_http_response_t *res) {
  qr_worker_handle(((worker_ud *)ud)->worker, req, res);
}

static const char *spool(void *ud, const qr_http_request_t *head, size_t *max) {
  return qr_worker_spool(((worker_ud *)ud)->worker, head, max);
}

static void log_request(void *ud, const qr_http_request_t *req, const qr_http_response_t *res, int status,
                        size_t body_bytes) {
  qr_worker_log(((worker_ud *)ud)->worker, req, res, status, body_bytes);
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

/* core.sockname(fd) -> the address a socket is bound to ("127.0.0.1", "::1") and its port, or nil
 * when fd is no socket. */
static int l_sockname(lua_State *L) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  char host[64];
  int fd = (int)luaL_checkinteger(L, 1);
  if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) return 0;
  if (a.ss_family == AF_INET6) {
    if (uv_ip6_name((struct sockaddr_in6 *)&a, host, sizeof host) != 0) return 0;
    lua_pushstring(L, host);
    lua_pushinteger(L, ntohs(((struct sockaddr_in6 *)&a)->sin6_port));
  } else if (a.ss_family == AF_INET) {
    if (uv_ip4_name((struct sockaddr_in *)&a, host, sizeof host) != 0) return 0;
    lua_pushstring(L, host);
    lua_pushinteger(L, ntohs(((struct sockaddr_in *)&a)->sin_port));
  } else {
    return 0;
  }
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

#define TRUSTED_PROXIES_MAX 256

/* trusted_proxies = { "ADDRESS[/BITS]", ... } of the options table at 1 into limits: the list
 * lives in a userdata held in the registry (the returned ref) while the worker runs. */
static int trusted_proxies(lua_State *L, qr_http_limits_t *limits) {
  lua_getfield(L, 1, "trusted_proxies");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return LUA_NOREF;
  }
  size_t n = lua_rawlen(L, -1);
  if (n > TRUSTED_PROXIES_MAX) luaL_error(L, "trusted_proxies: at most %d entries", TRUSTED_PROXIES_MAX);
  qr_http_net_t *nets = lua_newuserdatauv(L, (n ? n : 1) * sizeof *nets, 0);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, -2, (lua_Integer)i + 1);
    const char *text = lua_tostring(L, -1);
    if (!text || qr_http_net_parse(text, &nets[i]) != 0)
      luaL_error(L, "trusted_proxies: '%s' is not an address or a network (ADDRESS or ADDRESS/BITS)", text ? text : "?");
    lua_pop(L, 1);
  }
  limits->trusted_proxies = nets;
  limits->ntrusted_proxies = (unsigned)n;
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return ref;
}

/* core.net_check(text) -> true when text is an address or a network (ADDRESS or ADDRESS/BITS) */
static int l_net_check(lua_State *L) {
  qr_http_net_t net;
  lua_pushboolean(L, qr_http_net_parse(luaL_checkstring(L, 1), &net) == 0);
  return 1;
}

/* core.serve_worker{ fds = {3, 4}, tls_fds = {5}, ready_fd = 6, handler = fn, limits = {...},
 *                    static = { { prefix, dir }, ... }, access_log = "path" | "-" | "stderr" | "off",
 *                    tls = { certificates = {...}, hsts = "max-age=...", redirect_http = bool,
 *                            redirect_port = n },
 *                    store = the site's store (for the page cache), cache_bytes = n (0: off),
 *                    upload = { path = "/api/...", dir = "DIR", max = bytes } (bodies spooled to disk),
 *                    edge_tags = bool (Surrogate-Key and Cache-Tag headers),
 *                    log_health_checks = bool (access-log lines for healthy /healthz probes),
 *                    trusted_proxies = { "ADDRESS[/BITS]", ... } (see qr_http_limits_t),
 *                    cache_stats = "DIR/.quire/cache-PID" (written every tick_ms when it changed,
 *                    removed at exit), tick = fn, tick_ms = n,
 *                    heard = fn(data_version) (PostgreSQL: called when commits are heard) }
 * -> exit status. handler(req) (req.id: the server's request id) returns status, headers, body,
 * cache tags ("entry:1 list:all"), private (bool), max_age (seconds or nil): worker.c decides
 * from those whether and how long the page is kept, and writes its Cache-Control.
 * A TLS or access-log problem is reported on ready_fd ("fail MESSAGE") and returns 1. */
static int l_serve_worker(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int fds[16], tls_fds[16];
  int nfds = int_list(L, 1, "fds", fds, 16);
  int ntls = int_list(L, 1, "tls_fds", tls_fds, 16);
  int ready_fd = (int)opt_size(L, 1, "ready_fd", (size_t)-1);
  qr_http_limits_t limits;
  qr_http_limits_default(&limits);
  size_t stale_grace_ms = 0, replica_lag_ms = 5000;
  unsigned hashes_max = 2, queue_max = 64;
  lua_getfield(L, 1, "limits");
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    limits.request_line_max = opt_size(L, t, "request_line", limits.request_line_max);
    limits.header_max = opt_size(L, t, "header", limits.header_max);
    limits.headers_max = opt_size(L, t, "headers", limits.headers_max);
    limits.header_count_max = (unsigned)opt_size(L, t, "header_count", limits.header_count_max);
    limits.body_max = opt_size(L, t, "request_body", limits.body_max);
    limits.header_timeout_ms = (unsigned)opt_size(L, t, "header_timeout_ms", limits.header_timeout_ms);
    limits.request_timeout_ms = (unsigned)opt_size(L, t, "request_timeout_ms", limits.request_timeout_ms);
    limits.write_queue_max = opt_size(L, t, "connection_output", limits.write_queue_max);
    limits.output_max = opt_size(L, t, "worker_output", limits.output_max);
    limits.idle_timeout_ms = (unsigned)opt_size(L, t, "keepalive_timeout_ms", limits.idle_timeout_ms);
    limits.body_min_rate = (unsigned)opt_size(L, t, "body_min_rate", limits.body_min_rate);
    limits.max_connections = (unsigned)opt_size(L, t, "connections", limits.max_connections);
    limits.max_per_ip = (unsigned)opt_size(L, t, "connections_per_ip", limits.max_per_ip);
    limits.upload_timeout_ms = (unsigned)opt_size(L, t, "upload_timeout_ms", limits.upload_timeout_ms);
    limits.upload_spools = (unsigned)opt_size(L, t, "upload_spools", limits.upload_spools);
    stale_grace_ms = opt_size(L, t, "stale_grace_ms", 0);
    replica_lag_ms = opt_size(L, t, "replica_lag_ms", replica_lag_ms);
    hashes_max = (unsigned)opt_size(L, t, "password_hashes", hashes_max);
    queue_max = (unsigned)opt_size(L, t, "password_queue", queue_max);
    qr_server_worker_deadlines((unsigned)opt_size(L, t, "watchdog_timeout_ms", 0),
                               (unsigned)opt_size(L, t, "drain_timeout_ms", 0));
  }
  lua_pop(L, 1);
  int proxies_ref = trusted_proxies(L, &limits);
  worker_ud w = {.L = L, .hashes_max = hashes_max ? hashes_max : 1, .queue_max = queue_max};
  qr_server_worker_defer(NULL);
  qr_worker_opts_t wo = {.render = render, .ud = &w};
  char hsts[256] = "";
  lua_getfield(L, 1, "handler");
  luaL_checktype(L, -1, LUA_TFUNCTION);
  w.handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, 1, "access_log");
  const char *alog_path = lua_isstring(L, -1) ? lua_tostring(L, -1) : lua_toboolean(L, -1) ? "-" : "off";
  char err[512];
  if (qr_log_access_open(alog_path, err, sizeof err) != 0) {
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
      qr_log_access_open(NULL, err, sizeof err);
      luaL_unref(L, LUA_REGISTRYINDEX, w.handler_ref);
      lua_pushinteger(L, 1);
      return 1;
    }
    lua_getfield(L, t, "hsts");
    if (lua_isstring(L, -1)) snprintf(hsts, sizeof hsts, "%s", lua_tostring(L, -1));
    else if (lua_toboolean(L, -1)) snprintf(hsts, sizeof hsts, "max-age=31536000");
    wo.hsts = hsts;
    lua_getfield(L, t, "redirect_http");
    wo.redirect_http = lua_toboolean(L, -1);
    lua_getfield(L, t, "redirect_port");
    wo.https_port = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : fd_port(tls_fds[0]);
    lua_settop(L, t - 1);
  }
  lua_getfield(L, 1, "edge_tags");
  wo.edge_tags = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "log_health_checks");
  wo.log_health = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "static");
  if (lua_istable(L, -1)) {
    wo.statics = qr_static_new();
    for (int i = 1; i <= (int)lua_rawlen(L, -1); i++) {
      lua_rawgeti(L, -1, i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (lua_isstring(L, -2) && lua_isstring(L, -1)) qr_static_mount(wo.statics, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 3);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "upload"); /* { path =, dir =, max = }: stays referenced by the options table */
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    lua_getfield(L, t, "path");
    lua_getfield(L, t, "dir");
    wo.upload_path = lua_tostring(L, -2);
    wo.upload_dir = lua_tostring(L, -1);
    wo.upload_max = opt_size(L, t, "max", 0);
    lua_settop(L, t);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "store");
  qr_store_t *store = qr_lua_store_get(L, -1);
  lua_pop(L, 1);
  size_t cache_bytes = opt_size(L, 1, "cache_bytes", 0);
  lua_getfield(L, 1, "store");
  qr_pg_t *pg = qr_lua_pg_get(L, -1);
  lua_pop(L, 1);
  w.pg = pg;
  lua_getfield(L, 1, "limits"); /* a request never waits on PostgreSQL longer (checked by config.lua) */
  if (pg && lua_istable(L, -1)) qr_pg_set_timeout(pg, (int)opt_size(L, lua_gettop(L), "db_timeout_ms", 3000));
  lua_pop(L, 1);
  if ((store || pg) && cache_bytes) {
    w.cache = store ? qr_cache_new(store, cache_bytes) : qr_cache_new_pg(pg, cache_bytes);
    qr_cache_set_grace(w.cache, (long long)stale_grace_ms);
    if (stale_grace_ms) qr_server_worker_defer(refresh);
  }
  wo.cache = w.cache;
  if (pg) qr_server_worker_input(pg_socket, pg_input);
  lua_getfield(L, 1, "read_replicas"); /* { "postgresql://...", ... }, checked by lua/quire/config.lua */
  if (pg && lua_istable(L, -1)) {
    const char *urls[QR_REPLICA_MAX];
    int nurls = 0;
    for (int i = 1; i <= (int)lua_rawlen(L, -1) && nurls < QR_REPLICA_MAX; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_type(L, -1) == LUA_TSTRING) urls[nurls++] = lua_tostring(L, -1); /* the options table keeps it */
      lua_pop(L, 1);
    }
    if (nurls) {
      w.replicas = qr_replica_new(pg, urls, nurls, (long long)replica_lag_ms);
      w.lsn_cookie_s = ((long long)replica_lag_ms + 999) / 1000;
    }
  }
  lua_pop(L, 1);
  w.worker = qr_worker_new(&wo);
  qr_http_listener_t listeners[32];
  int n = 0;
  for (int i = 0; i < nfds; i++) listeners[n++] = (qr_http_listener_t){.fd = fds[i], .tls = NULL};
  for (int i = 0; i < ntls; i++) listeners[n++] = (qr_http_listener_t){.fd = tls_fds[i], .tls = w.tls};
  qr_http_callbacks_t cbs = {.handle = handle, .log = log_request, .spool = spool, .ud = &w};
  /* Each request pcalls the handler, so nothing here can longjmp past the loop. */
  w.tick_ref = w.heard_ref = LUA_NOREF;
  lua_getfield(L, 1, "tick");
  if (lua_isfunction(L, -1)) w.tick_ref = luaL_ref(L, LUA_REGISTRYINDEX); else lua_pop(L, 1);
  lua_getfield(L, 1, "heard");
  if (lua_isfunction(L, -1)) w.heard_ref = luaL_ref(L, LUA_REGISTRYINDEX); else lua_pop(L, 1);
  unsigned tick_ms = (unsigned)opt_size(L, 1, "tick_ms", 2000);
  lua_getfield(L, 1, "cache_stats");
  w.stats_path = lua_tostring(L, -1); /* stays referenced by the options table */
  lua_pop(L, 1);
  const char *stats_path = w.stats_path;
  int status = qr_server_worker(listeners, n, ready_fd, &limits, &cbs, tick, tick_ms);
  if (stats_path) unlink(stats_path); /* a worker that is gone has no numbers */
  luaL_unref(L, LUA_REGISTRYINDEX, w.tick_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, w.heard_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, proxies_ref);
  qr_log_access_open(NULL, err, sizeof err); /* flushes */
  fflush(stdout);
  qr_worker_free(w.worker);
  qr_static_free(wo.statics);
  qr_cache_free(w.cache);
  qr_replica_free(w.replicas);
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

/* core.request_id() -> a request id from the server's generator, for requests made in process
 * (specs, the test helpers) */
static int l_request_id(lua_State *L) {
  char id[32];
  qr_http_request_id(id);
  lua_pushstring(L, id);
  return 1;
}

/* core.path_problem(target) -> why the server answers target 400 before anything else looks at
 * it (qr_http_path_problem: a malformed %-escape, an encoded NUL, a backslash, a dot segment in
 * its path), or nil: what redirects.key refuses as a source no request could reach. */
static int l_path_problem(lua_State *L) {
  size_t n;
  const char *target = luaL_checklstring(L, 1, &n);
  const char *problem = qr_http_path_problem(target, n);
  if (problem) lua_pushstring(L, problem);
  else lua_pushnil(L);
  return 1;
}

/* core.cache_control(r) -> the Cache-Control value the server gives the app's answer r
 * ({ status =, headers =, private =, max_age = }) by qr_worker_apply, or nil: for requests made
 * in process (specs), so they see what a client would. */
static int l_cache_control(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  qr_http_response_t res = {0};
  qr_worker_page_t page = {.max_age = -1};
  lua_getfield(L, 1, "status");
  res.status = (int)luaL_optinteger(L, 2, 200);
  lua_getfield(L, 1, "headers");
  lua_getfield(L, 1, "private");
  page.private = lua_toboolean(L, 4);
  lua_getfield(L, 1, "max_age");
  if (lua_isnumber(L, 5) && lua_tonumber(L, 5) >= 0) page.max_age = (long)lua_tonumber(L, 5);
  /* Only running out of memory could raise below (and leak res): this serves specs. */
  fill_headers(L, 3, &res);
  qr_worker_apply(&res, &page);
  size_t n;
  const char *v = qr_http_response_get(&res, QR_HDR_CACHE_CONTROL, &n);
  if (v) lua_pushlstring(L, v, n);
  else lua_pushnil(L);
  qr_http_response_free(&res);
  return 1;
}

/* core.hidden_path(path) -> whether quire serve keeps it from a static folder's visitors, as
 * the export does (qr_static_hidden) */
static int l_hidden_path(lua_State *L) {
  lua_pushboolean(L, qr_static_hidden(luaL_checkstring(L, 1)));
  return 1;
}

/* core.cpus() -> number of CPUs */
static int l_cpus(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)uv_available_parallelism());
  return 1;
}

void qr_lua_server_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"serve_master", l_serve_master}, {"serve_worker", l_serve_worker},
                                 {"exepath", l_exepath}, {"cpus", l_cpus}, {"hidden_path", l_hidden_path},
                                 {"tls_check", l_tls_check}, {"listen_check", l_listen_check},
                                 {"fd_write", l_fd_write}, {"request_id", l_request_id}, {"sockname", l_sockname},
                                 {"cache_control", l_cache_control}, {"path_problem", l_path_problem}, {"net_check", l_net_check}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
