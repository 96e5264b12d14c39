/* Shared core helpers: error strings, aborting allocators, byte buffers, UTF-8 validation, files
 * written beneath a folder and nowhere else. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#include <unistd.h>

const char *qr_strerror(int err) {
  switch (err) {
    case 0: return "success";
#define QR_ERR_CASE(name, code, msg) \
  case code: return msg;
    QR_ERRORS(QR_ERR_CASE)
#undef QR_ERR_CASE
  }
  return "unknown error";
}

static void *oom(size_t n) {
  fprintf(stderr, "quire: out of memory (allocating %zu bytes)\n", n);
  abort();
}

void *qr_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  return p ? p : oom(n);
}

void *qr_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  return p ? p : oom(n * size);
}

void *qr_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  return q ? q : oom(n);
}

char *qr_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(qr_xmalloc(n), s, n);
}

void qr_buf_append(qr_buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    b->data = qr_xrealloc(b->data, cap);
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void qr_buf_puts(qr_buf_t *b, const char *s) { qr_buf_append(b, s, strlen(s)); }

size_t qr_fmt_uint(char *out, unsigned long long v, int base) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
    v /= (unsigned)base;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
  return n;
}

void qr_buf_append_uint(qr_buf_t *b, unsigned long long v, int base) {
  char tmp[24];
  qr_buf_append(b, tmp, qr_fmt_uint(tmp, v, base));
}

void qr_buf_free(qr_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int qr_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int qr_utf8_decode(const char *str, size_t n, uint32_t *cp) {
  const unsigned char *s = (const unsigned char *)str;
  if (n == 0) return 0;
  if (s[0] < 0x80) { *cp = s[0]; return 1; }
  int len;
  uint32_t c, min;
  if ((s[0] & 0xE0) == 0xC0) { len = 2; c = s[0] & 0x1F; min = 0x80; }
  else if ((s[0] & 0xF0) == 0xE0) { len = 3; c = s[0] & 0x0F; min = 0x800; }
  else if ((s[0] & 0xF8) == 0xF0) { len = 4; c = s[0] & 0x07; min = 0x10000; }
  else return 0;
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return len;
}

int qr_utf8_valid(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    for (uint64_t w; i + 8 <= n; i += 8) { /* ASCII, eight bytes at a time */
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080u) break;
    }
    if (i == n) break;
    if ((unsigned char)s[i] < 0x80) { i++; continue; }
    uint32_t cp;
    int len = qr_utf8_decode(s + i, n - i, &cp);
    if (!len) return 0;
    i += (size_t)len;
  }
  return 1;
}

/* The folder rel_dir (a "/"-separated path below the folder fd) opened in one call resolving
 * no symbolic link and nothing outside fd (Linux 5.6's openat2), where a walk opens each folder
 * apart (~10 system calls a file: +5% of a full export's CPU). -1 with errno when it cannot:
 * then the walk tells why (ENOSYS: an older kernel). */
static int open_dir_resolved(int fd, const char *rel_dir) {
#if defined SYS_openat2 && defined RESOLVE_BENEATH
  struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                          .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
  return (int)syscall(SYS_openat2, fd, rel_dir, &how, sizeof how);
#else
  (void)fd, (void)rel_dir;
  errno = ENOSYS;
  return -1;
#endif
}

int qr_dir_open_beneath(const char *root, const char *rel, int make, const char **name, size_t *failed_len) {
  *failed_len = 0;
  const char *last = strrchr(rel, '/');
  /* Each name checked first: none empty, "." or ".." (the walk below stops at the first). */
  for (const char *s = rel;;) {
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    if (len == 0 || len > NAME_MAX || (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')))) {
      *failed_len = (size_t)(s - rel) + len;
      errno = EINVAL;
      return -1;
    }
    if (!slash) break;
    s = slash + 1;
  }
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (!last) {
    *name = rel;
    return fd;
  }
  char dir[PATH_MAX];
  size_t dir_len = (size_t)(last - rel);
  if (dir_len < sizeof dir) {
    memcpy(dir, rel, dir_len);
    dir[dir_len] = '\0';
    int found = open_dir_resolved(fd, dir);
    if (found >= 0) {
      close(fd);
      *name = last + 1;
      return found;
    }
  }
  /* A folder missing (made here), a link or a file in the way (named), an older kernel. */
  for (const char *s = rel;;) {
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    *failed_len = (size_t)(s - rel) + len;
    if (!slash) {
      *name = s;
      return fd;
    }
    char part[NAME_MAX + 1];
    memcpy(part, s, len);
    part[len] = '\0';
    int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && make && (mkdirat(fd, part, 0777) == 0 || errno == EEXIST))
      next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      int err = errno;
      struct stat st; /* (a link may be refused as no folder: ENOTDIR) */
      if (fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) err = ELOOP;
      close(fd);
      errno = err;
      return -1;
    }
    close(fd);
    fd = next;
    s = slash + 1;
  }
}

int qr_file_create_at(int dirfd, const char *tmp) {
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = openat(dirfd, tmp, flags, 0666);
  if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp, 0) == 0) fd = openat(dirfd, tmp, flags, 0666);
  return fd;
}

int qr_file_rename_over_at(int dirfd, const char *tmp, const char *name) {
  if (renameat(dirfd, tmp, dirfd, name) == 0) return 0;
  if (errno != EISDIR) return -1;
  /* (rmdir fails on a folder holding anything, even if it was filled since the rename failed) */
  if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0) {
    errno = EISDIR;
    return -1;
  }
  return renameat(dirfd, tmp, dirfd, name);
}

int qr_file_replace_at(int dirfd, const char *name, const char *tmp, const void *data, size_t n, const char **failed) {
  *failed = tmp;
  int fd = qr_file_create_at(dirfd, tmp);
  if (fd < 0) return -1;
  const char *p = data;
  size_t done = 0;
  int err = 0;
  while (done < n) {
    ssize_t w = write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      break;
    }
    done += (size_t)w;
  }
  if (close(fd) != 0 && !err) err = errno;
  if (!err && qr_file_rename_over_at(dirfd, tmp, name) != 0) err = errno, *failed = name;
  if (!err) return 0;
  unlinkat(dirfd, tmp, 0);
  errno = err;
  return -1;
}
