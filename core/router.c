/* Routing table: patterns split into segments once, matched segment by segment per request. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum seg_kind { SEG_LITERAL, SEG_INT, SEG_SLUG, SEG_PARAM, SEG_REST };
/* Specificity of each kind when two patterns match the same path: higher wins. */
static const int seg_rank[] = {4, 3, 3, 2, 1};
#define MAX_SEGS 20 /* segments a pattern may have (SCORE's room) */

typedef struct {
  enum seg_kind kind;
  char *text; /* literal text, or the parameter name */
  size_t len;
} segment;

typedef struct {
  char method[16];
  char *pattern;
  segment *segs;
  int nsegs;
  int handler;
} route;

struct qr_router_s {
  route *routes;
  int n, cap;
};

qr_router_t *qr_router_new(void) { return qr_xcalloc(1, sizeof(qr_router_t)); }

void qr_router_free(qr_router_t *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++) {
    for (int j = 0; j < r->routes[i].nsegs; j++) free(r->routes[i].segs[j].text);
    free(r->routes[i].segs);
    free(r->routes[i].pattern);
  }
  free(r->routes);
  free(r);
}

static int bad(char *err, size_t errlen, const char *pattern, const char *why) {
  if (err) snprintf(err, errlen, "route pattern '%s': %s", pattern, why);
  return QR_EINVAL;
}

int qr_router_add(qr_router_t *r, const char *method, const char *pattern, int handler, char *err,
                  size_t errlen) {
  size_t mlen = strlen(method);
  if (mlen == 0 || mlen >= sizeof(((route *)0)->method)) return bad(err, errlen, pattern, "bad method");
  for (size_t i = 0; i < mlen; i++)
    if (!((method[i] >= 'A' && method[i] <= 'Z') || method[i] == '*'))
      return bad(err, errlen, pattern, "methods are upper-case words");
  if (pattern[0] != '/') return bad(err, errlen, pattern, "must start with '/'");
  route rt = {.handler = handler};
  memcpy(rt.method, method, mlen + 1);
  const char *p = pattern + 1;
  while (*p || p == pattern + 1) {
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    segment s = {0};
    if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
      const char *colon = memchr(p, ':', len);
      size_t name_len = colon ? (size_t)(colon - p - 1) : len - 2;
      s.kind = SEG_PARAM;
      if (colon) {
        size_t tlen = len - 2 - name_len - 1;
        const char *type = colon + 1;
        if (tlen == 3 && memcmp(type, "int", 3) == 0) s.kind = SEG_INT;
        else if (tlen == 4 && memcmp(type, "slug", 4) == 0) s.kind = SEG_SLUG;
        else if (tlen == 1 && type[0] == '*') s.kind = SEG_REST;
        else {
          for (int j = 0; j < rt.nsegs; j++) free(rt.segs[j].text);
          free(rt.segs);
          return bad(err, errlen, pattern, "parameter types are int, slug and *");
        }
      }
      if (name_len == 0 || (s.kind == SEG_REST && end)) {
        for (int j = 0; j < rt.nsegs; j++) free(rt.segs[j].text);
        free(rt.segs);
        return bad(err, errlen, pattern, name_len ? "a {name:*} segment must come last" : "empty parameter name");
      }
      s.text = qr_xmalloc(name_len + 1);
      memcpy(s.text, p + 1, name_len);
      s.text[name_len] = '\0';
      s.len = name_len;
    } else {
      s.kind = SEG_LITERAL;
      s.text = qr_xmalloc(len + 1);
      memcpy(s.text, p, len);
      s.text[len] = '\0';
      s.len = len;
    }
    if (rt.nsegs >= MAX_SEGS) {
      free(s.text);
      for (int j = 0; j < rt.nsegs; j++) free(rt.segs[j].text);
      free(rt.segs);
      return bad(err, errlen, pattern, "too many segments");
    }
    rt.segs = qr_xrealloc(rt.segs, sizeof(segment) * (size_t)(rt.nsegs + 1));
    rt.segs[rt.nsegs++] = s;
    if (!end) break;
    p = end + 1;
  }
  rt.pattern = qr_xstrdup(pattern);
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->routes = qr_xrealloc(r->routes, sizeof(route) * (size_t)r->cap);
  }
  r->routes[r->n++] = rt;
  return 0;
}

static int is_int(const char *s, size_t n) {
  if (n == 0 || n > 18) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

static int is_slug(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
  }
  return 1;
}

/* Segment i's rank sits in 3 bits, most significant first, so scores compare like
 * (rank of segment 1, rank of segment 2, ...) whatever the pattern lengths. */
#define SCORE(i, kind) ((unsigned long long)seg_rank[kind] << (3 * (20 - (i))))

/* A path's segments, found once for all the routes (each route's walk looked for each slash
 * again): segment i is path[pos[i], pos[i] + len[i]), for i < count; pos[count] is past the path
 * (or, when count is MAX_SEGS, where a segment past the last a pattern may have starts). */
typedef struct {
  size_t pos[MAX_SEGS + 1], len[MAX_SEGS];
  int count;
} path_segs;

static void split_path(const char *path, size_t path_len, path_segs *ps) {
  int i = 0;
  ps->pos[0] = 1; /* after the leading '/' */
  for (; i < MAX_SEGS && ps->pos[i] <= path_len; i++) {
    const char *seg = path + ps->pos[i];
    const char *slash = memchr(seg, '/', path_len - ps->pos[i]);
    ps->len[i] = slash ? (size_t)(slash - seg) : path_len - ps->pos[i];
    ps->pos[i + 1] = ps->pos[i] + ps->len[i] + 1;
  }
  ps->count = i;
}

/* Matches one route against a path split by split_path; fills params and its specificity
 * score. */
static int match_route(const route *rt, const char *path, size_t path_len, const path_segs *ps,
                       qr_route_param_t *params, int *nparams, unsigned long long *score) {
  int np = 0;
  *score = 0;
  for (int i = 0; i < rt->nsegs; i++) {
    const segment *s = &rt->segs[i];
    if (i >= ps->count) return 0; /* (the path has no segment i: none for a {name:*} either) */
    size_t pos = ps->pos[i];
    if (s->kind == SEG_REST) {
      if (np < QR_ROUTE_MAX_PARAMS) params[np++] = (qr_route_param_t){s->text, path + pos, s->len, path_len - pos};
      *score += SCORE(i, s->kind);
      *nparams = np;
      return 1;
    }
    const char *seg = path + pos;
    size_t len = ps->len[i];
    switch (s->kind) {
      case SEG_LITERAL:
        if (len != s->len || memcmp(seg, s->text, len) != 0) return 0;
        break;
      case SEG_INT:
        if (!is_int(seg, len)) return 0;
        break;
      case SEG_SLUG:
        if (!is_slug(seg, len)) return 0;
        break;
      default:
        if (len == 0) return 0;
    }
    if (s->kind != SEG_LITERAL && np < QR_ROUTE_MAX_PARAMS)
      params[np++] = (qr_route_param_t){s->text, seg, s->len, len};
    *score += SCORE(i, s->kind);
  }
  if (ps->pos[rt->nsegs] <= path_len) return 0; /* path has more segments (or a trailing slash) */
  *nparams = np;
  return 1;
}

int qr_router_match(const qr_router_t *r, const char *method, const char *path, size_t path_len,
                    int *handler, qr_route_param_t *params, int *nparams, char *allow,
                    size_t allow_len) {
  int best = -1, any_path = 0;
  unsigned long long best_score = 0;
  int is_head = strcmp(method, "HEAD") == 0;
  qr_route_param_t tmp[QR_ROUTE_MAX_PARAMS];
  if (allow && allow_len) allow[0] = '\0';
  if (path_len == 0 || path[0] != '/') return QR_ENOENT;
  path_segs ps;
  split_path(path, path_len, &ps);
  for (int i = 0; i < r->n; i++) {
    const route *rt = &r->routes[i];
    int np = 0;
    unsigned long long score;
    if (!match_route(rt, path, path_len, &ps, tmp, &np, &score)) continue;
    any_path = 1;
    int method_ok = strcmp(rt->method, "*") == 0 || strcmp(rt->method, method) == 0 ||
                    (is_head && strcmp(rt->method, "GET") == 0);
    if (!method_ok) {
      if (allow && !strstr(allow, rt->method)) {
        size_t used = strlen(allow);
        snprintf(allow + used, allow_len - used, "%s%s%s", used ? ", " : "", rt->method,
                 strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
      }
      continue;
    }
    if (best < 0 || score > best_score) {
      best = i;
      best_score = score;
      memcpy(params, tmp, sizeof(qr_route_param_t) * (size_t)np);
      *nparams = np;
    }
  }
  if (best >= 0) {
    *handler = r->routes[best].handler;
    return 0;
  }
  return any_path ? QR_EMETHOD : QR_ENOENT;
}
