"""The scaffolding the python tests share: a counter of checks, the `quire` binary run as a
subprocess, a real `quire serve` on an ephemeral loopback port, and a work folder that is removed
at exit. Standard library only.

A test script (run by ctest as `python3 tests/X.py QUIRE SRC ...`) uses it like this:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from harness import check, finish, quire, Server
    import harness

    work = harness.begin("name", sys.argv[1], sys.argv[2])
    quire("init", "--demo", site)
    with Server(site) as s:
        check("home page", urllib.request.urlopen(s.base + "/").status == 200)
    finish()   # prints "name: P passed, F failed"; exit status 1 if any check failed

Whatever way the script ends (finish, an uncaught exception, sys.exit), the servers and the
processes in `procs` are stopped and the work folder is removed; KEEP=1 in the environment keeps
the folder and prints where it is.

The same test runs against PostgreSQL when QUIRE_TEST_PG_URL names a database on a PostgreSQL
server whose role may create databases (tests/pg_http_test.sh): every `quire("init", ...)` then
gives the new site a fresh database of its own on that server (`quire init --database URL`, so
a `--demo` site seeds its content there), dropped at exit. A test reads and writes a site's data
through `db(site)` (an sqlite3-like connection to whichever store the site is on), never by
opening quire.db itself.
"""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NAME = "test"   # the test's name, for the summary line
QUIRE = None    # the quire binary
WORK = None     # the work folder, made by begin()
passed = failed = 0
procs = []      # processes to stop at exit (each server is added; a test may append its own)

DETAIL_LIMIT = 2000  # characters of a failed check's detail that are printed


def begin(name, quire_binary, src=None):
    """Start a test: remember its name and the binary, make the work folder (returned), and
    arrange the clean-up at exit. With src (the source tree), every quire started here or by the
    test finds the bundled plugins in src/plugins."""
    global NAME, QUIRE, WORK
    NAME, QUIRE = name, quire_binary
    if src is not None:
        os.environ["QUIRE_BUNDLED_PLUGINS"] = os.path.join(src, "plugins")
    WORK = tempfile.mkdtemp(prefix=f"quire-{name}-")
    atexit.register(_cleanup)
    return WORK


def check(what, cond, detail=""):
    """Count one check; a failed one prints `FAIL: what: detail` on stderr. Returns cond."""
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        detail = str(detail)
        if len(detail) > DETAIL_LIMIT:
            detail = detail[:DETAIL_LIMIT] + f"... ({len(detail) - DETAIL_LIMIT} more characters)"
        print(f"FAIL: {what}" + (f": {detail}" if detail else ""), file=sys.stderr)
    return cond


def finish(code=None):
    """Print the summary line and exit: with status code when given, else 1 if any check
    failed and 0 if none did."""
    print(f"{NAME}: {passed} passed, {failed} failed")
    sys.exit((1 if failed else 0) if code is None else code)


def fail(what, detail=""):
    """A failure the test cannot go on after (a server that does not start, a setup command that
    fails): counted as a failed check, then finish() at once."""
    check(what, False, detail)
    finish()


def quire(*args, ok=True, stdin=None, timeout=300):
    """Run `quire ARGS` and return the CompletedProcess (text stdout and stderr). With ok (the
    default) a non-zero exit is a failure that ends the test, naming the command and its output;
    ok=False leaves the exit status to the caller. stdin: text for its standard input.
    In PostgreSQL mode `quire init` gets `--database` with a fresh database."""
    if PG_URL and args and args[0] == "init" and "--database" not in args:
        args = (*args, "--database", new_database())
    r = subprocess.run([QUIRE, *args], capture_output=True, text=True, input=stdin, timeout=timeout)
    if ok and r.returncode != 0:
        fail(f"quire {' '.join(args)} exited {r.returncode}", r.stdout + r.stderr)
    return r


class Server:
    """A real `quire serve --listen 127.0.0.1:0` of a site (args: more options, e.g. --no-cache), its
    output in a log file in the work folder. The constructor returns once the log names the port and says "serving with"; a server
    that does not start in `timeout` seconds (or exits) fails the test with its log. Attributes:
    port (int), host ("127.0.0.1:PORT"), base ("http://127.0.0.1:PORT"), proc, log_path.
    Stopped by stop(), at the end of a `with` block, or at exit."""

    def __init__(self, site, workers=1, timeout=60, args=()):
        fd, self.log_path = tempfile.mkstemp(prefix="serve-", suffix=".log", dir=WORK)
        with os.fdopen(fd, "w") as log:
            self.proc = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0",
                                          "--workers", str(workers), *args], stdout=log, stderr=subprocess.STDOUT)
        procs.append(self.proc)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            m = re.search(r"http://127\.0\.0\.1:(\d+)", text)
            if m and "serving with" in text:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail(f"quire serve of {site} did not start", text)
            time.sleep(0.05)
        self.port = int(m.group(1))
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}"

    def log(self):
        """What the server has written so far."""
        with open(self.log_path) as f:
            return f.read()

    def workers(self):
        """The pids of the server's worker processes now."""
        r = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split()]

    def reload(self, timeout=30):
        """SIGHUP, then wait until the log says a new generation serves and every worker from
        before has exited (until then one that has not yet begun its drain may still accept):
        the next request reaches the reloaded site however loaded the machine. Fails the test
        when that does not happen in `timeout` seconds."""
        old, before = self.workers(), self.log().count("reloaded: generation")
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.log().count("reloaded: generation") <= before or any(_alive(p) for p in old):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail("quire serve reloaded (SIGHUP)", self.log()[-DETAIL_LIMIT:])
            time.sleep(0.05)

    def stop(self):
        _stop(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _alive(pid):
    """Whether process pid still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop(p):
    """SIGTERM, then SIGKILL after 10 seconds."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# PostgreSQL mode (see the module's comment): the server's URL, psql, the databases made.
PG_URL = os.environ.get("QUIRE_TEST_PG_URL") or None
PSQL = os.path.join(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"), "psql")
pg_databases = []


def _psql(url, sql):
    """Runs sql on the database at url with psql; returns its unaligned output (rows by \\n,
    fields by \\x1f). A failure ends the test, naming the statement."""
    r = subprocess.run([PSQL, "-d", url, "-X", "-qAt", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail(f"psql: {sql[:200]}", r.stderr)
    return r.stdout


def _url_with_db(url, name):
    """url with its database (the path) replaced by name; the query string is kept."""
    m = re.match(r"^([a-z]+://[^/?]*)(/[^?]*)?(\?.*)?$", url)
    if not m:
        fail("QUIRE_TEST_PG_URL", f"not a postgresql:// URL: {url}")
    return m.group(1) + "/" + name + (m.group(3) or "")


def new_database():
    """A fresh empty database on the PostgreSQL server of QUIRE_TEST_PG_URL, owned by its role;
    returns its URL. Dropped at exit (unless KEEP)."""
    name = re.sub(r"[^a-z0-9_]", "_", f"t_{NAME}_{os.getpid()}_{len(pg_databases) + 1}".lower())[:63]
    _psql(PG_URL, f'CREATE DATABASE "{name}"')
    pg_databases.append(name)
    return _url_with_db(PG_URL, name)


def _site_database(site):
    """The site's database as site.lua names it: ("pg", URL) or ("sqlite", path)."""
    url = None
    with open(os.path.join(site, "site.lua")) as f:
        for line in f:  # a later assignment wins, as in Lua
            m = re.match(r'^\s*database\s*=\s*"([^"]*)"', line)
            if m:
                url = m.group(1)
    if url and re.match(r"^postgres(ql)?://", url):
        return "pg", url
    return "sqlite", os.path.join(site, url or "quire.db")


def _literal(v):
    """v as an SQL literal (the test's own values, for psql, which binds no parameters)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def __iter__(self):  # as sqlite3's cursor: `for row in db.execute(...)`
        return iter(self.rows)


class _PgConnection:
    """The part of sqlite3's connection the tests use (execute -> fetchone/fetchall, commit,
    close, `with`), on PostgreSQL through psql: each statement commits on its own; "?"
    parameters are written into the statement as literals; rows come back as tuples of JSON
    types (integers as int, text as str, NULL as None)."""

    def __init__(self, url):
        self.url = url

    def execute(self, sql, params=()):
        params = list(params)
        def sub(m):
            if m.group(0) != "?":
                return m.group(0)
            if not params:
                raise ValueError(f"too few parameters for {sql}")
            return _literal(params.pop(0))
        # "?" outside quoted strings only
        sql = re.sub(r"'(?:[^']|'')*'|\?", sub, sql)
        if params:
            raise ValueError(f"too many parameters for {sql}")
        if not re.match(r"(?is)^\s*(select|with|values)\b", sql):
            _psql(self.url, sql)
            return _Rows([])
        out = _psql(self.url, f"SELECT coalesce(json_agg(q), '[]') FROM ({sql}) q")
        # each row an object of its columns in order (kept as pairs: two columns may share a name)
        return _Rows(json.loads(out, object_pairs_hook=lambda pairs: tuple(v for _, v in pairs)))

    def commit(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def db(site):
    """A connection to the site's store: sqlite3's on quire.db, or the PostgreSQL one above."""
    kind, where = _site_database(site)
    if kind == "pg":
        return _PgConnection(where)
    import sqlite3
    return sqlite3.connect(where)


def after_write(fn, ok, seconds=10.0):
    """fn() until ok(its result), returning the last result: once on SQLite, whose workers see
    every commit before their next answer; on PostgreSQL a server hears of another process's
    write by NOTIFY, so its page caches may answer as before the write for the notification's
    delay (README), so again every 10 ms for up to seconds (milliseconds when the machine is
    idle; the bound is for a sanitizer build on a loaded one)."""
    deadline = time.monotonic() + (seconds if PG_URL else 0)
    while True:
        r = fn()
        if ok(r) or time.monotonic() >= deadline:
            return r
        time.sleep(0.01)


def _cleanup():
    for p in procs:
        _stop(p)
    if pg_databases and not os.environ.get("KEEP"):
        for name in pg_databases:
            subprocess.run([PSQL, "-d", PG_URL, "-X", "-qAt", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                           capture_output=True, timeout=60)
    if os.environ.get("KEEP"):
        print(f"kept {WORK}", file=sys.stderr)
    else:
        shutil.rmtree(WORK, ignore_errors=True)
