/* Logs: the error log every process writes, and a process's access log. */
#ifndef QR_LOG_H
#define QR_LOG_H
#include <stddef.h>

/* Levels, numbered as syslog's. */
enum { QR_LOG_ERROR = 3, QR_LOG_WARN = 4, QR_LOG_NOTICE = 5, QR_LOG_INFO = 6 };

/* The error log: one line on stderr, "2025-01-31T09:00:00Z [error] quire[PID]: message"; when
 * stderr is systemd's journal, "<3>[error] quire[PID]: message" so the journal keeps the level. */
void qr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The access log of this process: path is a file (appended to; created 0640), "-" or "stdout",
 * "stderr", or NULL / "off" for none. Lines are buffered and written with one write(2) per loop
 * iteration (whole lines, so workers appending to one file never interleave inside a line); a
 * worker reopens the file on SIGUSR1. Returns 0, or QR_EIO with a message in err. path is copied. */
int qr_log_access_open(const char *path, char *err, size_t errlen);
/* 1 when an access log is open. */
int qr_log_access_enabled(void);
/* Appends one line (len bytes, ending in '\n'); copied. */
void qr_log_access_write(const char *line, size_t len);
/* Writes what is buffered. */
void qr_log_access_flush(void);
/* Flushes, then reopens a file log under the same path (after logrotate moved it). */
void qr_log_access_reopen(void);

#endif
