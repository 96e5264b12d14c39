/* Unit tests for the multipart/form-data parser: boundaries, parts, pieces of every size, and the
 * malformed, truncated and oversized bodies it must refuse. */
#include <stdlib.h>
#include <string.h>

#include "../core/multipart.h"
#include "../core/util.h"
#include "check.h"

/* What the callbacks saw, as text: "[name|filename|type]data;" per part ("-" for none). */
typedef struct {
  qr_buf_t out;
  qr_multipart_t *m;
  size_t stop_after; /* stop when a part's data passes this many bytes (0: never) */
  size_t part_bytes;
} seen_t;

static int on_begin(void *ud, const qr_multipart_part_t *p) {
  seen_t *s = ud;
  qr_buf_puts(&s->out, "[");
  qr_buf_puts(&s->out, p->name);
  qr_buf_puts(&s->out, "|");
  qr_buf_puts(&s->out, p->filename ? p->filename : "-");
  qr_buf_puts(&s->out, "|");
  qr_buf_puts(&s->out, p->content_type ? p->content_type : "-");
  qr_buf_puts(&s->out, "]");
  s->part_bytes = 0;
  return 0;
}

static int on_data(void *ud, const char *at, size_t len) {
  seen_t *s = ud;
  s->part_bytes += len;
  if (s->stop_after && s->part_bytes > s->stop_after) {
    qr_multipart_stop(s->m, "the file is larger than the per-file limit");
    return 1;
  }
  qr_buf_append(&s->out, at, len);
  return 0;
}

static int on_end(void *ud) {
  qr_buf_puts(&((seen_t *)ud)->out, ";");
  return 0;
}

static const qr_multipart_callbacks_t CBS = {on_begin, on_data, on_end};

/* Parses body in pieces of `piece` bytes (0: whole); returns the code and fills s. */
static int parse(const char *boundary, const char *body, size_t len, size_t piece, seen_t *s,
                 const qr_multipart_limits_t *lim) {
  s->out.len = 0;
  qr_buf_append(&s->out, "", 0);
  qr_multipart_t *m = qr_multipart_new(boundary, strlen(boundary), lim, &CBS, s);
  s->m = m;
  int rc = 0;
  if (!piece) piece = len ? len : 1;
  for (size_t off = 0; off < len && rc == 0; off += piece)
    rc = qr_multipart_feed(m, body + off, len - off < piece ? len - off : piece);
  if (rc == 0) rc = qr_multipart_finish(m);
  qr_multipart_free(m);
  return rc;
}

static void test_boundary(void) {
  char b[QR_MULTIPART_BOUNDARY_MAX + 1];
  CHECK(qr_multipart_boundary("multipart/form-data; boundary=abc123", b) == 6);
  CHECK_STR(b, "abc123");
  CHECK(qr_multipart_boundary("Multipart/Form-Data;boundary=\"a b:c\"", b) == 5);
  CHECK_STR(b, "a b:c");
  CHECK(qr_multipart_boundary("multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundaryx7", b) > 0);
  CHECK_STR(b, "----WebKitFormBoundaryx7");
  CHECK(qr_multipart_boundary("multipart/mixed; boundary=abc", b) == 0);
  CHECK(qr_multipart_boundary("application/json", b) == 0);
  CHECK(qr_multipart_boundary("multipart/form-data", b) == 0);
  CHECK(qr_multipart_boundary("multipart/form-data; boundary=", b) == 0);
  CHECK(qr_multipart_boundary("multipart/form-data; boundary=\"abc", b) == 0);
  CHECK(qr_multipart_boundary("multipart/form-data; boundary=a<b", b) == 0);
  CHECK(qr_multipart_boundary("multipart/form-data; boundary=\"ends in space \"", b) == 0);
  char longb[100];
  memset(longb, 'x', sizeof longb);
  longb[99] = '\0';
  char ct[200];
  snprintf(ct, sizeof ct, "multipart/form-data; boundary=%.71s", longb);
  CHECK(qr_multipart_boundary(ct, b) == 0); /* 71 characters: one too many */
  snprintf(ct, sizeof ct, "multipart/form-data; boundary=%.70s", longb);
  CHECK(qr_multipart_boundary(ct, b) == 70);
  CHECK(qr_multipart_boundary(NULL, b) == 0);
}

static const char BODY[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"alt\"\r\n"
    "\r\n"
    "A bridge at dusk\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"bridge.jpg\"\r\n"
    "Content-Type: image/jpeg\r\n"
    "\r\n"
    "\xff\xd8\xff\r\n--Xy not a delimiter\r\n-\r\n-XyZ also not\r\n"
    "--XyZ  \r\n"
    "content-disposition: FORM-DATA; filename=\"C:\\photos\\a\\\"b.png\"; name=second\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n"
    "epilogue is ignored --XyZ\r\n";

static const char WANT[] =
    "[alt|-|-]A bridge at dusk;"
    "[file|bridge.jpg|image/jpeg]\xff\xd8\xff\r\n--Xy not a delimiter\r\n-\r\n-XyZ also not;"
    "[second|C:\\photos\\a\"b.png|-];";

static void test_parts_in_every_piece_size(void) {
  seen_t s = {0};
  CHECK(parse("XyZ", BODY, sizeof BODY - 1, 0, &s, NULL) == 0);
  CHECK_STR(s.out.data, WANT);
  /* Whatever the reads look like, the same parts. */
  for (size_t piece = 1; piece < 40; piece++) {
    int rc = parse("XyZ", BODY, sizeof BODY - 1, piece, &s, NULL);
    CHECK(rc == 0);
    if (rc != 0 || strcmp(s.out.data, WANT) != 0) {
      fprintf(stderr, "piece size %zu differs\n", piece);
      CHECK_STR(s.out.data, WANT);
      break;
    }
  }
  /* A preamble before the first boundary is skipped. */
  qr_buf_t b = {0};
  qr_buf_puts(&b, "This is a preamble.\r\n");
  qr_buf_puts(&b, BODY);
  CHECK(parse("XyZ", b.data, b.len, 7, &s, NULL) == 0);
  CHECK_STR(s.out.data, WANT);
  qr_buf_free(&b);
  qr_buf_free(&s.out);
}

static void expect_fail(const char *body, int code, const char *needle) {
  seen_t s = {0};
  qr_multipart_t *m = qr_multipart_new("XyZ", 3, NULL, &CBS, &s);
  s.m = m;
  int rc = qr_multipart_feed(m, body, strlen(body));
  if (rc == 0) rc = qr_multipart_finish(m);
  CHECK(rc == code);
  if (rc != code) fprintf(stderr, "  body %.40s...: got %d (%s)\n", body, rc, qr_multipart_error(m));
  CHECK(strstr(qr_multipart_error(m), needle) != NULL);
  if (!strstr(qr_multipart_error(m), needle)) fprintf(stderr, "  message: %s\n", qr_multipart_error(m));
  /* Once failed, it stays failed. */
  CHECK(qr_multipart_feed(m, "--XyZ--\r\n", 9) == code);
  qr_multipart_free(m);
  qr_buf_free(&s.out);
}

static void test_refusals(void) {
  /* Cut off: inside a part, inside a head, before any boundary, and an empty body. */
  expect_fail("--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.jpg\"\r\n\r\n\xff\xd8\xff partial",
              QR_MULTIPART_TRUNCATED, "cut off");
  expect_fail("--XyZ\r\nContent-Disposition: form-da", QR_MULTIPART_TRUNCATED, "cut off");
  expect_fail("", QR_MULTIPART_TRUNCATED, "no part");
  expect_fail("just text, no boundary", QR_MULTIPART_TRUNCATED, "no part");
  /* Malformed heads. */
  expect_fail("--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "no Content-Disposition");
  expect_fail("--XyZ\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "no Content-Disposition");
  expect_fail("--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "not form-data");
  expect_fail("--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "name is empty");
  expect_fail("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "unclosed quote");
  expect_fail("--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "folded");
  expect_fail("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\nX: y\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "bare LF");
  expect_fail("--XyZ\r\nNo colon here\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "no name and colon");
  expect_fail("--XyZ junk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--", QR_MULTIPART_MALFORMED, "text after the boundary");
  expect_fail("--XyZ\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\nx\r\n--XyZ--",
              QR_MULTIPART_MALFORMED, "two Content-Disposition");
  /* A NUL inside a head would cut a name short: refused. */
  seen_t s = {0};
  static const char nul[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nx\r\n--XyZ--";
  CHECK(parse("XyZ", nul, sizeof nul - 1, 0, &s, NULL) == QR_MULTIPART_MALFORMED);
  /* A long preamble means the boundary is wrong. */
  qr_buf_t b = {0};
  for (int i = 0; i < 200; i++) qr_buf_puts(&b, "0123456789");
  CHECK(parse("XyZ", b.data, b.len, 100, &s, NULL) == QR_MULTIPART_MALFORMED);
  qr_buf_free(&b);
  qr_buf_free(&s.out);
}

static void test_limits(void) {
  seen_t s = {0};
  qr_multipart_limits_t lim = {.part_head_max = 64, .parts_max = 2};
  /* A head over the limit, whether or not its end has arrived. */
  qr_buf_t b = {0};
  qr_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Long: ");
  for (int i = 0; i < 10; i++) qr_buf_puts(&b, "0123456789");
  CHECK(parse("XyZ", b.data, b.len, 5, &s, &lim) == QR_MULTIPART_LIMIT);
  qr_buf_puts(&b, "\r\n\r\nx\r\n--XyZ--");
  CHECK(parse("XyZ", b.data, b.len, 0, &s, &lim) == QR_MULTIPART_LIMIT);
  /* More parts than allowed. */
  b.len = 0;
  for (int i = 0; i < 3; i++) qr_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n");
  qr_buf_puts(&b, "--XyZ--");
  CHECK(parse("XyZ", b.data, b.len, 0, &s, &lim) == QR_MULTIPART_LIMIT);
  lim.parts_max = 3;
  CHECK(parse("XyZ", b.data, b.len, 0, &s, &lim) == 0);
  CHECK_STR(s.out.data, "[a|-|-]x;[a|-|-]x;[a|-|-]x;");
  /* A callback stops a part that grows too large, with its own message. */
  b.len = 0;
  qr_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=f; filename=big.png\r\n\r\n");
  for (int i = 0; i < 1000; i++) qr_buf_puts(&b, "0123456789");
  qr_buf_puts(&b, "\r\n--XyZ--");
  s.stop_after = 5000;
  qr_multipart_t *m = qr_multipart_new("XyZ", 3, NULL, &CBS, &s);
  s.m = m;
  int rc = 0;
  for (size_t off = 0; off < b.len && rc == 0; off += 512) rc = qr_multipart_feed(m, b.data + off, b.len - off < 512 ? b.len - off : 512);
  CHECK(rc == QR_MULTIPART_STOPPED);
  CHECK_STR(qr_multipart_error(m), "the file is larger than the per-file limit");
  CHECK(s.out.len < 5200);
  qr_multipart_free(m);
  qr_buf_free(&b);
  qr_buf_free(&s.out);
}

/* A large part in big pieces keeps the parser's own memory small (it copies only around a
 * piece's end), and the bytes come through unchanged. */
static void test_large_part(void) {
  size_t n = 3 * 1024 * 1024 + 17;
  qr_buf_t b = {0};
  qr_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=f; filename=x.bin\r\n\r\n");
  size_t start = b.len;
  for (size_t i = 0; i < n; i++) {
    char ch = (char)(i * 131 % 251);
    qr_buf_append(&b, &ch, 1);
  }
  qr_buf_puts(&b, "\r\n--XyZ--\r\n");
  seen_t s = {0};
  CHECK(parse("XyZ", b.data, b.len, 65536, &s, NULL) == 0);
  size_t prefix = strlen("[f|x.bin|-]");
  CHECK(s.out.len == prefix + n + 1);
  CHECK(memcmp(s.out.data + prefix, b.data + start, n) == 0);
  qr_buf_free(&b);
  qr_buf_free(&s.out);
}

int main(void) {
  test_boundary();
  test_parts_in_every_piece_size();
  test_refusals();
  test_limits();
  test_large_part();
  return check_summary("test_multipart");
}
