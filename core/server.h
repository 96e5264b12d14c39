/* The process model of `quire serve`: a master that binds the listeners and supervises worker
 * processes, and the worker side that serves HTTP until told to drain. */
#ifndef QR_SERVER_H
#define QR_SERVER_H
#include "http.h"

typedef struct {
  const char *exe;          /* this binary, to start workers */
  const char *const *worker_argv; /* extra arguments for each worker (NULL-terminated), borrowed */
  const char *const *listen; /* "127.0.0.1:8080", "[::1]:8080" ... (NULL-terminated), borrowed */
  int workers;              /* >= 1 */
  const char *const *watch; /* folders whose changes trigger a reload (dev mode); may be NULL */
} qr_server_master_opts_t;

/* Runs the master until SIGTERM/SIGINT and all workers have drained. SIGHUP starts a new
 * generation of workers and drains the old one once all new workers report ready; if a new
 * worker fails, the old ones keep serving. Returns the process exit status. */
int qr_server_master(const qr_server_master_opts_t *opts);

/* Worker side: serves on the inherited listening fds until SIGTERM (then drains). Reports
 * readiness by writing "ready\n" to ready_fd. Returns the exit status. */
int qr_server_worker(const int *fds, int nfds, int ready_fd, const qr_http_limits_t *limits,
                     qr_http_handler_cb cb, void *ud);

#endif
