/* multipart/form-data (RFC 7578) as a push parser: bytes in, in pieces of any size; parts out
 * through callbacks (headers once, then the data as it comes), in bounded memory whatever the
 * body's size. */
#ifndef QR_MULTIPART_H
#define QR_MULTIPART_H
#include <stddef.h>

#define QR_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

typedef struct {
  size_t part_head_max; /* bytes of one part's header block (8 KiB by default) */
  unsigned parts_max;   /* parts in one body (64 by default) */
} qr_multipart_limits_t;

/* A part's head, borrowed by the callback until it returns. */
typedef struct {
  const char *name;         /* the form field's name (Content-Disposition name=), never NULL */
  const char *filename;     /* filename= as sent (a file input), or NULL for a plain field */
  const char *content_type; /* the part's Content-Type, or NULL */
} qr_multipart_part_t;

/* Each returns 0 to go on, anything else to stop: qr_multipart_feed then fails with
 * QR_MULTIPART_STOPPED and the message the callback left with qr_multipart_stop (if any). */
typedef struct {
  int (*part_begin)(void *ud, const qr_multipart_part_t *part);
  int (*part_data)(void *ud, const char *at, size_t len); /* any number of times, maybe 0 */
  int (*part_end)(void *ud);
} qr_multipart_callbacks_t;

enum {
  QR_MULTIPART_OK = 0,
  QR_MULTIPART_MALFORMED = -1, /* the body does not follow the format */
  QR_MULTIPART_LIMIT = -2,     /* a limit was passed */
  QR_MULTIPART_STOPPED = -3,   /* a callback said stop */
  QR_MULTIPART_TRUNCATED = -4, /* (qr_multipart_finish) the body ended before its closing boundary */
};

typedef struct qr_multipart_s qr_multipart_t;

/* The boundary parameter of a Content-Type value ("multipart/form-data; boundary=xyz", quoted
 * or not) into out (QR_MULTIPART_BOUNDARY_MAX + 1 bytes). Returns its length, or 0 when the type
 * is not multipart/form-data or the boundary is missing, empty, too long or has characters RFC
 * 2046 does not allow. */
size_t qr_multipart_boundary(const char *content_type, char out[QR_MULTIPART_BOUNDARY_MAX + 1]);

/* A parser for one body. boundary (blen bytes, 1..70) and limits (NULL: defaults) are copied;
 * cbs is copied, ud borrowed. Free with qr_multipart_free. */
qr_multipart_t *qr_multipart_new(const char *boundary, size_t blen, const qr_multipart_limits_t *limits,
                                 const qr_multipart_callbacks_t *cbs, void *ud);
void qr_multipart_free(qr_multipart_t *m);

/* Parses the next len bytes. Returns 0 or a negative QR_MULTIPART_* code; after an error every
 * call returns it again. Memory held between calls stays under part_head_max + 80 bytes (plus
 * the piece being fed, copied only when part of a delimiter or head may be in it). */
int qr_multipart_feed(qr_multipart_t *m, const char *data, size_t len);

/* The body is complete: 0 when the closing boundary was seen, else QR_MULTIPART_TRUNCATED (or
 * the earlier error). */
int qr_multipart_finish(qr_multipart_t *m);

/* What went wrong, for a person ("" when nothing did). Borrowed from m. */
const char *qr_multipart_error(const qr_multipart_t *m);

/* For a callback: the message qr_multipart_error will give when it returns non-zero (copied). */
void qr_multipart_stop(qr_multipart_t *m, const char *message);

/* Parts begun so far. */
unsigned qr_multipart_parts(const qr_multipart_t *m);

#endif
