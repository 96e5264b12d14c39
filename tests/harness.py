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
"""
import atexit
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
    ok=False leaves the exit status to the caller. stdin: text for its standard input."""
    r = subprocess.run([QUIRE, *args], capture_output=True, text=True, input=stdin, timeout=timeout)
    if ok and r.returncode != 0:
        fail(f"quire {' '.join(args)} exited {r.returncode}", r.stdout + r.stderr)
    return r


class Server:
    """A real `quire serve --listen 127.0.0.1:0` of a site, its output in a log file in the work
    folder. The constructor returns once the log names the port and says "serving with"; a server
    that does not start in `timeout` seconds (or exits) fails the test with its log. Attributes:
    port (int), host ("127.0.0.1:PORT"), base ("http://127.0.0.1:PORT"), proc, log_path.
    Stopped by stop(), at the end of a `with` block, or at exit."""

    def __init__(self, site, workers=1, timeout=20):
        fd, self.log_path = tempfile.mkstemp(prefix="serve-", suffix=".log", dir=WORK)
        with os.fdopen(fd, "w") as log:
            self.proc = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0",
                                          "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT)
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

    def stop(self):
        _stop(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _stop(p):
    """SIGTERM, then SIGKILL after 10 seconds."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _cleanup():
    for p in procs:
        _stop(p)
    if os.environ.get("KEEP"):
        print(f"kept {WORK}", file=sys.stderr)
    else:
        shutil.rmtree(WORK, ignore_errors=True)
