/* The error log (one line per event on stderr, or the journal with its level) and the access log
 * of this process (buffered, whole lines per write). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static const char *level_name(int level) {
  switch (level) {
    case QR_LOG_ERROR: return "error";
    case QR_LOG_WARN: return "warn";
    case QR_LOG_NOTICE: return "notice";
    default: return "info";
  }
}

/* systemd sets JOURNAL_STREAM to the device:inode of the journal socket it gave us. */
static int stderr_is_journal(void) {
  static int known = -1;
  if (known < 0) {
    known = 0;
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0)
      known = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
  }
  return known;
}

void qr_log(int level, const char *fmt, ...) {
  char line[2048];
  int n;
  if (stderr_is_journal()) {
    n = snprintf(line, sizeof line, "<%d>[%s] quire[%d]: ", level, level_name(level), (int)getpid());
  } else {
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf(line, sizeof line, "%s [%s] quire[%d]: ", when, level_name(level), (int)getpid());
  }
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2);
  line[len++] = '\n';
  (void)!write(2, line, len); /* one write: lines from several processes do not interleave */
}


static struct {
  int fd;       /* -1: no access log */
  int own;      /* a file we opened (reopened on SIGUSR1) */
  int regular;  /* a regular file: any write is whole; else (a pipe) keep writes <= PIPE_BUF */
  char *path;
  qr_buf_t buf;
} alog = {.fd = -1};

#define ALOG_FLUSH_AT (64 * 1024)

static int alog_open_fd(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) snprintf(err, errlen, "cannot open the access log %s: %s", path, strerror(errno));
  return fd;
}

int qr_log_access_open(const char *path, char *err, size_t errlen) {
  qr_log_access_flush();
  if (alog.own && alog.fd >= 0) close(alog.fd);
  free(alog.path);
  alog.path = NULL;
  alog.fd = -1;
  alog.own = 0;
  if (!path || !*path || strcmp(path, "off") == 0) return 0;
  if (strcmp(path, "-") == 0 || strcmp(path, "stdout") == 0) {
    alog.fd = 1;
  } else if (strcmp(path, "stderr") == 0) {
    alog.fd = 2;
  } else {
    alog.fd = alog_open_fd(path, err, errlen);
    if (alog.fd < 0) return QR_EIO;
    alog.own = 1;
    alog.path = qr_xstrdup(path);
  }
  struct stat st;
  alog.regular = fstat(alog.fd, &st) == 0 && S_ISREG(st.st_mode);
  return 0;
}

int qr_log_access_enabled(void) { return alog.fd >= 0; }

void qr_log_access_write(const char *line, size_t len) {
  if (alog.fd < 0) return;
  qr_buf_append(&alog.buf, line, len);
  if (alog.buf.len >= ALOG_FLUSH_AT) qr_log_access_flush();
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* a full disk or a closed pipe: drop the lines rather than block serving */
    p += w;
    n -= (size_t)w;
  }
}

void qr_log_access_flush(void) {
  if (alog.fd < 0 || alog.buf.len == 0) return;
  const char *p = alog.buf.data;
  size_t left = alog.buf.len;
  while (left > 0) {
    size_t n = left;
    if (!alog.regular && n > PIPE_BUF) { /* whole lines of at most PIPE_BUF: atomic on a pipe */
      n = PIPE_BUF;
      while (n > 0 && p[n - 1] != '\n') n--;
      if (n == 0) n = PIPE_BUF; /* one line longer than PIPE_BUF */
    }
    write_all(alog.fd, p, n);
    p += n;
    left -= n;
  }
  alog.buf.len = 0;
  if (alog.buf.cap > 4 * ALOG_FLUSH_AT) qr_buf_free(&alog.buf);
}

void qr_log_access_reopen(void) {
  qr_log_access_flush();
  if (!alog.own) return;
  char err[256];
  int fd = alog_open_fd(alog.path, err, sizeof err);
  if (fd < 0) { /* keep writing to the old file rather than lose lines */
    qr_log(QR_LOG_ERROR, "%s", err);
    return;
  }
  close(alog.fd);
  alog.fd = fd;
}

