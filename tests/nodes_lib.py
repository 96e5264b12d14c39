"""Shared by the multi-node tests on PostgreSQL (pg_nodes_test.py, pg_faults_test.py): nodes
(`quire serve` in their own process groups), the throw-away cluster of tests/pg_cluster.sh
(started by tests/pg_py.sh, which runs these scripts), HTTP, Admin API tokens, wrk's figures."""
import base64, hashlib, hmac, json, os, re, shutil, signal, socket, subprocess, sys, threading, time
import urllib.error, urllib.request

QUIRE, SRC = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
CLUSTER = os.path.join(SRC, "tests", "pg_cluster.sh")
PG_DIR = os.environ["PG_DIR"]
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


def start_node(name, site, work, workers=2):
    log = os.path.join(work, name + ".log")
    p = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0", "--workers", str(workers)],
                         stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
    procs[name] = p
    start = os.path.getsize(log) if os.path.exists(log) else 0
    for _ in range(400):
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


def cleanup():
    for name in list(procs):
        stop(name)


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
