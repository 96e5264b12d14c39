#!/usr/bin/env python3
"""quire export --format html (issue 21) on the demo site, checked with real tools:
the exported folder crawled for broken internal links (HTML, sitemaps, feeds); the folder served
by nginx (temp config, ephemeral port) compared byte for byte with `quire serve` for the same
base URL, gzip_static included, .br siblings decoded by brotli; incremental exports: an edited story rewrites only the pages
that showed it (every other file keeps its mtime), a trashed story's page is removed, --dry-run
writes nothing; two workers and one give the same folder.
usage: export_test.py QUIRE_BINARY SOURCE_DIR [--browser]   (--browser: also the search page in Chromium)"""
import fcntl
import glob
import gzip
import hashlib
import hmac
import html.parser
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, procs, quire, Server  # noqa: E402
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
BASE = "https://news.example"
work = harness.begin("export", QUIRE, SRC)
os.chmod(work, 0o755)  # nginx workers run as another user when started by root


site, out = os.path.join(work, "site"), os.path.join(work, "out")
quire("init", "--demo", site)
# One of the demo's pictures, as the media library keeps it (media/ab/cdef…-W.jpg).
media_file = "/media/" + sorted(os.path.relpath(os.path.join(r, n), os.path.join(site, "media"))
                                for r, _, ns in os.walk(os.path.join(site, "media")) for n in ns if n.endswith(".jpg"))[0]
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write(f'\nbase_url = "{BASE}"\naccess_log = "off"\n')
# An old address, so the redirect files and a meta-refresh page are made.
quire("redirects", "add", "/old/halden-story", "/", "--site", site)


def export(*extra, compress=("--compress", "gzip,br")):
    """(with the .br siblings too, unless compress says otherwise: () for the default, gzip only)"""
    return quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, *compress, *extra)


r = export("--jobs", "2")
check("first export says it was full", "(full export)" in r.stdout, r.stdout)


# --- the folder: every internal link of every page leads to a file
def file_for(path):
    """The file nginx's try_files $uri $uri/index.html serves for a URL path, or None."""
    path = path.split("#")[0]
    m = re.match(r"^/sitemap\.xml\?part=(\d+)$", path)
    if m:
        path = f"/sitemap-{m.group(1)}.xml"
    path = path.split("?")[0]
    full = os.path.join(out, path.lstrip("/"))
    if os.path.isfile(full):
        return full
    if os.path.isfile(os.path.join(full, "index.html")):
        return os.path.join(full, "index.html")
    return None


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if v and ((k == "href" and tag in ("a", "link")) or (k == "src" and tag in ("img", "script", "source"))
                      or (k == "action" and tag == "form")):
                self.links.append(v)
            if k == "srcset" and v:
                self.links += [part.split()[0] for part in v.split(",") if part.strip()]


def internal(link):
    if link.startswith(BASE + "/"):
        return link[len(BASE):]
    if link.startswith("/") and not link.startswith("//"):
        return link
    return None


def crawl():
    broken, pages = [], 0
    for root, _, names in os.walk(out):
        for name in names:
            full = os.path.join(root, name)
            rel = "/" + os.path.relpath(full, out)
            if name.endswith(".html"):
                pages += 1
                p = Links()
                p.feed(open(full, encoding="utf-8").read())
                links = p.links
            elif name.endswith(".xml"):
                text = open(full, encoding="utf-8").read()
                links = re.findall(r"<loc>([^<]+)</loc>", text) + re.findall(r'<link[^>]*href="([^"]+)"', text) \
                    + re.findall(r"<link>([^<]+)</link>", text)
                links = [l.replace("&amp;", "&") for l in links]
            else:
                continue
            for link in links:
                path = internal(link)
                # Every link and form works with no server behind the folder: no comment form
                # (nothing would take it), no share link through the counting redirect.
                if path is None:
                    continue
                if file_for(path) is None:
                    broken.append(f"{rel} -> {link}")
    return broken, pages


broken, pages = crawl()
check("the export has the demo's pages", pages > 60, f"{pages} HTML files")
check("no broken internal link in the exported folder", not broken, "\n  ".join(broken[:20]))
for path in ["/", "/404.html", "/search", "/search.js", "/search-index.json", "/robots.txt", "/feed.xml", "/atom.xml",
             "/feed.json", "/sitemap.xml", "/sitemap-1.xml", "/sitemap-pages.xml", "/static/theme/quire.css",
             media_file, "/old/halden-story"]:
    check(f"{path} exported", file_for(path) is not None)
check("a .gz beside the front page", os.path.isfile(os.path.join(out, "index.html.gz")))
check("the .gz holds the page", gzip.open(os.path.join(out, "index.html.gz")).read() == open(os.path.join(out, "index.html"), "rb").read())


def unbrotli(data):
    """Decoded by Debian's brotli tool (not by quire)."""
    return subprocess.run(["brotli", "-d", "-c"], input=data, capture_output=True, check=True).stdout


# Every compressed sibling decodes to its file's bytes; every compressible file has both.
brs = [os.path.join(r, n) for r, _, ns in os.walk(out) for n in ns if n.endswith(".br")]
gzs = [os.path.join(r, n) for r, _, ns in os.walk(out) for n in ns if n.endswith(".gz")]
check("a .br beside every .gz", len(brs) > 50 and {f[:-3] for f in brs} == {f[:-3] for f in gzs}, f"{len(brs)} .br, {len(gzs)} .gz")
bad = [f for f in brs if unbrotli(open(f, "rb").read()) != open(f[:-3], "rb").read()]
check("every .br decodes to its file's bytes", not bad, ", ".join(bad[:5]))
check("the .br is smaller than the page", os.path.getsize(os.path.join(out, "index.html.br")) < os.path.getsize(os.path.join(out, "index.html")) / 2)
check("the sitemap index names sitemap-1.xml", f"{BASE}/sitemap-1.xml" in open(os.path.join(out, "sitemap.xml")).read())
check("the redirect page refreshes to its target", 'http-equiv="refresh" content="0; url=/"' in open(file_for("/old/halden-story")).read())
check("_redirects lists the old address", "/old/halden-story / 301" in open(os.path.join(out, "_redirects")).read())
check("the search page loads search.js, no inline script",
      '<script src="/search.js" defer></script>' in open(file_for("/search")).read()
      and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*[^<\s]", open(file_for("/search")).read().replace('type="application/ld+json"', "")))
# One list of everything: the front page's "Older stories" go on in /latest's keyset pages, and
# its own older/ addresses are redirects (in _redirects and the map, as a pattern), not pages.
older = [os.path.relpath(os.path.join(r, n), out) for r, _, ns in os.walk(os.path.join(out, "latest", "older")) for n in ns]
check("the latest list's keyset pages are exported", len(older) > 0)
check("the front page's older/ pages are not (they redirect to /latest's)", not os.path.exists(os.path.join(out, "older")))
front_older = re.findall(r'class="pagination-next" rel="next" href="([^"]+)"', open(os.path.join(out, "index.html")).read())
check("the front page's Older stories link to /latest's second page",
      len(front_older) == 1 and re.fullmatch(r"/latest/older/\d{14}-\d+", front_older[0]) and file_for(front_older[0]), str(front_older))
check("_redirects moves the front page's older/, newer/ and page/N addresses to /latest's for good",
      all(rule in open(os.path.join(out, "_redirects")).read().splitlines()
          for rule in ("/older/:cursor /latest/older/:cursor 301", "/newer/:cursor /latest/newer/:cursor 301", "/page/:n /latest/page/:n 301"))
      and "/newer/:cursor / 302" not in open(os.path.join(out, "_redirects")).read(), open(os.path.join(out, "_redirects")).read())
check("the nginx map has the pattern", '"301 /latest/$quire_home";' in open(os.path.join(out, "redirects-path.nginx.map")).read())
sitemap_locs = [internal(l) for f in os.listdir(out) if re.fullmatch(r"sitemap.*\.xml", f)
                for l in re.findall(r"<loc>([^<]+)</loc>", open(os.path.join(out, f)).read())]
moved = [p for p in sitemap_locs if p and ("/older/" in p or (file_for(p) and 'http-equiv="refresh"' in open(file_for(p), errors="replace").read()))]
check("the sitemaps list no address that redirects", sitemap_locs and not moved, ", ".join(moved[:5]))
# One address per list page: the pages' Newer links name older/ pages (or the first page), so no
# newer/ page is written (the crawl above found every link's file).
newer_files = [os.path.relpath(r, out) for r, ds, _ in os.walk(out) if os.path.basename(r) == "newer"]
check("no newer/ pages are exported", not newer_files, ", ".join(newer_files[:5]))
prevs = [m for r, _, ns in os.walk(os.path.join(out, "latest", "older")) for n in ns if n == "index.html"
         for m in re.findall(r'class="pagination-prev" rel="prev" href="([^"]+)"', open(os.path.join(r, n)).read())]
check("the older pages link Newer to the list's first page or an older page",
      prevs and all(p == "/latest" or re.fullmatch(r"/latest/older/\d{14}-\d+", p) for p in prevs), ", ".join(prevs[:5]))
newer_dir = os.path.join(out, "tag")
check("tag pages with feeds", any(os.path.isfile(os.path.join(newer_dir, t, "feed.xml")) for t in os.listdir(newer_dir)))


# --- nginx serving the folder vs quire serve, same base URL
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


nginx = shutil.which("nginx") or "/usr/sbin/nginx"
# The configuration for the redirect maps, as the map file's head gives it ("#   " lines).
head = [line[4:].replace("OUT/", out + "/") for line in open(os.path.join(out, "redirects-path.nginx.map")) if line.startswith("#   ")]
nginx_http = "".join("  " + line for line in head if line.startswith("map"))
nginx_server = "".join("    " + line for line in head if line.startswith("if "))
check("the map file's head gives nginx's configuration", nginx_http.count("map ") == 8 and nginx_server.count("return 30") == 3, "".join(head))
ng = os.path.join(work, "nginx")
os.makedirs(os.path.join(ng, "tmp"))
nport = None
for attempt in range(5):
    nport = free_port()
    conf = os.path.join(ng, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {ng}/nginx.pid;
error_log {ng}/error.log;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path {ng}/tmp/body; proxy_temp_path {ng}/tmp/proxy; fastcgi_temp_path {ng}/tmp/fastcgi;
  uwsgi_temp_path {ng}/tmp/uwsgi; scgi_temp_path {ng}/tmp/scgi;
{nginx_http}  server {{
    listen 127.0.0.1:{nport};
    root {out};
    gzip_static on;
    error_page 404 /404.html;
{nginx_server}    location / {{ try_files $uri $uri/index.html =404; }}
  }}
}}
""")
    p = subprocess.Popen([nginx, "-p", ng, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(p)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", nport), timeout=1).close()
            break
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.1)
    if p.poll() is None:
        break
if not check("nginx started", procs and procs[-1].poll() is None, open(os.path.join(ng, "error.log")).read()
             if os.path.exists(os.path.join(ng, "error.log")) else ""):
    finish()

qport = Server(site).port

sample = ["/", "/feed.xml", "/atom.xml", "/feed.json", "/robots.txt", "/sitemap-pages.xml", "/sitemap.xml?part=1",
          "/static/theme/quire.css", media_file]
for sub in ("tag", "section", "author"):
    names = sorted(os.listdir(os.path.join(out, sub)))
    sample.append(f"/{sub}/{names[0]}")
    if sub != "author":
        sample.append(f"/{sub}/{names[-1]}/feed.xml")
sample += ["/" + os.path.relpath(os.path.dirname(os.path.join(r, n)), out) for r, _, ns in os.walk(os.path.join(out, "latest", "older"))
           for n in ns if n == "index.html"][:2]
entries = sorted(os.path.relpath(r, out) for r, _, ns in os.walk(os.path.join(out, "2026")) if "index.html" in ns)
sample += ["/" + e for e in entries[::5]]
sample += ["/" + os.path.relpath(r, out) for r, _, ns in os.walk(os.path.join(out, "opinion")) if "index.html" in ns][:2]
check("a sample of pages to compare", len(sample) > 20, str(len(sample)))
# An entry page's blocks that need the server differ, and are compared apart: the share links
# (the server's go through its counting redirect, the export's to the networks themselves, with
# no total) and the comments (the server's with the form, the export's the approved thread only).
# (the comment form's token names the second the form was made in: left out where two
# renderings of a page with the form are compared)
TOKEN = re.compile(rb'(<input type="hidden" name="token" value=")[^"]*')
SHARE = re.compile(rb'<div class="share">.*?</div>', re.S)
COMMENTS = re.compile(rb'<section class="block comments".*?</section>\n?', re.S)
FORM = re.compile(rb"\s*<div class=\"comment-respond\".*?</form>\s*</div>", re.S)
CLOSED = re.compile(rb'\s*<p class="comments-closed">[^<]*</p>')
REPLY = re.compile(rb'<p class="reply-link">.*?</p>', re.S)
COUNT_LINK = re.compile(rb' \xc2\xb7 <a href="#comments">[^<]*</a>')


def without_server_blocks(page):
    """An entry page less the blocks that differ between quire serve and the export (above)."""
    return COUNT_LINK.sub(b"", COMMENTS.sub(b"", SHARE.sub(b"", page)))


shared, threads = 0, 0
for path in sample:
    s1, b1, _ = get(f"http://127.0.0.1:{qport}{path}")
    # A static host ignores queries: the sitemap's parts are files (and redirects in the map).
    s2, b2, _ = get(f"http://127.0.0.1:{nport}{path.replace('/sitemap.xml?part=', '/sitemap-').replace('-1', '-1.xml') if '?part=' in path else path}")
    served_share, static_share = SHARE.findall(b1), SHARE.findall(b2)
    if served_share:
        shared += 1
        check(f"{path}: the export's share links go to the networks, with no total",
              len(static_share) == 1 and b"/share/" not in static_share[0] and b"https://www.facebook.com/sharer/sharer.php?u=" + urllib.parse.quote(BASE + path, safe="").encode() in static_share[0]
              and b"share-total" not in static_share[0] and b"share-total" in served_share[0], static_share[0][:300] if static_share else b"none")
    served_comments, static_comments = COMMENTS.findall(b1), COMMENTS.findall(b2)
    if served_comments:
        # The thread as the server shows it, less the form (and the closed notice, which the
        # server shows only without the form, and the reply links); none at all, nor the
        # byline's link to it, without an approved comment.
        # (white space between tags apart: the template's lines around the form and the notice)
        thread = re.sub(rb">\s+<", b"><", REPLY.sub(b"", CLOSED.sub(b"", FORM.sub(b"", served_comments[0]))))
        got = re.sub(rb">\s+<", b"><", CLOSED.sub(b"", static_comments[0])) if static_comments else b""
        if b'class="comment-list"' in served_comments[0]:
            threads += 1
            ok = len(static_comments) == 1 and got == thread and b"comments-closed" in static_comments[0] \
                and COUNT_LINK.search(b2) is not None
        else:
            ok = not static_comments and COUNT_LINK.search(b2) is None
        at = next((i for i, (x, y) in enumerate(zip(thread, got)) if x != y), min(len(thread), len(got)))
        check(f"{path}: the export's comments are the approved thread, without the form", ok and b"comment-form" not in b2,
              f"from byte {at}: {thread[at - 40:at + 80]!r} / {got[at - 40:at + 80]!r}")
    b1, b2 = without_server_blocks(b1), without_server_blocks(b2)
    at = next((i for i, (x, y) in enumerate(zip(b1, b2)) if x != y), min(len(b1), len(b2)))
    check(f"{path}: quire serve and nginx give the same bytes", s1 == s2 == 200 and b1 == b2,
          f"quire {s1} {len(b1)} bytes, nginx {s2} {len(b2)} bytes; from byte {at}: {b1[at - 40:at + 80]!r} / {b2[at - 40:at + 80]!r}")
check("the sample has entries with share links and with comment threads", shared > 3 and threads > 0, f"{shared} {threads}")
s, body, headers = get(f"http://127.0.0.1:{nport}/", {"Accept-Encoding": "gzip"})
check("nginx sends the .gz (gzip_static)", headers.get("Content-Encoding") == "gzip" and gzip.decompress(body) == get(f"http://127.0.0.1:{qport}/")[1])
s1, b1, _ = get(f"http://127.0.0.1:{qport}/no/such/page", {"Accept": "text/html"})
s2, b2, _ = get(f"http://127.0.0.1:{nport}/no/such/page", {"Accept": "text/html"})
check("the 404 page: nginx serves 404.html, as quire answers", s1 == s2 == 404 and b"<html" in b2 and b"Not Found" in b2 or b"not found" in b2.lower(), f"{s1} {s2}")
opener = urllib.request.build_opener(NoRedirect)
try:
    opener.open(f"http://127.0.0.1:{nport}/old/halden-story", timeout=10)
    check("nginx redirects the old address (map file)", False, "no redirect")
except urllib.error.HTTPError as e:
    check("nginx redirects the old address (map file)", e.code == 301 and e.headers.get("Location", "").endswith("/"), str(e.code))
# A list's newer/ and page/N addresses, which the server resolves to the page showing those
# entries now: the static site sends them to the list's first page (302), not to a 404.
check("_redirects sends a tag's newer/ and page/N addresses to its first page",
      "/tag/:slug/newer/:cursor /tag/:slug 302" in open(os.path.join(out, "_redirects")).read()
      and "/tag/:slug/page/:n /tag/:slug 302" in open(os.path.join(out, "_redirects")).read())
tag = sorted(os.listdir(os.path.join(out, "tag")))[0]
for old_path, first in ((f"/tag/{tag}/newer/20200101000000-1", f"/tag/{tag}"), ("/latest/newer/20200101000000-1?x=1", "/latest"),
                        (f"/section/{sorted(os.listdir(os.path.join(out, 'section')))[0]}/page/2", None)):
    first = first or old_path.rsplit("/page/", 1)[0]
    try:
        opener.open(f"http://127.0.0.1:{nport}{old_path}", timeout=10)
        check(f"nginx sends {old_path} to {first}", False, "no redirect")
    except urllib.error.HTTPError as e:
        check(f"nginx sends {old_path} to {first}", e.code == 302 and urllib.parse.urlsplit(e.headers.get("Location", "")).path == first, f"{e.code} {e.headers.get('Location')}")
# The front page's old older/, newer/ and page/N addresses: nginx moves them as quire serve does
# (301, the same address under /latest), and the older page is there.
cursor = front_older[0].rsplit("/", 1)[1]
# A list's page/1 is its first page, for good: the front page's too (not /latest's).
for old_path, to in [(p, "/latest" + p.rstrip("/")) for p in (f"/older/{cursor}", f"/older/{cursor}/", f"/newer/{cursor}", "/page/2")] \
        + [("/page/1", "/"), ("/page/1/", "/"), (f"/tag/{tag}/page/1", f"/tag/{tag}"), ("/latest/page/1?x=1", "/latest")]:
    answers = []
    for port in (nport,) if old_path.endswith("/") else (qport, nport):  # (quire serve has no address with a slash at the end)
        try:
            opener.open(f"http://127.0.0.1:{port}{old_path}", timeout=10)
            answers.append("no redirect")
        except urllib.error.HTTPError as e:
            answers.append(f"{e.code} {urllib.parse.urlsplit(e.headers.get('Location', '')).path}")
    check(f"{'nginx moves' if old_path.endswith('/') else 'quire serve and nginx move'} {old_path} to {to} (301)",
          set(answers) == {f"301 {to}"}, str(answers))
s1, b1, _ = get(f"http://127.0.0.1:{nport}/latest/older/{cursor}")
check("... where nginx serves the older page", s1 == 200 and b"pagination-prev" in b1, str(s1))
try:
    opener.open(f"http://127.0.0.1:{nport}/sitemap.xml?part=1", timeout=10)
    check("nginx sends /sitemap.xml?part=1 to its file", False, "no redirect")
except urllib.error.HTTPError as e:
    check("nginx sends /sitemap.xml?part=1 to its file", e.code == 301 and e.headers.get("Location", "").endswith("/sitemap-1.xml"), str(e.code))


# A redirect of the site's own from a list's first page (/page/1, /latest/page/1, which their
# routes answer with a redirect too): one rule for the address in _redirects and in the nginx
# maps, the one quire serve answers; nginx answers the same, with a "/" at the end or a query
# too (as the server does), and a 302 is not shadowed by the map of 301s, looked in first.
def answer(port, path):
    """A server's answer to path: its status and Location's path."""
    try:
        opener.open(f"http://127.0.0.1:{port}{path}", timeout=10)
        return "no redirect"
    except urllib.error.HTTPError as e:
        return f"{e.code} {urllib.parse.urlsplit(e.headers.get('Location', '')).path}"


def nginx_workers():
    master = open(os.path.join(ng, "nginx.pid")).read().strip()
    return set(subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout.split())


def reload_nginx():
    """nginx reads its maps again: returns once its workers from before have ended (until then
    one of them may still take a connection) and a new one is there."""
    old = nginx_workers()
    subprocess.run([nginx, "-p", ng, "-c", conf, "-s", "reload"], check=True, capture_output=True)
    deadline = time.time() + 20
    while time.time() < deadline and (old & nginx_workers() or not nginx_workers()):
        time.sleep(0.05)


quire("redirects", "add", "/page/1", "/about", "--status", "302", "--site", site)
quire("redirects", "add", "/latest/page/1", "/search", "--site", site)
r = export()
reload_nginx()
sources = [" ".join(line.split()[:2 if " part=" in line else 1]) for line in open(os.path.join(out, "_redirects")) if line.strip()]
maps = open(os.path.join(out, "redirects-path.nginx.map")).read()
for src in ("/page/1", "/latest/page/1"):
    check(f"a redirect from {src}: one rule for it in _redirects", sources.count(src) == 1 and len(sources) == len(set(sources)),
          str(sorted(s for s in sources if sources.count(s) > 1)))
    check(f"... and in the nginx map", maps.count(f'\n"{src}" ') == 1, maps)
    for path in (src, src + "/", src + "?utm_source=x"):
        answers = {answer(port, path) for port in (qport, nport)}
        check(f"a redirect from {src}: quire serve and nginx answer {path} alike, with the redirect",
              answers == {"302 /about" if src == "/page/1" else "301 /search"}, str(answers))
quire("redirects", "delete", "/page/1", "--site", site)
quire("redirects", "delete", "/latest/page/1", "--site", site)
export()
reload_nginx()
answers = [answer(nport, "/page/1"), answer(nport, "/latest/page/1")]
check("the redirects from the first pages deleted: the lists' own rules again", answers == ["301 /", "301 /latest"]
      and "/page/1 / 301" in open(os.path.join(out, "_redirects")).read().splitlines(), str(answers))

# A target holding "$": nginx reads "$name" in a map's value as a variable (an unknown one failed
# its whole configuration at the reload); the map holds %24, the same address to a browser.
def location_of(port, path):
    """A server's status and Location (its path and query, %-decoded) for path, sent as it is."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, urllib.parse.unquote(urllib.parse.urlsplit(r.getheader("Location") or "")._replace(scheme="", netloc="").geturl())


quire("redirects", "add", "/old/dollar-sale", "/search?q=$price", "--site", site)
export()
check("a redirect to a target with $: the nginx map holds it as %24",
      '"/old/dollar-sale" "301 /search?q=%24price";' in open(os.path.join(out, "redirects-path.nginx.map")).read())
reload_nginx()
answers = {location_of(port, "/old/dollar-sale") for port in (qport, nport)}
check("... quire serve and nginx send it to the same address", answers == {(301, "/search?q=$price")}, str(answers))
quire("redirects", "delete", "/old/dollar-sale", "--site", site)
export()
reload_nginx()

# Every redirect of the site's own, not only those a list's rule matches, answers in nginx as in
# quire serve: with a "/" at the end and with a tracking query (the server looks the path up
# without them), a redirect to an entry keeping the query (as the server does), a 308 as a 308
# (a 301 would turn a POST into a GET), and a source with a query pair for that query only.
story = quire("entries", "create", "--type", "article", "--status", "published", "--title", "Moved here", "--body", "x",
              "--site", site).stdout.strip()
quire("redirects", "add", "/old/plain", "/about", "--site", site)
quire("redirects", "add", "/old/plain?p=7", "/latest", "--site", site)
quire("redirects", "add", "/old/to-story", f"entry:{story}", "--site", site)
quire("redirects", "add", "/old/for-good", "/search", "--status", "308", "--site", site)
# (an older export's maps, which an nginx configuration of then would read wrong: they go)
for name in ("redirects.nginx.map", "redirects-302.nginx.map"):
    shutil.copyfile(os.path.join(out, "redirects-path.nginx.map"), os.path.join(out, name))
r = export()
check("an older export's nginx maps are removed", not {"redirects.nginx.map", "redirects-302.nginx.map"} & set(os.listdir(out)),
      str(os.listdir(out)))
check("and the export says nginx's configuration must change", all(
    f"removed {out}/{name}, an older export's nginx map" in r.stderr for name in ("redirects.nginx.map", "redirects-302.nginx.map"))
    and "change nginx's configuration before it reloads" in r.stderr, r.stderr)
reload_nginx()
story_url = location_of(qport, "/old/to-story")[1]
check("a redirect to an entry: quire serve sends it to the entry's page, which nginx serves",
      re.fullmatch(r"/2\d{3}/.+", story_url) and get(f"http://127.0.0.1:{nport}{story_url}")[0] == 200, story_url)
for path, want in (("/old/plain", (301, "/about")), ("/old/plain/", (301, "/about")), ("/old/plain?utm_source=x", (301, "/about")),
                   ("/old/plain?p=7", (301, "/latest")), ("/old/plain/?p=7", (301, "/latest")), ("/old/plain?p=7&utm_source=x", (301, "/about")),
                   ("/old/plain?P=7", (301, "/about")),  # (a query's case matters to the server: nginx took p=7's)
                   ("/old/to-story", (301, story_url)), ("/old/to-story/", (301, story_url)),
                   ("/old/to-story?utm_source=x", (301, story_url + "?utm_source=x")),
                   ("/old/for-good", (308, "/search")), ("/old/for-good/", (308, "/search")), ("/old/for-good?utm_source=x", (308, "/search")),
                   # (the server merges runs of "/": nginx served the redirect's page for these)
                   ("//old/plain", (301, "/about")), ("/old//plain/", (301, "/about")), ("///old///plain//?p=7", (301, "/latest")),
                   # (no route ends in "/": the server sends any such address to the one without it,
                   # where nginx served the page's index.html)
                   ("/search/", (301, "/search")), ("//latest//?utm_source=x", (301, "/latest?utm_source=x")),
                   ("/no/such/page/", (301, "/no/such/page"))):
    answers = {location_of(port, path) for port in (qport, nport)}
    check(f"quire serve and nginx answer {path} alike", answers == {want}, str(answers))
# (a "\\" first: /\\evil.example, which browsers read as //evil.example, is another site's address
# with absolute_redirect off; the server refuses it)
status, to = location_of(nport, "/\\evil.example/")
check("nginx does not move /\\evil.example/ to /\\evil.example", status not in (301, 302, 307, 308), f"{status} {to}")
check("_redirects has the 308 as a 308", "/old/for-good /search 308" in open(os.path.join(out, "_redirects")).read().splitlines())
for src in ("/old/plain", "/old/plain?p=7", "/old/to-story", "/old/for-good"):
    quire("redirects", "delete", src, "--site", site)
quire("entries", "delete", story, "--site", site)
export()
reload_nginx()

# nginx looks a map's string key up whatever its case (both lowercased), quire serve exactly: a
# redirect from /Search to /search looped in nginx (/search was the key), /OLD/CASE took
# /old/case's redirect, and two sources differing in case only were one key twice, which failed
# nginx's whole configuration at the reload.
quire("redirects", "add", "/Search", "/search", "--site", site)
quire("redirects", "add", "/Old/Case", "/search", "--site", site)
quire("redirects", "add", "/old/case", "/latest", "--site", site)
quire("redirects", "add", "/Caf%C3%A9.html", "/search", "--site", site)
# (and sources longer than the 46 bytes nginx's default map_hash_bucket_size holds, which failed
# its whole configuration: "could not build map_hash", a WordPress permalink being often longer)
long_src = "/2015/03/14/an-old-post-whose-permalink-is-longer-than-a-bucket"
longest_src = "/" + "x" * 300
quire("redirects", "add", long_src, "/search", "--site", site)
quire("redirects", "add", longest_src, "/latest", "--site", site)
export()
t = subprocess.run([nginx, "-p", ng, "-c", conf, "-t"], capture_output=True, text=True)
check("sources that differ in case only, and long ones: nginx takes the maps", t.returncode == 0, t.stderr)
if t.returncode == 0:
    reload_nginx()
    for path, want in (("/search", (200, "")), ("/Search", (301, "/search")), ("/Search/?utm_source=x", (301, "/search")),
                       ("/Old/Case", (301, "/search")), ("/old/case", (301, "/latest")), ("/old/case/", (301, "/latest")),
                       ("/OLD/CASE", (404, "")), ("/Caf%c3%a9.html", (301, "/search")), ("/caf%c3%a9.html", (404, "")),
                       ("//Caf%c3%a9.html/", (301, "/search")),
                       (long_src + "/", (301, "/search")), (longest_src + "?utm_source=x", (301, "/latest"))):
        answers = {location_of(port, path) for port in (qport, nport)}
        check(f"a source with capitals: quire serve and nginx answer {path} alike", answers == {want}, str(answers))
for src in ("/Search", "/Old/Case", "/old/case", "/Caf%C3%A9.html", long_src, longest_src):
    quire("redirects", "delete", src, "--site", site)
export()
reload_nginx()

# The site's own redirects from a list's addresses, which the lists' own rules (patterns) match
# too: a tag's page/1 and a front page's older/ address with a 302 (which the map of 301s, looked
# in first, shadowed), and /page/1 and /latest/page/1 to an unpublished entry (the server answers
# 404 there). nginx answers as quire serve does, with a "/" at the end and a query too; so does
# _redirects as Netlify reads it (the first rule that matches). And a page number written with a
# zero in front is page 1, by the server's rule (a 301 to the list's first page, its one address).
def netlify_answer(path):
    """What _redirects answers for path (no query), read as Netlify does: the first rule whose source
    matches (":name": one segment; a "/" at the end ignored), its placeholders filled in."""
    segs = path.rstrip("/").split("/")
    for line in open(os.path.join(out, "_redirects")):
        if len(line.split()) == 3:  # (not the rules with a query)
            src, to, status = line.split()
            pairs = list(zip(src.split("/"), segs))
            if len(src.split("/")) == len(segs) and all(a.startswith(":") or a == b for a, b in pairs):
                for a, b in pairs:
                    to = to.replace(a, b) if a.startswith(":") else to
                return f"{status} {'' if status == '404' else to}"
    return "no rule"


draft = quire("entries", "create", "--type", "article", "--title", "Not out yet", "--body", "x", "--site", site).stdout.strip()
quire("redirects", "add", f"/tag/{tag}/page/1", "/about", "--status", "302", "--site", site)
quire("redirects", "add", f"/older/{cursor}", "/search", "--status", "302", "--site", site)
quire("redirects", "add", "/page/1", f"entry:{draft}", "--site", site)
quire("redirects", "add", "/latest/page/1", f"entry:{draft}", "--site", site)
quire("redirects", "add", "/?p=9", f"entry:{draft}", "--site", site)
embargoed = "/2030/01/01/embargoed-ceo-resigns"  # (an imported scheduled post's old permalink)
quire("redirects", "add", embargoed, f"entry:{draft}", "--site", site)
export()
reload_nginx()
# An address of a story not public that nothing else would answer: no rule, so the files a host
# may serve (the nginx maps, _redirects) do not publish its slug; every host answers 404 there.
published = "".join(open(os.path.join(out, n)).read() for n in ("_redirects", "redirects-path.nginx.map", "redirects-query.nginx.map"))
check("a redirect from an old address to a draft: its address is in no file of the export", "embargoed-ceo-resigns" not in published)
answers = {answer(port, embargoed) for port in (qport, nport)}
check("... and quire serve and nginx both answer it 404", answers == {"404 "}, str(answers))
check("... as Netlify does, with no rule", netlify_answer(embargoed) == "no rule", netlify_answer(embargoed))
# (a query source to an entry not public: nginx served the front page's file)
for path in ("/?p=9", "//?p=9"):
    answers = {answer(port, path) for port in (qport, nport)}
    check(f"a redirect from /?p=9 to a draft: quire serve and nginx answer {path} alike", answers == {"404 "}, str(answers))
s2, b2, _ = get(f"http://127.0.0.1:{nport}/?p=9")
check("... nginx with the 404 page", s2 == 404 and b2 == open(os.path.join(out, "404.html"), "rb").read(), f"{s2} {b2[:200]!r}")
check("... and _redirects has it", "/ p=9 /404.html 404" in open(os.path.join(out, "_redirects")).read().splitlines())
for src, want in ((f"/tag/{tag}/page/1", "302 /about"), (f"/older/{cursor}", "302 /search"), ("/page/1", "404 "), ("/latest/page/1", "404 ")):
    for path in (src, src + "/", src + "?utm_source=x"):
        answers = {answer(port, path) for port in (qport, nport)}
        check(f"a redirect from {src}: quire serve and nginx answer {path} alike", answers == {want}, str(answers))
    check(f"... and _redirects, read as Netlify does", netlify_answer(src) == want, netlify_answer(src))
for path, want in (("/page/01", "301 /"), ("/latest/page/01", "301 /latest"), (f"/tag/{tag}/page/01", f"301 /tag/{tag}")):
    answers = {answer(port, path) for port in (qport, nport)}
    check(f"{path} is page 1: quire serve and nginx send it to the list's first page", answers == {want}, str(answers))
# (_redirects cannot say so: Netlify's :n takes 01 as it takes 2, as README says)
check("_redirects sends page/01 to the first page with the other pages' 302", netlify_answer(f"/tag/{tag}/page/01") == f"302 /tag/{tag}",
      netlify_answer(f"/tag/{tag}/page/01"))
for src in (f"/tag/{tag}/page/1", f"/older/{cursor}", "/page/1", "/latest/page/1", "/?p=9", embargoed):
    quire("redirects", "delete", src, "--site", site)
quire("entries", "delete", draft, "--site", site)
export()
reload_nginx()
for path, want in (("/page/01", "301 /"), (f"/tag/{tag}/page/01/", f"301 /tag/{tag}"), (f"/older/{cursor}", f"301 /latest/older/{cursor}")):
    answers = {answer(port, path) for port in ((qport, nport) if not path.endswith("/") else (nport,))}
    check(f"the redirects deleted: {path} answered by the lists' own rules again", answers == {want}, str(answers))

# A symbolic link planted at OUT/_redirects (to a file outside holding the very bytes the export
# would write): the export reads no file through it, and puts its own file in its place.
outside = os.path.join(work, "outside-redirects")
shutil.copyfile(os.path.join(out, "_redirects"), outside)
os.remove(os.path.join(out, "_redirects"))
os.symlink(outside, os.path.join(out, "_redirects"))
before = open(outside, "rb").read()
r = export()
check("a link planted at _redirects: replaced by the file", r.returncode == 0 and not os.path.islink(os.path.join(out, "_redirects"))
      and open(os.path.join(out, "_redirects"), "rb").read() == before, r.stdout + r.stderr)
check("... the file it pointed at is as it was", open(outside, "rb").read() == before and not os.path.islink(outside))

# The redirect files there are compared with those made a block at a time, not read whole (a
# site with a million redirects has some hundred MB of them): a 256 MB _redirects there (sparse)
# leaves the export's memory small, and is replaced.
quire("redirects", "add", "/old/memory-test", "/about", "--site", site)
with open(os.path.join(out, "_redirects"), "wb") as f:
    f.truncate(256 << 20)
p = subprocess.Popen([QUIRE, "export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
output = p.stdout.read().decode()
_, status, usage = os.wait4(p.pid, 0)
check(f"a 256 MB _redirects there: replaced, in bounded memory (peak {usage.ru_maxrss // 1024} MB)",
      status == 0 and usage.ru_maxrss < (128 << 10) and b"/old/memory-test /about 301\n" in open(os.path.join(out, "_redirects"), "rb").read()
      and os.path.getsize(os.path.join(out, "_redirects")) < 1 << 20, output)
quire("redirects", "delete", "/old/memory-test", "--site", site)
export()


# --- the client-side search and an entry's page in Chromium (with --browser)
if "--browser" in sys.argv:
    title = re.search(r"<title>([^<]+)</title>", open(os.path.join(out, entries[0], "index.html")).read()).group(1)
    word = max(re.findall(r"[A-Za-z]{5,}", title), key=len)
    # (an entry with approved comments: its page as a reader of the static site sees it)
    with_thread = next("/" + os.path.relpath(r, out) for r, _, ns in sorted(os.walk(out)) if "index.html" in ns
                       and b'class="comment-list"' in open(os.path.join(r, "index.html"), "rb").read())
    env = dict(os.environ, EXPORT_URL=f"http://127.0.0.1:{nport}", EXPORT_WORD=word, EXPORT_ENTRY=with_thread,
               QUIRE_SHOTS=os.environ.get("QUIRE_SHOTS", os.path.join(os.getcwd(), "screenshots")))
    r = subprocess.run(["node", os.path.join(SRC, "tests", "browser", "export_search.test.js")], capture_output=True, text=True,
                       env=env, timeout=120)
    check("the static search and an entry's page work in Chromium", r.returncode == 0, r.stdout + r.stderr)

# --- incremental: edit one story
def snapshot():
    snap = {}
    for root, _, names in os.walk(out):
        for n in names:
            full = os.path.join(root, n)
            st = os.stat(full)
            snap[os.path.relpath(full, out)] = (st.st_mtime_ns, hashlib.sha256(open(full, "rb").read()).hexdigest(), st.st_ino)
    return snap


r = export()
check("an export with nothing changed writes nothing", " 0 files written" in r.stdout and "(no content changed)" in r.stdout, r.stdout)
# A static file removed from public/ goes from the folder even when no content changed.
with open(os.path.join(site, "public", "extra.txt"), "w") as f:
    f.write("an extra static file\n")
r = export()
check("a new static file is copied", open(os.path.join(out, "extra.txt")).read() == "an extra static file\n", r.stdout)
os.remove(os.path.join(site, "public", "extra.txt"))
r = export()
check("a removed static file goes", not os.path.exists(os.path.join(out, "extra.txt")) and " 1 removed" in r.stdout, r.stdout)
# A page removed by hand (with its .gz) is written again by an export with nothing changed; a
# run's folder left by a killed export (a process that no longer runs) is cleaned away.
lost = next(f for f in sorted(snapshot()) if f.count("/") >= 2 and f.endswith("/index.html"))
lost_bytes = open(os.path.join(out, lost), "rb").read()
os.remove(os.path.join(out, lost))
os.remove(os.path.join(out, lost + ".gz"))
run_dir = os.path.join(site, ".quire")
manifest = next(n for n in os.listdir(run_dir) if re.match(r"^export-[0-9a-f]+\.db$", n))
leftover = os.path.join(run_dir, manifest + ".run-4194305")  # (past any Linux pid_max)
os.makedirs(leftover)
open(os.path.join(leftover, "w0"), "w").close()
r = export("--verbose")
check("a page removed by hand is written again when nothing changed", "(no content changed)" in r.stdout
      and f"write {lost}\n" in r.stdout and " 1 files written" in r.stdout, r.stdout)
check("it holds the same page, with its .gz", TOKEN.sub(rb"\1", open(os.path.join(out, lost), "rb").read()) == TOKEN.sub(rb"\1", lost_bytes)
      and gzip.open(os.path.join(out, lost + ".gz")).read() == open(os.path.join(out, lost), "rb").read())
check("a killed run's folder is removed, the run's own too", not [n for n in os.listdir(run_dir) if ".run-" in n],
      str(os.listdir(run_dir)))
# A manifest from before XXH3 (HMAC-SHA256 of the page less its token, 64 hex digits) still
# tells unchanged pages; and --compress's siblings follow the option, the files themselves are not
# written again. (Each run below renders every page again: the option is in what they are made with.)
import hmac  # noqa: E402
import sqlite3  # noqa: E402
db = sqlite3.connect(os.path.join(run_dir, manifest))
for path, file in db.execute("SELECT path, file FROM files WHERE hash NOT LIKE 'src %'").fetchall():
    body = TOKEN.sub(rb"\1", open(os.path.join(out, file), "rb").read())
    db.execute("UPDATE files SET hash = ? WHERE path = ?", (hmac.new(b"quire-export", body, hashlib.sha256).hexdigest(), path))
db.commit()
before = snapshot()
unsiblinged = lambda snap: {f: v for f, v in snap.items() if not f.endswith((".gz", ".br"))}
r = export(compress=())
now = snapshot()
check("an old manifest: every page rendered again, none written", "(full export)" in r.stdout and " 0 files written" in r.stdout
      and unsiblinged(now) == unsiblinged(before), r.stdout)
check("an old manifest: its hashes are XXH3's after", db.execute("SELECT count(*) FROM files WHERE length(hash) = 64").fetchone()[0] == 0)
db.close()
check("--compress's default (gzip): no .br left, every .gz kept", not [f for f in now if f.endswith(".br")]
      and {f for f in now if f.endswith(".gz")} == {f for f in before if f.endswith(".gz")} and len(before) > 100, r.stdout)
check("--compress's default (gzip): the .br it removes are counted",
      f" {len([f for f in before if f.endswith('.br')])} removed," in r.stdout, r.stdout)
dry = export("--dry-run", compress=("--compress", "none"))
gz = sorted(f for f in now if f.endswith(".gz"))
r = export(compress=("--compress", "none"))
now = snapshot()
check("--compress none: no sibling left, no file written again", not [f for f in now if f.endswith((".gz", ".br"))]
      and unsiblinged(now) == unsiblinged(before) and " 0 files written" in r.stdout, r.stdout)
check("--compress none: the siblings it removes are counted, and --dry-run listed and counted them first",
      f" {len(gz)} removed," in r.stdout and f" {len(gz)} removed (would be)" in dry.stdout
      and sorted(line[len("would remove "):] for line in dry.stdout.splitlines() if line.startswith("would remove ")) == gz,
      dry.stdout[-2000:] + r.stdout)
r = export()
now = snapshot()
check("--compress gzip,br: a .gz and a .br beside every compressible file again",
      {f for f in now if f.endswith((".gz", ".br"))} == {f for f in before if f.endswith((".gz", ".br"))}
      and all(gzip.open(os.path.join(out, f)).read() == open(os.path.join(out, f[:-3]), "rb").read() for f in now if f.endswith(".gz"))
      and unsiblinged(now) == unsiblinged(before), r.stdout)
check("the .br holds the front page", unbrotli(open(os.path.join(out, "index.html.br"), "rb").read()) == open(os.path.join(out, "index.html"), "rb").read())
# --compress changed: a page's siblings are made from the page there, never from what a symbolic
# link in its place points at. One put there before the run is replaced by the page, as a link
# in a file's place is; one swapped in while the run reads (a read through the page's path
# followed it: a sibling of a file outside the folder) is refused, and the run fails naming it.
import threading  # noqa: E402
secret = os.path.join(work, "secret.html")
SECRET = b"<p>Secret: not for the public.</p>\n" * 100
with open(secret, "wb") as f:
    f.write(SECRET)


def siblings_leak(pages):
    """The siblings of pages holding the secret."""
    return [p + s for p in pages for s in (".gz", ".br") if os.path.isfile(p + s) and SECRET in
            (gzip.decompress if s == ".gz" else unbrotli)(open(p + s, "rb").read())]


linked_page = os.path.join(out, entries[0], "index.html")
os.remove(linked_page)
os.symlink(secret, linked_page)
r = export(compress=())
check("--compress changed, a link in a page's place: replaced by the page, no sibling made from the link",
      not os.path.islink(linked_page) and SECRET not in open(linked_page, "rb").read() and not siblings_leak([linked_page])
      and open(secret, "rb").read() == SECRET, r.stdout)
raced = [os.path.join(out, e, "index.html") for e in entries[1:21]]
race_dir = os.path.join(work, "race")
os.makedirs(race_dir)
saved = {p: os.path.join(race_dir, str(i)) for i, p in enumerate(raced)}
for p, copy in saved.items():
    os.link(p, copy)
stop = threading.Event()


def swap(page, target, link):
    """Puts a link to target (link) or a hard link of target (not) in page's place, by rename."""
    tmp = os.path.join(os.path.dirname(page), ".race")
    os.symlink(target, tmp) if link else os.link(target, tmp)
    os.rename(tmp, page)
    if os.path.lexists(tmp):  # (a rename of a hard link over the same file does nothing)
        os.remove(tmp)


def race():
    while not stop.is_set():
        for p in raced:
            swap(p, secret, True)
            swap(p, saved[p], False)


racer = threading.Thread(target=race)
racer.start()
try:
    r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", ok=False)
finally:
    stop.set()
    racer.join()
for p in raced:
    swap(p, saved[p], False)
check("--compress changed, links swapped in and out of pages' places: no sibling made from a link", not siblings_leak(raced)
      and open(secret, "rb").read() == SECRET, str(siblings_leak(raced)))
check("... the run is done, or fails naming the link", r.returncode == 0 or re.search(
      r"cannot read \S+: \S+ is a symbolic link, and the export follows none inside .*: remove the link and export again", r.stderr),
      r.stdout + r.stderr)
r = export()
check("... the next run makes every sibling from its page", not siblings_leak(raced) and all(TOKEN.sub(rb"\1",
      gzip.decompress(open(p + ".gz", "rb").read())) == TOKEN.sub(rb"\1", open(p, "rb").read()) for p in raced + [linked_page]), r.stdout)
shutil.rmtree(race_dir)
r = quire("export", "--format", "html", out, "--site", site, "--compress", "gzip,zstd", ok=False)
check("an unknown --compress is refused, naming the option", r.returncode != 0 and "--compress" in r.stderr and "zstd" in r.stderr, r.stderr)
# A folder emptied since (or a new one with the same name): everything is written again, though
# the manifest remembers the files.
listed = lambda: {os.path.relpath(os.path.join(r, n), out) for r, _, ns in os.walk(out) for n in ns}
had = listed()
shutil.rmtree(out)
r = export()
check("an emptied folder gets a full export", "(full export)" in r.stdout and listed() == had,
      r.stdout + " ".join(sorted(listed() ^ had)[:10]))
before = snapshot()
# The newest story: on the front page and in the feeds.
story_path = re.search(r"<link>" + re.escape(BASE) + r"(/[^<]+)</link>", open(os.path.join(out, "feed.xml")).read().split("<item>", 1)[1]).group(1)
story = story_path.lstrip("/")
# The pages that showed the story before the edit (a link to its address).
showing = {f for f in before if not f.endswith((".gz", ".br")) and (f.endswith(".html") or f.endswith(".xml") or f.endswith(".json"))
           and (story_path in (t := open(os.path.join(out, f), errors="replace").read()) or story_path.replace("/", "\\/") in t)}
check("other pages link the story", len(showing) > 3, str(sorted(showing)))
script = os.path.join(work, "edit.lua")


def retitle(entry, title):
    """Gives the published story at /entry (its address) a new title."""
    with open(script, "w") as f:
        f.write(f"""for _, c in ipairs(quire.content.query {{ status = "published", limit = 1000 }}) do
  if quire.content.url(c) == {("/" + entry)!r} then quire.content.update(c.id, {{ title = {title!r} }}) end
end
""")
    quire("run", "--site", site, script)


# Files that list every entry: the search index, the sitemap (dates of change).
whole_site = {"search-index.json", "sitemap-1.xml", "sitemap-news.xml"}


def rendered(stdout):
    """The files an export --verbose rendered (written, or rendered again with the same bytes)."""
    return {m.group(2) for m in re.finditer(r"^(write|render) (\S+)", stdout, re.M)}


# A body-only edit (a correction): only the pages showing the story's content are rendered again,
# found by their cache tags in the manifest (no walk of the site); not the pages of the stories
# that share a tag with it, nor the lists it is in that do not show it.
with open(script, "w") as f:
    f.write(f"""local e
for _, c in ipairs(quire.content.query {{ status = "published", limit = 1000 }}) do
  if quire.content.url(c) == {story_path!r} then e = c end
end
quire.content.update(e.id, {{ body = e.body .. "\\n\\nA correction." }})
local mates = {{}}
for _, t in ipairs(e.tags) do
  for _, c in ipairs(quire.content.query {{ tag = t, status = "published", limit = 1000 }}) do
    if c.id ~= e.id then mates[#mates + 1] = quire.content.url(c) end
  end
end
print(table.concat(mates, " "))
""")
r = quire("run", "--site", site, script)
mates = {m.lstrip("/") + "/index.html" for m in r.stdout.split()}
r = export("--verbose")
got = rendered(r.stdout)
check("a body edit: the export finds the pages by their tags", "(pages found by their cache tags)" in r.stdout, r.stdout)
check("a body edit renders the story's page again", f"{story}/index.html" in got, r.stdout)
# (also rendered: the two pages with no tags, rendered on every export; not the list pages that
# read the story as the one past their end, to know whether there is a next page)
unexpected = sorted(f for f in got if f not in showing | whole_site | {"404.html", "views.gif"})
check("a body edit renders only pages showing the story", not unexpected, ", ".join(unexpected[:10]))
cards = {f for f in showing if f.endswith("index.html")} - {f"{story}/index.html"}
check("a body edit does not render the pages showing it as a card or headline", cards and not (cards & got),
      ", ".join(sorted(cards & got)[:10]))
quiet = mates - showing
check("stories share a tag with the story without showing it", len(quiet) > 0, str(sorted(mates)))
check("a body edit does not render their pages", not (quiet & got), ", ".join(sorted(quiet & got)))
before = snapshot()

with open(script, "w") as f:
    f.write(f"""local e
for _, c in ipairs(quire.content.query {{ status = "published", limit = 1000 }}) do
  if quire.content.url(c) == {story_path!r} then e = c end
end
assert(e, "no entry at {story_path}")
quire.content.update(e.id, {{ title = e.title .. " (zqxrevised)" }}) -- (a word no other story's related list looks up)
print(e.id)
""")
r = quire("run", "--site", site, script)
story_id = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
check("the story was edited", story_id.isdigit(), r.stdout + r.stderr)

r = export("--dry-run")
check("--dry-run lists the story's page", f"would write {story}/index.html" in r.stdout, r.stdout)
check("--dry-run writes nothing", snapshot() == before)

r = export("--verbose")
# (related lists are drawn from tags, keywords and words, not from a story's title: those of the
# stories sharing a tag with it that do not show it cannot change; quire.related)
check("a title edit does not render the pages of the stories only sharing a tag with it", not (quiet & rendered(r.stdout)),
      ", ".join(sorted(quiet & rendered(r.stdout))))
after = snapshot()
changed = {f for f in after if f in before and after[f] != before[f]}
kept = {f for f in after if f in before and after[f][0] == before[f][0]}
check("the story's page was rewritten", f"{story}/index.html" in changed)
check("the front page and the feeds changed", {"index.html", "feed.xml", "atom.xml", "feed.json"} <= changed)
check("every page that showed the story changed", not (showing - changed - {"sitemap-1.xml"}),
      ", ".join(sorted(showing - changed)))
# Every file that changed showed the story before the edit, or lists every entry (its date).
unexpected = sorted(f for f in changed if (f[:-3] if f.endswith((".gz", ".br")) else f) not in showing | whole_site)
check("only pages showing the story changed", not unexpected, ", ".join(unexpected[:10]))
untouched = set(before) - changed
check("every other file kept its mtime and inode (not written again)",
      all(after[f][0] == before[f][0] and after[f][2] == before[f][2] for f in untouched if f in after))
# A changed file is a new one renamed over the old (readers see the old bytes or the new, never
# a part), with a .gz that holds it; no temporary file is left behind.
check("every changed file is a new inode (written to a temporary file, renamed)",
      all(after[f][2] != before[f][2] for f in changed if after[f][1] != before[f][1]))
check("every .gz holds its file", all(gzip.open(os.path.join(out, f)).read() == open(os.path.join(out, f[:-3]), "rb").read()
                                      for f in after if f.endswith(".gz")))
check("no temporary file left", not [f for f in after if os.path.basename(f).startswith(".quire-tmp-")])
check("most files were not touched", len(kept) > len(changed) * 2, f"{len(changed)} changed, {len(kept)} kept")

# --- a trashed story: its page goes, and no link points at it any more
quire("entries", "trash", story_id, "--site", site)
r = export()
check("the trashed story's page is removed", not os.path.exists(os.path.join(out, story, "index.html"))
      and not os.path.exists(os.path.join(out, story)), r.stdout)
check("the export reports the removal", re.search(r"[1-9]\d* removed", r.stdout) is not None, r.stdout)
broken, _ = crawl()
check("no broken internal link after the removal", not broken, "\n  ".join(broken[:20]))

# --- one worker makes the same folder as two
out2 = os.path.join(work, "out1")
quire("export", "--format", "html", out2, "--site", site, "--base-url", BASE, "--jobs", "1", "--compress", "gzip,br")
def tree(d):
    files = {}
    for root, _, names in os.walk(d):
        for n in names:
            data = open(os.path.join(root, n), "rb").read()
            files[os.path.relpath(os.path.join(root, n), d)] = TOKEN.sub(rb"\1", gzip.decompress(data) if n.endswith(".gz")
                                                                     else unbrotli(data) if n.endswith(".br") else data)
    return files


t1, t2 = tree(out), tree(out2)
check("one worker and two make the same files", t1 == t2,
      ", ".join(sorted(set(t1) ^ set(t2))[:10] + [f for f in sorted(t1) if f in t2 and t1[f] != t2[f]][:10]))

# --- lists of many pages, split among three workers (each list walked by one): every address
# written once, and the same files as one worker's
split_site = os.path.join(work, "split-site")
shutil.copytree(site, split_site, ignore=shutil.ignore_patterns(".quire"))
with open(os.path.join(split_site, "site.lua"), "a") as f:
    f.write("\nlistings.per_page = 2\n")
# Addresses an entry shares with another (each worker reads only its own entries, taking their
# addresses by id, the others by address): a redirect from a story's address, pages at /latest
# (a list's) and /search (a fixed one). The fixed one is done once; the other two may be done by
# two workers (each rendering the address), never by none.
shared = ["/" + next(e for e in entries if e != story), "/latest"]
quire("redirects", "add", shared[0], "/latest", "--site", split_site)
pages_lua = os.path.join(work, "pages.lua")
with open(pages_lua, "w") as f:
    f.write('for _, slug in ipairs({ "latest", "search" }) do\n'
            '  quire.content.create { type = "page", title = "Page " .. slug, slug = slug, body = "Its text.", status = "published" }\n'
            'end\n')
quire("run", "--site", split_site, pages_lua)


def split_export(dest, jobs):
    r = quire("export", "--format", "html", dest, "--site", split_site, "--base-url", BASE, "--compress", "gzip", "--jobs", jobs, "--verbose")
    return re.findall(r"^write (\S+)$", r.stdout, re.M)


one = split_export(os.path.join(work, "split1"), "1")
split_manifest = [os.path.join(split_site, ".quire", n) for n in os.listdir(os.path.join(split_site, ".quire")) if n.endswith(".db")]
three = split_export(os.path.join(work, "split3"), "3")
check("the lists have older pages", any("/older/" in w for w in one), str(one[:20]))
shared_files = {f for f in set(one) if "/" + f.removesuffix("index.html").rstrip("/") in shared}
check("the shared addresses are written", len(shared_files) == 2, str(sorted(shared_files)))
check("three workers write every other file once", all(three.count(w) == 1 for w in set(three) - shared_files),
      str(sorted(w for w in set(three) - shared_files if three.count(w) > 1)[:10]))
check("three workers write the files one writes", set(one) == set(three), str(sorted(set(one) ^ set(three))[:10]))
t1, t3 = tree(os.path.join(work, "split1")), tree(os.path.join(work, "split3"))
check("three workers make the same files as one", t1 == t3,
      ", ".join(sorted(set(t1) ^ set(t3))[:10] + [f for f in sorted(t1) if f in t3 and t1[f] != t3[f]][:10]))

# The workers' plan may be out of date (lists made or gone since it was written), or odd: a list
# it does not name goes by hash, one it names that is gone is walked by none; still each address
# goes to one worker.
plan = os.path.join(work, "plan")
with open(plan, "w") as f:
    f.write("/latest\t0\n/tag/harbour\t1\n/tag/no-such-tag\t2\n/author/nobody\t1\n/section/news\t9\n")


def worker_paths(worker, *extra):
    results = os.path.join(work, "split-w" + worker.replace("/", "-"))
    quire("export", "--format", "html", os.path.join(work, "split-planned"), "--site", split_site, "--worker", worker,
          "--manifest", split_manifest[0], "--results", results, "--base-url", BASE, "--compress", "gzip", *extra)
    return [line.rstrip("\n").split("\t")[1] for line in open(results) if not line.startswith("I\t")]  # (not the "about to write" lines)


taken = [p for i in range(3) for p in worker_paths(f"{i}/3", "--plan", plan)]
alone = worker_paths("0/1")
check("with an odd plan every other address is done by one worker", all(taken.count(p) == 1 for p in set(taken) - set(shared)),
      str(sorted(p for p in set(taken) - set(shared) if taken.count(p) > 1)[:10]))
check("with an odd plan every address is done", set(taken) == set(alone), str(sorted(set(taken) ^ set(alone))[:10]))
# (on PostgreSQL the copy shares the site's database: what was added for the split goes again)
quire("redirects", "delete", shared[0], "--site", split_site)
with open(pages_lua, "w") as f:
    f.write('for _, e in ipairs(quire.content.query { type = "page", status = "published", limit = 1000 }) do\n'
            '  local url = quire.content.url(e)\n'
            '  if url == "/latest" or url == "/search" then quire.content.delete(e.id) quire.content.delete(e.id, { permanent = true }) end\n'
            'end\n')
quire("run", "--yes", "--site", split_site, pages_lua)

# --- a new redirect: the redirect files (written line by line) follow; a dry run leaves them
quire("redirects", "add", "/old/second-story", "/latest", "--site", site)
old_redirects = open(os.path.join(out, "_redirects")).read()
r = export("--dry-run")
check("--dry-run lists the redirect files", "would write _redirects" in r.stdout and "would write redirects-path.nginx.map" in r.stdout, r.stdout)
check("--dry-run leaves _redirects", open(os.path.join(out, "_redirects")).read() == old_redirects)
r = export()
check("_redirects has the new redirect", "/old/second-story /latest 301" in open(os.path.join(out, "_redirects")).read()
      and set(old_redirects.splitlines()) <= set(open(os.path.join(out, "_redirects")).read().splitlines()), r.stdout)
check("the nginx map has it", '"/old/second-story" "301 /latest";' in open(os.path.join(out, "redirects-path.nginx.map")).read())
check("no temporary file is left", not [n for n in os.listdir(out) if n.startswith(".quire-tmp-")], str(os.listdir(out)))

# --- redirects from files the export writes for something else (its own files, the front
# page's index.html): the export's files win, and deleting the redirect removes none of them
front = open(os.path.join(out, "index.html"), "rb").read()
not_found = open(os.path.join(out, "404.html"), "rb").read()
fresh_dir = os.path.join(work, "fresh")
for src in ["/_redirects", "/search-index.json", "/index.html", "/sitemap-1.xml", "/latest/index.html", "/404.html"]:
    quire("redirects", "add", src, "/latest", "--site", site)
    r = export("--jobs", "2")
    check(f"a redirect from {src}: the export works", r.returncode == 0, r.stdout + r.stderr)
    check(f"... the search index is JSON", open(os.path.join(out, "search-index.json")).read().startswith('{"entries":'))
    check(f"... _redirects and the nginx map are not pages", open(os.path.join(out, "_redirects")).read().startswith("/")
          and open(os.path.join(out, "redirects-path.nginx.map")).read().startswith("# "))
    check(f"... the front page is the front page", open(os.path.join(out, "index.html"), "rb").read() == front)
    check(f"... 404.html is the error page", open(os.path.join(out, "404.html"), "rb").read() == not_found)
    check(f"... the nginx map leaves out the export's own files", "_redirects" not in open(os.path.join(out, "redirects-path.nginx.map")).read()
          and "search-index.json" not in open(os.path.join(out, "redirects-path.nginx.map")).read())
    shutil.rmtree(fresh_dir, ignore_errors=True)
    quire("export", "--format", "html", fresh_dir, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2")
    t1, t2 = tree(out), tree(fresh_dir)
    check(f"... the folder is what a full export makes", t1 == t2,
          ", ".join(sorted(set(t1) ^ set(t2))[:10] + [f for f in sorted(t1) if f in t2 and t1[f] != t2[f]][:10]))
    quire("redirects", "delete", src, "--site", site)
    r = export("--jobs", "2")
    check(f"... deleted: the front page and the export's files are there", r.returncode == 0
          and open(os.path.join(out, "index.html"), "rb").read() == front
          and os.path.exists(os.path.join(out, "index.html.gz")) and os.path.exists(os.path.join(out, "latest", "index.html"))
          and os.path.exists(os.path.join(out, "sitemap-1.xml"))
          and open(os.path.join(out, "search-index.json")).read().startswith('{"entries":'), r.stdout + r.stderr)
shutil.rmtree(fresh_dir, ignore_errors=True)

# --- odd redirect sources: a page file only at the one place that is the source's own, inside the
# folder; the others are named on stderr (and left to _redirects and the nginx maps, which match the
# address as sent). quire serve answers each address as the folder's file does.
odd_story = [e for e in entries if e != story][0]  # (a published story: 2026/MM/slug)
odd_tag = sorted(os.listdir(os.path.join(out, "tag")))[0]
spelled_otherwise = "/" + odd_story[:-1] + "%%%02X" % ord(odd_story[-1])  # the story's address, a letter escaped
odd = {spelled_otherwise: "spelled otherwise",
       # (a name no file system takes: the whole export failed at it, at every run)
       "/" + "long-" * 48 + "name": "longer than"}
# (stored as they are, as an import of another site's rows may store them: `quire redirects add` keeps none,
# the dot segments as the server answers them 400)
raw = {"//" + odd_story: "segment", f"/tag/{odd_tag}/": "segment",
       "/a/./c": "segment", "/a/../../../escape": "segment", "/%2E%2E/up": "segment"}
raw_lua = os.path.join(work, "raw-redirects.lua")
with open(raw_lua, "w") as f:
    f.write("local add = ...\nfor _, p in ipairs({ %s }) do\n" % ", ".join(f"{p!r}" for p in raw)
            + "  if add == 'add' then quire._db:exec(\"INSERT INTO redirects (from_path, to_path, status, source, created_at)"
            " VALUES (?, '/latest', 301, 'manual', '2026-01-01T00:00:00Z')\", p)\n"
            + "  else quire._db:exec('DELETE FROM redirects WHERE from_path = ?', p) end\nend\n"
            + "quire._site.bump({ redirects = true })\n")
quire("run", "--yes", "--site", site, raw_lua, "add")
for src in odd:
    quire("redirects", "add", src, "/latest", "--site", site)
quire("redirects", "add", "//old-double", "/latest", "--site", site)  # (stored as /old-double)
story_page = open(os.path.join(out, odd_story, "index.html"), "rb").read()
r = export("--jobs", "2")
for src, why in {**odd, **raw}.items():
    check(f"a redirect from {src}: no page, and stderr says why", f"the redirect from {src} gets no page" in r.stderr
          and why in r.stderr.split(f"the redirect from {src} gets no page", 1)[1].split("\n", 1)[0], r.stderr)
check("... nothing is written outside the folder", not os.path.exists(os.path.join(work, "escape"))
      and not os.path.exists(os.path.join(work, "up")) and not os.path.exists(os.path.join(out, "a")), str(os.listdir(work)))
check("... the story's page is the story's, not a redirect", TOKEN.sub(rb"\1", open(os.path.join(out, odd_story, "index.html"), "rb").read())
      == TOKEN.sub(rb"\1", story_page))
check("... the tag's page is the tag's", b'http-equiv="refresh"' not in open(os.path.join(out, "tag", odd_tag, "index.html"), "rb").read())
check("a redirect added as //old-double is /old-double's: its page is there",
      'http-equiv="refresh"' in open(os.path.join(out, "old-double", "index.html")).read())
s1, b1, _ = get(f"http://127.0.0.1:{qport}/{odd_story}")
check("quire serve answers the story's address with the folder's page", s1 == 200
      and without_server_blocks(b1) == without_server_blocks(open(os.path.join(out, odd_story, "index.html"), "rb").read()), str(s1))
for path in (spelled_otherwise, "//old-double", "/old-double"):
    st, loc = location_of(qport, path)
    check(f"quire serve redirects {path} (as the nginx map does)", st == 301 and loc and loc.endswith("/latest"), f"{st} {loc}")
check("... the nginx map has the story's other spelling", f'"{spelled_otherwise}" "301 /latest";' in open(os.path.join(out, "redirects-path.nginx.map")).read())
shutil.rmtree(fresh_dir, ignore_errors=True)
quire("export", "--format", "html", fresh_dir, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2")
t1, t2 = tree(out), tree(fresh_dir)
check("... the folder is what a full export makes", t1 == t2,
      ", ".join(sorted(set(t1) ^ set(t2))[:10] + [f for f in sorted(t1) if f in t2 and t1[f] != t2[f]][:10]))
# A manifest row an older quire wrote for such a source (its page written over the story's file):
# the row goes, the story's file stays and is written again.
import sqlite3  # noqa: E402
db = sqlite3.connect(os.path.join(run_dir, manifest))
db.execute("INSERT OR REPLACE INTO files (path, file, hash, tags) VALUES (?, ?, 'x', '')", (spelled_otherwise, odd_story + "/index.html"))
db.commit()
db.close()
with open(os.path.join(out, odd_story, "index.html"), "w") as f:
    f.write('<meta http-equiv="refresh" content="0; url=/latest">')
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("-- (a new quire version: every page rendered again)\n")
export("--jobs", "2")
export("--jobs", "2")
check("an older quire's row of such a source: the story's page is the story's again",
      TOKEN.sub(rb"\1", open(os.path.join(out, odd_story, "index.html"), "rb").read()) == TOKEN.sub(rb"\1", story_page))
db = sqlite3.connect(os.path.join(run_dir, manifest))
check("... and the row is gone", db.execute("SELECT count(*) FROM files WHERE path = ?", (spelled_otherwise,)).fetchone()[0] == 0)
db.close()
quire("run", "--yes", "--site", site, raw_lua, "delete")
for src in [*odd, "/old-double"]:
    quire("redirects", "delete", src, "--site", site)
r = export("--jobs", "2")
check("the odd redirects deleted: the old-double page goes", not os.path.exists(os.path.join(out, "old-double")), r.stdout + r.stderr)
shutil.rmtree(fresh_dir, ignore_errors=True)
quire("export", "--format", "html", fresh_dir, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2")
t1, t2 = tree(out), tree(fresh_dir)
check("... and the folder is what a full export makes", t1 == t2,
      ", ".join(sorted(set(t1) ^ set(t2))[:10] + [f for f in sorted(t1) if f in t2 and t1[f] != t2[f]][:10]))

# --- sources (and static files) whose names a static host cannot have: a backslash (browsers send
# "/" for it), a control character, bytes that are not UTF-8: no file, named on stderr; and the
# result lines the workers write stay whole
def odd_names(d):
    """The files and folders under d whose names hold a backslash, a control character or bytes
    that are not UTF-8."""
    bad = []
    for r, ds, ns in os.walk(os.fsencode(d)):
        for n in ds + ns:
            try:
                text = n.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(n)
                continue
            if re.search(r"[\\\x00-\x1f\x7f]", text):
                bad.append(n)
    return bad


unsafe = {"/back\\slash": "backslash", "/back%5Cslash": "backslash", "/line%0Abreak": "control character",
          "/tab%09name": "control character", "/bad%FFbyte": "not UTF-8"}
# (the backslashes stored as they are: `quire redirects add` refuses them, as the server answers them 400)
unsafe_lua = os.path.join(work, "unsafe-redirects.lua")
with open(unsafe_lua, "w") as f:
    f.write("for _, p in ipairs({ %s }) do\n" % ", ".join(f"{p!r}" for p, why in unsafe.items() if why == "backslash")
            + "  quire._db:exec(\"INSERT INTO redirects (from_path, to_path, status, source, created_at)"
            " VALUES (?, '/latest', 301, 'manual', '2026-01-01T00:00:00Z')\", p)\nend\n"
            + "quire._site.bump({ redirects = true })\n")
quire("run", "--yes", "--site", site, unsafe_lua)
for src, why in unsafe.items():
    if why != "backslash":
        quire("redirects", "add", src, "/latest", "--site", site)
for name in ("odd\\name.txt", "line\nbreak.txt"):
    with open(os.path.join(site, "public", name), "w") as f:
        f.write("a static file with an odd name\n")
r = export("--jobs", "2")
for src, why in unsafe.items():
    check(f"a redirect from {src!r}: no page, and stderr says why", f"the redirect from {src} gets no page" in r.stderr
          and why in r.stderr.split(f"the redirect from {src} gets no page", 1)[1].split("\n", 1)[0], r.stderr)
check("... no file or folder has such a name", not odd_names(out), str(odd_names(out)))
r = export("--jobs", "2")
check("... the next export writes nothing (its manifest rows were whole)", " 0 files written" in r.stdout, r.stdout + r.stderr)
shutil.rmtree(fresh_dir, ignore_errors=True)
quire("export", "--format", "html", fresh_dir, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2")
t1, t2 = tree(out), tree(fresh_dir)
check("... the folder is what a full export makes", t1 == t2,
      ", ".join(sorted(set(t1) ^ set(t2))[:10] + [f for f in sorted(t1) if f in t2 and t1[f] != t2[f]][:10]))
for src in unsafe:
    quire("redirects", "delete", src, "--site", site)
for name in ("odd\\name.txt", "line\nbreak.txt"):
    os.remove(os.path.join(site, "public", name))
export("--jobs", "2")

# --- a folder inside the output that is a symbolic link to one elsewhere: the export writes and
# removes nothing through it (it would write outside the folder); it stops, naming the link, and
# once the link is removed the next export is a full one (the pages it held are missing)
def files_in(d):
    return {os.path.relpath(os.path.join(r, n), d): (os.lstat(os.path.join(r, n)).st_mtime_ns, open(os.path.join(r, n), "rb").read())
            for r, _, ns in os.walk(d) for n in ns}


quire("redirects", "add", "/tag/old-name", "/latest", "--site", site)
export()
tag_dir, elsewhere = os.path.join(out, "tag"), os.path.join(work, "elsewhere")
check("a redirect's page under tag/", os.path.isfile(os.path.join(tag_dir, "old-name", "index.html")))
shutil.move(tag_dir, elsewhere)
os.symlink(elsewhere, tag_dir)
elsewhere_before = files_in(elsewhere)
quire("redirects", "delete", "/tag/old-name", "--site", site)  # (its page's file to remove, nothing to write under tag/)
r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", ok=False)
check("a link in the output: no file removed through it", files_in(elsewhere) == elsewhere_before, r.stdout + r.stderr)
retitle([e for e in entries if e != story][-1], "Linked headline")  # (its tags' pages to write again, under tag/)
for jobs in ("2", "1"):
    r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", jobs, ok=False)
    check(f"a link in the output, --jobs {jobs}: the export fails, naming the link and what to do", r.returncode == 1
          and f"{tag_dir} is a symbolic link" in r.stderr and f"remove the symbolic link {tag_dir}" in r.stderr, r.stdout + r.stderr)
    check(f"... and writes nothing through it", files_in(elsewhere) == elsewhere_before
          and not [n for n in os.listdir(elsewhere) if n.startswith(".quire-tmp-")], r.stderr)
os.remove(tag_dir)
r = export("--jobs", "2")
check("the link removed: the next export is a full one", "(full export)" in r.stdout, r.stdout)
shutil.rmtree(fresh_dir, ignore_errors=True)
quire("export", "--format", "html", fresh_dir, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2")
t1, t2 = tree(out), tree(fresh_dir)
check("... and the folder is what a full export makes", t1 == t2,
      ", ".join(sorted(set(t1) ^ set(t2))[:10] + [f for f in sorted(t1) if f in t2 and t1[f] != t2[f]][:10]))
shutil.rmtree(fresh_dir, ignore_errors=True)
shutil.rmtree(elsewhere)

# --- --watch: an export after every commit
watch_log = open(os.path.join(work, "watch.log"), "w+")
watch = subprocess.Popen([QUIRE, "export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--watch"],
                         stdout=watch_log, stderr=subprocess.STDOUT, start_new_session=True)
procs.append(watch)
deadline = time.time() + 60
while time.time() < deadline and "exported:" not in open(watch_log.name).read():
    time.sleep(0.2)
check("--watch exports at once", "exported:" in open(watch_log.name).read(), open(watch_log.name).read())
# A commit that changes no page (a staff account made: no cache tag bumped) makes no run; the
# wait covers four looks at the database (on PostgreSQL: the commit's notification).
quire("user", "add", "watcher", "--role", "author", "--site", site)
time.sleep(2.5)
check("--watch: a commit that changes no page makes no run", open(watch_log.name).read().count("exported:") == 1,
      open(watch_log.name).read())
# One export writes into a folder at a time: another, while --watch holds it, is refused, naming
# the one running, and writes nothing (two wrote the same files and manifest rows). A dry run
# writes nothing and is not refused, nor is an export into another folder.
before = files_in(out)
for jobs in ("1", "2"):
    r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--jobs", jobs, ok=False)
    check(f"a second export into the folder --watch exports into, --jobs {jobs}: refused, naming the running one and what to do",
          r.returncode == 1 and f"another quire export into {out} is running (process {watch.pid}): wait for it to end, or stop it"
          in r.stderr and "exported:" not in r.stdout, r.stdout + r.stderr)
check("... and it writes nothing there", files_in(out) == before)
r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", "--dry-run", ok=False)
check("... a dry run into it is not refused", r.returncode == 0 and "dry run: 0 files to write" in r.stdout, r.stdout + r.stderr)
beside = os.path.join(work, "beside-watch")
r = quire("export", "--format", "html", beside, "--site", site, "--base-url", BASE, ok=False)
check("... nor an export into another folder", r.returncode == 0 and os.path.isfile(os.path.join(beside, "index.html")),
      r.stdout + r.stderr)
shutil.rmtree(beside)
check("... and --watch made no run meanwhile", open(watch_log.name).read().count("exported:") == 1, open(watch_log.name).read())
target = next(e for e in entries if e != story)
retitle(target, "Watched headline")
page = os.path.join(out, target, "index.html")
deadline = time.time() + 60  # its own minute: the first export may have used most of the one above
while time.time() < deadline and "Watched headline" not in open(page).read():
    time.sleep(0.2)
check("--watch exports again after a commit", "Watched headline" in open(page).read(), open(watch_log.name).read())
os.killpg(watch.pid, signal.SIGINT)  # Ctrl-C: to the terminal's whole process group
try:
    watch.wait(10)
except subprocess.TimeoutExpired:
    watch.kill()
check("--watch ends on Ctrl-C", watch.returncode is not None)
r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", ok=False)
check("... and lets go of the folder: the next export runs", r.returncode == 0 and "exported:" in r.stdout, r.stdout + r.stderr)
# Four exports started at once into one new folder: one runs, the others are refused, naming the
# one running (not "cannot make" the folder the first just made, nor no process, nor the one
# before, which has ended: the pid written a moment after the lock is taken).
race = os.path.join(work, "race")
for i in range(10):
    shutil.rmtree(race, ignore_errors=True)
    runs = [subprocess.Popen([QUIRE, "export", "--format", "html", race, "--site", site, "--base-url", BASE, "--compress", "none",
                             "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate() + (p.returncode,) for p in runs]
    ran = [p.pid for p, (o, e, rc) in zip(runs, outs) if rc == 0 and "exported:" in o]
    refused = [e for o, e, rc in outs if rc == 1]
    check(f"four exports at once into a new folder (round {i}): one runs, the others are refused naming it", len(ran) == 1
          and len(refused) == 3 and all(f"another quire export into {race} is running (process {ran[0]})" in e for e in refused),
          str(outs))
shutil.rmtree(race)


def lock_of(folder):
    """The lock file of the export into folder, in the site's .quire/ (named by its real path)."""
    name = hmac.new(b"quire-export", os.path.realpath(folder).encode(), hashlib.sha256).hexdigest()[:16]
    return os.path.join(site, ".quire", f"export-{name}.db.lock")


# A lock file that is no file (a folder, a link: O_NOFOLLOW): refused, naming it and what to do.
odd = os.path.join(work, "odd-lock")
odd_lock = lock_of(odd)
for kind in ("folder", "link"):
    os.mkdir(odd_lock) if kind == "folder" else os.symlink(os.path.join(work, "elsewhere-lock"), odd_lock)
    r = quire("export", "--format", "html", odd, "--site", site, "--base-url", BASE, ok=False)
    check(f"a lock file that is a {kind}: refused, naming it and what to do", r.returncode == 1
          and f"cannot lock the export manifest: {odd_lock}: " in r.stderr and "remove it if it is a link or a folder" in r.stderr
          and not os.listdir(odd), r.stdout + r.stderr)
    os.rmdir(odd_lock) if kind == "folder" else os.remove(odd_lock)
r = quire("export", "--format", "html", odd, "--site", site, "--base-url", BASE, ok=False)
check("... and once it is removed, the export runs", r.returncode == 0 and "exported:" in r.stdout, r.stdout + r.stderr)
shutil.rmtree(odd)
# A dry run into a folder of files and no manifest while a first export into it holds the lock
# (here this test's own flock): refused, naming that export (it said they were the user's own
# files), and it removes no lock file (it made none: removed, it let another export run beside).
users = os.path.join(work, "users-files")
os.mkdir(users)
open(os.path.join(users, "mine.txt"), "w").close()
with open(lock_of(users), "w") as held:
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.write(f"{os.getpid()}\n")
    held.flush()
    r = quire("export", "--format", "html", users, "--site", site, "--base-url", BASE, "--dry-run", ok=False)
    check("a dry run into a folder of the user's files, a first export into it running: refused, naming that export",
          r.returncode == 1 and f"an export into {users} is running (process {os.getpid()}) and has not recorded its files yet"
          in r.stderr, r.stdout + r.stderr)
    r = quire("export", "--format", "html", users, "--site", site, "--base-url", BASE, ok=False)
    check("... and it leaves the lock file that another export holds: the next export is refused, naming it",
          r.returncode == 1 and f"is running (process {os.getpid()})" in r.stderr, r.stdout + r.stderr)
os.remove(lock_of(users))
shutil.rmtree(users)

# --- --base-url wins over site.lua's base_url (and over none: the address served)
other = os.path.join(work, "other-base")
quire("export", "--format", "html", other, "--site", site, "--base-url", "https://mirror.example:8443/", "--jobs", "2")
robots = open(os.path.join(other, "robots.txt")).read()
check("--base-url names the sitemap in robots.txt", "Sitemap: https://mirror.example:8443/sitemap.xml" in robots, robots)
feed = open(os.path.join(other, "feed.xml")).read()
check("... and the feed's links", "<link>https://mirror.example:8443/" in feed and BASE not in feed, feed[:600])
canonical = re.search(r'<link rel="canonical" href="([^"]*)"', open(os.path.join(other, "latest", "index.html")).read())
check("... and the pages' canonical links", canonical and canonical.group(1) == "https://mirror.example:8443/latest",
      canonical and canonical.group(0))
shutil.rmtree(other)

# A body holding HTML the page does not show as text (a note to the desk in a comment, one left
# open to the end, tags): none of it in the search index (the comments were there for anyone to
# read), whose summary is the text a reader sees.
note = os.path.join(work, "note.lua")
with open(note, "w") as f:
    f.write('quire.content.create { type = "article", title = "Harbour note", status = "published", body = '
            '"<!-- source: Jane Roe, not for print -->\\n\\nThe <em>harbour</em> [reopened][1].\\n\\n'
            '[1]: https://intranet.example/notes \\"Desk\\"\\n\\n<!-- to check: Ann Doe" }\n')
quire("run", "--site", site, note)
export()
index = open(os.path.join(out, "search-index.json")).read()
summary = [e["summary"] for e in json.loads(index)["entries"] if e["title"] == "Harbour note"]
check("the search index has no HTML comment of a body, closed or not", "Jane Roe" not in index and "Ann Doe" not in index, index[:300])
check("... and the entry's summary is its text (a reference link's label and definition left out too)",
      summary and summary[0].strip() == "The harbour reopened.", str(summary))

# --- bad input
r = quire("export", "--format", "html", out, "--site", site, "--base-url", "news.example", ok=False)
check("a base URL without a scheme is refused, naming the option", r.returncode != 0 and "--base-url" in r.stderr, r.stderr)
# Not an origin: a path (the pages link from the root: /static/… and /latest led out of a site
# under /news), a query, quotes, a port that is none (all were taken); refused before OUT is made.
for bad in ("https://mirror.example/news", "https://news.example/?x=1", 'https://news.example/"><b>', "https://news.example:",
            "https://news.example:99999", "https://:80", "https://"):
    r = quire("export", "--format", "html", out + "-bad", "--site", site, "--base-url", bad, ok=False)
    check(f"--base-url {bad} is refused, saying what it takes and what it got", r.returncode == 1
          and "--base-url takes the site's origin" in r.stderr and "no path" in r.stderr and f'(got "{bad}")' in r.stderr.replace('\\"', '"')
          and not os.path.exists(out + "-bad"), r.stdout + r.stderr)
# A site.lua with no base_url and no --base-url: refused (its feeds and sitemaps named
# http://localhost:8080), saying what to give; --jobs that is no whole number: refused, not the default.
bare_site = os.path.join(work, "no-base-site")
quire("init", bare_site)
r = quire("export", "--format", "html", out + "-bad", "--site", bare_site, ok=False)
check("an export with no base URL is refused, naming --base-url", r.returncode == 1 and "give --base-url" in r.stderr
      and not os.path.exists(out + "-bad"), r.stdout + r.stderr)
for jobs in ("0", "abc", "1.5", "99999999999999999999"):
    r = quire("export", "--format", "html", out, "--site", site, "--jobs", jobs, ok=False)
    check(f"--jobs {jobs} is refused", r.returncode == 1 and f'--jobs takes a number of worker processes from 1 to 64 (got "{jobs}")'
          in r.stderr, r.stdout + r.stderr)
r = quire("export", "--format", "jsonl", out2 + "x", "--site", site, "--dry-run", ok=False)
check("--dry-run without --format html is refused", r.returncode == 2 and "--format html" in r.stderr, r.stderr)
r = quire("export", "--format", "htm", out2 + "x", "--site", site, ok=False)
check("--format htm is refused, naming the three", r.returncode == 2 and '--format takes jsonl, markdown or html (got "htm")' in r.stderr
      and not os.path.exists(out2 + "x"), r.stderr)
r = quire("export", "--format", "html", os.path.join(site, "public", "out"), "--site", site, ok=False)
check("an export into the site's public/ is refused", r.returncode == 1 and "outside" in r.stderr, r.stderr)
r = quire("export", "--format", "html", os.path.join(site, ".quire", "out"), "--site", site, ok=False)
check("an export into the site's .quire/ is refused", r.returncode == 1 and "outside" in r.stderr, r.stderr)
# (the site's folder itself was said to be "inside .../public")
r = quire("export", "--format", "html", site, "--site", site, ok=False)
check("an export into the site's folder is refused, naming it so", r.returncode == 1
      and f"{site} is the site's folder: choose a folder outside it" in r.stderr, r.stderr)
dangling = os.path.join(work, "dangling")
os.symlink(os.path.join(work, "no-such-folder"), dangling)
r = quire("export", "--format", "html", dangling, "--site", site, ok=False)
check("an export into a link to no folder is refused, naming it so", r.returncode == 1
      and f"{dangling} is a symbolic link to a folder that is not there" in r.stderr, r.stderr)
os.remove(dangling)
# A folder of the user's own files, none of them an export's: refused, naming them, and nothing
# written over or removed there (the user's index.html was written over, and a file named like an
# older quire's temporary one, NAME.tmp-PID, removed). Into a folder holding only hidden entries
# (a .well-known of the user's) the export goes, and leaves them as they were.
mine = os.path.join(work, "mine")
os.makedirs(os.path.join(mine, "docs"))
for name, text in (("index.html", "my own page"), ("report.tmp-12", "my notes"), ("docs/a.tmp-7", "mine too")):
    with open(os.path.join(mine, name), "w") as f:
        f.write(text)
mine_before = tree(mine)
manifests = sorted(glob.glob(os.path.join(site, ".quire", "export-*")))
for extra in ((), ("--dry-run",)):
    r = quire("export", "--format", "html", mine, "--site", site, "--base-url", BASE, *extra, ok=False)
    check(f"an export {' '.join(extra)} into a folder of the user's own files is refused, naming them",
          r.returncode == 1 and "no export of this site wrote (docs, index.html, report.tmp-12)" in r.stderr
          and "new or empty folder" in r.stderr, r.stdout + r.stderr)
check("... and changes nothing there, nor leaves a manifest for it in the site", tree(mine) == mine_before
      and sorted(glob.glob(os.path.join(site, ".quire", "export-*"))) == manifests, str(sorted(set(tree(mine)) ^ set(mine_before))))
hidden = os.path.join(work, "hidden")
os.makedirs(os.path.join(hidden, ".well-known"))
with open(os.path.join(hidden, ".well-known", "key.tmp-12"), "w") as f:
    f.write("mine")
quire("export", "--format", "html", hidden, "--site", site, "--base-url", BASE)
with open(os.path.join(hidden, "notes.tmp-5"), "w") as f:
    f.write("mine")
quire("export", "--format", "html", hidden, "--site", site, "--base-url", BASE)
check("an export into a folder of hidden entries leaves the user's files there",
      os.path.isfile(os.path.join(hidden, ".well-known", "key.tmp-12")) and os.path.isfile(os.path.join(hidden, "notes.tmp-5"))
      and os.path.isfile(os.path.join(hidden, "index.html")), str(sorted(tree(hidden))[:10]))
r = quire("export", "--format", "html", os.path.dirname(site), "--site", site, ok=False)
check("an export into a folder holding the site is refused, naming the database",
      r.returncode == 1 and "holds the site's folder" in r.stderr and "database" in r.stderr, r.stderr)
# The database and the media folder set outside the site (site.lua database, media_dir): an export
# into a folder holding either, or into the media folder, is refused too, before it writes anything.
far, far_site = os.path.join(work, "far"), os.path.join(work, "far-site")
quire("init", far_site)
os.makedirs(os.path.join(far, "db"))
os.makedirs(os.path.join(far, "lib", "media"))
settings = f'\nmedia_dir = "{far}/lib/media"\n'
sqlite = os.path.exists(os.path.join(far_site, "quire.db"))  # (on PostgreSQL the database is no file)
if sqlite:
    for n in os.listdir(far_site):
        if n.startswith("quire.db"):
            shutil.move(os.path.join(far_site, n), os.path.join(far, "db", n))
    settings += f'database = "{far}/db/quire.db"\n'
with open(os.path.join(far_site, "site.lua"), "a") as f:
    f.write(settings)
listing = lambda: sorted(os.path.relpath(os.path.join(r, n), far) for r, ds, ns in os.walk(far) for n in ds + ns)
far_before = listing()
refusals = [(os.path.join(far, "lib"), "holds the media library's folder"), (os.path.join(far, "lib", "media"), "inside"),
            (os.path.join(far, "lib", "media", "out"), "inside")]
if sqlite:
    refusals += [(far, "holds the site's database"), (os.path.join(far, "db"), "holds the site's database")]
for folder, why in refusals:
    r = quire("export", "--format", "html", folder, "--site", far_site, "--base-url", BASE, ok=False)
    check(f"an export into {os.path.relpath(folder, work)} is refused: {why}", r.returncode == 1 and why in r.stderr, r.stdout + r.stderr)
check("... and writes nothing there", listing() == far_before, str(sorted(set(listing()) ^ set(far_before))))
r = quire("export", "--format", "html", os.path.join(work, "far-out"), "--site", far_site, "--base-url", BASE, ok=False)
check("an export elsewhere works", r.returncode == 0 and os.path.isfile(os.path.join(work, "far-out", "404.html")), r.stdout + r.stderr)
finish()
