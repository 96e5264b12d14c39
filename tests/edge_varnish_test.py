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
import os, re, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.error, urllib.request

QUIRE, SRC = sys.argv[1], sys.argv[2]
for tool in ("varnishd", "varnishadm", "wrk"):
    if not shutil.which(tool):
        print(f"SKIP: {tool} not installed (make deps installs varnish, varnish-modules and wrk)")
        sys.exit(77)

work = tempfile.mkdtemp(prefix="quire-edge-varnish-")
site, vdir = os.path.join(work, "site"), os.path.join(work, "varnish")
procs = {}  # name -> Popen (each in its own process group)
failed = 0


def check(what, ok, detail=""):
    global failed
    if not ok:
        failed += 1
        print(f"FAIL: {what} {detail}", file=sys.stderr)
    else:
        print(f"ok: {what}")


def stop(name, sig=signal.SIGTERM):
    p = procs.pop(name, None)
    if p and p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def cleanup():
    for name in list(procs):
        stop(name)
    shutil.rmtree(work, ignore_errors=True)


def varnishadm(*args):
    return subprocess.run(["varnishadm", "-n", vdir, *args], capture_output=True, text=True, timeout=10).stdout


def start_node(name):
    log = open(os.path.join(work, name + ".log"), "w")
    p = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0", "--workers", "2"],
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    procs[name] = p
    for _ in range(200):
        text = open(log.name).read()
        if "serving with" in text:
            return int(re.search(r"http://127\.0\.0\.1:(\d+)", text).group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"node {name} did not start:\n{open(log.name).read()}")


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


def vcl(port_a, port_b, name):
    path = os.path.join(work, name + ".vcl")
    src = open(os.path.join(SRC, "docs", "varnish.vcl")).read()
    open(path, "w").write(src.replace("@PORT_A@", str(port_a)).replace("@PORT_B@", str(port_b)))
    return path


def update(eid, title):
    subprocess.run([QUIRE, "entries", "update", str(eid), "--site", site, "--title", title],
                   check=True, capture_output=True)


def wait_title(url, title, limit=10.0):
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
    # Varnish first (on a dummy VCL) to learn its port; the nodes then name it as their purger.
    os.mkdir(vdir)
    procs["varnish"] = subprocess.Popen(
        ["varnishd", "-F", "-j", "none", "-n", vdir, "-a", "127.0.0.1:0", "-T", "127.0.0.1:0",
         "-f", vcl(1, 2, "boot"), "-s", "malloc,64m", "-p", "default_ttl=3600"],
        stdout=open(os.path.join(work, "varnish.log"), "w"), stderr=subprocess.STDOUT, start_new_session=True)
    vport = None
    for _ in range(200):
        m = re.search(r"127\.0\.0\.1 (\d+)", varnishadm("debug.listen_address"))
        if m:
            vport = int(m.group(1))
            break
        time.sleep(0.05)
    if not vport:
        raise SystemExit("varnishd did not start: " + open(os.path.join(work, "varnish.log")).read())
    edge = f"http://127.0.0.1:{vport}"
    with open(os.path.join(site, "site.lua"), "a") as f:
        f.write(f'\nedge_tags = true\npurgers = {{ "{edge}/" }}\n')
    port_a, port_b = start_node("a"), start_node("b")
    varnishadm("vcl.load", "nodes", vcl(port_a, port_b, "nodes"))
    varnishadm("vcl.use", "nodes")
    def healthy():
        return len(re.findall(r"node_[ab] .*\bhealthy\b", varnishadm("backend.list")))
    for _ in range(100):
        if healthy() == 2:
            break
        time.sleep(0.1)
    check("both nodes healthy behind Varnish", healthy() == 2, varnishadm("backend.list"))

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
        check(f"edit {i} reaches the edge within 10 s", d is not None)
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
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock_errors = sum(map(int, sock.groups())) if sock else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    print(f"wrk through Varnish, node B killed after 2 s: {total} requests, {non2xx} non-2xx, {sock_errors} socket errors")
    check("errors under a node kill stay within the requests in flight", non2xx + sock_errors <= conns, out)
    check("the load was real", total > 100, out)
    codes = [get(edge + f"/?after-kill={i}")[0] for i in range(20)]
    check("node A keeps serving through Varnish", codes == [200] * 20,
          f"{codes} {varnishadm('backend.list')} {open(os.path.join(work, 'a.log')).read()[-2000:]}")

    # Both nodes down, an edit from the CLI, node A back: the outbox drains from where it stopped.
    get(story)
    stop("a", signal.SIGKILL)
    update(eid, "Edge edit while down")
    port_a2 = start_node("a")
    varnishadm("vcl.load", "again", vcl(port_a2, port_b, "again"))
    varnishadm("vcl.use", "again")
    d = wait_title(story, "Edge edit while down", limit=30)
    check("an edit made while no server ran is purged once one is back", d is not None)
    if d is not None:
        print(f"purge after restart: {d:.1f} s (the dead sender's lease runs out first)")
finally:
    cleanup()
print("edge varnish test:", "FAILED" if failed else "passed")
sys.exit(1 if failed else 0)
