/* Routing: method + path pattern -> handler id, with typed parameters, 404 and 405 + Allow. */
#ifndef QR_ROUTER_H
#define QR_ROUTER_H
#include <stddef.h>

typedef struct qr_router_s qr_router_t;

/* A matched parameter: name and value point into the pattern and the path given to match
 * (borrowed until the router is freed or the path buffer changes). The value is not
 * percent-decoded. */
typedef struct {
  const char *name, *value;
  size_t name_len, value_len;
} qr_route_param_t;

#define QR_ROUTE_MAX_PARAMS 16

/* Owned by the caller; free with qr_router_free. */
qr_router_t *qr_router_new(void);
void qr_router_free(qr_router_t *r);

/* Adds a route. pattern is "/literal/{name}/{n:int}/{rest:*}": a segment is a literal, a
 * parameter ({name}, {name:int}, {name:slug}) or, last only, a catch-all ({name:*}). method is
 * an upper-case token or "*" for any. Returns 0, or QR_EINVAL with a message in err. Copies
 * method and pattern. */
int qr_router_add(qr_router_t *r, const char *method, const char *pattern, int handler, char *err,
                  size_t errlen);

/* Matches path (without the query string). On a match returns 0 and sets *handler and params
 * (up to QR_ROUTE_MAX_PARAMS). When no pattern matches returns QR_ENOENT (404). When patterns
 * match but not for this method returns QR_EMETHOD (405) and writes the allowed methods, comma
 * separated, into allow. The most specific pattern wins: literals before typed parameters before
 * plain parameters before catch-alls, segment by segment, then the earliest added. HEAD matches
 * GET routes. */
int qr_router_match(const qr_router_t *r, const char *method, const char *path, size_t path_len,
                    int *handler, qr_route_param_t *params, int *nparams, char *allow,
                    size_t allow_len);

#endif
