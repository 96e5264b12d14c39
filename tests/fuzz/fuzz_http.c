/* Fuzz target: the HTTP/1.1 server (llhttp with our limits, keep-alive, pipelining, chunked
 * bodies, 100-continue) and the router, over a real loopback socket: each input is sent as the
 * bytes of one connection, then the write side is shut and the answer read until the server
 * closes. Limits are small so inputs reach them; timeouts are short so a stalled input costs
 * little. Every request is routed; the handler answers with the route and its parameters. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz.h"
#include "http.h"
#include "router.h"

static uv_loop_t loop;
static qr_router_t *router;
static struct sockaddr_in addr;

static void handle(void *ud, const qr_http_request_t *req, qr_http_response_t *res) {
  (void)ud;
  size_t path_len = 0;
  while (path_len < req->target_len && req->target[path_len] != '?') path_len++;
  int handler = 0, nparams = QR_ROUTE_MAX_PARAMS;
  qr_route_param_t params[QR_ROUTE_MAX_PARAMS];
  char allow[128];
  int rc = qr_router_match(router, req->method, req->target, path_len, &handler, params, &nparams, allow, sizeof allow);
  if (rc == QR_EMETHOD) {
    res->status = 405;
    qr_http_response_header(res, "Allow", allow);
    return;
  }
  if (rc != 0) {
    res->status = 404;
    return;
  }
  char line[64];
  qr_buf_append(&res->body, line, (size_t)snprintf(line, sizeof line, "route %d\n", handler));
  for (int i = 0; i < nparams; i++) {
    qr_buf_append(&res->body, params[i].name, params[i].name_len);
    qr_buf_append(&res->body, "=", 1);
    qr_buf_append(&res->body, params[i].value, params[i].value_len);
    qr_buf_append(&res->body, "\n", 1);
  }
  const char *host = qr_http_header(req, "host");
  if (host) qr_http_response_header(res, "X-Host", host);
  qr_buf_append(&res->body, req->body.data ? req->body.data : "", req->body.len);
  res->status = 200;
}

static void setup(void) {
  uv_loop_init(&loop);
  router = qr_router_new();
  static const char *const routes[][2] = {{"GET", "/"}, {"GET", "/{yyyy:int}/{mm:int}/{slug:slug}"},
      {"GET", "/tag/{name}"}, {"POST", "/comments/{id:int}"}, {"*", "/static/{path:*}"}, {"PUT", "/tag/{name}"}};
  char err[128];
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (qr_router_add(router, routes[i][0], routes[i][1], (int)i, err, sizeof err) != 0) abort();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
    abort();
  qr_http_limits_t limits;
  qr_http_limits_default(&limits);
  limits.request_line_max = 1024;
  limits.header_max = 1024;
  limits.headers_max = 4096;
  limits.header_count_max = 20;
  limits.body_max = 4096;
  limits.header_timeout_ms = 100;
  limits.idle_timeout_ms = 100;
  limits.write_queue_max = 64 * 1024;
  qr_http_listener_t listener = {fd, NULL};
  qr_http_callbacks_t cbs = {.handle = handle};
  qr_http_server_t *server;
  if (qr_http_server_start(&server, &loop, &listener, 1, &limits, &cbs) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!router) setup();
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c < 0) abort();
  if (connect(c, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) abort();
  size_t sent = 0, got = 0;
  int shut = 0, closed = 0;
  char buf[65536], head[8];
  /* The server must end every exchange by itself: its header and keep-alive timeouts are 100 ms. */
  uint64_t deadline = uv_hrtime() + 3000000000ull;
  while (uv_hrtime() < deadline) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (sent < size) {
      ssize_t n = send(c, data + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) sent += (size_t)n;
      else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) break;
    } else if (!shut) {
      shutdown(c, SHUT_WR);
      shut = 1;
    }
    ssize_t r = recv(c, buf, sizeof buf, 0);
    if (r > 0 && got < sizeof head) memcpy(head + got, buf, (size_t)r < sizeof head - got ? (size_t)r : sizeof head - got);
    if (r > 0) got += (size_t)r;
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)) { /* closed */
      closed = 1;
      break;
    }
    if (r < 0) {
      struct pollfd p = {c, POLLIN, 0};
      poll(&p, 1, 1);
    }
  }
  close(c);
  for (int i = 0; i < 4; i++) uv_run(&loop, UV_RUN_NOWAIT); /* let the server close its side */
  if (!closed) {
    fprintf(stderr, "fuzz: the server kept the connection open for 3 s (%zu of %zu bytes sent)\n", sent, size);
    abort();
  }
  if (got && (got < 7 || memcmp(head, "HTTP/1.", 7) != 0)) {
    fprintf(stderr, "fuzz: the answer does not start with a status line: %.*s\n", (int)(got < 8 ? got : 8), head);
    abort();
  }
  return 0;
}
