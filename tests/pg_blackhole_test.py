#!/usr/bin/env python3
"""A database that vanishes without a reset (issue 20): the node reaches PostgreSQL through a
TCP proxy that, on blackhole(), stops forwarding while keeping every socket open, and keeps
accepting new connections that it never forwards either (packets dropped: neither TCP nor
libpq's keepalives notice, the kernel acknowledges what is sent). With
limits.db_timeout_ms = 1500:
- pages the worker's cache holds keep coming, quickly, all along;
- a page no cache holds, a write through the Admin API and a staff page answer 503 with
  Retry-After and the store_unavailable message within the bound (well inside the watchdog's
  10 s), then at once while the connection is retried, never hanging;
- the health probe (/healthz) says 503 within the bound, then 200 again after the heal; Varnish
  with docs/varnish.vcl (when installed) marks the node sick by it, keeps serving the pages it
  holds, and answers the rest with its own 503 page (JSON store_unavailable under /api/), not
  Varnish's generic one; healthy again after the heal;
- the edge purger (a small HTTP server here) logs one line when its rounds start failing and
  one, with their count, when they resume; purges reach it again after the heal;
- heal(): the node takes writes and renders again by itself; no worker was killed by the watchdog.
Before all that, a read replica that never answers (a port whose connections the kernel accepts
and nobody reads) holds no anonymous render: the primary renders while its connection is tried,
without waiting, and it is logged as skipped once.
usage: pg_py.sh pg_blackhole_test.py QUIRE_BINARY SOURCE_DIR"""
import http.server as hs, json, os, re, shutil, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nodes_lib import PG_DIR, check, psql, new_db, quire, start_node, http, token, editor_key
import nodes_lib as nl

work = tempfile.mkdtemp(prefix="quire-pg-blackhole-")
site = os.path.join(work, "site")
BOUND_MS = 1500  # the checks "within the bound" allow 4 s more (a sanitizer build at load), still well inside the watchdog's 10 s


class Purges(hs.BaseHTTPRequestHandler):
    """An edge cache's PURGE address: records the xkey-purge headers it gets, answers 200."""
    got = []

    def do_PURGE(self):
        Purges.got.append((time.monotonic(), self.headers.get("xkey-purge", "")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def varnishadm(*args):
    return subprocess.run(["varnishadm", "-n", os.path.join(work, "varnish"), *args], capture_output=True, text=True,
                          timeout=10).stdout


def start_varnish(port):
    """varnishd with docs/varnish.vcl, both of its backends this node; its URL, or None when not installed."""
    if not shutil.which("varnishd") or not shutil.which("varnishadm"):
        print("note: varnishd not installed: the edge part is left out (make deps installs varnish)", flush=True)
        return None
    vcl = os.path.join(work, "edge.vcl")
    src = open(os.path.join(nl.SRC, "docs", "varnish.vcl")).read()
    open(vcl, "w").write(src.replace("@PORT_A@", str(port)).replace("@PORT_B@", str(port)))
    nl.procs["varnish"] = subprocess.Popen(
        ["varnishd", "-F", "-j", "none", "-n", os.path.join(work, "varnish"), "-a", "127.0.0.1:0", "-T", "127.0.0.1:0",
         "-f", vcl, "-s", "malloc,32m"], stdout=open(os.path.join(work, "varnish.log"), "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    for _ in range(200):
        m = re.search(r"127\.0\.0\.1 (\d+)", varnishadm("debug.listen_address"))
        if m:
            return f"http://127.0.0.1:{m.group(1)}"
        if nl.procs["varnish"].poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit("varnishd did not start: " + open(os.path.join(work, "varnish.log")).read())


def edge_health(want, seconds=15):
    """Waits until both backends are `want` (healthy or sick) in Varnish's eyes."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        out = varnishadm("backend.list")
        if len(re.findall(rf"node_[ab] .*\b{want}\b", out)) == 2:
            return True
        time.sleep(0.1)
    return False


def timed(method, url, **kw):
    t = time.monotonic()
    st, h, body = http(method, url, timeout=30, **kw)
    return st, h, body, time.monotonic() - t


def unavailable(st, h, body, api):
    if st != 503 or h.get("Retry-After") != "5":
        return False
    if api:
        try:
            return json.loads(body)["error"]["code"] == "store_unavailable"
        except (ValueError, KeyError, TypeError):
            return False
    return b"database cannot be reached" in body


try:
    new_db("blackhole")
    proxy = nl.DbProxy(os.path.join(PG_DIR, ".s.PGSQL.5432"))
    url = f"postgresql://quire@127.0.0.1:{proxy.port}/blackhole"
    quire("init", "--demo", "--database", url, site)
    dead = socket.socket()  # a standby host that has gone silent: connections complete, nothing answers
    dead.bind(("127.0.0.1", 0))
    dead.listen(64)
    edge = hs.ThreadingHTTPServer(("127.0.0.1", 0), Purges)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    purger = f"http://127.0.0.1:{edge.server_address[1]}/"
    with open(os.path.join(site, "site.lua"), "a") as f:
        f.write(f'\nlimits = {{ db_timeout_ms = {BOUND_MS} }}\naccess_log = "off"\napi = {{ admin_rate = 1000000 }}\n'
                f'read_replicas = {{ "postgresql://quire@127.0.0.1:{dead.getsockname()[1]}/blackhole" }}\n'
                f'purgers = {{ "{purger}" }}\n')
    key = editor_key(site)
    auth = {"Authorization": "Bearer " + token(key)}
    # One worker: its page cache is the one the readers hit, and it is the one that waits.
    port = start_node("a", site, work, workers=1)
    node = f"http://127.0.0.1:{port}"
    pages = ["/"]
    for slug, published in psql("blackhole", "SELECT slug, published_at FROM entries WHERE type = 'article'"
                                " AND status = 'published' ORDER BY id LIMIT 6"):
        pages.append(f"/{published[:4]}/{published[5:7]}/{slug}")
    # Anonymous renders (each search a new page) while the standby is silent, for 4 s: its
    # connection (2 s to give up, then 1 s, 2 s ... between tries) never holds one.
    worst, n, t_end = 0.0, 0, time.monotonic() + 4
    while time.monotonic() < t_end:
        n += 1
        st, _, _, took = timed("GET", node + f"/search?q=standby{n}")
        worst = max(worst, took) if st == 200 else 99
        time.sleep(0.05)
    print(f"renders with a silent standby: {n}, slowest {worst * 1000:.0f} ms", flush=True)
    check("a silent read replica holds no render", worst < 1.0, worst)
    log = open(os.path.join(work, "a.log")).read()
    check("the silent read replica is logged as skipped, once",
          log.count("read replica 1 (postgresql://quire@127.0.0.1:") == 1 and "no answer within 2000 ms" in log, log[-1500:])
    for p in pages:
        http("GET", node + p)
    kept = [http("GET", node + p)[1].get("X-Cache") == "hit" for p in pages]
    check("pages kept by the node's cache before the fault", all(kept) and len(pages) >= 4, list(zip(pages, kept)))
    st, _, _ = http("POST", node + "/api/admin/v1/entries", {"type": "article", "title": "Before the blackhole"}, auth)
    check("a write before the fault", st == 201, st)
    for p in pages:  # kept again after the write's purge
        http("GET", node + p)
    edge = start_varnish(port)
    if edge:
        check("Varnish sees the node healthy", edge_health("healthy"), varnishadm("backend.list"))
        http("GET", edge + pages[1])
        check("a page kept at the edge", http("GET", edge + pages[1])[1].get("X-Edge") == "hit")
    st, h, body, _ = timed("GET", node + "/healthz")
    check("the health probe says 200 while the database answers, never to be kept",
          st == 200 and "no-store" in h.get("Cache-Control", ""), (st, h, body))

    proxy.blackhole()
    t_fault = time.monotonic()
    # A page no cache holds: the render meets the silent database.
    st, h, body, took = timed("GET", node + "/search?q=blackhole1")
    print(f"uncached page during the blackhole: {st} in {took * 1000:.0f} ms", flush=True)
    check("a page no cache holds: 503 with Retry-After and the message, within the bound",
          unavailable(st, h, body, False) and took < BOUND_MS / 1000 + 4, (st, h, body[:300], took))
    st, h, body, took = timed("POST", node + "/api/admin/v1/entries", body={"type": "article", "title": "In the hole"},
                              headers=auth)
    print(f"write during the blackhole: {st} in {took * 1000:.0f} ms", flush=True)
    check("a write: 503 store_unavailable, within the bound", unavailable(st, h, body, True) and took < BOUND_MS / 1000 + 4,
          (st, body[:300], took))
    # Readers of kept pages, for 3 s, while uncached requests keep meeting the fault.
    slow, errors, n, worst, worst_miss = [], [], 0, 0.0, 0.0
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        n += 1
        p = pages[n % len(pages)]
        st, h, body, took = timed("GET", node + p)
        worst = max(worst, took)
        if st != 200:
            errors.append((p, st))
        if n % 10 == 0:
            st2, h2, body2, took2 = timed("GET", node + f"/search?q=blackhole{n}")
            worst_miss = max(worst_miss, took2)
            # the database known away: a new connection is waited for 100 ms at most
            if not unavailable(st2, h2, body2, False) or took2 > 0.5:
                slow.append((st2, took2, body2[:120]))
    print(f"kept pages during the blackhole: {n} requests, slowest {worst * 1000:.0f} ms;"
          f" uncached ones 503, slowest {worst_miss * 1000:.0f} ms", flush=True)
    check("kept pages keep coming while the database is silent", n > 20 and not errors, errors[:5])
    check("kept pages are not held by the retried connection", worst < 1.0, worst)
    check("uncached pages then answer 503 at once (within 0.5 s)", not slow, slow[:3])
    st, h, body, took = timed("GET", node + "/healthz")
    print(f"health probe during the blackhole: {st} in {took * 1000:.0f} ms: {body!r}", flush=True)
    check("the health probe says 503 within the bound, and nothing more", st == 503 and took < BOUND_MS / 1000 + 4
          and body == b"unavailable: the database cannot be reached\n", (st, body, took))

    if edge:
        check("Varnish marks the node sick by its health probe", edge_health("sick"), varnishadm("backend.list"))
        st, h, _ = http("GET", edge + pages[1])
        check("the edge keeps serving the page it holds", st == 200 and h.get("X-Edge") == "hit", (st, h))
        st, h, body = http("GET", edge + "/search?q=edge")
        check("a page the edge lacks: its own 503 page, not Varnish's", st == 503 and h.get("Retry-After") == "5"
              and b"The site cannot be reached just now" in body and b"Guru Meditation" not in body, (st, h, body[:300]))
        st, h, body = http("POST", edge + "/api/admin/v1/entries", {"type": "article", "title": "Through the edge"}, auth)
        check("a write through the edge: 503 store_unavailable", unavailable(st, h, body, True), (st, h, body[:300]))
    proxy.heal()
    t_heal, ok_at = time.monotonic(), None
    while time.monotonic() - t_heal < 20:
        st, _, body = http("POST", node + "/api/admin/v1/entries", {"type": "article", "title": "After the blackhole"}, auth,
                           timeout=30)
        if st == 201:
            ok_at = time.monotonic() - t_heal
            break
        time.sleep(0.1)
    print(f"writes answered 201 again {ok_at if ok_at is None else round(ok_at, 2)} s after the heal", flush=True)
    check("writes succeed again by themselves", ok_at is not None)
    st, _, _ = http("GET", node + "/search?q=after")
    check("uncached pages render again", st == 200, st)
    st, _, body = http("GET", node + "/healthz")
    check("the health probe says 200 again", st == 200, (st, body))
    if edge:
        check("Varnish sees the node healthy again", edge_health("healthy"), varnishadm("backend.list"))
        st, _, _ = http("POST", edge + "/api/admin/v1/entries", {"type": "article", "title": "Edge after the blackhole"}, auth)
        check("writes through the edge again", st == 201, st)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10 and not any(t > t_heal for t, _ in Purges.got):
        time.sleep(0.1)
    check("the edge purges resume after the heal", any(t > t_heal and "entry:" in tags for t, tags in Purges.got),
          Purges.got[-3:])
    log = open(os.path.join(work, "a.log")).read()
    lines = [line for line in log.splitlines() if "edge purges to" in line]
    print("edge purger log:", *lines, sep="\n  ", flush=True)
    check("the edge purger logs one line when it stops and one when it resumes, with a count",
          len(lines) == 2 and "stopped:" in lines[0] and re.search(r"resumed after \d+ failed rounds in [\d.]+ s", lines[1]),
          lines[:10])
    log = open(os.path.join(work, "a.log")).read()
    check("no worker was stopped by the watchdog", "watchdog:" not in log, log[-2000:])
    titles = [t for (t,) in psql("blackhole", "SELECT title FROM entries WHERE title LIKE '%blackhole%' ORDER BY id")]
    want = ["Before the blackhole", "After the blackhole"] + (["Edge after the blackhole"] if edge else [])
    check("the writes answered 201 are in the database", titles == want, titles)
finally:
    nl.cleanup()
    if not nl.failed:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("kept for inspection:", work, file=sys.stderr)
nl.finish()
