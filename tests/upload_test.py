#!/usr/bin/env python3
"""Uploads over HTTP (issue 18): POST /api/admin/v1/media on a real `quire serve`, with raw
sockets and urllib. The body streams to disk (a worker's peak memory does not grow with it),
per-file, per-request and file-count limits answer 413, and every "bad input" of the issue is
refused with a clear error, leaves no file behind, and the worker keeps serving: truncated and
corrupt files, a PNG bomb, a 50,000 x 50,000 header, a polyglot, SVG, a lying extension, path
tricks in the name, zero bytes, an upload cut off mid-way. Staff only: an Admin API key, or a
session with its CSRF token (header, or the form's csrf_token field for a plain HTML form).

usage: upload_test.py QUIRE_BINARY SOURCE_DIR      (exit 77: no `vips` command to make images)
"""
import base64
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
if not shutil.which("vips"):
    print("upload: no vips command (apt-get install libvips-tools)", file=sys.stderr)
    sys.exit(77)

passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what} {str(detail)[:600]}", file=sys.stderr)


work = harness.begin("upload", QUIRE, SRC)  # (on PostgreSQL too: harness.py)
site = os.path.join(work, "site")
img = os.path.join(work, "img")
os.mkdir(img)
ENV = dict(os.environ, QUIRE_BUNDLED_PLUGINS=os.path.join(SRC, "plugins"))
server = None


def quire(*args):
    r = subprocess.run([QUIRE, *args], capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise SystemExit(f"quire {' '.join(args)}: {r.stderr}")
    return r.stdout


def finish(code):
    if server:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(code)


def vips(*args):
    subprocess.run(["vips", *args], check=True, capture_output=True)


# --- the site: small limits so that they are easy to reach
harness.quire("init", site)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write('\nplugins = { "theme", "article" }\napi = { admin_rate = 100000 }\n'
            "limits = { upload_request = 48 * 1024 * 1024, upload_file = 40 * 1024 * 1024, upload_files = 3, upload_spools = 2,\n"
            "  media_bytes = 4 * 1024 * 1024 }\n")
key = re.search(r": (\d+:[0-9a-f]{64})$", quire("api-key", "add", "desk", "--role", "editor", "--site", site).strip()).group(1)
quire("user", "add", "maren", "--email", "maren@staff.example", "--role", "editor", "--site", site)
with open(os.path.join(work, "session.lua"), "w") as f:
    f.write('local t = quire.users.open_session(quire.users.get("maren").id)\n'
            'print(t .. " " .. quire.users.session_csrf(t))\n')
sess, csrf = quire("run", "--site", site, os.path.join(work, "session.lua")).split()

server = subprocess.Popen([QUIRE, "serve", "--site", site, "--listen", "127.0.0.1:0", "--workers", "1"],
                          stdout=open(os.path.join(work, "serve.log"), "w"), stderr=subprocess.STDOUT, env=ENV)
port = None
for _ in range(600):  # 60 s at most: a sanitizer build on a loaded machine starts slowly
    time.sleep(0.1)
    m = re.search(r"http://127\.0\.0\.1:(\d+)", open(os.path.join(work, "serve.log")).read())
    if m:
        port = int(m.group(1))
        break
if not port:
    print("server did not start", open(os.path.join(work, "serve.log")).read(), file=sys.stderr)
    finish(1)
BASE = f"http://127.0.0.1:{port}"
UPLOADS = os.path.join(site, ".quire", "uploads")


def worker_pid():
    for _ in range(50):
        kids = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        if kids:
            return int(kids[0])
        time.sleep(0.1)
    return None


def peak_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token():
    kid, secret = key.split(":")
    now = int(time.time())
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    p = b64(json.dumps({"iat": now, "exp": now + 300, "aud": "/api/admin/v1/"}).encode())
    return f"{h}.{p}." + b64(hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())


BOUNDARY = "----quireTestBoundary7MA4YWxk"


def form(files=(), fields=None):
    """multipart/form-data: files are (field, filename, bytes)."""
    out = b""
    for k, v in (fields or {}).items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode() + b"\r\n"
    for field, name, data in files:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def post(body, headers=None, auth=True, ctype=None):
    h = {"Content-Type": ctype or f"multipart/form-data; boundary={BOUNDARY}"}
    if auth:
        h["Authorization"] = "Bearer " + token()
    h.update(headers or {})
    req = urllib.request.Request(BASE + "/api/admin/v1/media", data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = raw.decode("utf-8", "replace")
    return status, hdrs, doc


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a):
        return None


def get(path):
    try:
        with urllib.request.urlopen(BASE + path, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def raw_exchange(head, body, close_after=None):
    """Sends head and body (or its first close_after bytes, then closes) over a socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(head)
    data = body if close_after is None else body[:close_after]
    for i in range(0, len(data), 65536):
        try:
            s.sendall(data[i:i + 65536])
        except OSError:
            break
    got = b""
    if close_after is None:
        s.shutdown(socket.SHUT_WR)
    else:
        s.close()
        return b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    s.close()
    return got


def leftovers():
    """Files an upload could leave: the spool folder, and deleted files a worker still holds open."""
    left = [p for p in glob.glob(os.path.join(UPLOADS, "*")) + glob.glob(os.path.join(UPLOADS, ".*"))]
    pid = worker_pid()
    held = []
    if pid:
        for fd in glob.glob(f"/proc/{pid}/fd/*"):
            try:
                t = os.readlink(fd)
            except OSError:
                continue
            if "uploads" in t or "(deleted)" in t:
                held.append(t)
    return left + held


def media_files():
    return sorted(p for p in glob.glob(os.path.join(site, "media", "**", "*"), recursive=True) if os.path.isfile(p))


def rows():
    with harness.db(site) as c:
        return c.execute("SELECT count(*) FROM media").fetchone()[0]


# --- images made here
vips("black", f"{img}/b.v", "1600", "1000", "--bands", "3")
vips("linear", f"{img}/b.v", f"{img}/red.jpg", "1 1 1", "200 30 40", "--uchar")
vips("linear", f"{img}/b.v", f"{img}/green.png", "1 1 1", "20 160 40", "--uchar")
vips("black", f"{img}/bomb.png", "20000", "20000")  # 400 megapixels of black, small on disk
red, green, bomb = (open(f"{img}/{n}", "rb").read() for n in ("red.jpg", "green.png", "bomb.png"))


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


huge = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)) \
    + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b"")
html = b"<html><script>alert(document.cookie)</script></html>"
polyglot = red[:2] + b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html + red[2:] + html
svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

pid0 = worker_pid()
check("a worker runs", pid0 is not None)

# --- an upload with a key: two files and their metadata
st, hd, doc = post(form([("file", "red.jpg", red), ("file", "green.png", green)],
                        {"alt": "A red wall", "credit": "Desk", "caption": "Seen at dusk"}))
check("upload: 201", st == 201, (st, doc))
check("upload: two media with alt, credit, caption", isinstance(doc, dict) and len(doc.get("media", [])) == 2
      and all(m["alt"] == "A red wall" and m["credit"] == "Desk" and m["caption"] == "Seen at dusk" for m in doc["media"]), doc)
check("upload: never kept by a cache", "no-store" in (hd.get("Cache-Control") or ""), hd.get("Cache-Control"))
red_id = doc["media"][0]["id"]
check("upload: the uploader is the key's user", doc["media"][0]["uploaded_by"] == "api-desk", doc["media"][0])
check("upload: titles from the names", [m["title"] for m in doc["media"]] == ["red", "green"], doc["media"])
variant = doc["media"][0]["variants"][0]["webp"]
st, hd, body = get(variant)
check("a variant is served, immutable", st == 200 and "immutable" in (hd.get("Cache-Control") or "") and body[:4] == b"RIFF",
      (st, hd.get("Cache-Control")))
check("no upload files left after success", leftovers() == [], leftovers())
st, _, doc = post(form([("file", "again.jpg", red)]))
check("the same bytes again: the same id", st == 201 and doc["media"][0]["id"] == red_id, doc)



def avif_done():
    """Waits (at most 30 s) for the workers' background AVIF work to finish; the .avif files."""
    avif, todo = [], -1
    for _ in range(60):
        avif = glob.glob(os.path.join(site, "media", "**", "*.avif"), recursive=True)
        with harness.db(site) as c:
            todo = c.execute("SELECT count(*) FROM media WHERE hash IS NOT NULL AND (avif IS NULL OR avif = -1)").fetchone()[0]
        if avif and todo == 0:
            break
        time.sleep(0.5)
    return avif, todo


# --- streamed to disk: an upload well over limits.request_body (1 MiB) and as big as the worker's
# own memory; the worker's peak memory does not grow with it (measured once the AVIF encoder,
# which runs in the same worker between requests, is done with the images above)
avif_done()
noise = os.urandom(36 * 1024 * 1024)
before = peak_kib(pid0)
st, _, doc = post(form([("file", "noise.jpg", noise)]))
after = peak_kib(pid0)
check("a 36 MiB upload is read (over request_body: spooled), then refused over limits.media_bytes", st == 422
      and "noise.jpg: 37748736 bytes is over the limit of 4194304 (limits.media_bytes" in doc["errors"][0]["message"], (st, doc))
check("the worker's peak memory grew by less than 8 MiB for a 36 MiB body", after - before < 8 * 1024, (before, after))
check("no upload files left after a refusal", leftovers() == [], leftovers())

# --- limits: 413 with what to change
st, _, doc = post(form([("file", "a.jpg", red), ("file", "b.jpg", red), ("file", "c.jpg", red), ("file", "d.jpg", red)]))
check("more files than limits.upload_files: 413", st == 413 and "limits.upload_files" in doc["error"]["message"], (st, doc))
st, _, doc = post(form([("file", "big.jpg", b"\xff\xd8\xff" + b"\0" * (41 * 1024 * 1024))]))
check("a file over limits.upload_file: 413", st == 413 and "big.jpg is larger than" in doc["error"]["message"]
      and "limits.upload_file" in doc["error"]["message"], (st, doc))
check("no upload files left after a 413", leftovers() == [], leftovers())
head = (f"POST /api/admin/v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token()}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {49 * 1024 * 1024}\r\n\r\n").encode()
got = raw_exchange(head, b"")
check("Content-Length over limits.upload_request: 413 before the body", got.startswith(b"HTTP/1.1 413")
      and b"limits.upload_request" in got, got[:200])
head = (f"POST /api/admin/v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token()}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
chunk = b"x" * (1024 * 1024)
chunked = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(50)) + b"0\r\n\r\n"
got = raw_exchange(head, chunked)
check("a chunked upload past limits.upload_request: 413", got.startswith(b"HTTP/1.1 413"), got[:200])
# Bodies go to disk before the route knows who sent them: anyone may start one, so the uploads at
# once are bounded (limits.upload_spools, 2 here) and no crowd of clients fills the disk.
head = (f"POST /api/admin/v1/media HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {40 * 1024 * 1024}\r\n\r\n").encode()
def spooling():
    return len([t for t in leftovers() if "uploads" in t or "(deleted)" in t])


before = spooling()
held = []
for _ in range(2):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(head + b"x" * 65536)
    held.append(s)
# (until the worker holds both spool files: on a loaded machine half a second was not enough)
deadline = time.time() + 20
while time.time() < deadline and spooling() < before + 2:
    time.sleep(0.05)
got = raw_exchange(head, b"")
check("an upload past limits.upload_spools at once: 503 with Retry-After, before its body", got.startswith(b"HTTP/1.1 503")
      and b"limits.upload_spools" in got and b"Retry-After:" in got, got[:200])
for s in held:
    s.close()
time.sleep(0.5)
st, _, doc = post(form([("file", "again.jpg", red)]))
check("the held uploads gone: an upload is taken again", st == 201, (st, doc))
check("other bodies keep limits.request_body", raw_exchange(
    b"POST /api/admin/v1/media HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n", b"").startswith(b"HTTP/1.1 413"))

# --- bad input: refused with a clear error, no file and no row left, the worker serving on
files_before, rows_before = media_files(), rows()
bad = [
    ("truncated.jpg", red[: len(red) // 2], r"truncated\.jpg: the image data is truncated or corrupt"),
    ("corrupt.png", green[:40] + b"\0" * 200 + green[240:], r"corrupt\.png: .*(corrupt|libvips)"),
    ("bomb.png", bomb, r"bomb\.png: .*over the limit of 60000000 pixels"),
    ("huge.png", huge, r"huge\.png: 50000 x 50000 pixels is over the limit"),
    ("drawing.svg", svg, r"drawing\.svg: SVG is refused"),
    ("drawing.jpg", svg, r"drawing\.jpg: SVG is refused"),
    ("green.jpg", green, r"green\.jpg: the name says JPEG but the bytes are PNG"),
    ("empty.jpg", b"", r"empty\.jpg: the file is empty \(0 bytes\)"),
]
for name, data, want in bad:
    st, _, doc = post(form([("file", name, data)]))
    msg = doc["errors"][0]["message"] if isinstance(doc, dict) and doc.get("errors") else str(doc)
    check(f"{name}: 422", st == 422, (st, doc))
    check(f"{name}: a clear error naming the file", re.search(want, msg), msg)
    check(f"{name}: no media file, no row, no upload file", media_files() == files_before and rows() == rows_before
          and leftovers() == [], (media_files(), leftovers()))
# With a good file beside a bad one: the good one is added, the bad one listed.
st, _, doc = post(form([("file", "green-again.png", green), ("file", "huge.png", huge)]))
check("one good, one bad: 422 with both said", st == 422 and doc["media"][0]["title"] == "green" and doc["errors"][0]["field"] == "file[1]",
      (st, doc))

# A polyglot (a JPEG with HTML inside) is taken as the JPEG it is, and re-encoded: no markup served.
st, _, doc = post(form([("file", "poly.jpg", polyglot)]))
check("polyglot: accepted", st == 201, (st, doc))
for v in doc["media"][0]["variants"]:
    for k in ("webp", "src"):
        s, hd, body = get(v[k])
        check(f"polyglot {k}: served as an image, no markup", s == 200 and b"<script" not in body and b"<html" not in body
              and hd.get("Content-Type", "").startswith("image/"), hd.get("Content-Type"))

# Path tricks in the name: it names no file (storage is by hash), the title is cleaned.
vips("linear", f"{img}/b.v", f"{img}/blue.png", "1 1 1", "20 40 220", "--uchar")
st, _, doc = post(form([("file", "../../../etc/..\\\\evil\x1b[31m.png", open(f"{img}/blue.png", "rb").read())]))
check("path tricks: added", st == 201, (st, doc))
check("path tricks: title without path or control characters", st == 201 and doc["media"][0]["title"] == "evil[31m", doc)
check("nothing written outside the site's folders", sorted(os.listdir(work)) == ["img", "serve.log", "session.lua", "site"]
      and not os.path.exists("/etc/evil.png"), os.listdir(work))

# Malformed bodies: 400 naming the problem.
st, _, doc = post(form([("file", "a.jpg", red)])[:-200])
check("cut-off body: 400", st == 400 and "cut off" in doc["error"]["message"], (st, doc))
st, _, doc = post(b"--other\r\n\r\n--other--\r\n")
check("wrong boundary: 400", st == 400 and "boundary" in doc["error"]["message"], (st, doc))
st, _, doc = post(form([], {"alt": "nothing"}))
check("no file: 400", st == 400 and doc["error"]["code"] == "no_file", (st, doc))
st, _, doc = post(b"{}", ctype="application/json")
check("JSON to the upload route: 415", st == 415 and "multipart/form-data" in doc["error"]["message"], (st, doc))
check("no upload files left after malformed bodies", leftovers() == [], leftovers())

# Interrupted uploads: the client goes away mid-body, several times; nothing is left, the
# worker (the same process) keeps serving.
body = form([("file", "red.jpg", red + os.urandom(3 * 1024 * 1024))])
head = (f"POST /api/admin/v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token()}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
for cut in (10, 1000, len(body) // 2, len(body) - 5):
    raw_exchange(head, body, close_after=cut)
# The worker removes a spool file when it sees its client gone, in its own time: wait for it (at
# most 10 s).
deadline = time.monotonic() + 10
while leftovers() and time.monotonic() < deadline:
    time.sleep(0.1)
check("interrupted uploads: nothing left behind", leftovers() == [] and rows() == rows_before + 2, (leftovers(), rows()))
check("interrupted uploads: the same worker serves on", worker_pid() == pid0 and get("/api/openapi.json")[0] == 200, (worker_pid(), pid0))

# --- who may upload: nobody anonymous; a session needs its CSRF token
st, _, doc = post(form([("file", "red.jpg", red)]), auth=False)
check("anonymous: 401", st == 401, (st, doc))
cookie = {"Cookie": "__Host-quire_session=" + sess}
st, _, doc = post(form([("file", "red.jpg", red)]), headers=cookie, auth=False)
check("session without CSRF token: 403", st == 403 and doc["error"]["code"] == "csrf", (st, doc))
st, _, doc = post(form([("file", "red.jpg", red)], {"csrf_token": "forged"}), headers=cookie, auth=False)
check("session with a wrong csrf_token field: 403", st == 403, (st, doc))
st, _, doc = post(form([("file", "red.jpg", red)]), headers=dict(cookie, **{"X-CSRF-Token": csrf}), auth=False)
check("session with X-CSRF-Token: 201", st == 201 and doc["media"][0]["id"] == red_id, (st, doc))
vips("linear", f"{img}/b.v", f"{img}/grey.jpg", "1 1 1", "90 90 90", "--uchar")
st, hd, doc = urllib.request.build_opener(NoRedirect), None, None
req = urllib.request.Request(BASE + "/api/admin/v1/media", method="POST",
                             data=form([("file", "grey.jpg", open(f"{img}/grey.jpg", "rb").read())],
                                       {"csrf_token": csrf, "alt": "Grey", "redirect": "/admin/media?x=1"}),
                             headers=dict(cookie, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}))
try:
    r = urllib.request.build_opener(NoRedirect).open(req, timeout=30)
    st, hd = r.status, r.headers
except urllib.error.HTTPError as e:
    st, hd = e.code, e.headers
loc = hd.get("Location") or ""
check("a plain HTML form (csrf_token field, redirect): 303 to the page with the new id", st == 303
      and re.fullmatch(r"/admin/media\?x=1&media=\d+", loc), (st, loc))
with harness.db(site) as c:
    who = c.execute("SELECT uploaded_by, alt FROM media WHERE title = 'grey'").fetchone()
check("the session's user is the uploader", who == ("maren", "Grey"), who)

# --- the OpenAPI document describes the route and its fields
spec = json.loads(get("/api/openapi.json")[2])
op = spec["paths"].get("/api/admin/v1/media", {}).get("post", {})
schema = op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {}).get("schema", {})
props = spec["components"]["schemas"].get("MediaUpload", {}).get("properties", {})
check("OpenAPI: multipart/form-data body", schema.get("$ref") == "#/components/schemas/MediaUpload", op)
check("OpenAPI: the form's fields", {"file", "alt", "caption", "credit", "focal", "csrf_token", "redirect"} <= set(props), props.keys())

# AVIF: the server's background job (media.avif) makes the copies after the upload.
avif, todo = avif_done()
check("AVIF copies made in the background for every image", avif and todo == 0, (len(avif), todo))
if avif:
    st, hd, body = get("/media/" + os.path.relpath(avif[0], os.path.join(site, "media")))
    check("an AVIF copy is served as image/avif", st == 200 and hd.get("Content-Type") == "image/avif" and body[4:12] == b"ftypavif",
          (st, hd.get("Content-Type"), body[:12]))

check("the worker never died", worker_pid() == pid0, (worker_pid(), pid0))
log = open(os.path.join(work, "serve.log")).read()
check("no worker crash in the log", "signal" not in log and "restarting" not in log, log[-800:])
print(f"upload: {passed} passed, {failed} failed")
finish(1 if failed else 0)
