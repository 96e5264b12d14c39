# Varnish in front of quire nodes, purged by tag (issue 20). Needs varnish-modules (xkey).
# site.lua on every node:   edge_tags = true
#                           purgers = { "http://VARNISH_HOST:6081/" }
# Pages carry their cache tags as Surrogate-Key; xkey indexes them, and a write's PURGE with an
# "xkey-purge: tag tag ..." header drops exactly the pages that showed what changed.
# tests/edge_varnish_test.sh runs this file with its backends' ports filled in.
vcl 4.1;

import directors;
import std;
import xkey;

# /healthz answers 200 while the node reaches its database, 503 when not (never cached): a
# node cut off from PostgreSQL is sick like a dead one, and the edge serves what it holds.
probe quire_up {
  .url = "/healthz";
  .interval = 500ms;
  .timeout = 2s;     # a busy node is slow, not dead
  .window = 5;
  .threshold = 3;
}

backend node_a { .host = "127.0.0.1"; .port = "@PORT_A@"; .probe = quire_up; }
backend node_b { .host = "127.0.0.1"; .port = "@PORT_B@"; .probe = quire_up; }

# Only the nodes may purge.
acl purgers { "127.0.0.1"; "::1"; }

sub vcl_init {
  new nodes = directors.round_robin();
  nodes.add_backend(node_a);
  nodes.add_backend(node_b);
}

sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) { return (synth(403, "Forbidden")); }
    if (!req.http.xkey-purge) { return (synth(400, "PURGE needs an xkey-purge header")); }
    set req.http.n-gone = xkey.purge(req.http.xkey-purge);
    return (synth(200, "Purged " + req.http.n-gone + " objects"));
  }
  set req.backend_hint = nodes.backend();
  # Pages past their TTL are given stale for 10 s while one renders again; with every node
  # sick, for as long as the edge holds them (beresp.grace below).
  if (std.healthy(req.backend_hint)) { set req.grace = 10s; }
  # Staff (signed in) are never served from the edge, nor is a reader who just wrote, for the
  # few seconds of the quire_lsn cookie (read-your-writes; README, read replicas).
  if (req.http.Cookie ~ "(^|; )((__Host-)?quire_session|quire_lsn)=") { return (pass); }
  unset req.http.Cookie;
}

sub vcl_backend_response {
  if (beresp.http.Surrogate-Key) {
    # Purges keep tagged pages fresh, so the edge may hold them long.
    set beresp.http.xkey = beresp.http.Surrogate-Key;
    set beresp.ttl = 1h;
  }
  set beresp.grace = 6h;
}

# A node that went away (refused the connection, or died before its answer): try the other
# node once (GET and HEAD only), until the probe marks the dead one sick. With more nodes, list
# them here in a ring.
sub vcl_backend_error {
  if (bereq.retries < 1 && (bereq.method == "GET" || bereq.method == "HEAD")) {
    if (beresp.backend == node_a) { set bereq.http.X-Retry-On = "b"; } else { set bereq.http.X-Retry-On = "a"; }
    return (retry);
  }
  # No node could answer (all sick: the database away, or the nodes down): say so as quire
  # does (JSON under /api/), not with Varnish's own page. A write may not have been saved.
  set beresp.status = 503;
  set beresp.ttl = 0s;
  set beresp.http.Retry-After = "5";
  set beresp.http.Cache-Control = "no-store";
  if (bereq.url ~ "^/api/") {
    set beresp.http.Content-Type = "application/json; charset=utf-8";
    synthetic({"{"error":{"code":"store_unavailable","message":"the site cannot be reached just now; a change sent with this request may not have been saved: try again in a few seconds","status":503}}"});
  } else {
    set beresp.http.Content-Type = "text/html; charset=utf-8";
    synthetic({"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Service unavailable</title></head>
<body><main><h1>Service unavailable</h1>
<p>The site cannot be reached just now. Please try again in a few seconds.</p></main></body></html>
"});
  }
  return (deliver);
}

sub vcl_backend_fetch {
  if (bereq.http.X-Retry-On == "a") { set bereq.backend = node_a; }
  if (bereq.http.X-Retry-On == "b") { set bereq.backend = node_b; }
  unset bereq.http.X-Retry-On;
}

sub vcl_deliver {
  if (obj.hits > 0) { set resp.http.X-Edge = "hit"; } else { set resp.http.X-Edge = "miss"; }
  unset resp.http.xkey;
}
