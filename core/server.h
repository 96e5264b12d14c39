/* The process model of `quire serve`: a master that binds the listeners and supervises worker
 * processes, and the worker side that serves HTTP until told to drain. */
#ifndef QR_SERVER_H
#define QR_SERVER_H
#include <sys/socket.h>

#include "http.h"
#include "log.h"

typedef struct {
  const char *exe;          /* this binary, to start workers */
  const char *const *worker_argv; /* extra arguments for each worker (NULL-terminated), borrowed */
  const char *const *listen; /* "127.0.0.1:8080", "[::1]:8080" ... (NULL-terminated), borrowed */
  const char *const *listen_tls; /* HTTPS listeners, same form (NULL-terminated); may be NULL */
  int workers;              /* >= 1 */
  const char *const *watch; /* folders whose changes trigger a reload (dev mode); may be NULL */
  unsigned watchdog_timeout_ms; /* watchdog: a worker busy with one request (or one round of
                                * scheduled work) longer than this is replaced; 0: 10 s */
  unsigned drain_timeout_ms;   /* workers still draining this long after SIGTERM or a reload are
                                * killed; 0: 30 s */
} qr_server_master_opts_t;

/* Runs the master until SIGTERM/SIGINT and all workers have drained (or drain_timeout_ms passed:
 * the rest are killed). SIGHUP starts a new generation of workers and drains the old one once all
 * new workers report ready; if a new worker fails, the old ones keep serving. SIGUSR1 is passed
 * on to the workers (they reopen the access log). Workers get `--fds A,B` for the plain
 * listeners and `--tls-fds C` for the TLS ones, and in the environment (QUIRE_WATCHDOG) a page of
 * memory shared with the master where they mark the start and end of each request: a worker
 * inside one request past watchdog_timeout_ms is logged with that request, stopped (SIGTERM, then
 * SIGKILL after a grace) and replaced, whatever it is doing (Lua, C, SQLite). Returns the
 * process exit status. */
int qr_server_master(const qr_server_master_opts_t *opts);

/* Worker side: serves on the inherited listeners until SIGTERM (then drains); SIGUSR1 reopens
 * the access log. Reports readiness by writing "ready\n" to ready_fd. Everything is borrowed for
 * the call. Returns the exit status. Under a master (QUIRE_WATCHDOG set) each request and tick is
 * marked in the shared page (two stores, no system call), and the worker dies with the master:
 * its listeners stop listening at once, in-flight requests get the drain deadline. */
/* tick, when not NULL, is called with cbs->ud once at start and then every tick_ms (scheduled
 * work: due jobs, scheduled publishing); it must not block for long. */
typedef void (*qr_server_tick_cb)(void *ud);
int qr_server_worker(const qr_http_listener_t *listeners, int n, int ready_fd, const qr_http_limits_t *limits,
                     const qr_http_callbacks_t *cbs, qr_server_tick_cb tick, unsigned tick_ms);

/* Deferred work (the page cache's refreshes), set before qr_server_worker: fn(ud, 0) says
 * whether some is waiting; if so, after each loop iteration's I/O (the answers it queued are
 * written) fn(ud, 1) does one piece, marked in the watchdog page like a request, and says
 * whether more is waiting (the loop then polls without blocking). ud is cbs->ud. */
typedef int (*qr_server_defer_cb)(void *ud, int run);
void qr_server_worker_defer(qr_server_defer_cb fn);

/* A socket whose input the worker handles as soon as it comes, not at the next request (the
 * PostgreSQL connection's LISTEN notifications), set before qr_server_worker. socket_fn(ud,
 * &generation) names it (-1: none) and is asked after every loop iteration, so a new connection
 * is followed (its socket may reuse the old number: the generation tells them apart); the loop
 * watches a duplicate of it, so a socket closed behind its back is never confused with another
 * that gets its number. When it is readable input_fn(ud) runs, marked in the watchdog page like
 * a request; it must read all that is there, and returns < 0 when the connection is lost (then it
 * is watched again only once socket_fn names another generation). socket_fn sets *pending when
 * input came in some other way (notifications read with a statement's results: the socket is
 * not readable for them): input_fn then runs as if it were. ud is cbs->ud. */
typedef int (*qr_server_socket_cb)(void *ud, long long *generation, int *pending);
typedef int (*qr_server_input_cb)(void *ud);
void qr_server_worker_input(qr_server_socket_cb socket_fn, qr_server_input_cb input_fn);

/* The loop of the worker running in this process (for work queued off it: uv_queue_work), or
 * NULL outside qr_server_worker. Borrowed. */
uv_loop_t *qr_server_worker_loop(void);

/* The worker's own deadlines (from the site.lua it loaded; 0: the master's), for the watchdog
 * and the drain; call before qr_server_worker. So a reload that changes them takes effect. */
void qr_server_worker_deadlines(unsigned watchdog_timeout_ms, unsigned drain_timeout_ms);

/* "127.0.0.1:8080", "[::1]:443", "*:80" or ":80" -> addr. 0 or QR_EINVAL. */
int qr_server_parse_listen(const char *spec, struct sockaddr_storage *addr);

#endif
