#!/usr/bin/env python3
"""Faults under load (issue 20): two `quire serve` nodes on PostgreSQL behind Debian's varnishd
with xkey and health probes (docs/varnish.vcl), wrk through Varnish and straight at node A (its
page cache), and an editor's Admin API writes through Varnish all along. The nodes reach
PostgreSQL through a small TCP proxy in this test, so the network between them can be cut.
- PostgreSQL restarted (pg_ctl stop, 3 s, start): the pages the caches hold keep coming (no
  error at all: the writes pause before the fault until every page a write made stale is kept
  again), writes answer 503 with a JSON message while it is down, then 201 again without
  touching the nodes;
- a partition: the proxy stops listening and resets every connection it carried (a firewall
  rejecting the database's port), 3 s, then listens again: the same;
- node B SIGKILLed (its process group) under wrk through Varnish asking for pages the edge has
  not got: errors stay within wrk's connections (the requests in flight);
- every write answered 2xx is in the database, with its title.
wrk's figures (requests, non-2xx, socket errors) are printed for each run.
usage: pg_py.sh pg_faults_test.py QUIRE_BINARY SOURCE_DIR"""
import json, os, re, signal, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nodes_lib import PG_DIR, check, psql, new_db, quire, start_node, stop, http, token, editor_key, wrk_figures, Varnish
import nodes_lib as nl

nl.require("varnishd", "varnishadm", "wrk")
work = tempfile.mkdtemp(prefix="quire-pg-faults-")
site = os.path.join(work, "site")


class Writer(threading.Thread):
    """An editor creating entries through the edge, one after the other, with Idempotency-Keys."""

    def __init__(self, edge, key):
        super().__init__(daemon=True)
        self.edge, self.key, self.log, self.running, self.n = edge, key, [], True, 0
        self.go, self.idle = threading.Event(), threading.Event()
        self.go.set()

    def run(self):
        while self.running:
            if not self.go.is_set():
                self.idle.set()
                self.go.wait()
                self.idle.clear()
            self.n += 1
            title = f"Fault write {self.n}"
            t = time.monotonic()
            st, h, body = http("POST", self.edge + "/api/admin/v1/entries", {"type": "article", "title": title},
                               {"Authorization": "Bearer " + token(self.key), "Idempotency-Key": os.urandom(8).hex()},
                               timeout=20)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            self.log.append((t, st, title, doc, body[:200], time.monotonic()))
            time.sleep(0.02)


def wrk(url, script, seconds, conns=16):
    return subprocess.Popen(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", script, url],
                            stdout=subprocess.PIPE, text=True)


def figures(name, p):
    out = p.communicate(timeout=120)[0]
    total, non2xx, sock = wrk_figures(out)
    print(f"wrk {name}: {total} requests, {non2xx} non-2xx/3xx, {sock} socket errors", flush=True)
    return total, non2xx, sock, out


# wrk: answers counted by status in each thread, summed at the end ("status 200: N" lines).
COUNT_STATUSES = """
local threads = {}
function setup(thread) threads[#threads + 1] = thread end
codes = {}
function response(status) codes[status] = (codes[status] or 0) + 1 end
function done()
  local all = {}
  for _, t in ipairs(threads) do for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v end end
  for k, v in pairs(all) do io.write(("status %d: %d\\n"):format(k, v)) end
end
"""


def statuses(out):
    return {int(k): int(v) for k, v in re.findall(r"status (\d+): (\d+)", out)}


def writes_between(w, t0, t1):
    return [x for x in w.log if t0 <= x[0] < t1]


def writes_within(w, t0, t1):
    """Sent after t0 and answered before t1: a write sent just before the database came back
    may rightly succeed once it has."""
    return [x for x in w.log if t0 <= x[0] and x[5] < t1]


def outage(name, down, up, writer, edge, node_a, pages_script, pages, nodes):
    """The writes pause until every page is kept at the edge and by both nodes (the last write
    made some stale), so all the pages are there when the database goes. Then wrk through the
    edge and at node A for 10 s, the fault from 1.5 s to 4.5 s; the writes start again (and
    fail) once it is gone, so none drops a page during the fault."""
    writer.go.clear()
    writer.idle.wait(30)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        kept = [http("GET", edge + p)[1].get("X-Edge") == "hit" and all(
                http("GET", n + p)[1].get("X-Cache") == "hit" for n in nodes) for p in pages]
        if all(kept):
            break
    check(f"{name}: every page kept at the edge and by both nodes before the fault", all(kept))
    t_start = time.monotonic()
    p_edge, p_node = wrk(edge + "/", pages_script, 10), wrk(node_a + "/", pages_script, 10)
    time.sleep(1.5)
    down()
    t_down = time.monotonic()
    writer.go.set()
    time.sleep(3)
    t_up = time.monotonic()
    up()
    for where, p in (("through Varnish", p_edge), ("at node A", p_node)):
        total, non2xx, sock, out = figures(f"{name}, {where}", p)
        by = statuses(out)
        print(f"  by status: {by}", flush=True)
        check(f"{name}, {where}: every page served while PostgreSQL was away", total > 100 and non2xx == 0 and sock == 0, out)
    during = writes_within(writer, t_down, t_up)
    codes = sorted({x[1] for x in during})
    clear = [x for x in during if x[1] == 503 and x[3] and x[3].get("error", {}).get("code") == "store_unavailable"]
    print(f"{name}: {len(during)} writes while down, statuses {codes}; e.g. {during[-1][4] if during else ''}", flush=True)
    check(f"{name}: writes while down answer 503 with a clear message",
          during and len(clear) == len(during), [(x[1], x[4]) for x in during if x not in clear][:5])
    # Reconnected by themselves: the first 201 after the fault ended.
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        ok = [x for x in writer.log if x[0] >= t_up and x[1] == 201]
        if ok:
            print(f"{name}: writes answered 201 again {ok[0][0] - t_up:.2f} s after the fault ended", flush=True)
            break
        time.sleep(0.1)
    check(f"{name}: writes succeed again without touching the nodes", any(x[0] >= t_up and x[1] == 201 for x in writer.log))
    other = [(x[1], x[4]) for x in writes_between(writer, t_start, time.monotonic()) if x[1] not in (201, 503)]
    check(f"{name}: no write answered other than 201 or 503", not other, other[:5])


try:
    url_unix = new_db("faults")
    quire("init", "--demo", site)
    quire("jobs", "run", site=site)
    quire("store", "copy", "--to", url_unix, site=site)
    proxy = nl.DbProxy(os.path.join(PG_DIR, ".s.PGSQL.5432"))
    # Varnish first (a placeholder VCL) to learn its port; the nodes name it as their purger.
    varnish = Varnish(work)
    edge = varnish.edge
    lua = open(os.path.join(site, "site.lua")).read()
    lua = re.sub(r'(?m)^database *=.*$', "", lua)
    check("the related plugin is on", '"related"' in lua)
    open(os.path.join(site, "site.lua"), "w").write(
        lua + f'\ndatabase = "postgresql://quire@127.0.0.1:{proxy.port}/faults?connect_timeout=2"\n'
        f'edge_tags = true\npurgers = {{ "{edge}/" }}\napi = {{ admin_rate = 1000000 }}\naccess_log = "off"\n')
    key = editor_key(site)
    # One worker each: one page cache per node, so "kept by the node" is one thing to check.
    port_a, port_b = start_node("a", site, work, workers=1), start_node("b", site, work, workers=1)
    nodes = [f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"]
    check("both nodes healthy behind Varnish", varnish.use(port_a, port_b, "nodes") == 2, varnish.adm("backend.list"))
    node_a = f"http://127.0.0.1:{port_a}"

    # Pages: the home, stories, sections and tags; kept at the edge and in node A's workers.
    pages = ["/"]
    for slug, published in psql("faults", "SELECT slug, published_at FROM entries WHERE type = 'article'"
                                " AND status = 'published' ORDER BY id LIMIT 8"):
        pages.append(f"/{published[:4]}/{published[5:7]}/{slug}")
    for taxonomy, slug in psql("faults", "SELECT taxonomy, slug FROM terms ORDER BY id LIMIT 8"):
        pages.append(f"/{taxonomy}/{slug}")
    pages = [p for p in pages if http("GET", node_a + p)[0] == 200]
    check("pages to load", len(pages) >= 8, pages)
    script = os.path.join(work, "pages.lua")
    open(script, "w").write("local pages = {" + ",".join(json.dumps(p) for p in pages) + "}\nlocal i = 0\n"
                            "request = function() i = i + 1; return wrk.format(nil, pages[i % #pages + 1]) end\n"
                            + COUNT_STATUSES)
    writer = Writer(edge, key)
    writer.start()
    # Warm: the writes purge list pages, so the load itself keeps every page fresh in the caches.
    figures("warm-up, at node A", wrk(node_a + "/", script, 2))

    outage("PostgreSQL restarted", lambda: nl.pg("pg_server_stop"), lambda: nl.pg("pg_server_start"),
           writer, edge, node_a, script, pages, nodes)
    outage("partition (the database's port rejected)", proxy.cut, proxy.heal, writer, edge, node_a, script, pages, nodes)

    # Node B killed under wrk through Varnish, on pages the edge has not got (a query each).
    miss = os.path.join(work, "miss.lua")
    open(miss, "w").write('local n = 0\nrequest = function() n = n + 1; return wrk.format(nil, "/?fault=" .. n) end\n')
    conns = 16
    p = wrk(edge + "/", miss, 6, conns)
    time.sleep(2)
    stop("b", signal.SIGKILL)
    total, non2xx, sock, out = figures("through Varnish, node B SIGKILLed after 2 s", p)
    check("a node killed: errors stay within the requests in flight", non2xx + sock <= conns, out)
    check("a node killed: the load was real", total > 100, out)

    writer.running = False
    writer.join(30)
    ok = [x for x in writer.log if x[1] == 201]
    ids = {int(x[3]["entries"][0]["id"]): x[2] for x in ok}
    stored = {int(i): t for i, t in psql("faults", "SELECT id, title FROM entries WHERE title LIKE 'Fault write %'")}
    missing = {i: t for i, t in ids.items() if stored.get(i) != t}
    print(f"writes: {len(writer.log)} sent, {len(ok)} answered 201, "
          f"{sum(1 for x in writer.log if x[1] == 503)} answered 503, {len(stored)} in the database", flush=True)
    check("every write answered 201 is in the database with its title", ids and not missing, list(missing.items())[:5])
finally:
    nl.cleanup(work)
nl.finish()
