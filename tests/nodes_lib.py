"""Shared by the multi-node tests (pg_nodes_test.py, pg_faults_test.py on PostgreSQL,
edge_varnish_test.py on SQLite): nodes (`quire serve` in their own process groups), Varnish in
front of two of them (docs/varnish.vcl), the throw-away cluster of tests/pg_cluster.sh (started by
tests/pg_py.sh, which runs the PostgreSQL ones; PG_DIR names it), HTTP, Admin API tokens, wrk's
figures. A test calls cleanup(work) in a `finally` and then finish()."""
import base64, hashlib, hmac, json, os, re, select, shutil, signal, socket, struct, subprocess, sys, threading, time
import urllib.error, urllib.request

QUIRE, SRC = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
CLUSTER = os.path.join(SRC, "tests", "pg_cluster.sh")
PG_DIR = os.environ.get("PG_DIR")  # None outside tests/pg_py.sh
procs = {}  # name -> Popen, each in its own process group
failed = 0


def check(what, ok, detail=""):
    global failed
    if ok:
        print(f"ok: {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL: {what} {str(detail)[:3000]}", file=sys.stderr, flush=True)
    return ok


class DbProxy:
    """TCP on 127.0.0.1 -> PostgreSQL's Unix socket (upstream), to make network faults. cut():
    stop listening and reset every connection (a partition the nodes see at once); blackhole():
    keep every connection, old and new, open and forward nothing (packets dropped, no answer);
    heal() ends either: it listens again on the same port, and closes what the blackhole held (as
    a router's state would be lost)."""

    def __init__(self, upstream):
        self.upstream, self.port, self.sock, self.conns, self.held = upstream, 0, None, [], []
        self.lock, self.holes = threading.Lock(), threading.Event()
        self.listen()

    def listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        with self.lock:
            self.port, self.sock = s.getsockname()[1], s
        threading.Thread(target=self.accept, args=(s,), daemon=True).start()

    def accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            if self.holes.is_set():
                with self.lock:
                    self.held.append(c)  # accepted (the kernel did it), never answered
                continue
            u = socket.socket(socket.AF_UNIX)
            try:
                u.connect(self.upstream)
            except OSError:
                c.close()
                continue
            with self.lock:
                if s is not self.sock:  # accepted just as the port was cut: it is cut too
                    c.close()
                    u.close()
                    continue
                self.conns.append((c, u))
            threading.Thread(target=self.pump, args=(c, u), daemon=True).start()

    def pump(self, c, u):
        try:
            while True:
                r, _, _ = select.select([c, u], [], [], 0.05)
                if self.holes.is_set():  # dropped on the floor: read nothing, send nothing, close nothing
                    with self.lock:
                        self.held += [c, u]
                    return
                for a in r:
                    data = a.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (u if a is c else c).sendall(data)
        except (OSError, ValueError):
            for x in (c, u):
                try:
                    x.close()
                except OSError:
                    pass

    def cut(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() and stops listening
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns, self.conns, self.sock = self.conns, [], None
        for c, u in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                c.shutdown(socket.SHUT_RDWR)
                u.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def blackhole(self):
        self.holes.set()
        time.sleep(0.2)  # every pump has seen it

    def heal(self):
        with self.lock:
            held, self.held = self.held, []
        for x in held:
            x.close()
        self.holes.clear()
        if self.sock is None:
            self.listen()


def pg(fn):
    """Runs a function of tests/pg_cluster.sh (pg_server_stop, pg_server_start) on this cluster."""
    subprocess.run(["bash", "-c", 'set -e; . "$0"; PG_RUNAS=(); [ "$(id -u)" = 0 ] && '
                    'PG_RUNAS=(runuser -u "$(stat -c %U "$PG_DIR")" --); ' + fn, CLUSTER], check=True)


def psql(db, sql):
    r = subprocess.run([os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql"), "-h", PG_DIR,
                        "-U", "postgres", "-d", db, "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, check=True)
    return [line.split("\t") for line in r.stdout.splitlines()]


def new_db(name):
    psql("postgres", f'CREATE DATABASE "{name}" OWNER quire')
    return "postgresql://quire@" + PG_DIR.replace("/", "%2F") + "/" + name


def quire(*args, site=None, check_rc=True):
    r = subprocess.run([QUIRE, *args, *(["--site", site] if site else [])], capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise SystemExit(f"quire {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def start_node(name, site, work, workers=2, args=()):
    log = os.path.join(work, name + ".log")
    p = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0", "--workers", str(workers), *args],
                         stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
    procs[name] = p
    start = os.path.getsize(log) if os.path.exists(log) else 0
    for _ in range(1200):  # 60 s at most: a sanitizer build on a loaded machine starts slowly
        text = open(log).read()[start:]
        m = re.search(r"http://127\.0\.0\.1:(\d+)", text) if "serving with" in text else None
        if m:
            return int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"node {name} did not start:\n{open(log).read()[-3000:]}")


def stop(name, sig=signal.SIGTERM):
    """Signals the whole process group (a node: master and workers; SIGKILL: the machine died)."""
    p = procs.pop(name, None)
    if p and p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p and sig == signal.SIGKILL:  # the workers are in the group too: none may linger
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def require(*tools):
    """Skips the test (exit 77) when one of the tools is not installed."""
    for tool in tools:
        if not shutil.which(tool):
            print(f"SKIP: {tool} not installed (make deps installs varnish, varnish-modules and wrk)")
            sys.exit(77)


def cleanup(work=None):
    """Stops every process; removes the work folder, or keeps it (and says where) after a failure."""
    for name in list(procs):
        stop(name)
    if work and not failed:
        shutil.rmtree(work, ignore_errors=True)
    elif work:
        print("kept for inspection:", work, file=sys.stderr)


class Varnish:
    """Debian's varnishd (-j none: no jail, it runs as the user running the test, root included)
    with its own working folder in work and an ephemeral port; started on a placeholder VCL so that
    its address (edge, "http://127.0.0.1:PORT") is known before the nodes that purge it start.
    use(port_a, port_b) then points docs/varnish.vcl at the two nodes."""

    def __init__(self, work, *args):
        self.work, self.dir = work, os.path.join(work, "varnish")
        os.mkdir(self.dir)
        log = os.path.join(work, "varnish.log")
        procs["varnish"] = subprocess.Popen(
            ["varnishd", "-F", "-j", "none", "-n", self.dir, "-a", "127.0.0.1:0", "-T", "127.0.0.1:0",
             "-f", self.vcl(1, 2, "boot"), "-s", "malloc,64m", *args],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(200):
            m = re.search(r"127\.0\.0\.1 (\d+)", self.adm("debug.listen_address"))
            if m:
                self.edge = f"http://127.0.0.1:{m.group(1)}"
                return
            time.sleep(0.05)
        raise SystemExit("varnishd did not start: " + open(log).read())

    def adm(self, *args):
        return subprocess.run(["varnishadm", "-n", self.dir, *args], capture_output=True, text=True, timeout=10).stdout

    def vcl(self, port_a, port_b, name):
        path = os.path.join(self.work, name + ".vcl")
        src = open(os.path.join(SRC, "docs", "varnish.vcl")).read()
        open(path, "w").write(src.replace("@PORT_A@", str(port_a)).replace("@PORT_B@", str(port_b)))
        return path

    def healthy(self):
        """How many of the two nodes Varnish's probes find healthy."""
        return len(re.findall(r"node_[ab] .*\bhealthy\b", self.adm("backend.list")))

    def use(self, port_a, port_b, name, want=2):
        """Loads and uses the VCL for nodes on these ports; waits (30 s at most: 1.5 s on an idle
        machine, 3 probes of 500 ms) until want of them are healthy and returns how many are."""
        self.adm("vcl.load", name, self.vcl(port_a, port_b, name))
        self.adm("vcl.use", name)
        for _ in range(300):
            if self.healthy() >= want:
                break
            time.sleep(0.1)
        return self.healthy()


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body bytes); a connection error is status 0."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, {}, str(e).encode()


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(key):
    """An Admin API token (README: a JWT, HS256) signed with an `ID:SECRET` key."""
    kid, secret = key.split(":")
    now = int(time.time())
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    p = b64(json.dumps({"iat": now, "exp": now + 300, "aud": "/api/admin/v1/"}).encode())
    return f"{h}.{p}." + b64(hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())


def editor_key(site):
    out = quire("api-key", "add", "desk-" + os.urandom(3).hex(), "--role", "editor", site=site)
    return re.search(r": (\d+:[0-9a-f]{64})$", out.strip()).group(1)


def wrk_figures(out):
    """requests, non-2xx/3xx, socket errors (connect + read + write + timeout) of wrk's report."""
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return total, non2xx, sum(map(int, sock.groups())) if sock else 0


def finish():
    cleanup()
    print(os.path.basename(sys.argv[0]), "FAILED" if failed else "passed", flush=True)
    sys.exit(1 if failed else 0)
