/* Unit tests for the router: literals, typed parameters, specificity, 404, 405 with Allow. */
#include "check.h"
#include "router.h"
#include "util.h"

static int match(qr_router_t *r, const char *method, const char *path, qr_route_param_t *params, int *np,
                 char *allow) {
  int handler = -1;
  int rc = qr_router_match(r, method, path, strlen(path), &handler, params, np, allow, 256);
  return rc == 0 ? handler : rc;
}

int main(void) {
  qr_router_t *r = qr_router_new();
  char err[256], allow[256];
  CHECK(qr_router_add(r, "GET", "/", 1, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/opinion/{slug}", 2, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/opinion/latest", 3, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/tag/{tag}/page/{n:int}", 4, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "POST", "/opinion/{slug}", 5, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/static/{path:*}", 6, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/{yyyy:int}/{mm:int}/{slug:slug}", 7, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/{page}", 8, err, sizeof err) == 0);
  CHECK(qr_router_add(r, "GET", "/x/{a:*}/y", 9, err, sizeof err) == QR_EINVAL);
  CHECK(strstr(err, "must come last") != NULL);
  CHECK(qr_router_add(r, "GET", "/x/{a:float}", 9, err, sizeof err) == QR_EINVAL);
  CHECK(qr_router_add(r, "get", "/x", 9, err, sizeof err) == QR_EINVAL);
  CHECK(qr_router_add(r, "GET", "nope", 9, err, sizeof err) == QR_EINVAL);

  qr_route_param_t p[QR_ROUTE_MAX_PARAMS];
  int np = 0;
  CHECK(match(r, "GET", "/", p, &np, allow) == 1);
  CHECK(match(r, "GET", "/opinion/a-bridge", p, &np, allow) == 2);
  CHECK(np == 1 && p[0].value_len == 8 && memcmp(p[0].value, "a-bridge", 8) == 0);
  CHECK(match(r, "GET", "/opinion/latest", p, &np, allow) == 3); /* literal beats parameter */
  CHECK(match(r, "HEAD", "/opinion/latest", p, &np, allow) == 3); /* HEAD uses GET routes */
  CHECK(match(r, "POST", "/opinion/x", p, &np, allow) == 5);
  CHECK(match(r, "GET", "/tag/china/page/2", p, &np, allow) == 4);
  CHECK(np == 2 && memcmp(p[1].name, "n", 1) == 0 && memcmp(p[1].value, "2", 1) == 0);
  CHECK(match(r, "GET", "/tag/china/page/two", p, &np, allow) == QR_ENOENT);
  CHECK(match(r, "GET", "/static/css/site.css", p, &np, allow) == 6);
  CHECK(np == 1 && p[0].value_len == 12);
  CHECK(match(r, "GET", "/static/", p, &np, allow) == 6);
  CHECK(np == 1 && p[0].value_len == 0);
  /* No segment for {path:*}: not its route (its value's length once wrapped around past the path) */
  CHECK(match(r, "GET", "/static", p, &np, allow) == 8);
  CHECK(np == 1 && p[0].value_len == 6 && memcmp(p[0].value, "static", 6) == 0);
  CHECK(match(r, "GET", "/2026/03/harbour-bridge", p, &np, allow) == 7);
  CHECK(match(r, "GET", "/2026/03/Harbour_Bridge", p, &np, allow) == QR_ENOENT);
  CHECK(match(r, "GET", "/about", p, &np, allow) == 8);
  CHECK(match(r, "GET", "/about/", p, &np, allow) == QR_ENOENT); /* no trailing-slash guessing */
  CHECK(match(r, "GET", "/opinion/", p, &np, allow) == QR_ENOENT);
  CHECK(match(r, "DELETE", "/opinion/x", p, &np, allow) == QR_EMETHOD);
  CHECK_STR(allow, "GET, HEAD, POST");
  CHECK(match(r, "GET", "", p, &np, allow) == QR_ENOENT);
  qr_router_free(r);
  return check_summary("test_router");
}
