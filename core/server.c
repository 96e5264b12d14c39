/* quire serve: the master binds listeners and supervises workers (restart with back-off, reload
 * by generations, drain on stop with a deadline, a watchdog on every request); a worker runs one
 * libuv loop serving HTTP. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTENERS 16
#define READY_TIMEOUT_MS 30000
#define MAX_WATCHERS 4096 /* directories watched by --dev; more is a site folder full of media */
#define REQUEST_TIMEOUT_MS 10000 /* defaults of the opts */
#define DRAIN_TIMEOUT_MS 30000
#define STOP_GRACE_MS 2000 /* from the watchdog's SIGTERM to its SIGKILL */

/* The page a worker shares with the master. Only the worker writes it: seq goes up by one when
 * a request (or a round of scheduled work) starts and again when it ends, so it is odd while one
 * runs; the names are written before seq. The master reads seq every scan and the names only of
 * a worker it found stuck (which is not writing them). */
typedef struct {
  _Atomic unsigned long seq;
  unsigned request_ms, drain_ms; /* the worker's own deadlines (its site.lua, so a reload
                                  * changes them), written once before it reports ready */
  int fd; /* the request's plain-HTTP socket with nothing unsent (qr_http_request_t.fd), or -1 */
  char id[64], method[16], target[176];
} wd_slot;

typedef struct master master;

/* A pending restart of a crashed worker's slot. */
typedef struct restart {
  uv_timer_t timer; /* first: the timer's address is the struct's */
  master *m;
  struct restart *next;
  int generation, slot;
} restart;

typedef struct worker {
  uv_process_t proc;
  uv_pipe_t ready_pipe;
  master *m;
  struct worker *next;
  int generation, slot;
  int state;        /* 0 starting, 1 ready, -1 failed to start */
  int draining, exited, handles_open;
  uint64_t started;
  wd_slot *page;          /* mapped from the worker's page, or NULL (no watchdog for it) */
  unsigned long seen_seq; /* the watchdog's last look: seq, and when it first saw that value */
  uint64_t seen_at;
  uint64_t kill_at;       /* loop time after which it gets SIGKILL (draining or stopped), or 0 */
  int stopped;            /* the watchdog stopped it */
  char msg[512];
  size_t msglen;
} worker;

struct master {
  uv_loop_t *loop;
  const qr_server_master_opts_t *opts;
  uv_tcp_t listeners[MAX_LISTENERS];
  int listener_tls[MAX_LISTENERS]; /* 1: an HTTPS listener */
  int nlisteners;
  worker *workers;
  int generation;         /* the generation serving now */
  int pending;            /* a generation being started (initial or reload), or 0 */
  int stopping;
  int exit_status;
  int crashes;
  uv_signal_t sighup, sigterm, sigint, sigusr1;
  uint64_t reopened; /* when SIGUSR1 last arrived (loop time), or 0 */
  uv_timer_t ready_timer;
  uv_fs_event_t **watchers; /* --dev: one per directory (inotify does not recurse) */
  int nwatchers, capwatchers;
  uv_timer_t debounce;
  restart *restarts;
  uv_timer_t watchdog; /* scans the workers' pages; kills past the drain deadline */
  unsigned request_ms, drain_ms;
};

#define logf_(...) qr_log(QR_LOG_NOTICE, __VA_ARGS__)
#define log_error(...) qr_log(QR_LOG_ERROR, __VA_ARGS__)

/* --- master */

int qr_server_parse_listen(const char *spec, struct sockaddr_storage *addr) {
  char host[128];
  const char *colon = strrchr(spec, ':');
  if (!colon) return QR_EINVAL;
  int port = atoi(colon + 1);
  if (port < 0 || port > 65535) return QR_EINVAL;
  size_t hlen = (size_t)(colon - spec);
  if (hlen >= sizeof host) return QR_EINVAL;
  memcpy(host, spec, hlen);
  host[hlen] = '\0';
  if (host[0] == '[') {
    size_t n = strlen(host);
    if (n < 2 || host[n - 1] != ']') return QR_EINVAL;
    host[n - 1] = '\0';
    return uv_ip6_addr(host + 1, port, (struct sockaddr_in6 *)addr) ? QR_EINVAL : 0;
  }
  if (hlen == 0 || strcmp(host, "*") == 0) snprintf(host, sizeof host, "0.0.0.0");
  return uv_ip4_addr(host, port, (struct sockaddr_in *)addr) ? QR_EINVAL : 0;
}

static void worker_handle_closed(uv_handle_t *h) {
  worker *w = h->data;
  if (--w->handles_open > 0) return;
  master *m = w->m;
  for (worker **p = &m->workers; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  if (w->page) munmap(w->page, sizeof *w->page);
  free(w);
}

static void spawn_worker(master *m, int generation, int slot);

/* A worker's deadlines: its own (from the site.lua it loaded), else the master's. */
static unsigned request_ms(master *m, worker *w) {
  return w->page && w->page->request_ms ? w->page->request_ms : m->request_ms;
}
static unsigned drain_ms(master *m, worker *w) {
  return w->page && w->page->drain_ms ? w->page->drain_ms : m->drain_ms;
}

static void signal_generation(master *m, int generation, int sig, int older) {
  for (worker *w = m->workers; w; w = w->next) {
    if (w->exited) continue;
    if (older ? w->generation < generation : w->generation == generation) {
      if (sig == SIGTERM) {
        w->draining = 1;
        uint64_t deadline = uv_now(m->loop) + drain_ms(m, w);
        if (!w->kill_at || w->kill_at > deadline) w->kill_at = deadline;
      }
      uv_process_kill(&w->proc, sig);
    }
  }
}

static int generation_state(master *m, int generation, const char **fail_msg) {
  int ready = 0, total = 0;
  for (worker *w = m->workers; w; w = w->next) {
    if (w->generation != generation || w->draining) continue;
    total++;
    if (w->state < 0) {
      *fail_msg = w->msglen ? w->msg : "the worker exited before it was ready";
      return -1;
    }
    if (w->state == 1) ready++;
  }
  return total > 0 && ready == total ? 1 : 0;
}

static void close_master_handles(master *m) {
  uv_close((uv_handle_t *)&m->sighup, NULL);
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
  uv_close((uv_handle_t *)&m->sigusr1, NULL);
  uv_close((uv_handle_t *)&m->ready_timer, NULL);
  uv_close((uv_handle_t *)&m->debounce, NULL);
  for (int i = 0; i < m->nwatchers; i++) uv_close((uv_handle_t *)m->watchers[i], (uv_close_cb)free);
}

/* Once stopping and no worker is left: close what keeps the loop running. */
static void maybe_finish(master *m) {
  if (!m->stopping) return;
  for (worker *w = m->workers; w; w = w->next)
    if (!w->exited) return;
  for (int i = 0; i < m->nlisteners; i++)
    if (!uv_is_closing((uv_handle_t *)&m->listeners[i])) uv_close((uv_handle_t *)&m->listeners[i], NULL);
  if (!uv_is_closing((uv_handle_t *)&m->watchdog)) uv_close((uv_handle_t *)&m->watchdog, NULL);
}

static void check_pending(master *m) {
  if (!m->pending) return;
  const char *msg = NULL;
  int st = generation_state(m, m->pending, &msg);
  if (st == 0) return;
  int gen = m->pending;
  m->pending = 0;
  uv_timer_stop(&m->ready_timer);
  if (st < 0) {
    log_error("%s failed: %s", gen == 1 ? "start-up" : "reload", msg);
    signal_generation(m, gen, SIGTERM, 0);
    if (gen == 1) {
      m->exit_status = 1;
      m->stopping = 1;
      close_master_handles(m);
    } else {
      qr_log(QR_LOG_WARN, "the workers of generation %d keep serving", m->generation);
    }
    return;
  }
  if (gen > 1) {
    signal_generation(m, gen, SIGTERM, 1);
    logf_("reloaded: generation %d serving, the old workers drain", gen);
  } else {
    logf_("serving with %d worker(s)", m->opts->workers);
  }
  m->generation = gen;
}

static void on_ready_data(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  worker *w = s->data;
  if (nread > 0) {
    size_t room = sizeof w->msg - 1 - w->msglen;
    size_t n = (size_t)nread < room ? (size_t)nread : room;
    memcpy(w->msg + w->msglen, buf->base, n);
    w->msglen += n;
    w->msg[w->msglen] = '\0';
    if (strncmp(w->msg, "ready\n", 6) == 0 && w->state == 0) {
      w->state = 1;
      /* It may have opened the access log before a SIGUSR1 it did not yet handle. */
      if (w->m->reopened && w->m->reopened >= w->started) uv_process_kill(&w->proc, SIGUSR1);
      check_pending(w->m);
    }
  }
  free(buf->base);
  if (nread < 0) uv_read_stop(s);
}

static void alloc_small(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(qr_xmalloc(512), 512);
}

static void cancel_restart(restart *r) {
  for (restart **p = &r->m->restarts; *p; p = &(*p)->next)
    if (*p == r) {
      *p = r->next;
      break;
    }
  uv_close((uv_handle_t *)&r->timer, (uv_close_cb)free);
}

static void on_restart_timer(uv_timer_t *t) {
  restart *r = (restart *)t;
  master *m = r->m;
  if (!m->stopping && r->generation == m->generation) spawn_worker(m, r->generation, r->slot);
  cancel_restart(r);
}

static void on_worker_exit(uv_process_t *p, int64_t status, int term_signal) {
  worker *w = p->data;
  master *m = w->m;
  w->exited = 1;
  if (w->state == 0) {
    w->state = -1;
    /* Its message explains; drop a trailing newline and the "fail " prefix. */
    char *msg = w->msg;
    if (strncmp(msg, "fail ", 5) == 0) memmove(msg, msg + 5, strlen(msg + 5) + 1);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = '\0';
    w->msglen = n;
  }
  if (!w->draining && w->state == 1 && !m->stopping) {
    uint64_t uptime = uv_now(m->loop) - w->started;
    if (uptime > 60000) m->crashes = 0;
    unsigned delay = 250u << (m->crashes < 7 ? m->crashes : 7);
    m->crashes++;
    log_error("worker %d exited unexpectedly (status %d, signal %d); restarting in %u ms", (int)p->pid,
          (int)status, term_signal, delay);
    restart *r = qr_xcalloc(1, sizeof *r);
    r->m = m;
    r->generation = w->generation;
    r->slot = w->slot;
    r->next = m->restarts;
    m->restarts = r;
    uv_timer_init(m->loop, &r->timer);
    uv_timer_start(&r->timer, on_restart_timer, delay, 0);
  }
  uv_close((uv_handle_t *)&w->proc, worker_handle_closed);
  uv_close((uv_handle_t *)&w->ready_pipe, worker_handle_closed);
  check_pending(m);
  maybe_finish(m);
}

/* The watchdog page for a new worker: a memfd (its descriptor is inherited, so it survives the
 * exec that an anonymous shared mapping would not). Maps it into w->page; returns the descriptor
 * for the child, or -1 (the worker then runs without a watchdog, which is logged). */
static int make_slot(worker *w) {
  int fd = memfd_create("quire-watchdog", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, sizeof(wd_slot)) != 0) {
    qr_log(QR_LOG_WARN, "no watchdog for a worker: cannot make its shared page: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  void *p = mmap(NULL, sizeof(wd_slot), PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    qr_log(QR_LOG_WARN, "no watchdog for a worker: cannot map its shared page: %s", strerror(errno));
    close(fd);
    return -1;
  }
  w->page = p;
  return fd;
}

static void spawn_worker(master *m, int generation, int slot) {
  worker *w = qr_xcalloc(1, sizeof *w);
  w->m = m;
  w->generation = generation;
  w->slot = slot;
  w->proc.data = w->ready_pipe.data = w;
  uv_pipe_init(m->loop, &w->ready_pipe, 0);
  w->handles_open = 2;
  char fds[128] = "", tls_fds[128] = "", ready_fd[16];
  for (int i = 0; i < m->nlisteners; i++) {
    char *list = m->listener_tls[i] ? tls_fds : fds;
    snprintf(list + strlen(list), sizeof fds - strlen(list), "%s%d", list[0] ? "," : "", 3 + i);
  }
  snprintf(ready_fd, sizeof ready_fd, "%d", 3 + m->nlisteners);
  const char *args[64];
  int n = 0;
  args[n++] = m->opts->exe;
  args[n++] = "__worker";
  for (const char *const *a = m->opts->worker_argv; a && *a && n < 56; a++) args[n++] = *a;
  args[n++] = "--fds";
  args[n++] = fds;
  if (tls_fds[0]) {
    args[n++] = "--tls-fds";
    args[n++] = tls_fds;
  }
  args[n++] = "--ready-fd";
  args[n++] = ready_fd;
  args[n] = NULL;
  uv_stdio_container_t stdio[3 + MAX_LISTENERS + 1];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  for (int i = 0; i < m->nlisteners; i++) {
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)&m->listeners[i], &fd);
    stdio[3 + i].flags = UV_INHERIT_FD;
    stdio[3 + i].data.fd = fd;
  }
  stdio[3 + m->nlisteners].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[3 + m->nlisteners].data.stream = (uv_stream_t *)&w->ready_pipe;
  uv_process_options_t po = {0};
  po.file = m->opts->exe;
  po.args = (char **)args;
  po.exit_cb = on_worker_exit;
  po.stdio = stdio;
  po.stdio_count = 3 + m->nlisteners + 1;
  /* The watchdog page goes in after the ready pipe; the worker learns of it (and of the master it
   * must die with, and its drain deadline) from QUIRE_WATCHDOG. */
  extern char **environ;
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  char **env = qr_xmalloc((nenv + 2) * sizeof *env), wd_var[96];
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++)
    if (strncmp(environ[i], "QUIRE_WATCHDOG=", 15) != 0) env[k++] = environ[i];
  int slot_fd = make_slot(w);
  if (slot_fd >= 0) {
    int child_fd = 3 + m->nlisteners + 1;
    stdio[child_fd].flags = UV_INHERIT_FD;
    stdio[child_fd].data.fd = slot_fd;
    po.stdio_count = child_fd + 1;
    snprintf(wd_var, sizeof wd_var, "QUIRE_WATCHDOG=fd=%d,master=%d,drain=%u", child_fd, (int)getpid(), m->drain_ms);
    env[k++] = wd_var;
  }
  env[k] = NULL;
  po.env = env;
  w->next = m->workers;
  m->workers = w;
  w->started = uv_now(m->loop);
  int rc = uv_spawn(m->loop, &w->proc, &po);
  free(env);
  if (slot_fd >= 0) close(slot_fd);
  if (rc != 0) {
    log_error("cannot start a worker: %s", uv_strerror(rc));
    w->state = -1;
    w->exited = 1;
    snprintf(w->msg, sizeof w->msg, "cannot start a worker: %s", uv_strerror(rc));
    w->msglen = strlen(w->msg);
    uv_close((uv_handle_t *)&w->ready_pipe, worker_handle_closed);
    w->handles_open--; /* the process handle was never initialised */
    return;
  }
  uv_read_start((uv_stream_t *)&w->ready_pipe, alloc_small, on_ready_data);
}

static void on_ready_timeout(uv_timer_t *t) {
  master *m = t->data;
  for (worker *w = m->workers; w; w = w->next)
    if (w->generation == m->pending && w->state == 0) {
      w->state = -1;
      snprintf(w->msg, sizeof w->msg, "a worker was not ready after %d s", READY_TIMEOUT_MS / 1000);
      w->msglen = strlen(w->msg);
    }
  check_pending(m);
}

static void start_generation(master *m) {
  if (m->pending) {
    logf_("a reload is already under way");
    return;
  }
  m->pending = m->generation + 1;
  for (int i = 0; i < m->opts->workers; i++) spawn_worker(m, m->pending, i);
  uv_timer_start(&m->ready_timer, on_ready_timeout, READY_TIMEOUT_MS, 0);
}

static void stop_all(master *m, int sig) {
  if (!m->stopping) logf_("stopping: draining the workers");
  m->stopping = 1;
  signal_generation(m, 1 << 30, sig, 1);
  while (m->restarts) cancel_restart(m->restarts);
  close_master_handles(m);
  /* No worker will be started again: the master's copies of the listening sockets go now, so
   * once the workers have closed theirs (first thing in a drain) nothing listens and new
   * connections are refused rather than left waiting in a backlog nobody accepts from. */
  for (int i = 0; i < m->nlisteners; i++)
    if (!uv_is_closing((uv_handle_t *)&m->listeners[i])) uv_close((uv_handle_t *)&m->listeners[i], NULL);
  maybe_finish(m);
}

/* Bounded copy of a string the worker wrote (it may be torn or unterminated). */
static void slot_str(char *out, size_t cap, const char *in, size_t inlen) {
  size_t n = 0;
  while (n + 1 < cap && n < inlen && in[n]) {
    char c = in[n];
    out[n++] = (c < 0x20 || c == 0x7f) ? '?' : c;
  }
  out[n] = '\0';
}

/* Answers a stuck worker's request 503 on its own socket, taken from the stopped worker with
 * pidfd_getfd (Linux 5.6; the master is its parent, so may): 1 when written, and then the
 * worker must die at once, never answering after us. Plain HTTP with nothing unsent only. */
static int answer_stuck(worker *w, unsigned long seq) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
  int fd = w->page->fd;
  if (fd < 0) return 0;
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)w->proc.pid, 0);
  if (pidfd < 0) return 0;
  int sock = -1;
  /* Stopped, and still in the same request: it cannot finish while we write. */
  if (kill(w->proc.pid, SIGSTOP) == 0) {
    usleep(1000);
    if (atomic_load_explicit(&w->page->seq, memory_order_acquire) == seq)
      sock = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  }
  close(pidfd);
  if (sock >= 0) {
    static const char answer[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: 47\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                                 "Service Unavailable: the request took too long\n";
    ssize_t n = send(sock, answer, sizeof answer - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(sock, SHUT_RDWR);
    close(sock);
    if (n > 0) return 1;
  }
  kill(w->proc.pid, SIGCONT);
  return 0;
#else
  (void)w;
  (void)seq;
  return 0;
#endif
}

/* The watchdog, every scan_ms: a worker whose seq is odd and unchanged for request_ms has spent
 * that long in one request (in Lua, in C, in SQLite, anywhere): it is named in the log, stopped
 * and replaced at once; the others are untouched. Draining workers past their deadline, and
 * stopped ones past the grace, are killed. */
static void on_watchdog(uv_timer_t *t) {
  master *m = t->data;
  uint64_t now = uv_now(m->loop);
  for (worker *w = m->workers; w; w = w->next) {
    if (w->exited) continue;
    if (w->kill_at && now >= w->kill_at) {
      log_error("worker %d %s after %u s: killing it", (int)w->proc.pid,
                w->stopped ? "ignored SIGTERM" : "was still draining (limits.drain_timeout_ms)",
                (unsigned)((now - w->kill_at + (w->stopped ? STOP_GRACE_MS : drain_ms(m, w))) / 1000));
      uv_process_kill(&w->proc, SIGKILL);
      w->kill_at = 0;
      continue;
    }
    if (!w->page || w->stopped || w->state != 1) continue;
    unsigned long seq = atomic_load_explicit(&w->page->seq, memory_order_acquire);
    if (!(seq & 1) || seq != w->seen_seq) {
      w->seen_seq = seq;
      w->seen_at = now;
      continue;
    }
    unsigned deadline = request_ms(m, w);
    if (now - w->seen_at < deadline) continue;
    char id[64], method[16], target[176];
    slot_str(id, sizeof id, w->page->id, sizeof w->page->id);
    slot_str(method, sizeof method, w->page->method, sizeof w->page->method);
    slot_str(target, sizeof target, w->page->target, sizeof w->page->target);
    int replace = !m->stopping && w->generation == m->generation && !w->draining;
    log_error("watchdog: worker %d has been busy for over %u s with %s%s%s%s%s%s (limits.watchdog_timeout_ms = %u): "
              "stopping it%s",
              (int)w->proc.pid, (unsigned)((now - w->seen_at) / 1000), id[0] ? "request " : "", id,
              id[0] ? " " : "", method, method[0] ? " " : "", target, deadline,
              replace ? " and starting a replacement" : "");
    w->stopped = 1;
    w->draining = 1;
    if (answer_stuck(w, seq)) {
      log_error("watchdog: request %s answered 503; killing worker %d", id, (int)w->proc.pid);
      uv_process_kill(&w->proc, SIGKILL);
      w->kill_at = 0;
    } else {
      if (!w->kill_at || w->kill_at > now + STOP_GRACE_MS) w->kill_at = now + STOP_GRACE_MS;
      uv_process_kill(&w->proc, SIGTERM);
    }
    if (replace) spawn_worker(m, w->generation, w->slot);
  }
}

static void on_signal(uv_signal_t *s, int signum) {
  master *m = s->data;
  if (m->stopping) return;
  if (signum == SIGHUP) {
    logf_("SIGHUP: reloading site.lua, plugins and templates");
    start_generation(m);
  } else if (signum == SIGUSR1) {
    logf_("SIGUSR1: the workers reopen the access log");
    m->reopened = uv_now(m->loop);
    for (worker *w = m->workers; w; w = w->next)
      if (!w->exited && w->state == 1) uv_process_kill(&w->proc, SIGUSR1);
  } else {
    stop_all(m, SIGTERM);
  }
}

static void on_debounced_change(uv_timer_t *t) {
  master *m = t->data;
  if (m->stopping) return;
  logf_("files changed: reloading");
  start_generation(m);
}

static void watch_tree(master *m, const char *dir);

/* A reload re-reads site.lua, plugin code and templates; nothing else. The database, its -wal
 * and -shm, the runtime folder .quire/, logs, editors' swap files and static files (served from
 * disk as they are) change without one. */
static int reload_worthy(const char *name) {
  size_t n = strlen(name);
  if (name[0] == '.') return 0;
  return (n > 4 && strcmp(name + n - 4, ".lua") == 0) || (n > 9 && strcmp(name + n - 9, ".mustache") == 0);
}

static void on_fs_change(uv_fs_event_t *h, const char *filename, int events, int status) {
  (void)events;
  master *m = h->data;
  if (m->stopping || status < 0 || !filename || !*filename) return;
  if (reload_worthy(filename)) {
    uv_timer_start(&m->debounce, on_debounced_change, 200, 0);
    return;
  }
  /* A new folder (plugins/x/templates) gets watched too, so the files later put in it count. */
  char dir[PATH_MAX], path[PATH_MAX];
  size_t len = sizeof dir;
  struct stat st;
  if (filename[0] != '.' && uv_fs_event_getpath(h, dir, &len) == 0 &&
      snprintf(path, sizeof path, "%s/%s", dir, filename) < (int)sizeof path && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    watch_tree(m, path);
}

/* Watches dir and every folder under it but hidden ones (.quire, .git), once each. */
static void watch_tree(master *m, const char *dir) {
  char have[PATH_MAX];
  for (int i = 0; i < m->nwatchers; i++) {
    size_t len = sizeof have;
    if (uv_fs_event_getpath(m->watchers[i], have, &len) == 0 && strcmp(have, dir) == 0) return;
  }
  if (m->nwatchers == MAX_WATCHERS) {
    qr_log(QR_LOG_WARN, "--dev: watching %d folders already; not %s", MAX_WATCHERS, dir);
    return;
  }
  uv_fs_event_t *h = qr_xcalloc(1, sizeof *h);
  uv_fs_event_init(m->loop, h);
  h->data = m;
  int rc = uv_fs_event_start(h, on_fs_change, dir, 0);
  if (rc != 0) {
    qr_log(QR_LOG_WARN, "--dev: cannot watch %s: %s", dir, uv_strerror(rc));
    uv_close((uv_handle_t *)h, (uv_close_cb)free);
    return;
  }
  if (m->nwatchers == m->capwatchers) {
    m->capwatchers = m->capwatchers ? 2 * m->capwatchers : 16;
    m->watchers = qr_xrealloc(m->watchers, (size_t)m->capwatchers * sizeof *m->watchers);
  }
  m->watchers[m->nwatchers++] = h;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[PATH_MAX];
  while ((e = readdir(d))) {
    struct stat st;
    if (e->d_name[0] == '.') continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) watch_tree(m, path);
  }
  closedir(d);
}

int qr_server_master(const qr_server_master_opts_t *opts) {
  signal(SIGPIPE, SIG_IGN);
  master *m = qr_xcalloc(1, sizeof *m);
  m->loop = uv_default_loop();
  m->opts = opts;
  static const char *const none[] = {NULL};
  const char *const *lists[2] = {opts->listen ? opts->listen : none, opts->listen_tls ? opts->listen_tls : none};
  for (int tls = 0; tls < 2; tls++)
  for (const char *const *l = lists[tls]; *l; l++) {
    if (m->nlisteners == MAX_LISTENERS) {
      log_error("too many listen addresses (at most %d)", MAX_LISTENERS);
      return 1;
    }
    struct sockaddr_storage addr;
    if (qr_server_parse_listen(*l, &addr)) {
      log_error("cannot read listen address '%s' (use HOST:PORT or [IPV6]:PORT)", *l);
      return 1;
    }
    uv_tcp_t *t = &m->listeners[m->nlisteners];
    uv_tcp_init_ex(m->loop, t, addr.ss_family);
    int rc = uv_tcp_bind(t, (struct sockaddr *)&addr, addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    uv_os_fd_t fd = -1;
    if (rc == 0) rc = uv_fileno((uv_handle_t *)t, &fd);
    /* listen(2) here, not uv_listen: the workers accept, the master only holds the socket. */
    if (rc == 0 && listen(fd, 1024) != 0) rc = -errno;
    if (rc != 0) {
      log_error("cannot listen on %s: %s", *l, uv_strerror(rc));
      return 1;
    }
    m->listener_tls[m->nlisteners] = tls;
    m->nlisteners++;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    char host[64] = "";
    uv_tcp_getsockname(t, (struct sockaddr *)&bound, &len);
    int port = 0;
    if (bound.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof host);
      port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
      printf("quire: listening on %s://[%s]:%d\n", tls ? "https" : "http", host, port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
      port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
      printf("quire: listening on %s://%s:%d\n", tls ? "https" : "http", host, port);
    }
    fflush(stdout);
  }
  uv_signal_init(m->loop, &m->sighup);
  uv_signal_init(m->loop, &m->sigterm);
  uv_signal_init(m->loop, &m->sigint);
  uv_signal_init(m->loop, &m->sigusr1);
  m->sighup.data = m->sigterm.data = m->sigint.data = m->sigusr1.data = m;
  uv_signal_start(&m->sighup, on_signal, SIGHUP);
  uv_signal_start(&m->sigterm, on_signal, SIGTERM);
  uv_signal_start(&m->sigint, on_signal, SIGINT);
  uv_signal_start(&m->sigusr1, on_signal, SIGUSR1);
  uv_timer_init(m->loop, &m->ready_timer);
  m->ready_timer.data = m;
  uv_timer_init(m->loop, &m->debounce);
  m->debounce.data = m;
  m->request_ms = opts->watchdog_timeout_ms ? opts->watchdog_timeout_ms : REQUEST_TIMEOUT_MS;
  m->drain_ms = opts->drain_timeout_ms ? opts->drain_timeout_ms : DRAIN_TIMEOUT_MS;
  unsigned scan_ms = m->request_ms / 10 < 100 ? 100 : m->request_ms / 10 > 1000 ? 1000 : m->request_ms / 10;
  uv_timer_init(m->loop, &m->watchdog);
  m->watchdog.data = m;
  uv_timer_start(&m->watchdog, on_watchdog, scan_ms, scan_ms);
  for (const char *const *d = opts->watch; d && *d; d++) watch_tree(m, *d);
  start_generation(m);
  uv_run(m->loop, UV_RUN_DEFAULT);
  int status = m->exit_status;
  free(m->watchers);
  uv_loop_close(m->loop);
  free(m);
  return status;
}

/* --- worker */

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigterm, sigusr1;
  uv_check_t flush; /* writes the access log lines of each loop iteration */
  uv_timer_t ticker; /* scheduled work */
  uv_idle_t busy;    /* running while deferred work waits: the loop does not block */
  qr_server_tick_cb tick;
  void *tick_ud;
  qr_http_server_t *http;
  uv_poll_t *input;         /* qr_server_worker_input's socket (a duplicate: input_fd), or NULL */
  int input_fd, input_of;   /* the duplicate, and the number it duplicates */
  long long input_gen;      /* the generation it belongs to */
  int input_lost;           /* input_fn said that generation's connection is lost */
  wd_slot *page;            /* shared with the master, or NULL */
  qr_http_callbacks_t inner; /* the caller's callbacks, when we wrap them to mark the page */
} worker_ctx;

/* Copies s into a page field; bounded, always terminated. */
static void page_str(char *out, size_t cap, const char *s, size_t n) {
  if (n >= cap) n = cap - 1;
  memcpy(out, s, n);
  out[n] = '\0';
}

/* A request or tick starts (seq odd) or ends (even): a plain store to shared memory, no system
 * call. Only this process writes seq, so a relaxed load is enough; the release makes the names
 * visible to the master before the odd value. */
static void page_mark(wd_slot *p) {
  atomic_store_explicit(&p->seq, atomic_load_explicit(&p->seq, memory_order_relaxed) + 1, memory_order_release);
}

static void watched_handle(void *ud, const qr_http_request_t *req, qr_http_response_t *res) {
  worker_ctx *w = ud;
  wd_slot *p = w->page;
  page_str(p->id, sizeof p->id, req->id ? req->id : "", req->id ? strlen(req->id) : 0);
  page_str(p->method, sizeof p->method, req->method ? req->method : "", req->method ? strlen(req->method) : 0);
  page_str(p->target, sizeof p->target, req->target ? req->target : "", req->target ? req->target_len : 0);
  p->fd = req->fd;
  page_mark(p);
  w->inner.handle(w->inner.ud, req, res);
  page_mark(p);
}

static void watched_log(void *ud, const qr_http_request_t *req, const qr_http_response_t *res, int status,
                        size_t body_bytes) {
  worker_ctx *w = ud;
  if (w->inner.log) w->inner.log(w->inner.ud, req, res, status, body_bytes);
}

static const char *watched_spool(void *ud, const qr_http_request_t *head, size_t *max) {
  worker_ctx *w = ud;
  return w->inner.spool ? w->inner.spool(w->inner.ud, head, max) : NULL;
}

static void on_tick(uv_timer_t *t) {
  worker_ctx *w = t->data;
  if (!w->http) return;
  wd_slot *p = w->page;
  if (p) {
    p->id[0] = p->method[0] = '\0';
    snprintf(p->target, sizeof p->target, "scheduled work (jobs, scheduled publishing)");
    p->fd = -1;
    page_mark(p);
  }
  w->tick(w->tick_ud);
  if (p) page_mark(p);
}

/* Dying with the master. The kernel sends SIGUSR2 when the master goes (PR_SET_PDEATHSIG);
 * this handler, in signal context, stops the listening sockets at once (shutdown, not close:
 * the descriptors stay valid for libuv; the sockets are shared with the other workers, which
 * are going too), arms SIGALRM for the drain deadline (its default action ends the process,
 * even one stuck in a request), and asks the loop for a normal drain with SIGTERM. */
static int gone_fds[MAX_LISTENERS * 2];
static volatile sig_atomic_t gone_nfds; /* 0 once a drain closed the listeners (numbers reused) */
static unsigned gone_drain_s = 30;
static unsigned own_request_ms, own_drain_ms; /* qr_server_worker_deadlines */
static qr_server_defer_cb defer_fn;            /* qr_server_worker_defer */

void qr_server_worker_defer(qr_server_defer_cb fn) { defer_fn = fn; }

static qr_server_socket_cb input_socket_fn; /* qr_server_worker_input */
static qr_server_input_cb input_fn;

void qr_server_worker_input(qr_server_socket_cb socket_fn, qr_server_input_cb fn) {
  input_socket_fn = socket_fn;
  input_fn = fn;
}

static uv_loop_t *worker_loop; /* qr_server_worker_loop */
uv_loop_t *qr_server_worker_loop(void) { return worker_loop; }

void qr_server_worker_deadlines(unsigned watchdog_timeout_ms, unsigned drain_timeout_ms) {
  own_request_ms = watchdog_timeout_ms;
  own_drain_ms = drain_timeout_ms;
}

static void on_master_gone(int sig) {
  (void)sig;
  int saved = errno;
  for (int i = 0; i < gone_nfds; i++) shutdown(gone_fds[i], SHUT_RDWR);
  alarm(gone_drain_s);
  kill(getpid(), SIGTERM);
  errno = saved;
}

/* Reads QUIRE_WATCHDOG ("fd=N,master=PID,drain=MS"), maps the page and arranges to die with
 * the master; returns the page or NULL (not started by a master). */
static wd_slot *watchdog_attach(const qr_http_listener_t *listeners, int n) {
  const char *env = getenv("QUIRE_WATCHDOG");
  int fd = -1, master_pid = 0;
  unsigned drain = DRAIN_TIMEOUT_MS;
  if (!env || sscanf(env, "fd=%d,master=%d,drain=%u", &fd, &master_pid, &drain) != 3 || fd < 0) return NULL;
  unsetenv("QUIRE_WATCHDOG");
  wd_slot *p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    qr_log(QR_LOG_WARN, "no watchdog: cannot map the page shared with the master: %s", strerror(errno));
    p = NULL;
  }
  gone_nfds = 0;
  for (int i = 0; i < n && gone_nfds < (int)(sizeof gone_fds / sizeof *gone_fds); i++) gone_fds[gone_nfds++] = listeners[i].fd;
  if (own_drain_ms) drain = own_drain_ms;
  gone_drain_s = drain / 1000 ? drain / 1000 : 1;
  if (p) {
    p->request_ms = own_request_ms;
    p->drain_ms = own_drain_ms;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_master_gone;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
  prctl(PR_SET_PDEATHSIG, SIGUSR2);
  /* The master may have gone before prctl: then our parent is already someone else. */
  if (getppid() != master_pid) raise(SIGUSR2);
  return p;
}

static void free_handle(uv_handle_t *h) { free(h); }

static void input_stop(worker_ctx *w) {
  if (!w->input) return;
  uv_poll_stop(w->input);
  uv_close((uv_handle_t *)w->input, free_handle);
  close(w->input_fd); /* after the stop: libuv no longer watches it */
  w->input = NULL;
}

static void on_input(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  worker_ctx *w = h->data;
  wd_slot *p = w->page;
  if (p) {
    p->id[0] = p->method[0] = '\0';
    snprintf(p->target, sizeof p->target, "database notifications (page-cache sync)");
    p->fd = -1;
    page_mark(p);
  }
  int rc = input_fn(w->tick_ud);
  if (p) page_mark(p);
  if (rc < 0) {
    input_stop(w);
    w->input_lost = 1;
  }
}

/* Watches the socket input_socket_fn names now, if it is not the one watched already. */
static void input_follow(worker_ctx *w) {
  if (!input_socket_fn || !w->http) return;
  long long gen = 0;
  int pending = 0;
  int fd = input_socket_fn(w->tick_ud, &gen, &pending);
  if (gen == w->input_gen && (w->input ? fd == w->input_of : fd < 0 || w->input_lost)) {
    if (pending && w->input) on_input(w->input, 0, UV_READABLE);
    return;
  }
  input_stop(w);
  w->input_gen = gen;
  w->input_lost = 0;
  if (fd < 0) return;
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return;
  uv_poll_t *h = qr_xmalloc(sizeof *h);
  if (uv_poll_init(&w->loop, h, dup) != 0) {
    free(h);
    close(dup);
    return;
  }
  h->data = w;
  w->input = h;
  w->input_fd = dup;
  w->input_of = fd;
  uv_poll_start(h, UV_READABLE, on_input);
  uv_unref((uv_handle_t *)h); /* a drain does not wait for it */
}

static void on_drained(void *ud) {
  worker_ctx *w = ud;
  w->http = NULL;
  input_stop(w);
  uv_close((uv_handle_t *)&w->sigterm, NULL);
  uv_close((uv_handle_t *)&w->sigusr1, NULL);
  uv_close((uv_handle_t *)&w->flush, NULL);
  uv_close((uv_handle_t *)&w->ticker, NULL);
  uv_close((uv_handle_t *)&w->busy, NULL);
}

static void on_worker_sigusr1(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  qr_log_access_reopen();
}

static void on_busy(uv_idle_t *h) { (void)h; }

static void on_loop_check(uv_check_t *h) {
  worker_ctx *w = h->data;
  if (defer_fn && w->http && defer_fn(w->tick_ud, 0)) {
    wd_slot *p = w->page;
    if (p) {
      p->id[0] = p->method[0] = '\0';
      snprintf(p->target, sizeof p->target, "deferred work (page refresh)");
      p->fd = -1;
      page_mark(p);
    }
    int more = defer_fn(w->tick_ud, 1);
    if (p) page_mark(p);
    if (more) uv_idle_start(&w->busy, on_busy); else uv_idle_stop(&w->busy);
  }
  input_follow(w);
  qr_log_access_flush();
}

static void on_worker_sigterm(uv_signal_t *s, int signum) {
  (void)signum;
  worker_ctx *w = s->data;
  uv_signal_stop(s);
  gone_nfds = 0; /* the drain closes the listeners now: their numbers may name client sockets next */
  if (w->http) qr_http_server_drain(w->http, on_drained, w);
}

int qr_server_worker(const qr_http_listener_t *listeners, int n, int ready_fd, const qr_http_limits_t *limits,
                     const qr_http_callbacks_t *cbs, qr_server_tick_cb tick, unsigned tick_ms) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN); /* Ctrl-C reaches the whole group; the master drains us */
  signal(SIGHUP, SIG_IGN);
  /* The inherited listeners are ours alone: nothing we might start gets them. */
  for (int i = 0; i < n; i++) fcntl(listeners[i].fd, F_SETFD, FD_CLOEXEC);
  worker_ctx w = {0};
  uv_loop_init(&w.loop);
  worker_loop = &w.loop;
  uv_signal_init(&w.loop, &w.sigterm);
  w.sigterm.data = &w;
  uv_signal_start(&w.sigterm, on_worker_sigterm, SIGTERM);
  /* After SIGTERM has its handler: a master already gone makes us drain as soon as we run. */
  w.page = watchdog_attach(listeners, n);
  qr_http_callbacks_t watched = {.handle = watched_handle, .log = watched_log, .spool = watched_spool, .ud = &w};
  if (w.page) {
    w.inner = *cbs;
    cbs = &watched;
  }
  uv_signal_init(&w.loop, &w.sigusr1);
  uv_signal_start(&w.sigusr1, on_worker_sigusr1, SIGUSR1);
  uv_unref((uv_handle_t *)&w.sigusr1);
  uv_idle_init(&w.loop, &w.busy);
  uv_check_init(&w.loop, &w.flush);
  w.flush.data = &w;
  uv_check_start(&w.flush, on_loop_check);
  uv_unref((uv_handle_t *)&w.flush);
  uv_timer_init(&w.loop, &w.ticker);
  w.ticker.data = &w;
  w.tick = tick;
  w.tick_ud = w.page ? w.inner.ud : cbs->ud;
  if (qr_http_server_start(&w.http, &w.loop, listeners, n, limits, cbs) != 0) {
    if (ready_fd >= 0) {
      static const char msg[] = "fail cannot listen on the inherited sockets\n";
      (void)!write(ready_fd, msg, sizeof msg - 1);
    }
    return 1;
  }
  if (ready_fd >= 0) {
    (void)!write(ready_fd, "ready\n", 6);
    close(ready_fd);
  }
  /* The first tick comes at once, so work missed while nothing was running is done at start. */
  if (tick) {
    uv_timer_start(&w.ticker, on_tick, 0, tick_ms ? tick_ms : 1000);
    uv_unref((uv_handle_t *)&w.ticker);
  }
  uv_run(&w.loop, UV_RUN_DEFAULT);
  qr_log_access_flush();
  uv_loop_close(&w.loop);
  worker_loop = NULL;
  return 0;
}
