/* PostgreSQL storage: libpq connection, placeholder translation, statement cache, transactions, migrations. */
#include "pg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "embedded.h"
#include "util.h"

#define STMT_BUCKETS 256
#define STMT_MAX 512      /* beyond this, statements run unprepared rather than cached */
#define MAX_PARAMS 65535  /* the protocol's limit */
#define MAX_SERIAL 64     /* tables with a sequence id that RETURNING id is added for */
/* Advisory lock keys (per database): every write transaction takes WRITE_LOCK, the migration
 * runner MIGRATE_LOCK. Arbitrary constants, "quirewrt" and "quiremig" in ASCII. */
#define WRITE_LOCK "8176333634236068980"
#define MIGRATE_LOCK "8176333634235967847"
/* Every write to the site's tables notifies this channel (db/pg/0027): data_version counts it. */
#define DATA_CHANNEL "quire_data"
/* After a failed reconnect (with a bound set), the attempts made without waiting (the page
 * cache's look before every hit, the ticks) start again after 250 ms, then 500 ms, at most 1 s,
 * not at every hit; a statement that needs the database tries at once. */
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 1000
/* How long a statement waits for a new connection once the database is known to be away: a
 * server that is back answers within it; one that is not costs no more. */
#define DOWN_WAIT_MS 100
/* Addresses a connection is tried at, host names expanded (libpq's host list, with hostaddr). */
#define MAX_ADDRS 16

typedef struct cached {
  struct cached *next;
  char *key;  /* parameter types, '|', then the SQL as given */
  char name[16];
  int returning; /* RETURNING id was added */
} cached;

struct qr_pg_s {
  PGconn *conn;
  cached *buckets[STMT_BUCKETS];
  int ncached, nextname;
  int depth;
  int reading; /* a read snapshot is open (qr_pg_begin_read); a reconnect ends it */
  int broken; /* the connection dropped inside a transaction: reset at the outermost rollback */
  int unguarded; /* statements in a transaction run without their savepoint (qr_pg_guard) */
  long long changes, last_id, total_changes;
  char *serial[MAX_SERIAL];
  int nserial;
  char *snapshot; /* the server snapshot data_version last saw */
  char *schema;   /* the site's schema (where its entries table resolves): its DATA_CHANNEL notifications' payload */
  long long resets;
  long long data_version;
  /* Read replicas (core/replica.c): reads outside a transaction go to reader while it is set;
   * moved (with heard: notifications read) counts what may have made this process see newer
   * commits (its own write, a reconnect), reader_moved qr_pg_moved when reader was set. */
  qr_pg_t *reader;
  long long moved, reader_moved;
  long long tx_changes; /* total_changes when the outermost transaction began */
  long long wal_block, wal_segment; /* the server's WAL page and segment sizes, once read */
  int watching;                  /* LISTENs on DATA_CHANNEL since reset number watch_resets */
  long long watch_resets;
  long long heard, heard_seen;   /* notifications taken from the connection; as data_version last saw */
  long long untyped;             /* statements whose NULL parameter the server could not type (untyped_null) */
  /* Bounds (qr_pg_set_timeout): the longest wait for one answer (0: libpq's, unbounded) and
   * for a new connection. A wait past the first cuts the connection (timed_out). */
  int timeout_ms, connect_ms, timed_out;
  /* A reconnect under way without waiting (qr_pg_ready): what its socket waits for, its
   * deadline; after one failed, none starts before retry_at. */
  int resetting, reset_events;
  int first; /* resetting is the first connection (qr_pg_opts_t.nowait), not a reset */
  int down;  /* the last attempt failed, or a statement had no answer in time: attempts are not waited for */
  long long reset_deadline, retry_at, backoff_ms;
  char down_why[512];
  char errmsg[1024];
  /* What every new connection is made from (qr_pg_open's), and its host names resolved first. */
  char *url;
  char timeout_s[16], user_timeout_s[16];
  char *hosts, *ports; /* the URL's (or PGHOST's, PGPORT's) host and port lists, when a host is a name */
  struct lookup *lookup; /* the names being resolved for the attempt under way, or NULL */
};

static int fail(qr_pg_t *p, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
  va_end(ap);
  return code;
}

/* The server's message with its detail and SQLSTATE, or libpq's when there is no result. */
static int result_fail(qr_pg_t *p, PGresult *r, const char *what) {
  const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!primary) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(p->conn));
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = 0;
    if (p->timed_out)
      return fail(p, QR_EBUSY,
                  "%s: the connection to PostgreSQL was lost (no answer within %d ms, limits.db_timeout_ms); it is"
                  " retried at the next statement", what, p->timeout_ms);
    if (PQstatus(p->conn) != CONNECTION_OK)
      return fail(p, QR_EBUSY, "%s: the connection to PostgreSQL was lost (%s); it is retried at the next statement",
                  what, n ? msg : "no message");
    return fail(p, QR_EDB, "%s: %s", what, n ? msg : "unknown PostgreSQL error");
  }
  const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
  const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return fail(p, QR_EDB, "%s: %s%s%s [SQLSTATE %s]", what, primary, detail ? " — " : "", detail ? detail : "",
              state ? state : "?");
}

const char *qr_pg_errmsg(qr_pg_t *p) { return p->errmsg; }
long long qr_pg_changes(qr_pg_t *p) { return p->changes; }
long long qr_pg_last_id(qr_pg_t *p) { return p->last_id; }
long long qr_pg_total_changes(qr_pg_t *p) { return p->total_changes; }
int qr_pg_depth(qr_pg_t *p) { return p->depth; }
int qr_pg_reading(qr_pg_t *p) { return p->reading; }
int qr_pg_guard(qr_pg_t *p, int on) {
  int was = !p->unguarded;
  p->unguarded = !on;
  return was;
}

static int is_ident(int c) { return isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

/* Length of the dollar-quote tag at s ("$$" or "$tag$"), or 0 when s does not open one. */
static size_t dollar_tag(const char *s) {
  size_t i = 1;
  if (isalpha((unsigned char)s[i]) || s[i] == '_' || (unsigned char)s[i] >= 0x80)
    while (isalnum((unsigned char)s[i]) || s[i] == '_' || (unsigned char)s[i] >= 0x80) i++;
  return s[i] == '$' ? i + 1 : 0;
}

char *qr_pg_translate(const char *sql, int *nparams, const char **err) {
  size_t len = strlen(sql), marks = 0;
  for (const char *c = sql; *c; c++) marks += *c == '?';
  char *out = qr_xmalloc(len + marks * 6 + 1), *o = out;
  const char *s = sql;
  int n = 0, dollar_params = 0;
  *err = NULL;
  while (*s) {
    char c = *s;
    if (c == '\'' || c == '"') { /* string or quoted identifier; E'...' takes backslash escapes */
      int backslash = c == '\'' && s > sql && (s[-1] == 'E' || s[-1] == 'e') && (s - 1 == sql || !is_ident((unsigned char)s[-2]));
      *o++ = *s++;
      while (*s) {
        if (backslash && *s == '\\' && s[1]) {
          *o++ = *s++;
          *o++ = *s++;
          continue;
        }
        if (*s == c) {
          *o++ = *s++;
          if (*s == c) { /* doubled: an escaped quote */
            *o++ = *s++;
            continue;
          }
          break;
        }
        *o++ = *s++;
      }
    } else if (c == '-' && s[1] == '-') {
      while (*s && *s != '\n') *o++ = *s++;
    } else if (c == '/' && s[1] == '*') { /* block comments nest in PostgreSQL */
      int depth = 0;
      while (*s) {
        if (s[0] == '/' && s[1] == '*') depth++, *o++ = *s++, *o++ = *s++;
        else if (s[0] == '*' && s[1] == '/') {
          *o++ = *s++, *o++ = *s++;
          if (--depth == 0) break;
        } else *o++ = *s++;
      }
    } else if (c == '$' && (s == sql || !is_ident((unsigned char)s[-1]))) {
      size_t tag = isdigit((unsigned char)s[1]) ? 0 : dollar_tag(s);
      if (isdigit((unsigned char)s[1])) dollar_params = 1;
      if (!tag) {
        *o++ = *s++;
        continue;
      }
      const char *end = NULL;
      for (const char *q = s + tag; (q = strchr(q, '$')); q++)
        if (strncmp(q, s, tag) == 0) {
          end = q + tag;
          break;
        }
      if (!end) end = s + strlen(s);
      memcpy(o, s, (size_t)(end - s));
      o += end - s;
      s = end;
    } else if (c == '?') {
      /* SQLite's rule: ?NNN is parameter NNN; a plain ? is one more than the largest so far. */
      long k = 0;
      s++;
      if (isdigit((unsigned char)*s)) {
        char *end;
        k = strtol(s, &end, 10);
        s = end;
      } else {
        k = n + 1;
      }
      if (k < 1 || k > MAX_PARAMS) {
        *err = "SQL parameter numbers go from 1 to 65535";
        break;
      }
      if (k > n) n = (int)k;
      o += sprintf(o, "$%ld", k);
    } else {
      *o++ = *s++;
    }
  }
  *o = 0;
  if (!*err && n && dollar_params) *err = "SQL mixes ? placeholders with $n ones: use ? only";
  if (*err) {
    free(out);
    return NULL;
  }
  *nparams = n;
  return out;
}

static unsigned hash_key(const char *k) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (; *k; k++) h = (h ^ (unsigned char)*k) * 16777619u;
  return h % STMT_BUCKETS;
}

static void forget_statements(qr_pg_t *p) {
  for (int i = 0; i < STMT_BUCKETS; i++) {
    for (cached *c = p->buckets[i], *next; c; c = next) {
      next = c->next;
      free(c->key);
      free(c);
    }
    p->buckets[i] = NULL;
  }
  p->ncached = 0;
}

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when fd is ready for events within wait_ms (0: without waiting), else 0. */
static int ready_within(int fd, short events, long long wait_ms) {
  if (fd < 0) return 0;
  struct pollfd pfd = {.fd = fd, .events = events};
  int rc;
  do rc = poll(&pfd, 1, wait_ms < 0 ? 0 : wait_ms > 60000 ? 60000 : (int)wait_ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

/* Every wait for the server is bounded (with a timeout set): libpq's blocking calls are its
 * send calls followed by results read here, with the socket polled until the deadline. A peer
 * that vanished without a reset (packets dropped, a proxy that stopped forwarding) acknowledges
 * nothing or answers nothing, and neither TCP keepalives nor tcp_user_timeout see the second:
 * only this does. Past the deadline the socket is shut down, so libpq sees the connection lost
 * and the statement fails as for any lost connection (503 to a request, never a hang). */
static PGresult *next_result(qr_pg_t *p, long long deadline) {
  while (deadline && PQisBusy(p->conn)) {
    long long left = deadline - mono_ms();
    if (left <= 0 || !ready_within(PQsocket(p->conn), POLLIN, left)) {
      if (mono_ms() < deadline) continue; /* interrupted: wait for the rest */
      /* Given up: the database is away (down), until a new connection says otherwise. */
      p->timed_out = p->down = 1;
      p->retry_at = mono_ms() + RETRY_FIRST_MS;
      snprintf(p->down_why, sizeof p->down_why, "no answer within %d ms, limits.db_timeout_ms", p->timeout_ms);
      shutdown(PQsocket(p->conn), SHUT_RDWR);
    }
    if (!PQconsumeInput(p->conn)) break; /* PQgetResult reports it */
  }
  return PQgetResult(p->conn);
}

static long long deadline_of(qr_pg_t *p) { return p->timeout_ms > 0 ? mono_ms() + p->timeout_ms : 0; }

/* PQexec and its kin, bounded: the last result of what was sent (NULL when nothing was). */
static PGresult *finish(qr_pg_t *p, int sent) {
  if (!sent) return NULL;
  long long deadline = deadline_of(p);
  PGresult *last = NULL, *r;
  while ((r = next_result(p, deadline)) != NULL) {
    PQclear(last);
    last = r;
    if (PQstatus(p->conn) != CONNECTION_OK) break;
  }
  return last;
}

static PGresult *pq_exec(qr_pg_t *p, const char *sql) { return finish(p, PQsendQuery(p->conn, sql)); }

/* Runs SQL with no parameters through the simple protocol (several statements allowed). */
static int exec_simple(qr_pg_t *p, const char *sql, const char *what) {
  PGresult *r = pq_exec(p, sql);
  int st = PQresultStatus(r);
  int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : result_fail(p, r, what);
  PQclear(r);
  return rc;
}

/* Settings every connection needs: quoting as qr_pg_translate reads it, no notices on stderr. */
static int session_setup(qr_pg_t *p) {
  return exec_simple(p, "SET standard_conforming_strings = on; SET client_min_messages = warning;"
                        " SET client_encoding = 'UTF8'",
                     "setting up the PostgreSQL session");
}

static int load_serial(qr_pg_t *p);

/* libpq's message on one line, without its trailing newline. */
static void one_line(char *out, size_t cap, const char *msg) {
  size_t n = 0;
  for (const char *c = msg; *c && n + 1 < cap; c++)
    if ((unsigned char)*c >= 0x20) out[n++] = *c;
    else if (n && out[n - 1] != ' ') out[n++] = ' ';
  while (n && out[n - 1] == ' ') n--;
  out[n] = 0;
}

/* Host names are resolved before libpq sees them: PQconnectStart and PQresetStart resolve
 * them with a blocking getaddrinfo, inside whatever event loop calls them (a DNS server that does
 * not answer would hold a worker and every reader of its cached pages for seconds). Here each
 * name is resolved on a thread of its own, its answer waited for (a byte on the lookup's pipe)
 * as the connection's socket is, within the connect bound; libpq then gets each address as
 * hostaddr with its name kept as host (for TLS verification, Kerberos and its messages). Every
 * attempt (each reconnect too) resolves again, so a name moved to another server is followed. A
 * lookup still running when the attempt gives up is left to finish on its thread, its answer
 * dropped. Not libuv's thread pool: it hashes passwords (argon2, four threads), and lookups that
 * hang there would hold sign-ins; at most LOOKUP_THREADS run in a process, a name past that is
 * not resolved this attempt (its error says why). Hosts a service file names (service=) are read
 * from it (service_read) and resolved the same way. */
#define LOOKUP_THREADS 8
static atomic_int lookups_running;
typedef struct lookup lookup_t;
typedef struct {
  lookup_t *of;
  int host;    /* its index in the host list */
  int running; /* 1 while its thread runs (under of->mu) */
  int gai;     /* getaddrinfo's error, 0 */
  const char *why; /* set instead when it was never started */
  struct addrinfo *res;
  char name[256];
} lookup_one;
struct lookup {
  pthread_mutex_t mu;
  int n, pending, abandoned;
  int pipe[2]; /* a byte written per answer */
  lookup_one q[MAX_ADDRS];
};

static void lookup_free(lookup_t *l) {
  for (int i = 0; i < l->n; i++)
    if (l->q[i].res) freeaddrinfo(l->q[i].res);
  close(l->pipe[0]);
  close(l->pipe[1]);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void *lookup_run(void *arg) {
  lookup_one *one = arg;
  lookup_t *l = one->of;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(one->name, NULL, &hints, &res);
  pthread_mutex_lock(&l->mu);
  one->gai = rc;
  one->res = rc ? NULL : res;
  one->running = 0;
  int last = --l->pending == 0 && l->abandoned;
  if (!l->abandoned) (void)!write(l->pipe[1], "", 1);
  pthread_mutex_unlock(&l->mu);
  if (last) lookup_free(l); /* (its answers, this one's too, freed with it) */
  atomic_fetch_sub(&lookups_running, 1);
  return NULL;
}

/* The n-th entry (from 0) of a comma-separated list, copied into out; "" past its end. */
static void list_item(const char *list, int n, char *out, size_t cap) {
  for (; list && n > 0; n--) {
    list = strchr(list, ',');
    if (list) list++;
  }
  size_t len = list ? strcspn(list, ",") : 0;
  if (len >= cap) len = cap - 1;
  memcpy(out, list ? list : "", len);
  out[len] = 0;
}

static int list_count(const char *list) {
  int n = 1;
  for (const char *c = list; *c; c++) n += *c == ',';
  return n;
}

/* Whether an address with this port is among the first n of the parallel lists addrs and ports
 * (two hosts at one address on different ports are two servers). */
static int listed(const char *addrs, const char *ports, int n, const char *addr, const char *port) {
  for (int j = 0; j < n; j++) {
    char a[48], pt[8];
    list_item(addrs, j, a, sizeof a);
    list_item(ports, j, pt, sizeof pt);
    if (!strcmp(a, addr) && !strcmp(pt, port)) return 1;
  }
  return 0;
}

/* A host entry that is a name to resolve: not empty, not a socket folder, not an IP address. */
static int is_name(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return h[0] && h[0] != '/' && h[0] != '@' && inet_pton(AF_INET, h, buf) != 1 && inet_pton(AF_INET6, h, buf) != 1;
}

static void lookup_abandon(qr_pg_t *p) {
  lookup_t *l = p->lookup;
  if (!l) return;
  p->lookup = NULL;
  pthread_mutex_lock(&l->mu);
  int pending = l->pending;
  l->abandoned = 1;
  pthread_mutex_unlock(&l->mu);
  if (!pending) lookup_free(l); /* else the last thread to answer frees it */
}

/* Starts resolving the host names of p->hosts; 0, or QR_EIO with why in p->down_why. */
static int lookup_start(qr_pg_t *p) {
  lookup_t *l = qr_xcalloc(1, sizeof *l);
  if (pipe(l->pipe)) {
    free(l);
    snprintf(p->down_why, sizeof p->down_why, "cannot start resolving host names: %s", strerror(errno));
    return QR_EIO;
  }
  fcntl(l->pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(l->pipe[0], F_SETFD, FD_CLOEXEC);
  fcntl(l->pipe[1], F_SETFD, FD_CLOEXEC);
  pthread_mutex_init(&l->mu, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int nhosts = list_count(p->hosts);
  pthread_mutex_lock(&l->mu); /* (no answer is counted before every thread is started) */
  for (int i = 0; i < nhosts && l->n < MAX_ADDRS; i++) {
    char host[256];
    list_item(p->hosts, i, host, sizeof host);
    if (!is_name(host)) continue;
    lookup_one *one = &l->q[l->n++];
    one->of = l;
    one->host = i;
    snprintf(one->name, sizeof one->name, "%s", host);
    pthread_t t;
    if (atomic_fetch_add(&lookups_running, 1) >= LOOKUP_THREADS) {
      atomic_fetch_sub(&lookups_running, 1);
      one->why = "8 host name lookups of this process still running (a DNS server that does not answer?)";
    } else if (pthread_create(&t, &attr, lookup_run, one)) {
      atomic_fetch_sub(&lookups_running, 1);
      one->why = "no thread to resolve it";
    } else {
      one->running = 1;
      l->pending++;
    }
  }
  pthread_mutex_unlock(&l->mu);
  pthread_attr_destroy(&attr);
  p->lookup = l;
  return 0;
}

/* Waits for the lookups until `until` at most (and the attempt's deadline): 0 when all
 * answered, QR_EBUSY while some still run, QR_EIO past the deadline (why in p->down_why). */
static int lookup_wait(qr_pg_t *p, long long until) {
  lookup_t *l = p->lookup;
  for (;;) {
    char drain[64];
    while (read(l->pipe[0], drain, sizeof drain) > 0) {}
    pthread_mutex_lock(&l->mu);
    int pending = l->pending;
    pthread_mutex_unlock(&l->mu);
    if (!pending) return 0;
    long long now = mono_ms(), end = until < p->reset_deadline ? until : p->reset_deadline;
    if (now >= p->reset_deadline) {
      pthread_mutex_lock(&l->mu);
      for (int i = 0; i < l->n; i++)
        if (l->q[i].running) {
          snprintf(p->down_why, sizeof p->down_why, "the host name \"%.255s\" was not resolved within %d ms%s", l->q[i].name,
                   p->connect_ms, p->timeout_ms == p->connect_ms ? ", limits.db_timeout_ms" : "");
          break;
        }
      pthread_mutex_unlock(&l->mu);
      lookup_abandon(p);
      return QR_EIO;
    }
    if (now >= end) return QR_EBUSY;
    ready_within(l->pipe[0], POLLIN, end - now);
  }
}

/* Makes the new connection (the old one, if any, closed): from the URL, with the names resolved
 * as hostaddr when there were any. 0, or QR_EIO with why in p->down_why. */
static int conn_start(qr_pg_t *p) {
  char hosts[MAX_ADDRS * 257], addrs[MAX_ADDRS * 48], ports[MAX_ADDRS * 8];
  hosts[0] = addrs[0] = ports[0] = 0;
  int per_host_port = 0, nout = 0;
  lookup_t *l = p->lookup;
  if (l) {
    int nhosts = list_count(p->hosts);
    per_host_port = p->ports && list_count(p->ports) == nhosts && nhosts > 1;
    char failed[256] = "", why[128] = "";
    size_t hn = 0, an = 0, pn = 0;
    for (int i = 0, k = 0; i < nhosts && nout < MAX_ADDRS; i++) {
      char host[256], port[8] = "";
      list_item(p->hosts, i, host, sizeof host);
      if (per_host_port) list_item(p->ports, i, port, sizeof port);
      const lookup_one *one = k < l->n && l->q[k].host == i ? &l->q[k++] : NULL;
      if (!one && is_name(host)) continue; /* past MAX_ADDRS names: never resolved by libpq */
      if (one && (one->why || one->gai)) { /* skipped, as libpq skips a host it cannot resolve */
        if (!failed[0]) {
          snprintf(failed, sizeof failed, "%s", host);
          snprintf(why, sizeof why, "%s", one->why ? one->why : gai_strerror(one->gai));
        }
        continue;
      }
      for (const struct addrinfo *a = one ? one->res : NULL;; a = a->ai_next) {
        char addr[48] = "";
        if (one) {
          if (!a || nout >= MAX_ADDRS) break;
          if (a->ai_family == AF_INET) uv_ip4_name((const struct sockaddr_in *)a->ai_addr, addr, sizeof addr);
          else if (a->ai_family == AF_INET6) uv_ip6_name((const struct sockaddr_in6 *)a->ai_addr, addr, sizeof addr);
          else continue;
          if (listed(addrs, ports, nout, addr, port)) continue; /* (a duplicate) */
        }
        hn += (size_t)snprintf(hosts + hn, sizeof hosts - hn, "%s%s", nout ? "," : "", host);
        an += (size_t)snprintf(addrs + an, sizeof addrs - an, "%s%s", nout ? "," : "", addr);
        pn += (size_t)snprintf(ports + pn, sizeof ports - pn, "%s%s", nout ? "," : "", port);
        nout++;
        if (!one) break; /* a socket folder or an address: as given (an empty hostaddr) */
      }
    }
    lookup_abandon(p); /* (all answered: frees them) */
    if (!nout) {
      snprintf(p->down_why, sizeof p->down_why, "the host name \"%.255s\" does not resolve (%.127s)", failed, why);
      return QR_EIO;
    }
  }
  const char *keys[] = {"connect_timeout", "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "dbname", "host", "hostaddr", "port", NULL};
  const char *values[] = {p->timeout_s, "quire", "1", "10", "5", "3", p->user_timeout_s, p->url,
                          nout ? hosts : NULL, nout ? addrs : NULL, per_host_port ? ports : NULL, NULL};
  /* (a NULL value ends the list early: without names the URL alone says where) */
  PQfinish(p->conn);
  p->conn = PQconnectStartParams(keys, values, 1);
  p->reset_events = POLLOUT; /* libpq: as if PGRES_POLLING_WRITING had been returned */
  if (!p->conn || PQstatus(p->conn) == CONNECTION_BAD) {
    one_line(p->down_why, sizeof p->down_why, p->conn ? PQerrorMessage(p->conn) : "out of memory");
    return QR_EIO;
  }
  return 0;
}

/* Starts a connection attempt, bounded by connect_ms from now: its host names resolved first
 * when it has any. 0, or QR_EIO with why in p->down_why. */
static int attempt_start(qr_pg_t *p) {
  p->reset_deadline = mono_ms() + p->connect_ms;
  lookup_abandon(p);
  if (p->hosts) return lookup_start(p);
  return conn_start(p);
}

/* Drives a connection attempt (attempt_start's) until it is made, fails or passes
 * p->reset_deadline: libpq's own connect_timeout counts whole seconds and blocks. It waits until
 * `until` at most (0: only as far as the socket allows now). 0: connected; QR_EBUSY: still under
 * way; QR_EIO: failed, why in p->down_why. */
static int drive(qr_pg_t *p, long long until) {
  if (p->lookup) {
    int rc = lookup_wait(p, until);
    if (rc) return rc;
    if (conn_start(p)) return QR_EIO;
  }
  for (;;) {
    long long now = mono_ms(), end = until < p->reset_deadline ? until : p->reset_deadline;
    if (!ready_within(PQsocket(p->conn), (short)p->reset_events, end - now)) {
      if (PQsocket(p->conn) < 0) {
        one_line(p->down_why, sizeof p->down_why, PQerrorMessage(p->conn));
        return QR_EIO;
      }
      if (mono_ms() >= p->reset_deadline) {
        snprintf(p->down_why, sizeof p->down_why, "no answer within %d ms%s", p->connect_ms,
                 p->timeout_ms == p->connect_ms ? ", limits.db_timeout_ms" : "");
        shutdown(PQsocket(p->conn), SHUT_RDWR); /* what is left of it fails at once */
        return QR_EIO;
      }
      if (mono_ms() >= until) return QR_EBUSY;
      continue;
    }
    PostgresPollingStatusType st = PQconnectPoll(p->conn);
    if (st == PGRES_POLLING_OK) return 0;
    if (st == PGRES_POLLING_FAILED) {
      one_line(p->down_why, sizeof p->down_why, PQerrorMessage(p->conn));
      return QR_EIO;
    }
    p->reset_events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
  }
}

/* After a lost connection: a new one, set up as the first was; its prepared statements are gone.
 * With nowait (the page cache's look and the ticks, which must never hold a reader) an attempt
 * is started or carried on without waiting, and QR_EBUSY says it is still under way; after a
 * failed attempt it starts none before retry_at (with a timeout set), failing at once. */
static int reconnect(qr_pg_t *p, int nowait) {
  long long now = mono_ms();
  if (!p->resetting) {
    if (p->timeout_ms > 0 && nowait && now < p->retry_at)
      return fail(p, QR_EIO, "PostgreSQL is unreachable (%s); the connection is tried again in %lld ms", p->down_why,
                  p->retry_at - now);
    forget_statements(p);
    p->watching = 0;
    p->reading = 0; /* the server ended the snapshot with the connection */
    p->first = 0;
    if (attempt_start(p)) goto failed;
    p->resetting = 1;
  }
  /* Once the database is known to be away, a statement waits for a new attempt only as long as
   * a server that is back takes to answer, not the whole bound: the attempt goes on, carried by
   * the next calls, and meanwhile they fail at once. */
  long long until = nowait ? 0 : p->down && p->timeout_ms > 0 ? p->reset_deadline - p->connect_ms + DOWN_WAIT_MS : p->reset_deadline;
  int rc = drive(p, until);
  if (rc == QR_EBUSY) {
    if (p->down && p->down_why[0]) /* say why the last attempt failed */
      return fail(p, QR_EBUSY, "PostgreSQL is unreachable just now (%s): a new connection is under way", p->down_why);
    return fail(p, QR_EBUSY, "PostgreSQL is unreachable just now: a new connection is under way");
  }
  p->resetting = 0;
  if (rc) goto failed;
  p->timed_out = p->down = 0;
  p->backoff_ms = 0;
  if (p->first) {
    p->first = 0;
    rc = session_setup(p);
    return rc ? rc : load_serial(p);
  }
  p->resets++;
  p->moved++;
  return session_setup(p);
failed:
  p->down = 1;
  p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : RETRY_FIRST_MS;
  if (p->backoff_ms > RETRY_MAX_MS) p->backoff_ms = RETRY_MAX_MS;
  p->retry_at = mono_ms() + p->backoff_ms;
  return fail(p, QR_EIO, "PostgreSQL is unreachable (%s)", p->down_why);
}

/* The connection up, or made again (waiting, within the bound) when it was lost outside a
 * transaction; 0 or a QR_E* code with the message on p. */
static int connected(qr_pg_t *p) {
  if (!p->resetting && PQstatus(p->conn) == CONNECTION_OK) return 0;
  if (p->depth > 0) return result_fail(p, NULL, "PostgreSQL");
  return reconnect(p, 0);
}

int qr_pg_ready(qr_pg_t *p) {
  if (!p->resetting && PQstatus(p->conn) == CONNECTION_OK) {
    /* what the socket holds says whether the server closed it meanwhile */
    if (PQconsumeInput(p->conn)) return 1;
  }
  if (p->depth > 0) return 0;
  int rc = reconnect(p, 1);
  return rc == 0 ? 1 : rc == QR_EBUSY ? 0 : rc;
}

int qr_pg_timeout(qr_pg_t *p) { return p->timeout_ms; }

long long qr_pg_untyped(qr_pg_t *p) { return p->untyped; }

const char *qr_pg_down_why(qr_pg_t *p) { return p->down_why; }

void qr_pg_set_timeout(qr_pg_t *p, int timeout_ms) {
  p->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
  if (p->timeout_ms) p->connect_ms = p->timeout_ms;
}


/* Tables whose id comes from a sequence: their INSERTs report the new id. And the schema. */
static int load_serial(qr_pg_t *p) {
  for (int i = 0; i < p->nserial; i++) free(p->serial[i]);
  p->nserial = 0;
  PGresult *r = pq_exec(p,
                       "SELECT s.name, c.table_name FROM (SELECT coalesce((SELECT n.nspname FROM pg_class t JOIN pg_namespace n"
                       " ON n.oid = t.relnamespace WHERE t.oid = to_regclass('entries')), current_schema()) AS name) s"
                       " LEFT JOIN information_schema.columns c ON c.table_schema = s.name"
                       " AND c.column_name = 'id' AND (c.is_identity = 'YES' OR c.column_default LIKE 'nextval(%')");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    int rc = result_fail(p, r, "reading the tables with sequence ids");
    PQclear(r);
    return rc;
  }
  free(p->schema);
  p->schema = PQgetisnull(r, 0, 0) ? NULL : qr_xstrdup(PQgetvalue(r, 0, 0));
  for (int i = 0; i < PQntuples(r) && p->nserial < MAX_SERIAL; i++)
    if (!PQgetisnull(r, i, 1)) p->serial[p->nserial++] = qr_xstrdup(PQgetvalue(r, i, 1));
  PQclear(r);
  return 0;
}

/* Whether a notification is of this site: on DATA_CHANNEL, a write to its schema's tables (the
 * payload, db/pg/0032; empty from a trigger older than that), not another site's on the same
 * database, which would make it drop what it memoised for nothing. */
static int of_site(const qr_pg_t *p, const PGnotify *n) {
  return strcmp(n->relname, DATA_CHANNEL) || !n->extra[0] || !p->schema || !strcmp(n->extra, p->schema);
}

/* With a serial table named right after INSERT INTO and no RETURNING of its own, the INSERT
 * gets RETURNING id so the new id comes back in the same round trip. */
static int wants_returning(qr_pg_t *p, const char *sql) {
  while (isspace((unsigned char)*sql)) sql++;
  if (strncasecmp(sql, "INSERT", 6) || !isspace((unsigned char)sql[6])) return 0;
  sql += 6;
  while (isspace((unsigned char)*sql)) sql++;
  if (strncasecmp(sql, "INTO", 4) || !isspace((unsigned char)sql[4])) return 0;
  sql += 4;
  while (isspace((unsigned char)*sql)) sql++;
  int quoted = *sql == '"';
  if (quoted) sql++;
  size_t n = 0;
  while (sql[n] && (quoted ? sql[n] != '"' : is_ident((unsigned char)sql[n]))) n++;
  if (strcasestr(sql + n, "RETURNING")) return 0;
  for (int i = 0; i < p->nserial; i++)
    if (strlen(p->serial[i]) == n && strncmp(p->serial[i], sql, n) == 0) return 1;
  return 0;
}

/* A NULL parameter the server cannot type from its place ("? IS NULL", a portable idiom) is
 * sent again as text: 1 when r is that error (or the one below) and types was changed for
 * another try. */
static int untyped_null(qr_pg_t *p, PGresult *r, int nparams, Oid *types) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  /* An integer sent as int8 where a function takes int4 (substr(text, ?)): no function
   * matches. The integers are sent again untyped, for the server to type from their places. */
  if (state && strcmp(state, "42883") == 0) {
    int changed = 0;
    for (int i = 0; i < nparams; i++)
      if (types[i] == 20) types[i] = 0, changed = 1;
    return changed;
  }
  const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *dollar = msg ? strrchr(msg, '$') : NULL;
  if (!state || strcmp(state, "42P18") || !dollar) return 0;
  int n = atoi(dollar + 1);
  if (n < 1 || n > nparams || types[n - 1] != 0) return 0;
  types[n - 1] = 25; /* text */
  p->untyped++;
  return 1;
}

/* The next result of a pipeline, the rest of that query's results (none are expected) dropped.
 * NULL when the connection failed. */
static PGresult *pipeline_result(qr_pg_t *p, long long deadline) {
  PGresult *r = next_result(p, deadline), *more;
  if (r && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
    while ((more = next_result(p, deadline)) != NULL) PQclear(more);
  return r;
}

/* Runs a prepared statement (name) or, without one, sql. Inside a transaction a failed statement
 * would abort all of it, where SQLite undoes only that statement and lets the caller go on
 * (a plugin's hook or a script that catches a failed quire.store.query inside a transaction):
 * a savepoint around each statement does the same. SAVEPOINT, the statement and RELEASE go in
 * one pipeline, so a statement costs no extra round trip; one that fails costs one more (the
 * ROLLBACK TO). The server makes a subtransaction per statement: a few microseconds, and a
 * transaction id for each one that writes (beyond 64 in one transaction, other sessions'
 * snapshots check pg_subtrans for it while it runs). */
static PGresult *exec_statement(qr_pg_t *p, const char *name, const char *sql, int nparams, const Oid *types,
                                const char *const *values) {
  if ((p->depth == 0 && !p->reading) || p->unguarded || !PQenterPipelineMode(p->conn)) {
    if (name) return finish(p, PQsendQueryPrepared(p->conn, name, nparams, values, NULL, NULL, 0));
    return finish(p, PQsendQueryParams(p->conn, sql, nparams, types, values, NULL, NULL, 0));
  }
  long long deadline = deadline_of(p);
  int sent = PQsendQueryParams(p->conn, "SAVEPOINT qr_stmt", 0, NULL, NULL, NULL, NULL, 0) &&
             (name ? PQsendQueryPrepared(p->conn, name, nparams, values, NULL, NULL, 0)
                   : PQsendQueryParams(p->conn, sql, nparams, types, values, NULL, NULL, 0)) &&
             PQsendQueryParams(p->conn, "RELEASE qr_stmt", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(p->conn);
  PGresult *sp = sent ? pipeline_result(p, deadline) : NULL;
  PGresult *r = sp ? pipeline_result(p, deadline) : NULL;
  PGresult *rel = r ? pipeline_result(p, deadline) : NULL;
  PGresult *sync = rel ? pipeline_result(p, deadline) : NULL;
  int synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  PQclear(rel);
  if (!synced && PQstatus(p->conn) == CONNECTION_OK) /* not expected: what is left, then the sync */
    for (int i = 0; i < 16 && (sync = next_result(p, deadline)) != NULL; i++) {
      int done = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
      PQclear(sync);
      if (done) break;
    }
  PQexitPipelineMode(p->conn);
  if (sp && PQresultStatus(sp) != PGRES_COMMAND_OK) { /* the transaction had already failed: say why */
    PQclear(r);
    return sp;
  }
  PQclear(sp);
  int st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && PQstatus(p->conn) == CONNECTION_OK) {
    PGresult *back = pq_exec(p, "ROLLBACK TO SAVEPOINT qr_stmt; RELEASE qr_stmt");
    PQclear(back);
  }
  return r;
}

static PGresult *run_once(qr_pg_t *p, const char *sql, int nparams, const qr_pg_param_t *params, int want_id,
                          int *returning) {
  char sig_small[64], *key;
  size_t sqllen = strlen(sql);
  char *sig = nparams < (int)sizeof sig_small ? sig_small : qr_xmalloc((size_t)nparams + 1);
  for (int i = 0; i < nparams; i++) sig[i] = params[i].type;
  sig[nparams] = 0;
  key = qr_xmalloc((size_t)nparams + sqllen + 3);
  sprintf(key, "%s%c|%s", sig, want_id ? 'R' : '-', sql);
  if (sig != sig_small) free(sig);

  const char *values_small[16], **values = nparams <= 16 ? values_small : qr_xmalloc(sizeof *values * (size_t)nparams);
  Oid types_small[16], *types = nparams <= 16 ? types_small : qr_xmalloc(sizeof *types * (size_t)nparams);
  for (int i = 0; i < nparams; i++) {
    values[i] = params[i].type == 'n' ? NULL : params[i].text;
    types[i] = params[i].type == 'i' ? 20 : params[i].type == 'f' ? 701 : 0; /* int8, float8, inferred */
  }
  PGresult *r = NULL;
  unsigned h = hash_key(key);
  cached *c = p->buckets[h];
  while (c && strcmp(c->key, key)) c = c->next;
  if (c) {
    *returning = c->returning;
    r = exec_statement(p, c->name, NULL, nparams, types, values);
    goto done;
  }
  int n = 0;
  const char *terr;
  char *tsql = qr_pg_translate(sql, &n, &terr);
  if (!tsql) {
    fail(p, QR_EINVAL, "%s", terr);
    goto done;
  }
  if (n != nparams) {
    fail(p, QR_EINVAL, "wrong number of SQL parameters: the SQL has %d, %d given", n, nparams);
    free(tsql);
    goto done;
  }
  *returning = want_id && wants_returning(p, sql);
  if (*returning) {
    size_t tl = strlen(tsql);
    while (tl && (isspace((unsigned char)tsql[tl - 1]) || tsql[tl - 1] == ';')) tl--;
    tsql = qr_xrealloc(tsql, tl + 16);
    strcpy(tsql + tl, " RETURNING id");
  }
  if (p->ncached < STMT_MAX) {
    c = qr_xcalloc(1, sizeof *c);
    snprintf(c->name, sizeof c->name, "qr%d", ++p->nextname);
    /* Inside a transaction a statement that does not prepare would abort it (and the retries
     * below need it alive): a savepoint around the first prepare keeps it, as SQLite does. */
    int guard = (p->depth > 0 || p->reading) && exec_simple(p, "SAVEPOINT qr_prepare", "prepare") == 0;
    PGresult *pr = finish(p, PQsendPrepare(p->conn, c->name, tsql, nparams, types));
    while (untyped_null(p, pr, nparams, types)) {
      PQclear(pr);
      if (guard) exec_simple(p, "ROLLBACK TO SAVEPOINT qr_prepare", "prepare");
      pr = finish(p, PQsendPrepare(p->conn, c->name, tsql, nparams, types));
    }
    int prepared = PQresultStatus(pr) == PGRES_COMMAND_OK;
    if (guard) exec_simple(p, prepared ? "RELEASE qr_prepare" : "ROLLBACK TO SAVEPOINT qr_prepare; RELEASE qr_prepare",
                           "prepare");
    if (!prepared) {
      free(c);
      free(tsql);
      r = pr; /* the caller reports its error */
      goto done;
    }
    PQclear(pr);
    c->key = key;
    key = NULL;
    c->returning = *returning;
    c->next = p->buckets[h];
    p->buckets[h] = c;
    p->ncached++;
    r = exec_statement(p, c->name, NULL, nparams, types, values);
  } else {
    r = exec_statement(p, NULL, tsql, nparams, types, values);
    while (untyped_null(p, r, nparams, types)) {
      PQclear(r);
      r = exec_statement(p, NULL, tsql, nparams, types, values);
    }
  }
  free(tsql);
done:
  free(key);
  if (values != values_small) free(values);
  if (types != types_small) free(types);
  return r;
}

/* Notifications libpq has read (with results, or by PQconsumeInput) are counted and freed, so a
 * watching connection that runs many writes of its own holds none of them in memory. */
/* Counts the commits of other connections heard: this one's own writes are known without their
 * notification (total_changes), and counting it too would make one commit look like two. */
static void drain(qr_pg_t *p) {
  int self = PQbackendPID(p->conn);
  for (PGnotify *n; (n = PQnotifies(p->conn)); PQfreemem(n))
    if (n->be_pid != self && of_site(p, n)) p->heard++;
}

PGresult *qr_pg_query(qr_pg_t *p, const char *sql, int nparams, const qr_pg_param_t *params, int want_id) {
  for (int attempt = 0;; attempt++) {
    int returning = 0;
    p->errmsg[0] = 0;
    if (attempt == 0 && p->depth == 0 && connected(p)) return NULL;
    PGresult *r = run_once(p, sql, nparams, params, want_id, &returning);
    if (p->watching) drain(p);
    int st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      /* Rows written, as SQLite counts changes (libpq counts a SELECT's rows too). */
      const char *t = PQcmdTuples(r), *cmd = PQcmdStatus(r);
      int wrote = !strncmp(cmd, "INSERT", 6) || !strncmp(cmd, "UPDATE", 6) || !strncmp(cmd, "DELETE", 6) ||
                  !strncmp(cmd, "MERGE", 5);
      p->changes = wrote && *t ? atoll(t) : 0;
      if (p->changes && p->depth == 0) p->moved++;
      p->total_changes += p->changes;
      if (returning && PQntuples(r) > 0) p->last_id = atoll(PQgetvalue(r, PQntuples(r) - 1, 0));
      /* a table made or changed here (a plugin's, a spec's) may have sequence ids from now on */
      if ((!strcmp(cmd, "CREATE TABLE") || !strcmp(cmd, "ALTER TABLE")) && load_serial(p)) {
        PQclear(r);
        return NULL;
      }
      return r;
    }
    if (!r && p->errmsg[0]) return NULL; /* our own error (placeholders) */
    if (PQstatus(p->conn) != CONNECTION_OK) {
      PQclear(r);
      if (p->depth > 0) {
        p->broken = 1;
        fail(p, QR_EBUSY, "the connection to PostgreSQL was lost inside a transaction%s: it was rolled back by the"
                          " server; nothing of it committed", p->timed_out ? " (no answer within limits.db_timeout_ms)" : "");
        return NULL;
      }
      /* Outside a transaction nothing is lost by trying again on a new connection; not after
       * no answer came in time, which a second wait would only double. */
      if (attempt == 0 && !p->timed_out) {
        if (reconnect(p, 0) == 0) continue;
        return NULL;
      }
      result_fail(p, NULL, "PostgreSQL is unreachable");
      return NULL;
    }
    result_fail(p, r, "SQL error");
    PQclear(r);
    return NULL;
  }
}

int qr_pg_begin(qr_pg_t *p) {
  char sql[64];
  if (p->reading) return fail(p, QR_EINVAL, "a write transaction inside a read snapshot: end the snapshot first");
  if (p->depth == 0)
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK ")");
  else
    snprintf(sql, sizeof sql, "SAVEPOINT qr_sp%d", p->depth);
  if (p->depth == 0 && connected(p)) return QR_EIO;
  int rc = exec_simple(p, sql, "starting a transaction");
  if (rc == 0 && p->depth++ == 0) p->tx_changes = p->total_changes;
  else if (p->depth == 0 && PQtransactionStatus(p->conn) != PQTRANS_IDLE) { /* BEGIN ran, the lock did not */
    PGresult *r = pq_exec(p, "ROLLBACK");
    PQclear(r);
  }
  return rc;
}

int qr_pg_commit(qr_pg_t *p) {
  char sql[64];
  if (p->depth == 0) return fail(p, QR_EINVAL, "commit without a transaction");
  if (p->depth == 1)
    snprintf(sql, sizeof sql, "COMMIT");
  else
    snprintf(sql, sizeof sql, "RELEASE qr_sp%d", p->depth - 1);
  if (p->depth == 1) {
    /* COMMIT of a failed transaction answers ROLLBACK without an error: say what happened. */
    PGresult *r = pq_exec(p, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    int rc = ok ? 0 : PQresultStatus(r) == PGRES_COMMAND_OK
                          ? fail(p, QR_EDB, "commit: the transaction had failed and was rolled back")
                          : result_fail(p, r, "commit");
    PQclear(r);
    if (ok && p->total_changes != p->tx_changes) p->moved++; /* a transaction that wrote */
    p->depth--; /* committed or rolled back: either way the transaction is over */
    return rc;
  }
  int rc = exec_simple(p, sql, "commit");
  if (rc == 0) p->depth--;
  return rc;
}

int qr_pg_rollback(qr_pg_t *p) {
  char sql[96];
  if (p->depth == 0) return fail(p, QR_EINVAL, "rollback without a transaction");
  p->depth--;
  if (p->broken) {
    if (p->depth == 0) p->broken = 0; /* the server rolled it back; the next statement reconnects */
    return 0;
  }
  if (p->depth == 0) return exec_simple(p, "ROLLBACK", "rollback");
  snprintf(sql, sizeof sql, "ROLLBACK TO qr_sp%d; RELEASE qr_sp%d", p->depth, p->depth);
  return exec_simple(p, sql, "rollback");
}

/* REPEATABLE READ: one snapshot for every statement until the end; READ ONLY: a write fails. No
 * write lock, and the depth stays 0 (nothing it reads is uncommitted). */
int qr_pg_begin_read(qr_pg_t *p) {
  if (p->depth > 0 || p->reading) return fail(p, QR_EINVAL, "a read snapshot inside a transaction (or another snapshot)");
  if (connected(p)) return QR_EIO;
  int rc = exec_simple(p, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting a read snapshot");
  if (rc == 0) p->reading = 1;
  return rc;
}

int qr_pg_end_read(qr_pg_t *p) {
  if (!p->reading) return 0;
  p->reading = 0;
  if (PQstatus(p->conn) != CONNECTION_OK || PQtransactionStatus(p->conn) == PQTRANS_IDLE) return 0;
  return exec_simple(p, "COMMIT", "ending a read snapshot"); /* (a failed one: COMMIT rolls it back) */
}

/* Asks the server: its snapshot moves when any transaction that wrote ends. */
long long qr_pg_data_version(qr_pg_t *p) {
  PGresult *r = qr_pg_query(p, "SELECT pg_current_snapshot()::text", 0, NULL, 0);
  if (!r) return -1;
  const char *snap = PQgetvalue(r, 0, 0);
  if (!p->snapshot || strcmp(p->snapshot, snap)) {
    free(p->snapshot);
    p->snapshot = qr_xstrdup(snap);
    p->data_version++;
  }
  PQclear(r);
  return p->data_version;
}

/* LISTEN on DATA_CHANNEL (on a new connection when the old one was lost): every commit that
 * wrote, from now on, is heard. What committed before is covered by the version moving here. */
static int watch(qr_pg_t *p, int nowait) {
  int rc = p->resetting || PQstatus(p->conn) != CONNECTION_OK ? reconnect(p, nowait) : 0;
  if (!rc) rc = exec_simple(p, "LISTEN " DATA_CHANNEL, "LISTEN");
  /* lost just now (the server restarted since the last statement): once more on a new one */
  if (rc && !p->timed_out && !p->resetting && PQstatus(p->conn) != CONNECTION_OK && (rc = reconnect(p, nowait)) == 0)
    rc = exec_simple(p, "LISTEN " DATA_CHANNEL, "LISTEN");
  if (rc) return rc;
  p->watching = 1;
  p->watch_resets = p->resets;
  drain(p);
  p->heard_seen = p->heard;
  p->data_version++;
  return 0;
}

long long qr_pg_heard_version(qr_pg_t *p) {
  if (p->watching && p->resets == p->watch_resets) {
    /* Reads what the socket holds, without waiting: no round trip. */
    if (PQconsumeInput(p->conn)) {
      drain(p);
      if (p->heard != p->heard_seen) {
        p->heard_seen = p->heard;
        p->data_version++;
      }
      return p->data_version;
    }
    p->watching = 0; /* the connection was lost: notifications sent meanwhile are too */
  }
  if (p->depth > 0) return qr_pg_data_version(p); /* a LISTEN would wait for the commit */
  /* Serving (a bound set), a lost connection is made again without waiting here: the page
   * cache asks this before every hit, and its readers must not wait on a database that is away. */
  return watch(p, p->timeout_ms > 0) ? -1 : p->data_version;
}

int qr_pg_listen_input(qr_pg_t *p) {
  if (PQstatus(p->conn) != CONNECTION_OK || !PQconsumeInput(p->conn)) return QR_EIO;
  if (!p->watching) return 0;
  drain(p);
  return p->heard != p->heard_seen;
}

long long qr_pg_resets(qr_pg_t *p) { return p->resets; }

int qr_pg_heard_pending(qr_pg_t *p) { return p->watching && p->resets == p->watch_resets && p->heard != p->heard_seen; }

static int migration_number(const char *name) { return atoi(name); }

static int known_version(void) {
  int known = 0;
  for (const qr_embedded_t *m = qr_embedded_pg_migrations; m->name; m++)
    if (migration_number(m->name) > known) known = migration_number(m->name);
  return known;
}

int qr_pg_schema_version(qr_pg_t *p, int *applied, int *known) {
  *known = known_version();
  *applied = 0;
  PGresult *r = qr_pg_query(p, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, 0);
  if (!r) return QR_EDB;
  *applied = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  return 0;
}

static int apply_migration(qr_pg_t *p, const qr_embedded_t *m) {
  int rc = exec_simple(p, "BEGIN", "migration");
  if (rc) return rc;
  if ((rc = exec_simple(p, m->data, "migration"))) {
    char msg[sizeof p->errmsg];
    snprintf(msg, sizeof msg, "%s", p->errmsg);
    exec_simple(p, "ROLLBACK", "rollback");
    return fail(p, rc, "migration %s failed: %s", m->name, msg);
  }
  char num[16];
  snprintf(num, sizeof num, "%d", migration_number(m->name));
  const char *values[2] = {num, m->name};
  PGresult *r = finish(p, PQsendQueryParams(p->conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                                            2, NULL, values, NULL, NULL, 0));
  if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = result_fail(p, r, "recording migration");
  PQclear(r);
  if (rc) {
    exec_simple(p, "ROLLBACK", "rollback");
    return rc;
  }
  return exec_simple(p, "COMMIT", "migration commit");
}

/* Every embedded migration not yet recorded, in order, each in its own transaction; the
 * session advisory lock makes nodes that start together take turns. */
static int migrate(qr_pg_t *p) {
  int rc = exec_simple(p, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", "taking the migration lock");
  if (rc) return rc;
  rc = exec_simple(p,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                   " applied_at text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                   "creating schema_migrations");
  int applied = 0, known = known_version();
  PGresult *r = NULL;
  if (!rc) {
    r = pq_exec(p, "SELECT version FROM schema_migrations ORDER BY version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) rc = result_fail(p, r, "reading schema_migrations");
  }
  for (int i = 0; !rc && i < PQntuples(r); i++)
    if (atoi(PQgetvalue(r, i, 0)) > applied) applied = atoi(PQgetvalue(r, i, 0));
  if (!rc && applied > known)
    rc = fail(p, QR_ESCHEMA,
              "database schema version %d is newer than this quire knows (%d); upgrade quire instead of"
              " opening it with an older binary",
              applied, known);
  int ran = 0;
  for (const qr_embedded_t *m = qr_embedded_pg_migrations; !rc && m->name; m++) {
    int n = migration_number(m->name), done = 0;
    for (int i = 0; i < PQntuples(r); i++) done |= atoi(PQgetvalue(r, i, 0)) == n;
    if (!done) {
      rc = apply_migration(p, m);
      ran++;
    }
  }
  PQclear(r);
  /* Tables a later migration added notify their writes too (db/pg/0027). */
  if (!rc && ran) rc = exec_simple(p, "SELECT quire_watch_writes()", "watching the new tables for writes");
  char msg[sizeof p->errmsg];
  snprintf(msg, sizeof msg, "%s", p->errmsg);
  exec_simple(p, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", "releasing the migration lock");
  if (rc) fail(p, rc, "%s", msg);
  return rc;
}

/* The host, hostaddr and port a service file gives the service (what libpq would read: the
 * first file that has the service of PGSERVICEFILE or ~/.pg_service.conf, then pg_service.conf
 * in PGSYSCONFDIR or libpq's own sysconfdir), each into its out (empty when not given). 1 when
 * a file has the service; 0 when none does or one cannot be read as libpq reads it (a line too
 * long): libpq then says what is wrong. */
#define SERVICE_VALUE 1024
static int service_file(const char *path, const char *service, char out[3][SERVICE_VALUE]) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  static const char *const keys[3] = {"host", "hostaddr", "port"};
  char line[2048];
  int in = 0, found = 0;
  while (fgets(line, sizeof line, f)) {
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      found = 0;
      break;
    }
    while (len && isspace((unsigned char)line[len - 1])) line[--len] = 0;
    char *c = line;
    while (isspace((unsigned char)*c)) c++;
    if (!*c || *c == '#') continue;
    if (*c == '[') {
      if (in) break; /* the service's section is over */
      char *end = strchr(c, ']');
      in = found = end && (size_t)(end - c - 1) == strlen(service) && !strncmp(c + 1, service, strlen(service));
      continue;
    }
    char *eq = strchr(c, '=');
    if (!in || !eq) continue;
    *eq = 0;
    for (int k = 0; k < 3; k++)
      if (!strcmp(c, keys[k])) snprintf(out[k], SERVICE_VALUE, "%s", eq + 1);
  }
  fclose(f);
  return found;
}
static int service_read(const char *service, char out[3][SERVICE_VALUE]) {
  char path[4096];
  const char *file = getenv("PGSERVICEFILE"), *home = getenv("HOME");
  if (file) snprintf(path, sizeof path, "%s", file);
  else snprintf(path, sizeof path, "%s/.pg_service.conf", home ? home : "");
  if ((file || home) && service_file(path, service, out)) return 1;
  const char *dir = getenv("PGSYSCONFDIR");
  snprintf(path, sizeof path, "%s/pg_service.conf", dir ? dir : QUIRE_PG_SYSCONFDIR);
  return service_file(path, service, out);
}

/* What qr_pg_open needs of the URL before connecting: its connect_timeout (the bound, when it
 * gives one: libpq counts it only when it waits itself), and its hosts and ports when a host is a
 * name to resolve first (its service's, service_read, or the environment's, PGHOST and PGPORT,
 * when it has none; none with a hostaddr, which says where already). 0, or QR_EIO with libpq's words in p->down_why. A plain
 * database name is no URL: libpq takes it as it is. */
static int read_url(qr_pg_t *p) {
  if (!strchr(p->url, '=') && strncmp(p->url, "postgresql://", 13) && strncmp(p->url, "postgres://", 11)) return 0;
  char *err = NULL;
  PQconninfoOption *info = PQconninfoParse(p->url, &err);
  if (!info) {
    one_line(p->down_why, sizeof p->down_why, err ? err : "out of memory");
    PQfreemem(err);
    return QR_EIO;
  }
  const char *host = NULL, *port = NULL, *hostaddr = NULL, *service = getenv("PGSERVICE");
  for (PQconninfoOption *o = info; o->keyword; o++) {
    if (!o->val || !o->val[0]) continue;
    if (!strcmp(o->keyword, "connect_timeout") && atoi(o->val) > 0) p->connect_ms = atoi(o->val) * 1000;
    else if (!strcmp(o->keyword, "host")) host = o->val;
    else if (!strcmp(o->keyword, "port")) port = o->val;
    else if (!strcmp(o->keyword, "hostaddr")) hostaddr = o->val;
    else if (!strcmp(o->keyword, "service")) service = o->val;
  }
  /* A service's settings come after the URL's and before the environment's, as libpq takes them. */
  char from_service[3][SERVICE_VALUE] = {{0}};
  if (service && service[0] && (!host || !port || !hostaddr)) {
    if (service_read(service, from_service)) {
      if (!host && from_service[0][0]) host = from_service[0];
      if (!hostaddr && from_service[1][0]) hostaddr = from_service[1];
      if (!port && from_service[2][0]) port = from_service[2];
    }
  }
  if (!host) host = getenv("PGHOST");
  if (!port) port = getenv("PGPORT");
  if (!hostaddr) hostaddr = getenv("PGHOSTADDR");
  int names = 0;
  for (int i = 0, n = host ? list_count(host) : 0; i < n && !names; i++) {
    char h[256];
    list_item(host, i, h, sizeof h);
    names = is_name(h);
  }
  if (names && !(hostaddr && hostaddr[0])) {
    p->hosts = qr_xstrdup(host);
    p->ports = port ? qr_xstrdup(port) : NULL;
  }
  PQconninfoFree(info);
  return 0;
}

int qr_pg_open(qr_pg_t **out, const char *url, const qr_pg_opts_t *opts, char *errbuf, size_t errlen) {
  *out = NULL;
  qr_pg_t *p = qr_xcalloc(1, sizeof *p);
  p->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 0;
  p->connect_ms = opts && opts->connect_ms > 0 ? opts->connect_ms
                  : opts && opts->connect_timeout > 0 ? opts->connect_timeout * 1000 : 10000;
  /* Defaults the URL's own settings override (they come before it: later wins). Keepalives
   * find a peer gone while the connection idles (a LISTEN between requests), tcp_user_timeout
   * one that stops acknowledging what was sent; a peer that acknowledges and never answers is
   * the bounded waits' (next_result). */
  snprintf(p->timeout_s, sizeof p->timeout_s, "%d", (p->connect_ms + 999) / 1000);
  snprintf(p->user_timeout_s, sizeof p->user_timeout_s, "%d", p->timeout_ms ? p->timeout_ms : 30000);
  p->url = qr_xstrdup(url);
  int rc = read_url(p);
  if (!rc) {
    if (opts && opts->nowait && !opts->migrate) { /* carried on by qr_pg_ready */
      if (attempt_start(p)) rc = QR_EIO;
      else {
        p->resetting = p->first = 1;
        *out = p;
        return QR_EBUSY;
      }
    } else if (attempt_start(p) || drive(p, p->reset_deadline)) {
      rc = QR_EIO;
    }
  }
  if (rc) rc = fail(p, QR_EIO, "cannot connect to PostgreSQL (database = \"postgresql://...\" in site.lua): %s", p->down_why);
  if (!rc) rc = session_setup(p);
  if (!rc && opts && opts->migrate) rc = migrate(p);
  if (!rc) rc = load_serial(p);
  if (rc) {
    if (errbuf) snprintf(errbuf, errlen, "%s", p->errmsg);
    qr_pg_close(p);
    return rc;
  }
  *out = p;
  return 0;
}

void qr_pg_close(qr_pg_t *p) {
  if (!p) return;
  if (p->conn && (p->depth > 0 || p->reading) && PQstatus(p->conn) == CONNECTION_OK) {
    PGresult *r = pq_exec(p, "ROLLBACK");
    PQclear(r);
  }
  if (p->conn) PQfinish(p->conn);
  lookup_abandon(p); /* (a lookup still running frees itself when it answers) */
  free(p->url);
  free(p->hosts);
  free(p->ports);
  forget_statements(p);
  for (int i = 0; i < p->nserial; i++) free(p->serial[i]);
  free(p->snapshot);
  free(p->schema);
  free(p);
}

int qr_pg_notification(qr_pg_t *p, char channel[QR_PG_CHANNEL_MAX], char payload[QR_PG_PAYLOAD_MAX]) {
  if (!PQconsumeInput(p->conn)) return fail(p, QR_EIO, "reading notifications: %s", PQerrorMessage(p->conn));
  PGnotify *note;
  while ((note = PQnotifies(p->conn)) && !of_site(p, note)) PQfreemem(note);
  if (!note) return 0;
  p->heard++;
  snprintf(channel, QR_PG_CHANNEL_MAX, "%s", note->relname);
  snprintf(payload, QR_PG_PAYLOAD_MAX, "%s", note->extra);
  PQfreemem(note);
  return 1;
}

int qr_pg_wait(qr_pg_t *p, int timeout_ms, char channel[QR_PG_CHANNEL_MAX], char payload[QR_PG_PAYLOAD_MAX]) {
  long long until = mono_ms() + timeout_ms;
  for (long long left = timeout_ms; left > 0; left = until - mono_ms()) {
    struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};
    if (pfd.fd < 0) return fail(p, QR_EIO, "waiting for notifications: the connection is closed");
    int rc = poll(&pfd, 1, (int)left);
    if (rc < 0 && errno == EINTR) continue; /* a signal (the budget timer's, a profiler's) */
    if (rc < 0) return fail(p, QR_EIO, "waiting for notifications: poll failed");
    if (rc == 0) return 0;
    if ((rc = qr_pg_notification(p, channel, payload)) != 0) return rc;
  }
  return 0;
}

int qr_pg_socket(qr_pg_t *p) { return PQsocket(p->conn); }

/* One query whose first column of the first row is a count; -1 on error. */
static long long count_of(qr_pg_t *p, const char *sql) {
  PGresult *r = qr_pg_query(p, sql, 0, NULL, 0);
  if (!r) return -1;
  long long n = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  return n;
}

/* The rows that break a constraint PostgreSQL did not check for them: rows whose parent is
 * missing (foreign keys, which a restore with triggers disabled or session_replication_role =
 * replica skips) and rows failing a CHECK or foreign key added NOT VALID. The catalog writes one
 * counting query per constraint (SQLite's pragma_foreign_key_check); returns the problems
 * reported, or a QR_E* code. */
static int check_rows(qr_pg_t *p, qr_pg_report_cb cb, void *ud) {
  PGresult *r = qr_pg_query(
      p,
      "SELECT string_agg(q, ' UNION ALL ' ORDER BY name) FROM ("
      " SELECT c.conname AS name, format('SELECT %L AS tbl, count(*) AS n, %L AS why FROM %I x WHERE %s AND NOT EXISTS"
      "  (SELECT 1 FROM %I p WHERE %s)', cl.relname, format('reference a missing row of %s (%s)', pcl.relname, c.conname),"
      "  cl.relname,"
      "  (SELECT string_agg(format('x.%I IS NOT NULL', a.attname), ' AND ') FROM unnest(c.conkey) k(n)"
      "   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), pcl.relname,"
      "  (SELECT string_agg(format('p.%I = x.%I', pa.attname, a.attname), ' AND ') FROM unnest(c.confkey, c.conkey) k(pn, n)"
      "   JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pn"
      "   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n)) AS q"
      " FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace JOIN pg_class cl ON cl.oid = c.conrelid"
      " JOIN pg_class pcl ON pcl.oid = c.confrelid WHERE s.nspname = current_schema() AND c.contype = 'f'"
      " UNION ALL"
      " SELECT c.conname, format('SELECT %L, count(*), %L FROM %I WHERE NOT coalesce((%s), true)', cl.relname,"
      "  format('fail the check %s', c.conname), cl.relname, pg_get_expr(c.conbin, c.conrelid))"
      " FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace JOIN pg_class cl ON cl.oid = c.conrelid"
      " WHERE s.nspname = current_schema() AND c.contype = 'c' AND NOT c.convalidated) q",
      0, NULL, 0);
  if (!r) return QR_EDB;
  char *sql = PQntuples(r) && !PQgetisnull(r, 0, 0) ? qr_xstrdup(PQgetvalue(r, 0, 0)) : NULL;
  PQclear(r);
  if (!sql) return 0;
  size_t len = strlen(sql) + 64;
  char *wrap = qr_xmalloc(len);
  snprintf(wrap, len, "SELECT tbl, n, why FROM (%s) c WHERE n > 0", sql);
  free(sql);
  r = qr_pg_query(p, wrap, 0, NULL, 0);
  free(wrap);
  if (!r) return QR_EDB;
  int problems = PQntuples(r);
  for (int i = 0; i < problems; i++) {
    char detail[256];
    snprintf(detail, sizeof detail, "%s: %s rows %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    cb(ud, "constraints", detail);
  }
  PQclear(r);
  return problems;
}

int qr_pg_check(qr_pg_t *p, qr_pg_report_cb cb, void *ud) {
  int problems = 0, applied, known, rc;
  char detail[256];
  if ((rc = qr_pg_schema_version(p, &applied, &known))) return rc;
  if (applied != known) {
    snprintf(detail, sizeof detail, "schema version %d, this quire knows %d", applied, known);
    cb(ud, "schema", detail);
    problems++;
  }
  long long n = count_of(p, "SELECT count(*) FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace"
                            " WHERE s.nspname = current_schema() AND NOT c.convalidated");
  if (n < 0) return QR_EDB;
  if (n > 0) {
    snprintf(detail, sizeof detail, "%lld constraints are not validated (ALTER TABLE ... VALIDATE CONSTRAINT)", n);
    cb(ud, "constraints", detail);
    problems++;
  }
  if ((rc = check_rows(p, cb, ud)) < 0) return rc;
  problems += rc;
  n = count_of(p, "SELECT count(*) FROM entries e LEFT JOIN entries_search s ON s.id = e.id"
                  " WHERE s.doc IS DISTINCT FROM quire_entry_doc(e.title, e.fields, e.body)");
  if (n < 0) return QR_EDB;
  if (n > 0) {
    snprintf(detail, sizeof detail, "%lld entries are missing from the search index or stale in it", n);
    cb(ud, "search", detail);
    problems++;
  }
  /* Search reads text by code point (quire_search_text(), db/pg/0029), whatever LC_CTYPE says
   * about it, but lower-cases by ICU: a server without ICU lower-cases by LC_CTYPE, and under C
   * or POSIX only ASCII. */
  n = count_of(p, "SELECT count(*) WHERE to_tsvector('simple', quire_search_text('A' || chr(8221) || 'B ' || chr(937)))"
                  " <> to_tsvector('simple', 'a b ' || chr(969))");
  if (n < 0) return QR_EDB;
  if (n > 0) {
    PGresult *r = qr_pg_query(p, "SHOW lc_ctype", 0, NULL, 0);
    char why[512];
    snprintf(why, sizeof why,
             "the database's LC_CTYPE (%s) lower-cases ASCII alone and this PostgreSQL has no ICU: words with "
             "capitals outside ASCII (Greek, Cyrillic ...) are not found as typed in lower case; make a database with a "
             "UTF-8 one (CREATE DATABASE ... LC_CTYPE 'C.UTF-8' TEMPLATE template0) and quire store copy the site there",
             r && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?");
    if (r) PQclear(r);
    cb(ud, "search", why);
    problems++;
  }
  return problems;
}

void qr_pg_set_reader(qr_pg_t *p, qr_pg_t *reader) {
  p->reader = reader;
  p->reader_moved = qr_pg_moved(p);
}

long long qr_pg_moved(qr_pg_t *p) { return p->moved + p->heard; }

/* A statement a hot standby can run: it starts with SELECT, WITH, VALUES or TABLE (after spaces
 * and parentheses) and takes no advisory lock (which a standby would grant, on the wrong
 * server). Anything else that writes (nextval, FOR UPDATE, a data-modifying WITH) fails there
 * with SQLSTATE 25006, and lua_pg.c runs it again on the primary. */
static int standby_can_run(const char *sql) {
  while (isspace((unsigned char)*sql) || *sql == '(') sql++;
  static const char *reads[] = {"SELECT", "WITH", "VALUES", "TABLE"};
  for (int i = 0; i < 4; i++) {
    size_t n = strlen(reads[i]);
    if (strncasecmp(sql, reads[i], n) == 0 && !is_ident((unsigned char)sql[n]))
      return !strcasestr(sql, "advisory");
  }
  return 0;
}

qr_pg_t *qr_pg_route(qr_pg_t *p, const char *sql) {
  if (!p->reader || p->reading) return p; /* (the snapshot is on this connection) */
  /* Anything that may have shown this process newer commits since the reader was chosen (a
   * notification, a write of its own), a transaction or a write: the primary, from here on. */
  if (qr_pg_moved(p) != p->reader_moved || p->depth > 0 || !standby_can_run(sql)) {
    p->reader = NULL;
    return p;
  }
  return p->reader;
}

/* "X/Y" (hex) as a number; 0 for NULL or anything else. */
static unsigned long long parse_lsn(const char *s) {
  unsigned hi, lo;
  if (!s || sscanf(s, "%X/%X", &hi, &lo) != 2) return 0;
  return (unsigned long long)hi << 32 | lo;
}

int qr_pg_wal_lsn(qr_pg_t *p, unsigned long long *lsn) {
  *lsn = 0;
  PGresult *r = qr_pg_query(p, p->wal_block ? "SELECT pg_current_wal_insert_lsn()::text"
                                            : "SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size'),"
                                              " (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size')",
                            0, NULL, 0);
  if (!r) return QR_EDB;
  if (!p->wal_block) {
    p->wal_block = atoll(PQgetvalue(r, 0, 1));
    p->wal_segment = atoll(PQgetvalue(r, 0, 2));
  }
  *lsn = parse_lsn(PQgetvalue(r, 0, 0));
  PQclear(r);
  /* The insert position just past a page header is where the last record ended, at the page
   * boundary, which is what a standby reports once it replayed that record. */
  if (p->wal_segment > 0 && *lsn % (unsigned long long)p->wal_segment == 40) *lsn -= 40;
  else if (p->wal_block > 0 && *lsn % (unsigned long long)p->wal_block == 24) *lsn -= 24;
  return 0;
}

int qr_pg_replay_lsn(qr_pg_t *p, unsigned long long *lsn) {
  *lsn = 0;
  PGresult *r = qr_pg_query(p, "SELECT pg_last_wal_replay_lsn()::text", 0, NULL, 0);
  if (!r) return QR_EDB;
  int standby = !PQgetisnull(r, 0, 0);
  *lsn = parse_lsn(PQgetvalue(r, 0, 0));
  PQclear(r);
  return standby ? 0 : fail(p, QR_EINVAL, "it is not a standby (pg_last_wal_replay_lsn() is NULL): a primary or a promoted standby");
}

int qr_pg_connected(qr_pg_t *p) { return PQstatus(p->conn) == CONNECTION_OK; }
