/* Static file serving with traversal-proof path resolution. */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  char *prefix;
  char *root; /* real path, no trailing slash */
} mount;

struct qr_static_s {
  mount *mounts;
  int n;
};

qr_static_t *qr_static_new(void) { return qr_xcalloc(1, sizeof(qr_static_t)); }

void qr_static_free(qr_static_t *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) {
    free(st->mounts[i].prefix);
    free(st->mounts[i].root);
  }
  free(st->mounts);
  free(st);
}

int qr_static_mount(qr_static_t *st, const char *prefix, const char *dir) {
  char real[PATH_MAX];
  if (!realpath(dir, real)) return QR_ENOENT;
  st->mounts = qr_xrealloc(st->mounts, sizeof(mount) * (size_t)(st->n + 1));
  st->mounts[st->n].prefix = qr_xstrdup(prefix);
  st->mounts[st->n].root = qr_xstrdup(real);
  st->n++;
  return 0;
}

static const struct {
  const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
    {"js", "application/javascript; charset=utf-8"}, {"mjs", "application/javascript; charset=utf-8"},
    {"json", "application/json"}, {"xml", "application/xml"}, {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
    {"gif", "image/gif"}, {"webp", "image/webp"}, {"avif", "image/avif"}, {"ico", "image/x-icon"},
    {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
    {"pdf", "application/pdf"}, {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"mp3", "audio/mpeg"},
    {"wasm", "application/wasm"}, {"map", "application/json"}, {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"}, {"webmanifest", "application/manifest+json"}, {NULL, NULL}};

static const char *content_type(const char *path) {
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (dot && (!slash || dot > slash))
    for (int i = 0; types[i].ext; i++)
      if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

/* A name like site.3f9a1c2b.css carries its content hash: it can be cached for a year. So does
 * a media file's, 30 hex digits of its hash then "-WIDTH.ext" (quire.media). */
static int fingerprinted(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t hex = strspn(base, "0123456789abcdef");
  if (hex >= 30 && base[hex] == '-') return 1;
  const char *dot = strchr(base, '.');
  while (dot) {
    const char *next = strchr(dot + 1, '.');
    if (!next) break;
    size_t n = (size_t)(next - dot - 1);
    if (n >= 8) {
      size_t i = 1;
      while (i <= n && ((dot[i] >= '0' && dot[i] <= '9') || (dot[i] >= 'a' && dot[i] <= 'f'))) i++;
      if (i > n) return 1;
    }
    dot = next;
  }
  return 0;
}

/* Decodes the path part of a target that qr_http_path_problem passed into out; -1 when it does
 * not fit. */
static int decode_path(const char *target, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && target[i] != '?' && target[i] != '#'; i++) {
    char c = target[i];
    if (c == '%') { /* well formed (qr_http_path_problem) */
      c = (char)(qr_hexval(target[i + 1]) * 16 + qr_hexval(target[i + 2]));
      i += 2;
    }
    if (o + 1 >= cap) return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return o && out[0] == '/' ? 0 : -1;
}

/* (public/ may be a checkout whose .git or an .env beside it must not go out) */
int qr_static_hidden(const char *rel) {
  for (const char *s = rel; *s; s++) {
    if ((s == rel || s[-1] == '/') && *s == '.' &&
        !(strncmp(s, ".well-known", 11) == 0 && (s[11] == '/' || s[11] == '\0')))
      return 1;
  }
  return 0;
}

static void set_text(qr_http_response_t *res, int status, const char *text) {
  res->status = status;
  res->etag[0] = '\0'; /* an error is no representation of the file */
  qr_http_response_header(res, "Content-Type", "text/plain; charset=utf-8");
  qr_buf_puts(&res->body, text);
}

/* Parses "bytes=a-b", "bytes=a-", "bytes=-n" for a file of size; one range only. */
static int parse_range(const char *h, off_t size, off_t *from, off_t *to) {
  if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return -1;
  const char *p = h + 6;
  char *end;
  if (*p == '-') {
    long long n = strtoll(p + 1, &end, 10);
    if (*end || n <= 0) return -1;
    *from = n >= size ? 0 : size - n;
    *to = size - 1;
  } else {
    long long a = strtoll(p, &end, 10);
    if (end == p || *end != '-' || a < 0) return -1;
    long long b = (long long)size - 1;
    if (end[1]) {
      const char *q = end + 1;
      b = strtoll(q, &end, 10);
      if (end == q || *end || b < a) return -1;
    }
    if (a >= size) return 1; /* unsatisfiable */
    *from = a;
    *to = b >= size ? size - 1 : b;
  }
  return size > 0 ? 0 : 1;
}

int qr_static_serve(const qr_static_t *st, const qr_http_request_t *req, qr_http_response_t *res) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  char path[PATH_MAX];
  const char *problem = qr_http_path_problem(req->target, req->target_len);
  if (problem) { /* (the worker refuses these first; any other caller gets the same answer) */
    set_text(res, 400, problem);
    qr_buf_append(&res->body, "\n", 1);
    return 1;
  }
  if (decode_path(req->target, req->target_len, path, sizeof path) != 0) return 0; /* longer than any file's */
  for (int i = 0; i < st->n; i++) {
    const mount *m = &st->mounts[i];
    size_t plen = strlen(m->prefix);
    if (strncmp(req->target, m->prefix, plen) != 0 || qr_static_hidden(path + plen)) continue;
    char candidate[PATH_MAX], real[PATH_MAX];
    if (snprintf(candidate, sizeof candidate, "%s/%s", m->root, path + plen) >= (int)sizeof candidate) continue;
    struct stat sb;
    /* One stat rather than realpath's walk for the common miss (a page, not a file). */
    if (stat(candidate, &sb) != 0 || !realpath(candidate, real)) continue;
    size_t rlen = strlen(m->root);
    if (strncmp(real, m->root, rlen) != 0 || (real[rlen] != '/' && real[rlen] != '\0')) continue; /* symlink escape */
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > QR_STATIC_MAX) {
      close(fd);
      continue;
    }
    /* Two representations, two strong validators: the identity bytes ("MTIME-SIZE") and, for a
     * type sent compressed, the gzip bytes ("MTIME-SIZE-gz", the suffix the writer adds), so
     * If-Range can never resume one with the other's bytes. res->etag names the identity one. */
    char etag[48], etag_gz[48], lm[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)sb.st_mtime, (unsigned long long)sb.st_size);
    snprintf(etag_gz, sizeof etag_gz, "\"%llx-%llx-gz\"", (unsigned long long)sb.st_mtime,
             (unsigned long long)sb.st_size);
    memcpy(res->etag, etag, sizeof etag);
    const char *type = content_type(real);
    int varies = qr_http_gzip_candidate(type, (size_t)sb.st_size);
    /* The representation a full GET selects; the writer knows for sure only once it has
     * compressed, so a miss here is answered by its own If-None-Match check. */
    const char *selected = varies && req->accepts_gzip ? etag_gz : etag;
    struct tm tm;
    gmtime_r(&sb.st_mtime, &tm);
    strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    qr_http_response_header(res, "Content-Type", type);
    qr_http_response_header(res, "Last-Modified", lm);
    qr_http_response_header(res, "Accept-Ranges", "bytes");
    qr_http_response_header(res, "Cache-Control", fingerprinted(real) ? "public, max-age=31536000, immutable" : "public, max-age=300");
    qr_http_response_header(res, "X-Content-Type-Options", "nosniff");
    /* A 200 of such a type gets Vary from the writer; a 304 or 206 gets it here. */
    const char *inm = qr_http_header(req, "if-none-match");
    const char *ims = qr_http_header(req, "if-modified-since");
    if ((inm && (strstr(inm, selected) || strcmp(inm, "*") == 0)) || (!inm && ims && strcmp(ims, lm) == 0)) {
      close(fd);
      res->status = 304;
      memcpy(res->etag, selected, sizeof etag);
      if (varies) qr_http_response_header(res, "Vary", "Accept-Encoding");
      return 1;
    }
    off_t from = 0, to = sb.st_size - 1;
    const char *range = qr_http_header(req, "range");
    const char *if_range = qr_http_header(req, "if-range");
    /* Ranges are of the identity bytes: If-Range must name exactly them (strong comparison). */
    if (range && (!if_range || strcmp(if_range, etag) == 0)) {
      int r = parse_range(range, sb.st_size, &from, &to);
      if (r == 1) {
        char cr[64];
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)sb.st_size);
        qr_http_response_header(res, "Content-Range", cr);
        close(fd);
        set_text(res, 416, "range not satisfiable\n");
        return 1;
      }
      if (r == 0) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)from, (long long)to, (long long)sb.st_size);
        qr_http_response_header(res, "Content-Range", cr);
        if (varies) qr_http_response_header(res, "Vary", "Accept-Encoding");
        res->status = 206;
      } else {
        from = 0, to = sb.st_size - 1; /* an unreadable Range is ignored, per RFC 9110 */
      }
    }
    size_t want = sb.st_size ? (size_t)(to - from + 1) : 0;
    res->body.len = 0;
    qr_buf_append(&res->body, "", 0);
    if (res->body.cap < want + 1) {
      res->body.data = qr_xrealloc(res->body.data, want + 1);
      res->body.cap = want + 1;
    }
    size_t got = 0;
    while (got < want) {
      ssize_t n = pread(fd, res->body.data + got, want - got, from + (off_t)got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    close(fd);
    res->body.len = got;
    res->body.data[got] = '\0';
    if (got != want) {
      res->body.len = 0;
      set_text(res, 500, "read error\n");
    }
    if (res->status != 206) res->status = 200;
    return 1;
  }
  return 0;
}
