/* Read replicas: the choice of a hot standby for anonymous renders, its floor, lag and outages. */
#include "replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define SEEN_MAX 64          /* floors remembered, to tell how long a replica has been behind */
#define LOOK_MS 500          /* a lagging replica's position is read again this often */
#define RETRY_FIRST_MS 1000  /* a replica that is down is tried again after 1 s, 2 s, 4 s ... */
#define RETRY_MAX_MS 30000
#define CONNECT_MS 2000      /* a host that does not answer is down after this; nothing waits for it meanwhile */

typedef struct {
  char *url;
  char label[160]; /* the URL without its password, for the log */
  qr_pg_t *pg;     /* NULL while down */
  int connecting;  /* pg is still being connected (without waiting): the primary reads meanwhile */
  unsigned long long replay; /* its replay position when last read */
  long long next_ms;         /* down: the next connection attempt; lagging: the next look */
  long long backoff_ms;
  int down, lagging;
} replica;

struct qr_replica_s {
  qr_pg_t *primary;
  replica r[QR_REPLICA_MAX];
  int n, next;
  long long lag_ms;
  long long moved; /* qr_pg_moved(primary) when the floor was read; -1: not yet */
  unsigned long long floor;
  struct {
    unsigned long long lsn;
    long long at_ms;
  } seen[SEEN_MAX]; /* the floor's last values and when each was read, oldest at head */
  int nseen, head;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* url without the password of its user part (postgresql://user:secret@host -> user@host). */
static void make_label(char *out, size_t cap, const char *url) {
  const char *start = strstr(url, "://"), *at = start ? strchr(start + 3, '@') : NULL;
  const char *slash = start ? strchr(start + 3, '/') : NULL;
  const char *colon = start && at && (!slash || at < slash) ? memchr(start + 3, ':', (size_t)(at - start - 3)) : NULL;
  if (colon) snprintf(out, cap, "%.*s%s", (int)(colon - url), url, at);
  else snprintf(out, cap, "%s", url);
}

qr_replica_t *qr_replica_new(qr_pg_t *primary, const char *const *urls, int n, long long lag_ms) {
  qr_replica_t *s = qr_xcalloc(1, sizeof *s);
  s->primary = primary;
  s->n = n < QR_REPLICA_MAX ? n : QR_REPLICA_MAX;
  s->lag_ms = lag_ms > 0 ? lag_ms : 5000;
  s->moved = -1;
  for (int i = 0; i < s->n; i++) {
    s->r[i].url = qr_xstrdup(urls[i]);
    make_label(s->r[i].label, sizeof s->r[i].label, urls[i]);
  }
  return s;
}

void qr_replica_free(qr_replica_t *s) {
  if (!s) return;
  qr_pg_set_reader(s->primary, NULL);
  for (int i = 0; i < s->n; i++) {
    qr_pg_close(s->r[i].pg);
    free(s->r[i].url);
  }
  free(s);
}

/* How long the replica at replay has been behind: since the oldest floor past it was read. */
static long long behind_ms(const qr_replica_t *s, unsigned long long replay, long long now) {
  for (int k = 0; k < s->nseen; k++) {
    int i = (s->head + k) % SEEN_MAX;
    if (s->seen[i].lsn > replay) return now - s->seen[i].at_ms;
  }
  return 0;
}

static void went_down(replica *r, int i, const char *why, long long now) {
  /* libpq's messages run over several lines; the log gets one, without the primary's advice. */
  char line[512];
  size_t n = 0;
  for (const char *c = why; *c && n < sizeof line - 1; c++) {
    if (!strncmp(c, "; it is retried at the next statement", 37)) break;
    int space = (unsigned char)*c < 0x20;
    if (!space || (n && line[n - 1] != ' ')) line[n++] = space ? ' ' : *c;
  }
  while (n && line[n - 1] == ' ') n--;
  line[n] = 0;
  qr_pg_close(r->pg);
  r->pg = NULL;
  r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : RETRY_FIRST_MS;
  if (r->backoff_ms > RETRY_MAX_MS) r->backoff_ms = RETRY_MAX_MS;
  r->next_ms = now + r->backoff_ms;
  if (!r->down)
    qr_log(QR_LOG_WARN, "read replica %d (%s) skipped: %s; reads go to the primary, and it is tried again by itself",
           i + 1, r->label, line);
  r->down = 1;
  r->lagging = 0;
  r->connecting = 0;
}

/* 1 when replica i has replayed need (reading its position only when that is not known yet). */
static int usable(qr_replica_t *s, int i, unsigned long long need, long long now) {
  replica *r = &s->r[i];
  if (r->pg && !r->connecting && !qr_pg_connected(r->pg)) went_down(r, i, "its connection was lost", now);
  if (!r->pg) {
    if (now < r->next_ms) return 0;
    /* Started here and carried on by the next renders, never waited for: a standby that does
     * not answer (dropped packets) costs no render anything; it is down after CONNECT_MS. */
    qr_pg_opts_t opts = {.migrate = 0, .connect_ms = CONNECT_MS, .timeout_ms = qr_pg_timeout(s->primary), .nowait = 1};
    char err[512];
    int rc = qr_pg_open(&r->pg, r->url, &opts, err, sizeof err);
    if (rc != 0 && rc != QR_EBUSY) {
      const char *why = strstr(err, "site.lua): "); /* libpq's own words, without the primary's advice */
      went_down(r, i, why ? why + 11 : err, now_ms());
      return 0;
    }
    r->connecting = 1;
    r->replay = 0;
  }
  if (r->connecting) {
    int rc = qr_pg_ready(r->pg);
    if (rc < 0) went_down(r, i, *qr_pg_down_why(r->pg) ? qr_pg_down_why(r->pg) : qr_pg_errmsg(r->pg), now_ms());
    if (rc != 1) return 0;
    r->connecting = 0;
  }
  if (r->replay >= need) return 1;
  if (r->lagging && now < r->next_ms) return 0;
  unsigned long long replay;
  if (qr_pg_replay_lsn(r->pg, &replay) != 0) {
    went_down(r, i, qr_pg_errmsg(r->pg), now);
    return 0;
  }
  if (r->down) {
    qr_log(QR_LOG_NOTICE, "read replica %d (%s) is back: anonymous page reads go there again", i + 1, r->label);
    r->down = 0;
    r->backoff_ms = 0;
  }
  r->replay = replay;
  if (replay >= need) {
    if (r->lagging)
      qr_log(QR_LOG_NOTICE, "read replica %d (%s) caught up: anonymous page reads go there again", i + 1, r->label);
    r->lagging = 0;
    return 1;
  }
  long long lag = behind_ms(s, replay, now);
  if (lag > s->lag_ms) {
    if (!r->lagging)
      qr_log(QR_LOG_WARN,
             "read replica %d (%s) skipped: it lags %lld ms behind the primary (limits.replica_lag_ms is %lld);"
             " reads go to the primary until it catches up",
             i + 1, r->label, lag, s->lag_ms);
    r->lagging = 1;
    r->next_ms = now + LOOK_MS;
  }
  return 0;
}

int qr_replica_begin(qr_replica_t *s, unsigned long long min_lsn) {
  long long now = now_ms();
  long long moved = qr_pg_moved(s->primary);
  if (moved != s->moved) {
    /* Read after whatever moved it: the floor covers every commit the caches know of. A
     * reconnect by this very query moves it again, and the next render reads it again. */
    unsigned long long lsn;
    if (qr_pg_wal_lsn(s->primary, &lsn) != 0) return -1;
    s->moved = moved;
    if (lsn > s->floor) {
      s->floor = lsn;
      int slot = (s->head + s->nseen) % SEEN_MAX;
      if (s->nseen == SEEN_MAX) s->head = (s->head + 1) % SEEN_MAX; else s->nseen++;
      s->seen[slot].lsn = lsn;
      s->seen[slot].at_ms = now;
    }
  }
  unsigned long long need = min_lsn > s->floor ? min_lsn : s->floor;
  for (int k = 0; k < s->n; k++) {
    int i = (s->next + k) % s->n;
    if (!usable(s, i, need, now)) continue;
    s->next = (i + 1) % s->n;
    qr_pg_set_reader(s->primary, s->r[i].pg);
    return i;
  }
  return -1;
}

void qr_replica_end(qr_replica_t *s) { qr_pg_set_reader(s->primary, NULL); }
