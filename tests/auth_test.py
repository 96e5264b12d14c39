#!/usr/bin/env python3
"""Staff sign-in against a real `quire serve` on loopback, with http.client: sign in and out,
the cookie's attributes, the attacks the guard must refuse (no CSRF token, a foreign Origin,
session fixation, a stolen cookie after sign-out, brute force, role escalation through a crafted
form), TOTP, one-time reset links, disabled accounts, role-change rotation, the unknown-login vs
wrong-password timing (reported), and the worker answering pages while password hashes run.

usage: auth_test.py QUIRE_BINARY
"""
import base64
import hashlib
import hmac
import http.client
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, procs  # noqa: E402
import harness  # noqa: E402

QUIRE = sys.argv[1]
work = harness.begin("auth", QUIRE)
site = os.path.join(work, "site")


def quire(*args, stdin=None, ok=True):
    return harness.quire(*args, "--site", site, stdin=stdin, ok=ok)


harness.quire("init", site)
with open(os.path.join(site, "site.lua"), "a") as f:
    # Small windows so the limits are reached quickly; one worker, two hashes at once.
    f.write("\nlimits = { login_per_account = 5, login_per_address = 40, password_hashes = 2 }\n")
PASSWORD = "correct horse battery"
for login, role in (("ann", "editor"), ("carl", "contributor"), ("dee", "admin"), ("eve", "author"), ("fay", "author")):
    quire("user", "add", login, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")

server = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0", "--workers", "1"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
procs.append(server)
port = None
deadline = time.time() + 20
while time.time() < deadline:
    line = server.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1))
    if "serving with" in line:
        break
if not port:
    print("the server did not start", file=sys.stderr)
    finish(1)
server_log = []
threading.Thread(target=lambda: [server_log.append(line) for line in server.stdout], daemon=True).start()
HOST = f"127.0.0.1:{port}"
ORIGIN = f"http://{HOST}"
COOKIE = "__Host-quire_session"


def request(method, path, form=None, cookie=None, headers=None, body=None):
    h = {"Host": HOST}
    if cookie:
        h["Cookie"] = f"{COOKIE}={cookie}"
    if form is not None:
        body = urllib.parse.urlencode(form)
        h["Content-Type"] = "application/x-www-form-urlencoded"
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, r, data


def session_of(r):
    for k, v in r.getheaders():
        if k.lower() == "set-cookie" and v.startswith(COOKIE + "="):
            return v.split(";")[0].split("=", 1)[1], v
    return None, None


def sign_in(login, password=PASSWORD, cookie=None, headers=None):
    st, r, body = request("POST", "/admin/login", {"login": login, "password": password, "next": "/admin/account"},
                          cookie=cookie, headers=headers)
    return st, r, body, session_of(r)[0]


def csrf_of(token):
    st, _, body = request("GET", "/admin/account", cookie=token)
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
    return m and m.group(1)


# --- sign in, the cookie, the page headers
st, r, body = request("GET", "/admin/login")
check("login page 200", st == 200, st)
check("login form labelled", '<label for="login">' in body and '<label for="password">' in body)
check("login page no-store", r.getheader("Cache-Control") == "private, no-store", r.getheader("Cache-Control"))
csp = r.getheader("Content-Security-Policy") or ""
check("strict CSP, no inline script", "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, csp)
check("X-Frame-Options DENY", r.getheader("X-Frame-Options") == "DENY")
check("Referrer-Policy", r.getheader("Referrer-Policy") == "same-origin")
check("no inline script on the page", "<script" not in body)

st, r, body, ann = sign_in("ann")
check("sign in: 303 to next", st == 303 and r.getheader("Location") == "/admin/account", (st, r.getheader("Location")))
_, raw = session_of(r)
check("cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain",
      raw is not None and all(a in raw for a in ("; Secure", "; HttpOnly", "; SameSite=Lax", "; Path=/")) and "Domain" not in raw, raw)
st, _, body = request("GET", "/admin/account", cookie=ann)
check("signed in: account page", st == 200 and "Signed in as" in body and "ann" in body, st)
st, r, _ = request("GET", "/admin/account")
check("not signed in: 303 to the sign-in page", st == 303 and r.getheader("Location") == "/admin/login?next=/admin/account",
      (st, r.getheader("Location")))
st, r, _ = request("GET", "/admin/login?next=//evil.example/x", cookie=ann)
check("next never leaves /admin", st == 303 and r.getheader("Location") == "/admin", r.getheader("Location"))

# --- the database holds only a hash of the token
db = harness.db(site)
rows = db.execute("SELECT id FROM sessions").fetchall()
check("token not stored", rows and all(row[0] != ann for row in rows))

# --- no CSRF token / a wrong one / a foreign origin: refused, the session lives on
csrf = csrf_of(ann)
check("account page carries the CSRF token", csrf is not None)
st, _, _ = request("POST", "/admin/logout", {}, cookie=ann)
check("no CSRF token: 403", st == 403, st)
st, _, _ = request("POST", "/admin/logout", {"csrf": "0" * 32}, cookie=ann)
check("wrong CSRF token: 403", st == 403, st)
st, _, _ = request("POST", "/admin/logout", {"csrf": csrf}, cookie=ann, headers={"Origin": "https://evil.example"})
check("foreign Origin: 403", st == 403, st)
st, _, _ = request("POST", "/admin/logout", {"csrf": csrf}, cookie=ann, headers={"Sec-Fetch-Site": "cross-site"})
check("Sec-Fetch-Site cross-site: 403", st == 403, st)
st, _, _ = request("POST", "/admin/login", {"login": "ann", "password": PASSWORD}, headers={"Origin": "https://evil.example"})
check("login from a foreign Origin: 403 (login CSRF)", st == 403, st)
st, _, _ = request("GET", "/admin/account", cookie=ann)
check("session survives refused requests", st == 200, st)
# The Admin API takes the same cookie and the same token.
st, _, _ = request("GET", "/api/admin/v1/users", cookie=ann)
check("Admin API reads with the session cookie", st == 200, st)

# --- session fixation: a cookie planted before sign-in is not the one after, and is worthless
planted = "ab" * 32
st, r, _, fresh = sign_in("ann", cookie=planted)
check("fixation: a new token at sign-in", st == 303 and fresh and fresh != planted, fresh)
st, _, _ = request("GET", "/admin/account", cookie=planted)
check("fixation: the planted token signs nobody in", st == 303, st)
st, r, _, again = sign_in("ann", cookie=fresh)
st2, _, _ = request("GET", "/admin/account", cookie=fresh)
check("signing in again ends the session it was sent with", again and again != fresh and st2 == 303, st2)
ann = again

# --- sign out; the stolen cookie is refused afterwards (pages and the Admin API)
stolen = ann
st, r, _ = request("POST", "/admin/logout", {"csrf": csrf_of(ann)}, cookie=ann, headers={"Origin": ORIGIN})
check("sign out: 303 to the sign-in page", st == 303 and r.getheader("Location").startswith("/admin/login"), st)
_, raw = session_of(r)
check("sign out clears the cookie", raw is not None and "Max-Age=0" in raw, raw)
st, _, _ = request("GET", "/admin/account", cookie=stolen)
check("stolen cookie after sign-out: page refused", st == 303, st)
st, _, _ = request("GET", "/api/admin/v1/users", cookie=stolen)
check("stolen cookie after sign-out: API refused", st == 401, st)

# --- sign out everywhere
_, _, _, a1 = sign_in("ann")
_, _, _, a2 = sign_in("ann")
st, _, _ = request("POST", "/admin/logout/everywhere", {"csrf": csrf_of(a1)}, cookie=a1)
check("sign out everywhere", st == 303, st)
check("every session of the user ended", request("GET", "/admin/account", cookie=a2)[0] == 303)

# --- unknown login and wrong password: the same answer, similar time (reported, loosely bounded)
def timed(login, password):
    t = time.perf_counter()
    st, _, body, _ = sign_in(login, password)
    return time.perf_counter() - t, st, re.search(r'class="error"[^>]*>([^<]*)<', body).group(1)


wrong, unknown = [], []
for i in range(4):
    wrong.append(timed("eve", "not the password %d" % i))
    unknown.append(timed("nobody%d" % i, "not the password %d" % i))
check("unknown login and wrong password: the same status and message",
      {(s, m) for _, s, m in wrong} == {(s, m) for _, s, m in unknown} and wrong[0][1] == 403, (wrong[0][1:], unknown[0][1:]))
mw, mu = statistics.median(t for t, _, _ in wrong), statistics.median(t for t, _, _ in unknown)
print(f"timing: wrong password median {mw * 1000:.1f} ms, unknown login median {mu * 1000:.1f} ms, ratio {mu / mw:.2f}")
# Loose: the machine running the tests is shared (the figure above is the one to read).
check("timing similar (within a factor of 3)", 1 / 3 < mu / mw < 3, (mw, mu))

# --- brute force: 429 with Retry-After once the account's limit is reached, before any hash
failures = lambda: db.execute("SELECT count(*) FROM audit_log WHERE action = 'user.sign_in_failed' AND subject = 'login:fay'").fetchone()[0]
statuses = [sign_in("fay", "guess %d" % i)[0] for i in range(5)]
check("five wrong passwords: 403 each", statuses == [403] * 5, statuses)
hashed = failures()
t = time.perf_counter()
st, r, body, _ = sign_in("fay", PASSWORD)
t429 = time.perf_counter() - t
check("sixth attempt: 429, even with the right password", st == 429, st)
retry = r.getheader("Retry-After")
check("429 says Retry-After", retry is not None and retry.isdigit() and 0 < int(retry) <= 900, retry)
check("429 answered before hashing (no hash ran: no failure recorded)", failures() == hashed, (hashed, failures()))
print(f"timing: 429 in {t429 * 1000:.1f} ms against {mw * 1000:.1f} ms for a hashed attempt")
st, _, _, _ = sign_in("ann")
check("another account is not locked by it", st == 303, st)
rows = db.execute("SELECT who, count FROM login_attempts WHERE who = 'login:fay'").fetchall()
check("attempts counted in the store (shared by workers)", rows and rows[0][1] >= 6, rows)

# --- role escalation through a crafted form: extra fields change nothing
st, r, body = request("POST", "/admin/login", {"login": "carl", "password": PASSWORD, "role": "admin", "user_id": "3"})
carl = session_of(r)[0]
st, _, body = request("GET", "/admin/account", cookie=carl)
check("crafted sign-in form: still a contributor", "contributor" in body and "(carl, admin)" not in body, body[:300])
st, _, _ = request("GET", "/api/admin/v1/users", cookie=carl)
check("a contributor is refused the admin-only API", st == 403, st)

# --- role change rotates the session's token
quire("user", "role", "carl", "author")
st, r, body = request("GET", "/admin/account", cookie=carl)
rotated, _ = session_of(r)
check("role change: a new token on the next request", st == 200 and rotated and rotated != carl and "author" in body, st)
check("role change: the old token is dead", request("GET", "/admin/account", cookie=carl)[0] == 303)

# --- disabled accounts: no sign-in, sessions gone
_, _, _, eve = sign_in("eve")
quire("user", "disable", "eve")
check("disabled: session ends", request("GET", "/admin/account", cookie=eve)[0] == 303)
st, _, body, tok = sign_in("eve")
check("disabled: cannot sign in (same answer as a wrong password)", st == 403 and tok is None and "wrong" in body, st)
quire("user", "enable", "eve")

# --- TOTP second factor
out = quire("user", "totp", "dee").stdout
secret = re.search(r"secret: ([A-Z2-7]+)", out).group(1)
check("otpauth URI printed", re.search(r"otpauth://totp/[^ ]*secret=" + secret, out) is not None, out)


def totp(secret_b32, t):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7fffffff) % 1000000)


st, r, body, tok = sign_in("dee")
check("TOTP: the password alone gives no session", st == 200 and tok is None and 'name="code"' in body, st)
challenge = re.search(r'name="challenge" value="([0-9a-f]+)"', body).group(1)
bad = "%06d" % ((int(totp(secret, time.time())) + 1) % 1000000)
st, r, body = request("POST", "/admin/login/code", {"challenge": challenge, "code": bad, "next": "/admin/account"})
check("TOTP: a wrong code refused", st == 403 and session_of(r)[0] is None, st)
code = totp(secret, time.time())
st, r, body = request("POST", "/admin/login/code", {"challenge": challenge, "code": code, "next": "/admin/account"})
dee = session_of(r)[0]
check("TOTP: the right code signs in", st == 303 and dee, st)
st, r, body, _ = sign_in("dee")
challenge = re.search(r'name="challenge" value="([0-9a-f]+)"', body).group(1)
st, r, body = request("POST", "/admin/login/code", {"challenge": challenge, "code": code})
check("TOTP: a code works once (replay refused)", st == 403 and session_of(r)[0] is None, st)
# The password right again and again does not reset the account's count while the codes are
# wrong: the account's limit (5 a window) ends the guessing.
db.execute("DELETE FROM login_attempts")
db.commit()
statuses = []
for _ in range(4):
    st, r, body, _ = sign_in("dee")
    statuses.append(st)
    m = re.search(r'name="challenge" value="([0-9a-f]+)"', body)
    if not m:
        break
    st, r, body = request("POST", "/admin/login/code", {"challenge": m.group(1), "code": bad})
    statuses.append(st)
check("TOTP: wrong codes after the right password reach the account's limit", 429 in statuses, statuses)
db.execute("DELETE FROM login_attempts")
db.commit()

# --- a one-time, expiring reset link
out = quire("user", "reset-link", "carl").stdout
path = re.search(r"(/admin/reset\?token=[0-9a-f]+)", out).group(1)
token = path.split("=", 1)[1]
st, _, body = request("GET", path)
check("reset link: form", st == 200 and 'name="password"' in body, st)
st, _, body = request("POST", "/admin/reset", {"token": token, "password": "new password 1", "again": "other"})
check("reset: different passwords refused", st == 400, st)
st, r, _ = request("POST", "/admin/reset", {"token": token, "password": "new password 1", "again": "new password 1"})
check("reset: password set", st == 303 and r.getheader("Location") == "/admin/login?reset=1", st)
check("reset: the old sessions ended", request("GET", "/admin/account", cookie=rotated)[0] == 303)
check("reset: the new password signs in", sign_in("carl", "new password 1")[0] == 303)
check("reset: the old password does not", sign_in("carl", PASSWORD)[0] == 403)
st, _, _ = request("POST", "/admin/reset", {"token": token, "password": "new password 2", "again": "new password 2"})
check("reset link works once (POST again: 410)", st == 410, st)
check("reset link works once (GET again: 410)", request("GET", path)[0] == 410)
out = quire("user", "reset-link", "carl", "--hours", "0.0003").stdout  # about a second
short = re.search(r"(/admin/reset\?token=[0-9a-f]+)", out).group(1)
time.sleep(2.2)
check("reset link expires", request("GET", short)[0] == 410)

# --- plain HTTP for a host that is not loopback: refused with an explanation
st, _, body = request("GET", "/admin/login", headers={"Host": "news.example.org"})
check("plain HTTP, public host: sign-in refused, says HTTPS", st == 403 and "HTTPS" in body, st)

# --- Users and Audit log pages (admins; the audit log editors too)
uid = lambda login: db.execute("SELECT id FROM users WHERE login = ?", (login,)).fetchone()[0]
st, _, body = request("GET", "/admin/users", cookie=dee)
check("users page for an admin", st == 200 and ">carl<" in body and 'name="csrf"' in body, st)
dee_csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', body).group(1)
st, _, body = request("POST", "/admin/users", {"csrf": dee_csrf, "login": "gil", "name": "Gil", "role": "author"}, cookie=dee)
m = re.search(r'value="[^"]*(/admin/reset\?token=[0-9a-f]+)"', body)
check("invite: account created with a one-time password link", st == 201 and m, st)
st, _, _ = request("POST", "/admin/reset", {"token": m.group(1).split("=", 1)[1], "password": "gil password 1", "again": "gil password 1"})
st, _, _, gil = sign_in("gil", "gil password 1")
check("invite: the invited user signs in", st == 303 and gil, st)
st, _, body = request("POST", "/admin/users", {"csrf": dee_csrf, "login": "Bad Login", "role": "author"}, cookie=dee)
check("invite: a bad login is refused, named", st == 400 and "login" in body, st)

_, _, _, ann = sign_in("ann")
ann_csrf = csrf_of(ann)
st, _, _ = request("POST", f"/admin/users/{uid('ann')}/role", {"csrf": ann_csrf, "role": "admin"}, cookie=ann)
check("role escalation: an editor's crafted role form is refused", st == 403, st)
check("role escalation: the role is unchanged", db.execute("SELECT role FROM users WHERE login = 'ann'").fetchone()[0] == "editor")
st, _, _ = request("GET", "/admin/users", cookie=gil)
check("users page refused to an author", st == 403, st)
st, _, _ = request("POST", f"/admin/users/{uid('gil')}/role", {"role": "editor"}, cookie=dee)
check("role form without CSRF token refused", st == 403, st)
st, _, _ = request("POST", f"/admin/users/{uid('gil')}/role", {"csrf": dee_csrf, "role": "editor"}, cookie=dee)
check("an admin changes a role", st == 303 and db.execute("SELECT role FROM users WHERE login = 'gil'").fetchone()[0] == "editor", st)
st, _, body = request("POST", f"/admin/users/{uid('dee')}/role", {"csrf": dee_csrf, "role": "editor"}, cookie=dee)
check("the last admin cannot demote themselves", st == 409 and "last admin" in body, st)
st, _, _ = request("POST", f"/admin/users/{uid('gil')}/disable", {"csrf": dee_csrf}, cookie=dee)
check("an admin disables an account; its sessions end", st == 303 and request("GET", "/admin/account", cookie=gil)[0] == 303, st)

request("POST", "/admin/login", {"login": "<script>alert(1)</script>", "password": "x"})
st, _, body = request("GET", "/admin/audit", cookie=ann)
check("audit log for an editor", st == 200 and "user.disabled" in body and "user.role" in body, st)
check("audit log escapes what clients sent", "<script>alert(1)" not in body and "&lt;script&gt;" in body)
st, _, body = request("GET", f"/admin/audit?subject=user:{uid('gil')}", cookie=ann)
check("audit log filtered by subject", st == 200 and "user.disabled" in body and "user.signed_in" in body and "sign_in_failed" not in body, st)
st, _, _ = request("GET", "/admin/audit", cookie=rotated)
check("audit log refused without a session", st == 303, st)

# --- the worker keeps answering while hashes run: 4 sign-ins at once and a page request
results = {}


def login_thread(i):
    results[i] = sign_in("ann")[0]
    results["end%d" % i] = time.perf_counter()


threads = [threading.Thread(target=login_thread, args=(i,)) for i in range(4)]
t0 = time.perf_counter()
for th in threads:
    th.start()
time.sleep(0.02)  # the sign-ins are hashing (two at a time, two waiting)
st, _, _ = request("GET", "/admin/login")
page_done = time.perf_counter()
for th in threads:
    th.join()
last = max(results["end%d" % i] for i in range(4))
check("4 concurrent sign-ins succeed", [results[i] for i in range(4)] == [303] * 4, results)
check("a page is answered while the hashes run (before the last sign-in ends)", st == 200 and page_done < last,
      (page_done - t0, last - t0))
print(f"concurrency: page answered after {(page_done - t0) * 1000:.1f} ms; the 4 sign-ins took {(last - t0) * 1000:.1f} ms")

# --- raw connections: a sign-in pipelined with a page request (answers in order), and a client
# that goes away while its hash runs (the answer has no one to go to; the worker goes on)
import socket
body = urllib.parse.urlencode({"login": "ann", "password": PASSWORD}).encode()
post = (f"POST /admin/login HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode() + body
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(post + f"GET /admin/login HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
s.close()
answers = re.findall(rb"^HTTP/1\.1 (\d+)", got, re.M)
check("pipelined behind a waiting sign-in: both answered, in order", answers == [b"303", b"200"], answers)
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(post)
    s.close()
time.sleep(0.1)
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(post[:-3])  # half a request, then gone
s.close()
time.sleep(3)
st, _, _ = request("GET", "/admin/login")
check("clients gone while hashing: the worker still serves", st == 200, st)
# --- a full hash queue answers 503 with Retry-After (one hash at a time, one waiting; reloaded)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("\nlimits.password_hashes = 1\nlimits.password_queue = 1\nlimits.login_per_address = 8\n")
db.execute("DELETE FROM login_attempts")  # a fresh window for what follows
db.commit()
server.send_signal(signal.SIGHUP)
deadline = time.time() + 20
while time.time() < deadline and not any("reloaded: generation 2" in line for line in server_log):
    time.sleep(0.1)
# Four sign-ins that reach the worker together: each sent but its last byte on its own
# connection, then the last bytes one after the other (threads started together may still
# reach it one by one on a loaded machine, the first done before the last arrives).
close_post = post.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(4)]
for s in socks:
    s.sendall(close_post[:-1])
for s in socks:
    s.sendall(close_post[-1:])
busy = []
for s in socks:
    got = b""
    while chunk := s.recv(65536):
        got += chunk
    s.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", got)
    ra = re.search(rb"^Retry-After: *(\S+)", got, re.M | re.I)
    busy.append((int(m.group(1)) if m else None, ra and ra.group(1).decode()))
check("full hash queue: 503 with Retry-After, the running one signs in",
      (303, None) in busy and any(st == 503 and ra for st, ra in busy), busy)

# A newsroom behind one office address: its own sign-ins, more than the address's limit (8 per
# window), leave it open (each gives back the attempt it took), and a wrong password still counts.
db.execute("DELETE FROM login_attempts")  # (the busy sign-ins above: some signed in, some not)
db.commit()
signed = [sign_in("ann")[0] for _ in range(9)]
st, _, _, _ = sign_in("stranger", "x")
check("sign-ins that succeed do not use up the address's limit", signed == [303] * 9 and st == 403, (signed, st))
# The address's limit: with the one wrong password, seven more attempts reach it, then 429 even
# for a login never tried.
statuses = [sign_in("stranger%d" % i, "x")[0] for i in range(7)]
st, r, _, _ = sign_in("never-tried", "x")
check("per-address limit: 429 for a login never tried from that address", statuses == [403] * 7 and st == 429
      and r.getheader("Retry-After"), (statuses, st))

check("no sanitizer report or handler failure in the server's output",
      not any("Sanitizer" in line or "runtime error" in line or "failed:" in line for line in server_log),
      "".join(l for l in server_log if "Sanitizer" in l or "runtime error" in l or "failed:" in l)[:2000])

finish()
