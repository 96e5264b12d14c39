/* multipart/form-data push parser: finds delimiters across pieces, bounds what it keeps. */

#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define PREAMBLE_MAX 1024 /* bytes before the first boundary (browsers send none) */
#define PADDING_MAX 64    /* spaces after a boundary, before its CRLF (RFC 2046's transport padding) */

enum state { S_PREAMBLE, S_AFTER_DELIM, S_HEAD, S_DATA, S_EPILOGUE };

struct qr_multipart_s {
  enum state state;
  char delim[QR_MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
  size_t dlen;
  qr_multipart_limits_t limits;
  qr_multipart_callbacks_t cbs;
  void *ud;
  qr_buf_t pend;     /* bytes not yet consumed (a possible delimiter's start, a head in progress) */
  size_t preamble;   /* bytes of preamble seen */
  unsigned parts;
  int err;
  char msg[200];
  qr_buf_t name, filename, ctype; /* the current part's head */
  int has_filename, has_ctype;
};

static int fail(qr_multipart_t *m, int code, const char *fmt, const char *arg) {
  if (m->err) return m->err;
  m->err = code;
  snprintf(m->msg, sizeof m->msg, fmt, arg ? arg : "");
  return code;
}

/* RFC 2046 bchars: digits, letters and '()+_,-./:=? and space (not last). */
static int bchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c && strchr("'()+_,-./:=? ", c));
}

size_t qr_multipart_boundary(const char *ct, char out[QR_MULTIPART_BOUNDARY_MAX + 1]) {
  static const char type[] = "multipart/form-data";
  if (!ct) return 0;
  while (*ct == ' ' || *ct == '\t') ct++;
  if (strncasecmp(ct, type, sizeof type - 1) != 0) return 0;
  const char *p = ct + sizeof type - 1;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    if (*p != ';') return 0;
    p++;
    while (*p == ' ' || *p == '\t') p++;
    const char *key = p;
    while (*p && *p != '=' && *p != ';') p++;
    size_t klen = (size_t)(p - key);
    while (klen && (key[klen - 1] == ' ' || key[klen - 1] == '\t')) klen--;
    if (*p != '=') continue;
    p++;
    while (*p == ' ' || *p == '\t') p++;
    char val[QR_MULTIPART_BOUNDARY_MAX + 2];
    size_t n = 0;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1]) p++;
        if (n > QR_MULTIPART_BOUNDARY_MAX) return 0;
        val[n++] = *p++;
      }
      if (*p != '"') return 0;
      p++;
    } else {
      while (*p && *p != ';' && *p != ' ' && *p != '\t') {
        if (n > QR_MULTIPART_BOUNDARY_MAX) return 0;
        val[n++] = *p++;
      }
    }
    if (klen == 8 && strncasecmp(key, "boundary", 8) == 0) {
      if (n == 0 || n > QR_MULTIPART_BOUNDARY_MAX || val[n - 1] == ' ') return 0;
      for (size_t i = 0; i < n; i++)
        if (!bchar((unsigned char)val[i])) return 0;
      memcpy(out, val, n);
      out[n] = '\0';
      return n;
    }
  }
  return 0;
}

qr_multipart_t *qr_multipart_new(const char *boundary, size_t blen, const qr_multipart_limits_t *limits,
                                 const qr_multipart_callbacks_t *cbs, void *ud) {
  qr_multipart_t *m = qr_xcalloc(1, sizeof *m);
  if (blen > QR_MULTIPART_BOUNDARY_MAX) blen = QR_MULTIPART_BOUNDARY_MAX;
  memcpy(m->delim, "\r\n--", 4);
  memcpy(m->delim + 4, boundary, blen);
  m->dlen = blen + 4;
  m->limits.part_head_max = 8 * 1024;
  m->limits.parts_max = 64;
  if (limits) m->limits = *limits;
  m->cbs = *cbs;
  m->ud = ud;
  /* The first boundary may open the body: a CRLF in front makes it a delimiter like the others. */
  qr_buf_append(&m->pend, "\r\n", 2);
  if (blen == 0) fail(m, QR_MULTIPART_MALFORMED, "the boundary is empty%s", NULL);
  return m;
}

void qr_multipart_free(qr_multipart_t *m) {
  if (!m) return;
  qr_buf_free(&m->pend);
  qr_buf_free(&m->name);
  qr_buf_free(&m->filename);
  qr_buf_free(&m->ctype);
  free(m);
}

const char *qr_multipart_error(const qr_multipart_t *m) { return m->msg; }
unsigned qr_multipart_parts(const qr_multipart_t *m) { return m->parts; }

void qr_multipart_stop(qr_multipart_t *m, const char *message) {
  snprintf(m->msg, sizeof m->msg, "%s", message ? message : "");
}

static int stopped(qr_multipart_t *m) {
  if (!m->msg[0]) snprintf(m->msg, sizeof m->msg, "the upload was stopped");
  m->err = QR_MULTIPART_STOPPED;
  return m->err;
}

/* A parameter value at *pp (token or quoted-string) into out; advances *pp. 0 or -1. */
static int param_value(const char **pp, const char *end, qr_buf_t *out) {
  const char *p = *pp;
  out->len = 0;
  if (p < end && *p == '"') {
    p++;
    while (p < end && *p != '"') {
      /* Browsers send '"' as %22 and no escapes, and old ones sent Windows paths (C:\a\b.jpg):
       * a backslash escapes only '"' and '\'. */
      if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) p++;
      qr_buf_append(out, p, 1);
      p++;
    }
    if (p >= end) return -1;
    p++;
  } else {
    const char *s = p;
    while (p < end && *p != ';' && *p != ' ' && *p != '\t') p++;
    qr_buf_append(out, s, (size_t)(p - s));
  }
  qr_buf_append(out, "", 0);
  *pp = p;
  return 0;
}

/* Content-Disposition: form-data; name="x"; filename="y" */
static int disposition(qr_multipart_t *m, const char *p, const char *end, int *has_name) {
  static const char fd[] = "form-data";
  if ((size_t)(end - p) < sizeof fd - 1 || strncasecmp(p, fd, sizeof fd - 1) != 0)
    return fail(m, QR_MULTIPART_MALFORMED, "a part's Content-Disposition is not form-data%s", NULL);
  p += sizeof fd - 1;
  qr_buf_t val = {0};
  int rc = 0;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p >= end) break;
    if (*p != ';') {
      rc = fail(m, QR_MULTIPART_MALFORMED, "a part's Content-Disposition has text where ';' should be%s", NULL);
      break;
    }
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *key = p;
    while (p < end && *p != '=' && *p != ';' && *p != ' ' && *p != '\t') p++;
    size_t klen = (size_t)(p - key);
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p >= end || *p != '=') continue; /* a parameter without a value: ignored */
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (param_value(&p, end, &val) != 0) {
      rc = fail(m, QR_MULTIPART_MALFORMED, "a part's Content-Disposition has an unclosed quote%s", NULL);
      break;
    }
    if (klen == 4 && strncasecmp(key, "name", 4) == 0 && !*has_name) {
      *has_name = 1;
      m->name.len = 0;
      qr_buf_append(&m->name, val.data, val.len);
    } else if (klen == 8 && strncasecmp(key, "filename", 8) == 0 && !m->has_filename) {
      m->has_filename = 1;
      m->filename.len = 0;
      qr_buf_append(&m->filename, val.data, val.len);
    } /* filename* (RFC 7578 4.2: not to be used) and others: ignored */
  }
  qr_buf_free(&val);
  return rc;
}

/* Parses a part's header block (lines ending CRLF, without the empty line). */
static int parse_head(qr_multipart_t *m, const char *h, size_t n) {
  m->name.len = m->filename.len = m->ctype.len = 0;
  m->has_filename = m->has_ctype = 0;
  int has_name = 0, has_disp = 0;
  if (memchr(h, '\0', n)) return fail(m, QR_MULTIPART_MALFORMED, "a part's headers contain a NUL byte%s", NULL);
  const char *end = h + n;
  while (h < end) {
    const char *eol = memchr(h, '\r', (size_t)(end - h));
    if (!eol || eol + 1 >= end || eol[1] != '\n')
      return fail(m, QR_MULTIPART_MALFORMED, "a part's header line does not end with CRLF%s", NULL);
    if (memchr(h, '\n', (size_t)(eol - h)))
      return fail(m, QR_MULTIPART_MALFORMED, "a part's header line has a bare LF%s", NULL);
    if (*h == ' ' || *h == '\t')
      return fail(m, QR_MULTIPART_MALFORMED, "a part's header is folded over lines (obsolete, refused)%s", NULL);
    const char *colon = memchr(h, ':', (size_t)(eol - h));
    if (!colon || colon == h) return fail(m, QR_MULTIPART_MALFORMED, "a part's header line has no name and colon%s", NULL);
    size_t nlen = (size_t)(colon - h);
    const char *v = colon + 1, *vend = eol;
    while (v < vend && (*v == ' ' || *v == '\t')) v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
    if (nlen == 19 && strncasecmp(h, "content-disposition", 19) == 0) {
      if (has_disp) return fail(m, QR_MULTIPART_MALFORMED, "a part has two Content-Disposition headers%s", NULL);
      has_disp = 1;
      if (disposition(m, v, vend, &has_name)) return m->err;
    } else if (nlen == 12 && strncasecmp(h, "content-type", 12) == 0 && !m->has_ctype) {
      m->has_ctype = 1;
      qr_buf_append(&m->ctype, v, (size_t)(vend - v));
    }
    h = eol + 2;
  }
  if (!has_disp || !has_name)
    return fail(m, QR_MULTIPART_MALFORMED, "a part has no Content-Disposition: form-data; name=\"...\"%s", NULL);
  if (m->name.len == 0) return fail(m, QR_MULTIPART_MALFORMED, "a part's name is empty%s", NULL);
  qr_buf_append(&m->name, "", 0);
  qr_buf_append(&m->filename, "", 0);
  qr_buf_append(&m->ctype, "", 0);
  return 0;
}

/* Consumes what it can of v[0..n); returns the bytes consumed, or -1 on error. */
static long long run(qr_multipart_t *m, const char *v, size_t n) {
  size_t pos = 0;
  for (;;) {
    switch (m->state) {
      case S_PREAMBLE: {
        const char *d = memmem(v + pos, n - pos, m->delim, m->dlen);
        if (!d) {
          size_t keep = m->dlen - 1, drop = n - pos > keep ? n - pos - keep : 0;
          m->preamble += drop;
          if (m->preamble > PREAMBLE_MAX)
            return fail(m, QR_MULTIPART_MALFORMED, "the body does not begin with the boundary its Content-Type names%s", NULL);
          return (long long)(pos + drop);
        }
        m->preamble += (size_t)(d - (v + pos));
        if (m->preamble > PREAMBLE_MAX)
          return fail(m, QR_MULTIPART_MALFORMED, "the body does not begin with the boundary its Content-Type names%s", NULL);
        pos = (size_t)(d - v) + m->dlen;
        m->state = S_AFTER_DELIM;
        break;
      }
      case S_AFTER_DELIM: {
        if (n - pos < 2) return (long long)pos;
        if (v[pos] == '-' && v[pos + 1] == '-') {
          m->state = S_EPILOGUE;
          break;
        }
        size_t i = pos;
        while (i < n && i - pos <= PADDING_MAX && (v[i] == ' ' || v[i] == '\t')) i++;
        if (i - pos > PADDING_MAX)
          return fail(m, QR_MULTIPART_MALFORMED, "a boundary line has text after the boundary%s", NULL);
        if (n - i < 2) return (long long)pos; /* wait for the line's end */
        if (v[i] != '\r' || v[i + 1] != '\n')
          return fail(m, QR_MULTIPART_MALFORMED, "a boundary line has text after the boundary%s", NULL);
        pos = i + 2;
        m->state = S_HEAD;
        break;
      }
      case S_HEAD: {
        size_t avail = n - pos, hlen;
        if (avail < 2) return (long long)pos;
        if (v[pos] == '\r' && v[pos + 1] == '\n') {
          hlen = 0; /* no headers at all */
        } else {
          const char *e = memmem(v + pos, avail, "\r\n\r\n", 4);
          if (!e) {
            /* At most "\r\n\r" of the end is here, its CRLF counted in the head: the head will be
             * at least avail - 1 bytes. */
            if (avail - 1 > m->limits.part_head_max)
              return fail(m, QR_MULTIPART_LIMIT, "a part's headers are longer than the limit%s", NULL);
            return (long long)pos;
          }
          hlen = (size_t)(e - (v + pos)) + 2;
          if (hlen > m->limits.part_head_max)
            return fail(m, QR_MULTIPART_LIMIT, "a part's headers are longer than the limit%s", NULL);
        }
        if (m->parts >= m->limits.parts_max)
          return fail(m, QR_MULTIPART_LIMIT, "the body has more parts than the limit%s", NULL);
        if (parse_head(m, v + pos, hlen)) return -1;
        m->parts++;
        pos += hlen + 2;
        qr_multipart_part_t part = {.name = m->name.data,
                                    .filename = m->has_filename ? m->filename.data : NULL,
                                    .content_type = m->has_ctype ? m->ctype.data : NULL};
        if (m->cbs.part_begin && m->cbs.part_begin(m->ud, &part)) return stopped(m);
        m->state = S_DATA;
        break;
      }
      case S_DATA: {
        const char *d = memmem(v + pos, n - pos, m->delim, m->dlen);
        size_t upto = d ? (size_t)(d - v) : (n - pos > m->dlen - 1 ? n - (m->dlen - 1) : pos);
        if (upto > pos && m->cbs.part_data && m->cbs.part_data(m->ud, v + pos, upto - pos)) return stopped(m);
        if (!d) return (long long)upto;
        if (m->cbs.part_end && m->cbs.part_end(m->ud)) return stopped(m);
        pos = upto + m->dlen;
        m->state = S_AFTER_DELIM;
        break;
      }
      case S_EPILOGUE:
        return (long long)n;
    }
  }
}

int qr_multipart_feed(qr_multipart_t *m, const char *data, size_t len) {
  if (m->err) return m->err;
  if (len == 0) return 0;
  const char *v = data;
  size_t n = len;
  if (m->pend.len) {
    qr_buf_append(&m->pend, data, len);
    v = m->pend.data;
    n = m->pend.len;
  }
  long long used = run(m, v, n);
  if (used < 0) return m->err;
  size_t rest = n - (size_t)used;
  if (v == m->pend.data) {
    memmove(m->pend.data, m->pend.data + used, rest);
    m->pend.len = rest;
  } else {
    m->pend.len = 0;
    qr_buf_append(&m->pend, v + used, rest);
  }
  if (m->pend.cap > 256 * 1024 && m->pend.len < 1024) { /* a big piece went through: give it back */
    qr_buf_t small = {0};
    qr_buf_append(&small, m->pend.data, m->pend.len);
    qr_buf_free(&m->pend);
    m->pend = small;
  }
  return 0;
}

int qr_multipart_finish(qr_multipart_t *m) {
  if (m->err) return m->err;
  if (m->state == S_EPILOGUE) return 0;
  return fail(m, QR_MULTIPART_TRUNCATED,
              m->state == S_PREAMBLE && m->parts == 0
                  ? "the body has no part: it does not contain the boundary its Content-Type names%s"
                  : "the body ended before its closing boundary: the upload was cut off%s",
              NULL);
}
