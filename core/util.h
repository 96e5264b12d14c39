/* Shared core helpers: error codes, aborting allocation, byte buffers, UTF-8 checks. */
#ifndef QR_UTIL_H
#define QR_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* Error codes: functions return 0 or one of these (negative), libuv style. */
#define QR_ERRORS(X)                                      \
  X(EINVAL, -1, "invalid argument")                       \
  X(ENOENT, -2, "not found")                              \
  X(EEXIST, -3, "already exists")                         \
  X(EIO, -4, "input/output error")                        \
  X(EDB, -5, "database error")                            \
  X(ESCHEMA, -6, "database schema is newer than this quire") \
  X(EBUSY, -7, "database is busy")                        \
  X(ELIMIT, -8, "limit exceeded")                         \
  X(EUTF8, -9, "invalid UTF-8")                           \
  X(ELUA, -10, "Lua error")                         \
  X(EMETHOD, -11, "method not allowed")
enum {
#define QR_ERR_ENUM(name, code, msg) QR_##name = code,
  QR_ERRORS(QR_ERR_ENUM)
#undef QR_ERR_ENUM
};

/* Static description of a QR_E* code; never NULL. */
const char *qr_strerror(int err);

/* Allocation that aborts on out-of-memory: callers never check for NULL. Free with free(). */
void *qr_xmalloc(size_t n);
void *qr_xcalloc(size_t n, size_t size);
void *qr_xrealloc(void *p, size_t n);
char *qr_xstrdup(const char *s);

/* Growable byte buffer. Owns data; qr_buf_free releases it. data is NUL-terminated when non-NULL. */
typedef struct {
  char *data;
  size_t len, cap;
} qr_buf_t;
void qr_buf_append(qr_buf_t *b, const char *s, size_t n);
void qr_buf_puts(qr_buf_t *b, const char *s);
/* Appends v in decimal (base 10) or lowercase hex (base 16): the per-request headers and log
 * lines are built with these, not snprintf, which cost more than the rest of a cached answer. */
void qr_buf_append_uint(qr_buf_t *b, unsigned long long v, int base);
void qr_buf_free(qr_buf_t *b);

/* Writes v in decimal or lowercase hex into out (room for 21 bytes), NUL-terminated; returns
 * the length. */
size_t qr_fmt_uint(char *out, unsigned long long v, int base);

/* The value of one hex digit, or -1 when c is not one. */
int qr_hexval(char c);

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int qr_utf8_valid(const char *s, size_t n);

/* Decodes one code point at s (n bytes left); returns its length, or 0 when malformed. */
int qr_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Opens the folder holding rel under the folder root, for writing inside root and nowhere else:
 * rel is names separated by "/" (none empty, "." or ".."), and no symbolic link below root is
 * followed (root itself may be one: its user named it); with make, the folders that are missing
 * are made (mode 0777 less the umask). Returns the folder's descriptor (the caller closes it)
 * with *name pointing at rel's last name; or -1 with errno set (ELOOP: a symbolic link where a
 * folder should be; ENOTDIR: a file there; EINVAL: a bad name) and *failed_len the length of the
 * part of rel that failed. The folder is opened in one call that resolves no link and nothing
 * outside root (openat2); when that fails (a folder to make, a link to name, an older kernel),
 * each folder from the one above it (openat, O_NOFOLLOW): nothing swapped in meanwhile is
 * followed either. */
int qr_dir_open_beneath(const char *root, const char *rel, int make, const char **name, size_t *failed_len);

/* Makes the new file tmp in the folder dirfd for writing (mode 0666 less the umask), following no
 * symbolic link; a file of that name (left by a process gone that had this one's number: a
 * container's) is replaced. Returns the descriptor, or -1 with errno set. */
int qr_file_create_at(int dirfd, const char *tmp);

/* Renames tmp over name in the folder dirfd. An empty folder named so is replaced too (it holds
 * nothing to lose: someone's mkdir where the file goes); one that is not empty fails (EISDIR),
 * as rename(2) does. Returns 0, or -1 with errno set. */
int qr_file_rename_over_at(int dirfd, const char *tmp, const char *name);

/* Writes data[0..n) to the new file tmp in the folder dirfd (qr_file_create_at), then renames it
 * over name there (a symbolic link named so is replaced, not written through): readers see the
 * old bytes or the new, never a part (qr_file_rename_over_at). One write(2) call while it takes all, no stdio buffer, no
 * fsync (a static export syncs the file system once). Returns 0, or -1 with errno set and *failed
 * the name that failed (tmp or name); tmp is removed on failure. */
int qr_file_replace_at(int dirfd, const char *name, const char *tmp, const void *data, size_t n, const char **failed);

#endif
