/* Fuzz target: the multipart/form-data parser. The input's first line is a Content-Type value
 * (its boundary is taken with qr_multipart_boundary), its first byte also picks a piece size; the
 * rest is the body. The oracle: the body parsed whole and in pieces gives the same parts, bytes
 * and outcome, the parser's memory stays bounded, and every part has a non-empty name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "multipart.h"
#include "util.h"

typedef struct {
  qr_buf_t out;
} seen_t;

static int on_begin(void *ud, const qr_multipart_part_t *p) {
  seen_t *s = ud;
  if (!p->name || !p->name[0]) abort();
  qr_buf_puts(&s->out, "[");
  qr_buf_puts(&s->out, p->name);
  qr_buf_puts(&s->out, p->filename ? "|f:" : "|-");
  if (p->filename) qr_buf_puts(&s->out, p->filename);
  qr_buf_puts(&s->out, "]");
  return 0;
}

static int on_data(void *ud, const char *at, size_t len) {
  qr_buf_append(&((seen_t *)ud)->out, at, len);
  return 0;
}

static int on_end(void *ud) {
  qr_buf_puts(&((seen_t *)ud)->out, ";");
  return 0;
}

static int parse(const char *b, size_t blen, const uint8_t *body, size_t len, size_t piece, seen_t *s) {
  static const qr_multipart_callbacks_t cbs = {on_begin, on_data, on_end};
  qr_multipart_limits_t lim = {.part_head_max = 256, .parts_max = 16};
  qr_multipart_t *m = qr_multipart_new(b, blen, &lim, &cbs, s);
  int rc = 0;
  for (size_t off = 0; off < len && rc == 0; off += piece)
    rc = qr_multipart_feed(m, (const char *)body + off, len - off < piece ? len - off : piece);
  if (rc == 0) rc = qr_multipart_finish(m);
  if (rc != 0 && !qr_multipart_error(m)[0]) abort(); /* every refusal says why */
  qr_multipart_free(m);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  if (!nl || size == 0) return 0;
  size_t hlen = (size_t)(nl - data);
  char ct[512];
  if (hlen >= sizeof ct) return 0;
  memcpy(ct, data, hlen);
  ct[hlen] = '\0';
  char b[QR_MULTIPART_BOUNDARY_MAX + 1];
  size_t blen = qr_multipart_boundary(ct, b);
  if (blen == 0 || blen > QR_MULTIPART_BOUNDARY_MAX || strlen(b) != blen) {
    if (blen) abort();
    return 0;
  }
  const uint8_t *body = nl + 1;
  size_t len = size - hlen - 1;
  size_t piece = 1 + data[0] % 13;
  seen_t whole = {0}, pieces = {0};
  int rc1 = parse(b, blen, body, len, len ? len : 1, &whole);
  int rc2 = parse(b, blen, body, len, piece, &pieces);
  /* A refusal may come at a different byte in pieces (a head over the limit is seen before its
   * end arrives), so compare outcomes, and the parts only when both accepted. */
  if (rc1 != rc2 && !(rc1 < 0 && rc2 < 0)) {
    fprintf(stderr, "BUG: whole %d, in pieces of %zu %d\n", rc1, piece, rc2);
    abort();
  }
  if (rc1 == 0 && (whole.out.len != pieces.out.len || (whole.out.len && memcmp(whole.out.data, pieces.out.data, whole.out.len) != 0))) {
    fprintf(stderr, "BUG: the parts differ when the body comes in pieces of %zu\n", piece);
    abort();
  }
  qr_buf_free(&whole.out);
  qr_buf_free(&pieces.out);
  return 0;
}
