/* Static files: folders mounted at URL prefixes, served with safe path resolution, types,
 * validators (ETag, Last-Modified), single byte ranges and long caching for fingerprinted names. */
#ifndef QR_STATIC_H
#define QR_STATIC_H
#include "http.h"

typedef struct qr_static_s qr_static_t;

/* Owned by the caller; free with qr_static_free. */
qr_static_t *qr_static_new(void);
void qr_static_free(qr_static_t *st);

/* Serves files under dir at URL prefix (e.g. "/static/comments/" or "/"). dir must exist;
 * its real path is taken now, so a symlink inside it cannot lead outside. Copies both. */
int qr_static_mount(qr_static_t *st, const char *prefix, const char *dir);

/* Answers req from the mounted folders when a file matches: returns 1 with res filled (200,
 * 206, 304, 416; 400 for a GET or HEAD of a path qr_http_path_problem refuses, mounted there or
 * not), or 0 when no mounted file matches (the request goes on to the router).
 * Only GET and HEAD are answered; files over QR_STATIC_MAX are not served from here. */
int qr_static_serve(const qr_static_t *st, const qr_http_request_t *req, qr_http_response_t *res);

/* Whether a path beneath a mount (or one name) is hidden: a segment starting with ".", but
 * .well-known (ACME challenges, security.txt). Never served, nor exported (quire export). */
int qr_static_hidden(const char *rel);

#define QR_STATIC_MAX (64u * 1024 * 1024)

#endif
