#!/usr/bin/env python3
"""Old fingerprinted static copies through the real `quire serve` (quire.assets): a demo site with
its own copy of the theme, whose stylesheet is edited twice (a reload after each), so the pages
name a new copy each time and the old ones stay in SITE/.quire/static/theme/. Given old mtimes
(os.utime), a restart removes only the superseded copy named by nothing for longer than
static_retention (plus the lease's slack of a day and an hour); the copies the files make now stay
however old, and one named again is leased anew; a younger superseded copy is still served (pages
held by an edge cache or a browser name it); static_retention = 0 keeps them all, and a shorter
one removes sooner; an export (a site never served) removes them too.

usage: assets_test.py QUIRE_BINARY SOURCE_DIR
"""
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, fail, finish, quire, Server  # noqa: E402
import harness  # noqa: E402

work = harness.begin("assets", sys.argv[1], sys.argv[2])
src = sys.argv[2]
DAY = 86400
SLACK = DAY + 3600  # quire.assets RENEW + PASS

site = os.path.join(work, "site")
quire("init", "--demo", site)
shutil.copytree(os.path.join(src, "plugins", "theme"), os.path.join(site, "plugins", "theme"))  # the site's own theme
css = os.path.join(site, "plugins", "theme", "static", "quire.css")
copies = os.path.join(site, ".quire", "static", "theme")


def get(s, path):
    try:
        with urllib.request.urlopen(s.base + path, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""


def stylesheet(s):
    """The name of the stylesheet copy the front page links."""
    status, page = get(s, "/")
    m = re.search(r'/static/theme/(quire\.[0-9a-f]{12}\.css)', page)
    if status != 200 or not m:
        fail("the front page links the theme's stylesheet", f"{status} {page[:300]}")
    return m.group(1)


def edit(rule):
    with open(css, "a") as f:
        f.write(rule)


def age(name, days):
    t = time.time() - days * DAY
    os.utime(os.path.join(copies, name), (t, t))


def there(name):
    return os.path.isfile(os.path.join(copies, name))


s = Server(site)
v1 = stylesheet(s)
check("the page's stylesheet copy is written", there(v1), os.listdir(copies))
edit("\n.edited-once { color: #123456; }\n")
s.reload()
v2 = stylesheet(s)
edit("\n.edited-twice { color: #654321; }\n")
s.reload()
v3 = stylesheet(s)
check("each edit is a new copy, the old ones kept", len({v1, v2, v3}) == 3 and there(v1) and there(v2) and there(v3),
      f"{v1} {v2} {v3} {os.listdir(copies)}")
status, body = get(s, "/static/theme/" + v1)
check("a superseded copy is still served while it is kept", status == 200 and ".edited-once" not in body, status)
icon = next(n for n in os.listdir(copies) if n.startswith("favicon."))
s.stop()

# v1: superseded and named by nothing for longer than the retention (7 days) and its slack;
# v2: superseded 5 days ago; v3 and the favicon: the files' copies now, untouched for a year.
age(v1, 7 + 1.1 + 0.1)
age(v2, 5)
age(v3, 365)
age(icon, 365)
with open(os.path.join(copies, "quire.0123456789ab.css.4242.tmp"), "w") as f:
    f.write("a killed writer's half copy")
age("quire.0123456789ab.css.4242.tmp", 30)
s = Server(site)
check("the restart removed the old superseded copy", not there(v1), os.listdir(copies))
check("... and a killed writer's old temporary file", not there("quire.0123456789ab.css.4242.tmp"), os.listdir(copies))
check("... and said so", "quire: removed 2 superseded static copies from" in s.log(), s.log()[-2000:])
check("the younger superseded copy stays", there(v2))
check("the current copies stay however old", there(v3) and there(icon), os.listdir(copies))
status, _ = get(s, "/static/theme/" + v1)
check("the removed copy is a 404", status == 404, status)
status, body = get(s, "/static/theme/" + v2)
check("the kept superseded copy is served", status == 200 and ".edited-once" in body and ".edited-twice" not in body, status)
before = time.time()
check("the page names the current copy", stylesheet(s) == v3)
check("named again, the current copy's lease is renewed (mtime now)",
      os.stat(os.path.join(copies, v3)).st_mtime >= before - 1, os.stat(os.path.join(copies, v3)).st_mtime)
check("the superseded one it does not name keeps its mtime", os.stat(os.path.join(copies, v2)).st_mtime < before - 4 * DAY)
s.stop()

# static_retention = 0 keeps every copy; 2 removes v2 (5 days) at the next start.
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("static_retention = 0\n")
age(v2, 400)
s = Server(site)
check("static_retention = 0: nothing removed", there(v2) and "superseded static" not in s.log(), os.listdir(copies))
s.stop()
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("static_retention = 2\n")
age(v2, 2 + 1.1 + 0.1)
s = Server(site)
check("static_retention = 2: the copy past 2 days (and the slack) removed", not there(v2) and there(v3) and there(icon),
      os.listdir(copies))
s.stop()
# A site only exported, never served: the export removes them too, and copies the current one.
edit("\n.edited-thrice { color: #abcdef; }\n")
age(v3, 4)
out = os.path.join(work, "out")
r = quire("export", "--format", "html", out, "--site", site, "--jobs", "1", "--base-url", "https://news.example")
v4 = [n for n in os.listdir(copies) if n.startswith("quire.") and n not in (v3,)]
check("an export after an edit removed the old copy past the retention", not there(v3) and len(v4) == 1, os.listdir(copies))
check("... said so", "quire: removed 1 superseded static copy from" in r.stderr, r.stderr)
check("... and the folder has the current copy", v4 and os.path.isfile(os.path.join(out, "static", "theme", v4[0])), v4)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("static_retention = -1\n")
r = quire("config", "check", "--site", site, ok=False)
check("a bad static_retention stops the site, naming it", r.returncode == 1
      and "static_retention must be a whole number of days from 0 to 36500 (0 keeps every copy), got -1" in r.stderr, r.stderr)
finish()
