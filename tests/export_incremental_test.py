#!/usr/bin/env python3
"""quire export --format html (issue 21): an incremental export makes the same folder as a full
export of the same state. On the demo site, after each of: a body edit, a title edit, a retag,
a story unpublished, a story trashed, a story deleted for good, a new story published,
nothing at all, the folder updated in place is compared with a fresh full export into an empty
folder, byte for byte (every file, the .gz and .br siblings decompressed), the comment form's
tokens aside (they carry the second the page was made in); also after a manifest from before the
tag index. Also: the run after one edit renders its pages in the coordinator (no worker
processes), the files it did not rewrite keep their mtime, and --dry-run lists the story's page
and writes nothing.
usage: export_incremental_test.py QUIRE_BINARY SOURCE_DIR"""
import calendar
import glob
import gzip
import hashlib
import os
import pty
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, quire  # noqa: E402
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
BASE = "https://news.example"
work = harness.begin("export_incremental", QUIRE, SRC)
site, out = os.path.join(work, "site"), os.path.join(work, "out")
quire("init", "--demo", site)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write(f'\nbase_url = "{BASE}"\naccess_log = "off"\n')
TOKEN = re.compile(rb'(<input type="hidden" name="token" value=")[^"]*')


def export(folder, *extra, **kw):
    return quire("export", "--format", "html", folder, "--site", site, "--base-url", BASE, "--compress", "gzip,br", *extra, **kw)


def unbrotli(data):
    r = subprocess.run(["brotli", "-d", "-c"], input=data, capture_output=True, check=True)
    return r.stdout


def tree(d):
    """Every file under d: its bytes (a sibling's decompressed), tokens blanked."""
    files = {}
    for root, _, names in os.walk(d):
        for n in names:
            data = open(os.path.join(root, n), "rb").read()
            if n.endswith(".gz"):
                data = gzip.decompress(data)
            elif n.endswith(".br"):
                data = unbrotli(data)
            files[os.path.relpath(os.path.join(root, n), d)] = TOKEN.sub(rb"\1", data)
    return files


def mtimes(d):
    return {os.path.relpath(os.path.join(r, n), d): os.stat(os.path.join(r, n)).st_mtime_ns for r, _, ns in os.walk(d) for n in ns}


CHANGE = re.compile(r"^(?:would )?((?:write|remove) .+)$", re.M)
COUNTS = re.compile(r"(\d+) files (?:to write|written), (\d+) unchanged \((\d+) rendered again, same bytes\), (\d+) removed")


def same_plan(step, dry, real):
    """A dry run predicts the run that follows it (run with --verbose): the same files written and
    removed, the same counts."""
    d, r = sorted(CHANGE.findall(dry.stdout)), sorted(CHANGE.findall(real.stdout))
    dc, rc = COUNTS.search(dry.stdout), COUNTS.search(real.stdout)
    check(f"{step}: the dry run lists and counts what the run then does", d == r and dc and rc and dc.groups() == rc.groups(),
          f"dry run only: {sorted(set(d) - set(r))[:10]}\nrun only: {sorted(set(r) - set(d))[:10]}\n"
          f"{dc and dc[0]}\n{rc and rc[0]}")


def run(lua):
    """Runs a Lua script on the site; returns its output."""
    script = os.path.join(work, "step.lua")
    with open(script, "w") as f:
        f.write(lua)
    return quire("run", "--yes", "--site", site, script).stdout


def same_as_full(step, r):
    full = os.path.join(work, "full")
    shutil.rmtree(full, ignore_errors=True)
    export(full, "--jobs", "2")
    a, b = tree(out), tree(full)
    diff = sorted(set(a) ^ set(b))[:10] + [f for f in sorted(a) if f in b and a[f] != b[f]][:10]
    check(f"{step}: the incremental folder equals a full export", not diff and len(a) > 100, ", ".join(diff) + "\n" + r.stdout)


def interrupt(proc):
    """Ctrl-C to a --watch started in a session of its own (to its whole process group, as a
    terminal sends it); waits for it to end (killed after 10 s)."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def manifest_db():
    run_dir = os.path.join(site, ".quire")
    return sqlite3.connect(os.path.join(run_dir, next(n for n in os.listdir(run_dir) if re.match(r"^export-[0-9a-f]+\.db$", n))))


# A folder exported without the front page ("/" the plain list, /older/ its own pages), then
# with it: the front page's older pages are /latest's, so the /older/ pages go (their addresses
# are redirects now, a pattern in _redirects and the nginx map) and the manifest forgets them.
site_lua = open(os.path.join(site, "site.lua")).read()
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("listings.front = false\n")
r = export(out, "--jobs", "2")
check("first export is full", "(full export)" in r.stdout, r.stdout)
old_pages = os.listdir(os.path.join(out, "older")) if os.path.isdir(os.path.join(out, "older")) else []
check("without the front page, / has older/ pages", len(old_pages) > 0 and not os.path.exists(os.path.join(out, "latest")), r.stdout)
with open(os.path.join(site, "site.lua"), "w") as f:
    f.write(site_lua)
r = export(out, "--jobs", "2")
removed = re.search(r"(\d+) removed", r.stdout)
check("with the front page: the /older/ pages are removed", not os.path.exists(os.path.join(out, "older"))
      and removed and int(removed[1]) >= len(old_pages), r.stdout)
check("... /latest's are written", len(os.listdir(os.path.join(out, "latest", "older"))) == len(old_pages), r.stdout)
check("... the redirect rule is written", "/older/:cursor /latest/older/:cursor 301" in open(os.path.join(out, "_redirects")).read())
db = manifest_db()
check("... and the manifest has no /older/ page", db.execute("SELECT count(*) FROM files WHERE path LIKE '/older/%' OR file LIKE 'older/%'").fetchone()[0] == 0)
db.close()
same_as_full("the front page turned on over an export without it", r)

# The stories, newest first: their ids and addresses.
stories = [line.split(" ", 1) for line in run("""
for _, e in ipairs(quire.content.query { status = "published", limit = 1000 }) do print(e.id .. " " .. quire.content.url(e)) end
""").split("\n") if line.strip()]
check("the demo has stories", len(stories) >= 6, str(stories))
ids = [int(s[0]) for s in stories]

# A tag's deeper page that keeps its address and entries while the page above it becomes another
# page the manifest holds with other entries: ten stories of the tag's first two pages leave it,
# so its first page ends where its second did, and the third page now follows the first (its
# Newer link must name it). The first page's row carries a card of every entry it shows now (the
# five stories every list page shows beside its own, placed where the second page ended): only
# the ids it showed tell it apart, not its tags.
db = manifest_db()
arts_tags = db.execute("SELECT tags FROM files WHERE path = '/tag/arts'").fetchone()[0].split()
db.close()
arts = {int(x) for x in run("""for _, e in ipairs(quire.content.query { status = "published", tag = "arts", limit = 100 }) do
  print(e.id) end""").split()}
extras = sorted({int(t[7:]) for t in arts_tags if t.startswith("teaser:")} - arts)
check("every list page shows five stories besides its own", len(extras) == 5, str(arts_tags))
made = [int(x) for x in run("""local extras = { %s }
for _, id in ipairs(extras) do
  local e = quire.content.get(id)
  local tags = { "window-tag" }
  for _, t in ipairs(e.tags or {}) do tags[#tags + 1] = t end
  quire.content.update(id, { tags = tags })
end
local now = os.time()
for i = 1, 15 do -- newer than the five
  print(quire.content.create { type = "article", title = "Window story " .. i, slug = "window-" .. i, body = "Its text.",
    status = "published", tags = { "window-tag" }, published_at = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", now - i) })
end
for i = 16, 30 do -- older
  quire.content.create { type = "article", title = "Window story " .. i, slug = "window-" .. i, body = "Its text.",
    status = "published", tags = { "window-tag" }, published_at = ("2025-03-01T08:%%02d:00Z"):format(i) }
end""" % ", ".join(map(str, extras))).split()]
export(out)
window = sorted(os.listdir(os.path.join(out, "tag", "window-tag", "older")))
run("for _, id in ipairs({ %s }) do quire.content.update(id, { tags = {} }) end" % ", ".join(map(str, made[5:15])))
r = export(out, "--verbose")
check("ten stories leave a tag's first two pages: the deeper pages keep their addresses",
      len(set(window) & set(os.listdir(os.path.join(out, "tag", "window-tag", "older")))) == 2, str(window))
same_as_full("ten stories leave a tag's first two pages", r)

# A body edit: the run renders its pages in the coordinator; other files keep their mtime.
before = mtimes(out)
run(f'local e = quire.content.get({ids[0]}); quire.content.update(e.id, {{ body = e.body .. "\\n\\nA correction." }})')
r = export(out, "--dry-run")
story_file = stories[0][1].lstrip("/") + "/index.html"
check("a body edit, --dry-run: lists the story's page, writes nothing", f"would write {story_file}" in r.stdout
      and mtimes(out) == before, r.stdout)
# A dry run into a folder never exported: every page listed, and nothing left behind, not even
# an empty manifest in the site's .quire.
manifests = sorted(glob.glob(os.path.join(site, ".quire", "export-*")))
never = os.path.join(work, "never-exported")
r = export(never, "--dry-run")
check("a dry run into a folder never exported: lists the story's page, leaves no folder and no manifest",
      r.returncode == 0 and f"would write {story_file}" in r.stdout and not os.path.exists(never)
      and sorted(glob.glob(os.path.join(site, ".quire", "export-*"))) == manifests, r.stdout + r.stderr)
r = export(out, "--verbose")
check("a body edit: pages found by their tags", "(pages found by their cache tags)" in r.stdout, r.stdout)
check("a body edit: rendered in the coordinator, no worker started", "export worker 0:" in r.stdout
      and "export worker 1:" not in r.stdout, r.stdout)
after = mtimes(out)
written = {m.group(1) for m in re.finditer(r"^write (\S+)", r.stdout, re.M)}
touched = {f for f in after if f in before and after[f] != before[f]}
check("a body edit: only the files written changed mtime",
      touched and {f[:-3] if f.endswith((".gz", ".br")) else f for f in touched} <= written, str(sorted(touched)) + "\n" + r.stdout)
same_as_full("a body edit", r)

run(f'quire.content.update({ids[1]}, {{ title = "A headline rewritten for the incremental test" }})')
r = export(out, "--jobs", "1", "--verbose")
check("a title edit, --jobs 1: rendered in the coordinator (its own lines on stdout), no worker started",
      "export worker 0:" in r.stdout and "export worker" not in r.stderr, r.stdout + r.stderr)
same_as_full("a title edit", r)


def neighbour_links(url):
    """The prev/next links to url in the folder's pages: their anchor texts."""
    link = re.compile(r'<a href="' + re.escape(url) + r'" rel="(?:prev|next)">([^<]*)</a>')
    return [m for root, _, ns in os.walk(out) for n in ns if n == "index.html"
            for m in link.findall(open(os.path.join(root, n), encoding="utf-8").read())]


titled = neighbour_links(stories[1][1])
check("a title edit: its neighbours' prev/next links show the new title",
      titled and all(t == "A headline rewritten for the incremental test" for t in titled), str(titled))

# A comment posted, a share counted, a correction: no address comes or goes, so no walk.
run(f"""quire.comments.create {{ entry = {ids[1]}, author_name = "Ann Reader", author_email = "ann@readers.example",
  body = "A comment for the incremental test.", status = "approved" }}
quire.shares.record({ids[1]}, "email", "incremental-test")
quire._newsroom.correction_add({ids[1]}, quire.content.revisions({ids[1]})[1].id, "A date was wrong.", nil)""")
r = export(out)
check("a comment, a share and a correction: pages found by their tags, no walk",
      "(pages found by their cache tags)" in r.stdout, r.stdout)
same_as_full("a comment, a share and a correction", r)

# The comment taken away (to the trash): the story's page and the cards counting it follow.
run(f"""for _, c in ipairs(quire.comments.query {{ entry = {ids[1]}, status = "approved" }}) do
  quire.comments.set_status(c.id, "trash")
end""")
r = export(out)
check("a comment taken away: pages found by their tags, no walk", "(pages found by their cache tags)" in r.stdout, r.stdout)
same_as_full("a comment taken away", r)

# A retag (the lists it joins and leaves).
run(f'local e = quire.content.get({ids[2]}); quire.content.update(e.id, {{ tags = {{ "incremental-tag", e.tags[1] }} }})')
r = export(out)
check("a retag: the pages found from what changed, no walk", "(pages found by their cache tags)" in r.stdout, r.stdout)
same_as_full("a retag", r)

# A redirect added, pointed elsewhere, then deleted: its page and the _redirects files follow.
run('quire.redirects.add { from = "/an-old-address", to = "/about" }')
r = export(out, "--verbose")
check("a redirect added: its page is written, no walk", "write an-old-address/index.html" in r.stdout
      and "(pages found by their cache tags)" in r.stdout, r.stdout)
same_as_full("a redirect added", r)
run(f'quire.redirects.delete("/an-old-address"); quire.redirects.add {{ from = "/an-old-address", to = "{stories[1][1]}" }}')
same_as_full("a redirect changed", export(out))
run('quire.redirects.delete("/an-old-address")')
r = export(out)
check("a redirect deleted: its page goes", not os.path.exists(os.path.join(out, "an-old-address")), r.stdout)
same_as_full("a redirect deleted", r)

# A redirect from the address of a file the site makes itself (a feed, the sitemap index, whose
# parts answer it too, a part, the news sitemap, robots.txt, the search page): the server answers
# the redirect there, before its route, and so does the export (the redirect page in the file's
# place); deleted, the file is the site's again.
for src, file in [("/feed.xml", "feed.xml"), ("/sitemap.xml", "sitemap-1.xml"), ("/sitemap.xml?part=1", "sitemap-1.xml"),
                  ("/sitemap-news.xml", "sitemap-news.xml"), ("/robots.txt", "robots.txt"), ("/search", "search/index.html")]:
    run(f'quire.redirects.add {{ from = "{src}", to = "/about" }}')
    r = export(out)
    check(f"a redirect from {src}: {file} is its page", b'http-equiv="refresh" content="0; url=/about"'
          in open(os.path.join(out, file), "rb").read(), r.stdout)
    same_as_full(f"a redirect from {src} added", r)
    # One rule an address in _redirects and the nginx map: the site's redirect, not the export's
    # own rule for a sitemap part as well.
    sources = [tuple(line.split()[:2]) if " part=" in line else (line.split()[0],)
               for line in open(os.path.join(out, "_redirects")) if line.strip() and not line.startswith("#")]
    keys = [line.split('" "')[0] for name in ("redirects-path.nginx.map", "redirects-query.nginx.map")
            for line in open(os.path.join(out, name)) if line.startswith('"')]
    check(f"a redirect from {src}: one rule an address", len(sources) == len(set(sources)) and len(keys) == len(set(keys)),
          sorted(k for k in keys if keys.count(k) > 1))
    run(f'quire.redirects.delete("{src}")')
    r = export(out)
    check(f"a redirect from {src} deleted: {file} is the site's again", b"http-equiv" not in open(os.path.join(out, file), "rb").read(), r.stdout)
    same_as_full(f"a redirect from {src} deleted", r)

# A redirect from an address a route answers with a redirect of its own (a list's page/N, which
# no full export walks): deleted, its page goes, as a full export has none.
for src in ("/page/1", "/latest/page/2"):
    run(f'quire.redirects.add {{ from = "{src}", to = "/about" }}')
    export(out)
    check(f"a redirect from {src}: its page", os.path.exists(os.path.join(out, src.strip("/"), "index.html")))
    run(f'quire.redirects.delete("{src}")')
    r = export(out)
    check(f"a redirect from {src} deleted: its page goes", not os.path.exists(os.path.join(out, src.strip("/"), "index.html")), r.stdout)
    same_as_full(f"a redirect from {src} deleted", r)

# A redirect from a file the export copies (a plugin's static file): the file stays, as quire serve
# answers it before the redirects, and a full export writes it over the redirect page.
css = os.path.join(out, "static", "theme", "quire.css")
run('quire.redirects.add { from = "/static/theme/quire.css", to = "/about" }')
r = export(out)
check("a redirect from a static file's address: the file stays", b"http-equiv" not in open(css, "rb").read()
      and os.path.exists(css + ".gz"), r.stdout)
same_as_full("a redirect from a static file's address added", r)
run('quire.redirects.delete("/static/theme/quire.css")')
same_as_full("a redirect from a static file's address deleted", export(out))

# A story's old address (its slug changed) and a redirect to it by id: while the story is not
# public they answer 404 and are left out; public again (published, untrashed), their pages are
# written again (they have no row in the manifest whose tags would find them).
moved = ids[-1]
run(f'quire.content.update({moved}, {{ slug = "incremental-moved" }}); quire.redirects.add {{ from = "/to-a-story", entry = {moved} }}')
export(out)
to_story = [os.path.join(out, stories[-1][1].lstrip("/"), "index.html"), os.path.join(out, "to-a-story", "index.html")]
check("a story's old address and a redirect to it: their pages", all(map(os.path.exists, to_story)))
for leave, back in [("quire.content.update(%d, { status = 'draft' })", "quire.content.update(%d, { status = 'published' })"),
                    ("quire.content.trash(%d)", "quire.content.untrash(%d)")]:
    run(leave % moved)
    r = export(out)
    check(f"{leave % moved}: the redirects to it are left out", not any(map(os.path.exists, to_story)), r.stdout)
    same_as_full(leave % moved, r)
    run(back % moved)
    r = export(out)
    check(f"{back % moved}: the redirects to it are written again", all(map(os.path.exists, to_story)), r.stdout)
    same_as_full(back % moved, r)

check("before an unpublish: its neighbours link to it", neighbour_links(stories[3][1]))
run(f'quire.content.update({ids[3]}, {{ status = "draft" }})')
r = export(out)
check("an unpublish: no page links to it as a neighbour", not neighbour_links(stories[3][1]))
check("an unpublish: the pages found from what changed, no walk", "(pages found by their cache tags)" in r.stdout, r.stdout)
check("an unpublished story's page is removed", not os.path.exists(os.path.join(out, stories[3][1].lstrip("/"), "index.html")), r.stdout)
same_as_full("an unpublish", r)

run(f"quire.content.trash({ids[4]})")
same_as_full("a trash", export(out))

run(f"quire.content.trash({ids[5]}); quire.content.delete({ids[5]}, {{ permanent = true }})")
same_as_full("a delete for good", export(out))

new_url = run("""local id = quire.content.create { type = "article", title = "A new story for the incremental test", slug = "incremental-new",
  body = "Its text, long enough to be summarised.", status = "published", tags = { "incremental-tag" } }
print(quire.content.url(quire.content.get(id)))""").strip().splitlines()[-1]
r = export(out)
check("a publish: the pages found from what changed, no walk", "(pages found by their cache tags)" in r.stdout, r.stdout)
check("a new story's page is written", os.path.exists(os.path.join(out, new_url.lstrip("/"), "index.html")), new_url + "\n" + r.stdout)
same_as_full("a new story", r)

# Changes the clock makes alone (no write when they come): a banner that ends, a scheduled
# story's time, a front slot that starts, one that ends. Made an hour ahead and exported, then
# moved into the past as an hour's passing leaves them (the rows' times only, no tag bumped; the
# fronts' last look before them): the export brings them up to date first, as the server's ticks
# and `quire jobs run` do. The banner with no last look ever recorded (no server ran): its end
# is not lost to the first look.
LEAD = re.compile(r'class="front-lead-title"[^>]*><a href="([^"]*)"')


def lead(path):
    m = LEAD.search(open(os.path.join(out, path.strip("/"), "index.html"), encoding="utf-8").read())
    return m and m[1]


def backdate(lua):
    run('local function ago(s) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - s) end\nlocal db = quire._db\n' + lua)


scheduled_id = run("""quire.front.breaking("Ferry aground at the quay", { ends_at = "+1h" })
print(quire.content.create { type = "article", title = "A story scheduled for the incremental test", slug = "incremental-scheduled",
  body = "Its text.", status = "scheduled", published_at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 3600) })""").split()[-1]
r = export(out)
check("a banner up: on the front page", "Ferry aground" in open(os.path.join(out, "index.html")).read(), r.stdout)
backdate("""db:exec("UPDATE front_breaking SET starts_at = ?, created_at = ?, ends_at = ?", ago(7200), ago(7200), ago(60))
db:exec("UPDATE entries SET published_at = ? WHERE slug = 'incremental-scheduled'", ago(60))
db:exec("DELETE FROM settings WHERE key = 'front.checked_at'")""")
# A dry run first: it publishes what is due in a copy of the site's database (in its own folder,
# which it then reads) and lists what the run after it writes and removes; the site's database is
# not written (no entry published, no tag bumped, not a byte), and an editor's save made while
# it runs goes through (it holds no lock on the site). On PostgreSQL no copy is made: it says
# what is due, whose pages it does not count.
DUE = "would first publish 1 scheduled entries or versions and refresh 1 fronts whose time has come"
COPIED = DUE + ": published in a copy of the site's database"
dry_folders = os.path.join(site, ".quire", "export-*.db.dry-*")


def site_db():
    """The site's database file and its write-ahead log, hashed."""
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.exists(p) else None
            for p in (os.path.join(site, "quire.db"), os.path.join(site, "quire.db-wal"))]


def dry_run_copying(folder=None):
    """A dry run (into out, or folder) started in the background, and its copy of the site's
    database once there (None: none was made before it ended)."""
    log = open(os.path.join(work, "dry.log"), "w+")
    p = subprocess.Popen([QUIRE, "export", "--format", "html", folder or out, "--site", site, "--base-url", BASE, "--compress", "gzip,br",
                          "--dry-run"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    harness.procs.append(p)
    copy = os.path.join(site, ".quire", f"export-*.db.dry-{p.pid}", "site.db")
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and not glob.glob(copy):
        time.sleep(0.002)
    return p, log, (glob.glob(copy) or [None])[0]


if not harness.PG_URL:
    # Stopped while it holds its copy: a save through quire (busy_timeout 5 s) is not kept waiting.
    dry, log, copy = dry_run_copying()
    if copy:
        os.killpg(dry.pid, signal.SIGSTOP)
    script = os.path.join(work, "save.lua")
    with open(script, "w") as f:
        f.write('quire.content.create { type = "article", title = "Saved during a dry run", body = "Draft." }')
    t = time.time()
    saved = quire("run", "--yes", "--site", site, script, ok=False, timeout=60)
    took, stopped = time.time() - t, dry.poll() is None
    if copy:
        os.killpg(dry.pid, signal.SIGCONT)
    dry.wait(60)
    log.seek(0)
    check("a dry run with a story due makes a copy of the site's database; a save meanwhile goes through at once",
          copy and stopped and saved.returncode == 0 and took < 4 and dry.returncode == 0 and COPIED in log.read()
          and not glob.glob(dry_folders), f"{copy} {stopped} {took:.1f} s {saved.stdout}{saved.stderr}\n{open(log.name).read()}")
    # Killed while it holds its copy: the next run removes it with the rest of its folder.
    dry, log, copy = dry_run_copying()
    if copy:
        os.killpg(dry.pid, signal.SIGKILL)
    dry.wait(60)
    check("a dry run killed leaves its copy of the database ...", copy and os.path.exists(copy), open(log.name).read())
    # Stopped with Ctrl-C, a dry run into another folder, which no run may ever export into again:
    # its copy (users' password hashes and all) is removed by the next run too, whatever its folder.
    dry, log, elsewhere = dry_run_copying(os.path.join(work, "elsewhere"))
    if elsewhere:
        os.killpg(dry.pid, signal.SIGINT)
    dry.wait(60)
    check("a dry run into another folder stopped with Ctrl-C leaves its copy too ...", elsewhere and os.path.exists(elsewhere),
          open(log.name).read())
    # No room for the copy (files limited to half its size): it says so, and counts what it can.
    size = os.path.getsize(os.path.join(site, "quire.db")) // 2

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    full = subprocess.run([QUIRE, "export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br",
                           "--dry-run"], capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    check("... which the next removes; a dry run that cannot make its copy says so and what it does not count",
          full.returncode == 0 and not glob.glob(dry_folders) and "could not copy the site's database" in full.stdout
          and "the pages that changes are not counted below" in full.stdout and "incremental-scheduled" not in full.stdout
          and "dry run: " in full.stdout, full.stdout + full.stderr)
if not harness.PG_URL:
    # --database (hidden) is a dry run's workers' own: a real run, a worker that is not a dry
    # run's, or one given a file other than a dry run's copy, is refused before the file is opened
    # (a real run would publish what is due in it, and record its versions in the folder's manifest).
    other = os.path.join(work, "other db.db")
    shutil.copyfile(os.path.join(site, "quire.db"), other)
    other_hash = hashlib.sha256(open(other, "rb").read()).hexdigest()
    for extra in (("--database", other), ("--dry-run", "--worker", "0/1", "--manifest", os.path.join(work, "m.db"),
                                          "--results", os.path.join(work, "w0"), "--database", other),
                  ("--worker", "0/1", "--database", other)):
        r = export(out, *extra, ok=False)
        check(f"export {' '.join(extra[:-1])}: refused, the file untouched", r.returncode == 2 and "--database" in r.stderr
              and hashlib.sha256(open(other, "rb").read()).hexdigest() == other_hash
              and not os.path.exists(other + "-wal"), r.stdout + r.stderr)
before = run('print(quire._db:value("SELECT max(version) FROM cache_tags"), quire.content.get(' + scheduled_id + ').status)').split()
before_db = site_db()
dry = export(out, "--dry-run")
after_db = site_db()
after = run('print(quire._db:value("SELECT max(version) FROM cache_tags"), quire.content.get(' + scheduled_id + ').status)').split()
check("a dry run with a story and a banner due: says so, writes nothing",
      (DUE + " (the pages that changes are not counted below: on PostgreSQL" if harness.PG_URL
       else COPIED) in dry.stdout and (harness.PG_URL or "incremental-scheduled/index.html" in dry.stdout)
      and before == after and after[-1] == "scheduled" and (harness.PG_URL or before_db == after_db and before_db[0]),
      f"{before} {after} {before_db} {after_db}\n{dry.stdout}")
r = export(out, "--verbose")
if not harness.PG_URL:
    same_plan("a story and a banner due", dry, r)
check("a banner that ended before the first look: gone from the front page",
      "Ferry aground" not in open(os.path.join(out, "index.html")).read(), r.stdout)
scheduled_url = run(f"print(quire.content.url(quire.content.get({scheduled_id})))").split()[-1]
check("a scheduled story whose time came: published, its page written", "published 1 scheduled entry" in r.stdout
      and "incremental-scheduled" in scheduled_url and os.path.exists(os.path.join(out, scheduled_url.strip("/"), "index.html")),
      scheduled_url + "\n" + r.stdout)
same_as_full("a banner ended, a scheduled story's time came", r)
home_lead = lead("/")
run(f"""quire.front.set("home", 1, {ids[6]}, {{ starts_at = "+1h" }})
quire.front.set("section:News", 1, {ids[7]}, {{ ends_at = "+1h" }})""")
r = export(out)
check("a front slot scheduled: not the lead yet; one to end: the lead", lead("/") == home_lead
      and lead("/section/news") == stories[7][1], r.stdout)
backdate(f"""db:exec("UPDATE front_slots SET created_at = ?, starts_at = ? WHERE entry_id = {ids[6]} AND page = 'home'", ago(7200), ago(60))
db:exec("UPDATE front_slots SET created_at = ?, starts_at = ?, ends_at = ? WHERE entry_id = {ids[7]}", ago(7200), ago(7200), ago(60))
db:exec("UPDATE settings SET value = ? WHERE key = 'front.checked_at'", ago(120))""")
r = export(out)
check("a front slot's start came: the new lead", lead("/") == stories[6][1], r.stdout)
check("a front slot's end came: another lead", lead("/section/news") != stories[7][1], r.stdout)
same_as_full("a front slot started, another ended", r)
# --watch exports again when the next start or end comes, with no commit to wake it (no server
# runs here, whose ticks would commit the bump): a banner up for a few seconds.
watch_log = open(os.path.join(work, "watch.log"), "w+")
watch = subprocess.Popen([QUIRE, "export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br",
                          "--watch"], stdout=watch_log, stderr=subprocess.STDOUT, start_new_session=True)
harness.procs.append(watch)
quire("front", "breaking", "Watched banner", "--until", "+4s", "--site", site)
deadline = time.time() + 60
while time.time() < deadline and "Watched banner" not in open(os.path.join(out, "index.html")).read():
    time.sleep(0.2)
check("--watch: a banner put up is exported", "Watched banner" in open(os.path.join(out, "index.html")).read(), open(watch_log.name).read())
deadline = time.time() + 30
while time.time() < deadline and "Watched banner" in open(os.path.join(out, "index.html")).read():
    time.sleep(0.2)
check("--watch: exported again when the banner's end comes, with no commit",
      "Watched banner" not in open(os.path.join(out, "index.html")).read(), open(watch_log.name).read())
interrupt(watch)
same_as_full("--watch, a banner's end", export(out))

# A plugin's static files (the site's own copy of the theme): a changed stylesheet is a new
# fingerprinted name, which every page links from then on (the old copy stays for the pages a
# CDN holds, as long as quire serve would answer it: export_files_test.py); a static file
# removed goes, and its fingerprinted copy stays as long.
theme = os.path.join(site, "plugins", "theme")
shutil.copytree(os.path.join(SRC, "plugins", "theme"), theme)
with open(os.path.join(theme, "static", "extra.txt"), "w") as f:
    f.write("hello\n")
export(out)
CSS = re.compile(r"/static/theme/quire\.[0-9a-f]{12}\.css")
extra = [n for n in os.listdir(os.path.join(out, "static", "theme")) if re.match(r"^extra\.[0-9a-f]{12}\.txt$", n)]
check("a static file of the site's theme: exported, with its fingerprinted copy", len(extra) == 1, str(extra))
old_css = CSS.search(open(os.path.join(out, "index.html")).read())[0]
with open(os.path.join(theme, "static", "quire.css"), "a") as f:
    f.write(".incremental-test { color: red; }\n")
r = export(out)
new_css = {f: set(CSS.findall(open(os.path.join(out, f)).read())) for f in ("index.html", stories[0][1].strip("/") + "/index.html")}
check("the stylesheet changed: the pages link its new fingerprinted copy", all(v and old_css not in v for v in new_css.values())
      and all(os.path.exists(os.path.join(out, c.strip("/"))) for v in new_css.values() for c in v), str(new_css) + "\n" + r.stdout)
check("... and the old copy stays", os.path.isfile(os.path.join(out, old_css.strip("/"))), r.stdout)
same_as_full("a theme's stylesheet changed", r)
os.remove(os.path.join(theme, "static", "extra.txt"))
r = export(out)
check("a static file removed goes, its fingerprinted copy stays", os.path.isfile(os.path.join(out, "static", "theme", extra[0]))
      and not os.path.exists(os.path.join(out, "static", "theme", "extra.txt")), r.stdout)
same_as_full("a theme's static file removed", r)

# The code is signed by its contents: a checkout or a deploy's copy that leaves every file as it
# was, with new mtimes, renders no more pages again than a run with nothing changed (its static
# files are compared with their copies), and writes nothing (by mtime, every page of the site
# was, and the static files were copied again).
SUMMARY = re.compile(r"(\d+) files written, \d+ unchanged \((\d+) rendered again")
idle = SUMMARY.search(export(out).stdout)
later = time.time() + 60
for d, _, names in os.walk(theme):
    for n in names:
        os.utime(os.path.join(d, n), (later, later))
os.utime(os.path.join(site, "site.lua"), (later, later))
css_copy = os.path.join(out, "static", "theme", "quire.css")
css_mtime = os.stat(css_copy).st_mtime_ns
r = export(out)
touched = SUMMARY.search(r.stdout)
check("plugin files, static files and site.lua touched, not changed: no page rendered again, nothing written",
      "(full export)" not in r.stdout and idle and touched and touched[1] == "0"
      and int(touched[2]) <= int(idle[2]) + len(os.listdir(os.path.join(theme, "static"))), r.stdout)
check("... the static files' copies keep their mtimes", os.stat(css_copy).st_mtime_ns == css_mtime)
with open(os.path.join(theme, "templates", "layout.mustache"), "a") as f:
    f.write("\n")
r = export(out)
check("... a template's content changed: every page is rendered again", "(full export)" in r.stdout, r.stdout)
same_as_full("a template changed", r)
# The site's own translations (SITE/locale/LANG.mo) too: a new word for "Older" is on the lists.
os.makedirs(os.path.join(site, "locale"), exist_ok=True)
with open(os.path.join(site, "locale", "en.po"), "w") as f:
    f.write('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Older"\nmsgstr "Earlier"\n')
subprocess.run(["msgfmt", "-o", os.path.join(site, "locale", "en.mo"), os.path.join(site, "locale", "en.po")], check=True)
r = export(out)
check("the site's translation changed: every page is rendered again, with it", "(full export)" in r.stdout
      and "Earlier" in open(os.path.join(out, "latest", "index.html")).read(), r.stdout)
same_as_full("the site's translation changed", r)
shutil.rmtree(os.path.join(site, "locale"))
same_as_full("the site's translation removed", export(out))

# A list's pages that keep their address and entries while the page above them changes (a story
# published on top of a tag of 40 and one withdrawn from its second page, in one run): their
# Newer link names the page above as it is now (10 a page: the third page stays, and links to a
# new second page; the fourth keeps its link too).
run("""for i = 1, 40 do
  quire.content.create { type = "article", title = "Chain story " .. i, slug = "chain-" .. i, body = "Its text.",
    status = "published", tags = { "chain-tag" }, published_at = ("2025-05-01T08:%02d:00Z"):format(i) }
end""")
export(out)
third = [n for n in os.listdir(os.path.join(out, "tag", "chain-tag", "older"))]
run("""local fifteenth = quire.content.query { status = "published", tag = "chain-tag", limit = 15 }[15]
quire.content.create { type = "article", title = "Chain story on top", slug = "chain-top", body = "Its text.",
  status = "published", tags = { "chain-tag" }, published_at = "2025-05-01T09:00:00Z" }
quire.content.update(fifteenth.id, { status = "draft" })""")
r = export(out, "--verbose")
kept = set(third) & set(os.listdir(os.path.join(out, "tag", "chain-tag", "older")))
check("a publish on top and an unpublish below: a tag's deeper pages keep their addresses", len(kept) == 2, str(kept))
same_as_full("a publish on top and an unpublish below", r)

# A manifest from before the tag index (no tid column, no file_tags): indexed on the next run,
# which still finds the edited story's pages by their tags.
run_dir = os.path.join(site, ".quire")
# (out's: the one the export just before wrote)
manifest = max((os.path.join(run_dir, n) for n in os.listdir(run_dir) if re.match(r"^export-[0-9a-f]+\.db$", n)),
               key=os.path.getmtime)
db = sqlite3.connect(manifest)
for sql in ("DROP TABLE file_tags", "DROP INDEX files_by_tid", "ALTER TABLE files DROP COLUMN tid", "DROP TABLE search_entries",
            "DELETE FROM meta WHERE key = 'search_entries'", "ALTER TABLE files DROP COLUMN shows"):
    db.execute(sql)
db.commit()
db.close()
run(f'quire.content.update({ids[1]}, {{ title = "A headline rewritten once more" }})')
r = export(out)
check("an old manifest: the pages are found by their tags", "(pages found by their cache tags)" in r.stdout, r.stdout)
same_as_full("an old manifest", r)
# (its list pages' entries not known: those walked are rendered, and their entries recorded)
run(f'local e = quire.content.get({ids[1]}); quire.content.update(e.id, {{ tags = {{ "window-tag" }} }})')
r = export(out)
db = sqlite3.connect(manifest)
known = db.execute("SELECT count(*) FROM files WHERE path LIKE '/tag/window-tag%' AND path NOT LIKE '%.xml' AND path NOT LIKE '%.json'"
                   " AND shows IS NOT NULL").fetchone()[0]
db.close()
pages = 1 + len(os.listdir(os.path.join(out, "tag", "window-tag", "older")))
check("an old manifest, a retag: the walked list's pages record their entries", known == pages, f"{known} of {pages}")
same_as_full("an old manifest, a retag", r)

# Two edits in a row, the second a body edit again (the search index's parts kept in the
# manifest are read back, only the edited story's made anew).
run(f'local e = quire.content.get({ids[0]}); quire.content.update(e.id, {{ body = "Rewritten from the start: " .. e.body }})')
same_as_full("a second body edit", export(out))

r = export(out)
check("nothing changed: nothing written", " 0 files written" in r.stdout and "(no content changed)" in r.stdout, r.stdout)
same_as_full("nothing changed", r)

# quire's binary is what renders (its embedded Lua and C): the same bytes elsewhere (a deploy's
# copy) render nothing again; another binary, even with the same version number, renders every
# page again (a fix to how pages are made reaches the pages already exported).
copied, upgraded = os.path.join(work, "quire-copy"), os.path.join(work, "quire-upgraded")
shutil.copy2(QUIRE, copied)
shutil.copy2(QUIRE, upgraded)
with open(upgraded, "ab") as f:
    f.write(b"\0")  # (past the ELF's contents: the same program, other bytes)
r = subprocess.run([copied, "export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br"],
                   capture_output=True, text=True, timeout=300)
check("the same quire binary elsewhere: nothing rendered again", r.returncode == 0 and "(no content changed)" in r.stdout,
      r.stdout + r.stderr)
r = subprocess.run([upgraded, "export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br"],
                   capture_output=True, text=True, timeout=300)
check("another quire binary: every page rendered again", r.returncode == 0 and "(full export)" in r.stdout, r.stdout + r.stderr)
same_as_full("another quire binary", r)
r = export(out)
check("... and back to this one: every page again", "(full export)" in r.stdout, r.stdout)

# A page file removed by hand: a targeted run looks for the files of a slice of 1000 pages a run,
# the next slice each time, so it is written again within pages / 1000 + 1 runs with nothing changed.
# Only what is missing is written: its .gz and .br, still there, keep their mtimes (a sync
# uploads the page alone); the other way round, its .gz removed, the .gz alone comes back.
db = sqlite3.connect(manifest)
pages = db.execute("SELECT count(*) FROM files WHERE hash NOT LIKE 'src %'").fetchone()[0]
db.close()
lost = stories[2][1].lstrip("/") + "/index.html"


def until_there(name):
    """Runs with nothing changed until out/name is there again (at most a slice check's round)."""
    for i in range(pages // 1000 + 1):
        r = export(out, "--verbose")
        if os.path.exists(os.path.join(out, name)):
            break
    return r


def mtimes_of(*names):
    return [os.stat(os.path.join(out, n)).st_mtime_ns for n in names]


siblings = mtimes_of(lost + ".gz", lost + ".br")
os.remove(os.path.join(out, lost))
r = until_there(lost)
check("a page removed by hand is written again by a run with nothing changed", f"write {lost}\n" in r.stdout
      and "(no content changed)" in r.stdout, r.stdout)
check("... its .gz and .br, still there, are not written again", mtimes_of(lost + ".gz", lost + ".br") == siblings
      and f"write {lost}." not in r.stdout, r.stdout)
same_as_full("a page removed by hand", r)
kept = mtimes_of(lost, lost + ".br")
os.remove(os.path.join(out, lost + ".gz"))
r = until_there(lost + ".gz")
check("a .gz removed by hand is written again by a run with nothing changed", f"write {lost}.gz\n" in r.stdout
      and "(no content changed)" in r.stdout
      and gzip.decompress(open(os.path.join(out, lost + ".gz"), "rb").read()) == open(os.path.join(out, lost), "rb").read(), r.stdout)
check("... the page and its .br are not", mtimes_of(lost, lost + ".br") == kept and f"write {lost}\n" not in r.stdout, r.stdout)
same_as_full("a .gz removed by hand", r)

# A symbolic link where a .gz should be, beside a feed and a static file that did not change
# (nginx's gzip_static would send what it points at): replaced by the .gz, as a link in a page's
# place is by the page; nothing is written through it.
secret = os.path.join(work, "secret.txt")
with open(secret, "w") as f:
    f.write("Not for the public.\n" * 100)
linked = ["feed.xml.gz", "static/theme/quire.css.gz"]
for name in linked:
    os.remove(os.path.join(out, name))
    os.symlink(secret, os.path.join(out, name))
kept = mtimes_of(*(n[:-3] for n in linked))
r = export(out, "--dry-run")
check("a link where a .gz should be, --dry-run: would write the .gz, writes nothing",
      all(f"would write {n}\n" in r.stdout and os.path.islink(os.path.join(out, n)) for n in linked), r.stdout)
r = export(out, "--verbose")
check("a link where a .gz should be: replaced by the .gz", all(f"write {n}\n" in r.stdout and not os.path.islink(os.path.join(out, n))
      and gzip.decompress(open(os.path.join(out, n), "rb").read()) == open(os.path.join(out, n[:-3]), "rb").read() for n in linked),
      r.stdout)
check("... its file kept, and nothing written through the link", mtimes_of(*(n[:-3] for n in linked)) == kept
      and open(secret).read() == "Not for the public.\n" * 100 and not os.path.islink(secret), r.stdout)
same_as_full("a link where a .gz should be", r)

# A page removed by hand (with its compressed copies), then its story unpublished: nothing of it
# is left to remove, and neither the dry run nor the run counts or lists it as removed.
gone_file = stories[9][1].lstrip("/") + "/index.html"
for f in (gone_file, gone_file + ".gz", gone_file + ".br"):
    if os.path.exists(os.path.join(out, f)):
        os.remove(os.path.join(out, f))
run(f'quire.content.update({ids[9]}, {{ status = "draft" }})')
dry = export(out, "--dry-run")
r = export(out, "--verbose")
check("a page removed by hand, then unpublished: not counted as removed", f"remove {gone_file}" not in dry.stdout + r.stdout,
      dry.stdout + r.stdout)
same_plan("a page removed by hand, then unpublished", dry, r)
same_as_full("a page removed by hand, then unpublished", r)

# A killed run's temporary files: beside the files they were to become, hidden and named after
# their process; the next run (it finds the killed run's folder beside the manifest) removes
# those of processes that are gone, not those of one still running.
dead = subprocess.Popen(["true"])
dead.wait()
page_dir = os.path.join(out, stories[2][1].lstrip("/"))
# (an older quire's, named NAME.tmp-PID, below: the first run after the upgrade removes those)
tmp_names = lambda pid: (f".quire-tmp-{pid}.index.html",)
for pid in (dead.pid, os.getpid()):
    for d in (out, page_dir):
        for name in tmp_names(pid):
            with open(os.path.join(d, name), "w") as f:
                f.write("<p>half a page")
# (the folder a killed run leaves beside its manifest: beside each, whichever is this folder's)
killed_runs = [os.path.join(run_dir, f"{n}.run-{dead.pid}") for n in os.listdir(run_dir) if re.match(r"^export-[0-9a-f]+\.db$", n)]
for d in killed_runs:
    os.makedirs(d)
# (the dry run first: it lists and counts them, as the run then removes them)
dry = export(out, "--dry-run")
r = export(out, "--verbose")
check("a killed run's temporary files are removed by the next run",
      not [os.path.join(d, n) for d in (out, page_dir) for n in tmp_names(dead.pid) if os.path.exists(os.path.join(d, n))], r.stdout)
stale_tmp = sorted(os.path.relpath(os.path.join(d, n), out) for d in (out, page_dir) for n in tmp_names(dead.pid))
check("... counted and listed with the removals, by the run and by a dry run before it",
      all(f"remove {t}\n" in r.stdout and f"would remove {t}\n" in dry.stdout for t in stale_tmp)
      and "2 a stopped run's temporary files)" in r.stdout and f".quire-tmp-{os.getpid()}." not in dry.stdout + r.stdout,
      dry.stdout + r.stdout)
same_plan("a killed run's temporary files", dry, r)
check("a running process's are kept",
      all(os.path.exists(os.path.join(d, n)) for d in (out, page_dir) for n in tmp_names(os.getpid())), r.stdout)
for d in (out, page_dir):
    for n in tmp_names(os.getpid()):
        os.remove(os.path.join(d, n))
check("the killed run's folder beside the manifest is gone", sum(map(os.path.exists, killed_runs)) == len(killed_runs) - 1)
# A dry run leaves a killed run's folder for a run that writes (which records what it wrote).
ours = next(d for d in killed_runs if not os.path.exists(d))  # (this folder's manifest's: the run removed it)
os.makedirs(ours)
export(out, "--dry-run")
check("a dry run leaves a killed run's folder", os.path.exists(ours))
for d in killed_runs:
    shutil.rmtree(d, ignore_errors=True)
# A stopped dry run's folder (with its copy of the manifest, made after a killed run): the next
# run removes it, whether it writes or not.
stopped_dry = ours.replace(".run-", ".dry-")
os.makedirs(stopped_dry)
with open(os.path.join(stopped_dry, "manifest.db"), "wb") as f:
    f.write(b"a stopped dry run's copy of the manifest")
export(out)
check("a stopped dry run's folder is removed by the next run that writes", not os.path.exists(stopped_dry), str(os.listdir(run_dir)))

# An older quire's temporary files whose killed run's folder its next run removed (it left the
# files): the first run after the upgrade (its manifest, an older quire's, has no record of the
# sweep), a full one, removes those of processes gone.
for n in os.listdir(run_dir):
    if re.match(r"^export-[0-9a-f]+\.db$", n):
        with sqlite3.connect(os.path.join(run_dir, n)) as con:
            con.execute("DELETE FROM meta WHERE key = 'old_tmp_swept'")
for pid in (dead.pid, os.getpid()):
    with open(os.path.join(page_dir, f"index.html.tmp-{pid}"), "w") as f:
        f.write("<p>half a page")
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("-- (a new quire renders every page again, as a changed site.lua does)\n")
r = export(out)
check("after an upgrade (a full run): an older quire's temporary file of a process gone is removed",
      "(full export)" in r.stdout and not os.path.exists(os.path.join(page_dir, f"index.html.tmp-{dead.pid}")), r.stdout)
check("... a running process's is kept", os.path.exists(os.path.join(page_dir, f"index.html.tmp-{os.getpid()}")))
os.remove(os.path.join(page_dir, f"index.html.tmp-{os.getpid()}"))
# Once: a file of the user's so named is left by the full runs after it.
with open(os.path.join(out, f"notes.tmp-{dead.pid}"), "w") as f:
    f.write("mine")
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("-- (every page again)\n")
r = export(out)
check("a later full run leaves a file of the user's named as an older quire's temporary files",
      "(full export)" in r.stdout and os.path.exists(os.path.join(out, f"notes.tmp-{dead.pid}")), r.stdout)
os.remove(os.path.join(out, f"notes.tmp-{dead.pid}"))

# Emptied by `rm -rf out/*`, which leaves hidden entries (here a temporary file of a running
# process): still an empty folder, whose next export is a full one.
for n in os.listdir(out):
    if not n.startswith("."):
        p = os.path.join(out, n)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
with open(os.path.join(out, f".quire-tmp-{os.getpid()}.feed.xml"), "w") as f:
    f.write("<rss")
r = export(out)
os.remove(os.path.join(out, f".quire-tmp-{os.getpid()}.feed.xml"))
check("a folder emptied but for hidden entries gets a full export", "(full export)" in r.stdout, r.stdout)
same_as_full("a folder emptied but for hidden entries", r)

# A run in the coordinator that fails (the story's folder in the output is a file: its page
# cannot be written) records no new version: the next run finds the same pages again.
def manifest_version():
    db = sqlite3.connect(manifest)
    v = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
    db.close()
    return v


version = manifest_version()
story_dir = os.path.join(out, stories[0][1].strip("/"))
shutil.rmtree(story_dir)
with open(story_dir, "w") as f:
    f.write("in the way")
run(f'local e = quire.content.get({ids[0]}); quire.content.update(e.id, {{ body = e.body .. "\\n\\nOne more line." }})')
r = quire("export", "--format", "html", out, "--site", site, "--base-url", BASE, "--compress", "gzip,br", ok=False)
check("a failed run in the coordinator: exits non-zero, says to run again", r.returncode != 0
      and "run the export again" in r.stderr, r.stdout + r.stderr)
check("a failed run in the coordinator: the manifest keeps its version", manifest_version() == version, version)
os.remove(story_dir)
same_as_full("after a failed run", export(out))

# A site with nothing published: its feeds have no items, and are dated by its data, not by the
# clock (their bytes changed with every run that rendered them): a second later, a run that
# renders every page again finds them the same.
bare, bare_out = os.path.join(work, "bare"), os.path.join(work, "bare-out")
quire("init", bare)
with open(os.path.join(bare, "site.lua"), "a") as f:
    f.write(f'\nbase_url = "{BASE}"\naccess_log = "off"\nplugins = {{ "theme", "article", "feeds", "listings", "search" }}\n')
quire("export", "--format", "html", bare_out, "--site", bare, "--base-url", BASE)
time.sleep(1.1)
with open(os.path.join(bare, "site.lua"), "a") as f:
    f.write("-- (every page rendered again)\n")
r = quire("export", "--format", "html", bare_out, "--site", bare, "--base-url", BASE, "--verbose")
check("nothing published: the feeds, without items, are rendered again with the same bytes", "(full export)" in r.stdout
      and all(f"render {f} (same bytes)" in r.stdout for f in ("feed.xml", "atom.xml", "feed.json")), r.stdout)

# A coordinator killed (SIGKILL) mid-export, on a site of some hundreds of stories: its workers
# end with it at once (the kernel kills them: no worker writes on into the folder, racing the
# next run), and the next export makes the folder a full export makes.
big, big_out = os.path.join(work, "big"), os.path.join(work, "big-out")
quire("init", "--demo", big)
with open(os.path.join(big, "site.lua"), "a") as f:
    f.write(f'\nbase_url = "{BASE}"\naccess_log = "off"\n')
with open(os.path.join(work, "many.lua"), "w") as f:
    f.write("""local words = { "harbour", "ferry", "council", "budget", "tide", "barrage", "school", "market", "festival", "storm" }
local tags = { "Harbour", "Council", "Weather", "Arts", "Sport", "Fishing", "Transport", "Schools" }
quire.store.transaction(function()
  for i = 1, 800 do
    local paras = {}
    for p = 1, 6 do
      local w = {}
      for k = 1, 60 do w[k] = words[(i * 7 + p * 13 + k * 5) % #words + 1] end
      paras[p] = table.concat(w, " ") .. "."
    end
    quire.content.create { type = "article", title = ("Story %d of the %s"):format(i, words[i % #words + 1]), slug = "many-" .. i,
      body = table.concat(paras, "\\n\\n"), status = "published", tags = { tags[i % #tags + 1], tags[(i * 3) % #tags + 1] },
      published_at = os.date("!%Y-%m-%dT%H:%M:%SZ", 1700000000 + i * 3600) }
  end
end)
""")
quire("run", "--yes", "--site", big, os.path.join(work, "many.lua"))


def export_workers():
    """The running export workers of the big site (a zombie, ended and not waited for, is none)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"--worker" in cmd and big.encode() in cmd and state not in ("Z", "X"):
            found.append(int(pid))
    return found


coordinator = subprocess.Popen([QUIRE, "export", "--format", "html", big_out, "--site", big, "--base-url", BASE, "--compress", "gzip,br",
                                "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 60
while time.monotonic() < deadline and coordinator.poll() is None and not (
        len(export_workers()) == 2 and sum(len(ns) for _, _, ns in os.walk(big_out)) > 100):
    time.sleep(0.02)
workers = export_workers()
# (stopped first: a worker busy with a page writes nothing to its coordinator, which was the only
# thing that ended it before; a stopped process still takes a SIGKILL)
for w in workers:
    os.kill(w, signal.SIGSTOP)
coordinator.kill()
coordinator.wait()
check("the coordinator was killed mid-export, with its two workers running", coordinator.returncode == -signal.SIGKILL
      and len(workers) == 2, f"{coordinator.returncode} {workers}")
deadline = time.monotonic() + 2
while time.monotonic() < deadline and set(workers) & set(export_workers()):
    time.sleep(0.02)
left = set(workers) & set(export_workers())
check("no worker outlives its killed coordinator (2 s)", not left, str(left))
for w in left:  # (an older quire's: ended here)
    os.kill(w, signal.SIGKILL)
# A dry run then says what the next run does: it writes again none of the files the killed run
# finished (the manifest it reads has them, as the next run's will), and removes the temporary
# files of the processes gone (here one more, planted).
with open(os.path.join(big_out, f".quire-tmp-{dead.pid}.index.html"), "w") as f:
    f.write("<p>half a page")
folder = mtimes(big_out)
dry = quire("export", "--format", "html", big_out, "--site", big, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2", "--dry-run")
check("after the killed run, a dry run leaves the folder as it is", mtimes(big_out) == folder)
r = quire("export", "--format", "html", big_out, "--site", big, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2", "--verbose")
kept = COUNTS.search(r.stdout)
check("after the killed run, the next run keeps what it wrote", kept and int(kept[3]) > 0
      and f"remove .quire-tmp-{dead.pid}.index.html\n" in r.stdout, r.stdout[-3000:])
same_plan("after the killed run", dry, r)
# The full export to compare with, run on a terminal: its progress line's count, a guess with no
# manifest for the folder yet, is within a few percent of what it writes (a low guess kept the
# line at 100% for the last third of a first export of the bench's site), and it climbs to it.
big_full = os.path.join(work, "big-full")
pid, fd = pty.fork()
if pid == 0:
    os.execv(QUIRE, [QUIRE, "export", "--format", "html", big_full, "--site", big, "--base-url", BASE, "--compress", "gzip,br", "--jobs", "2"])
shown = b""
while True:
    try:
        got = os.read(fd, 65536)
    except OSError:  # (the child ended: EIO)
        break
    if not got:
        break
    shown += got
_, status = os.waitpid(pid, 0)
shown = shown.decode(errors="replace")
lines = re.findall(r"export: (\d+) of about (\d+) addresses \((\d+)%\)", shown)
done = re.search(r"exported: (\d+) files written", shown)
check("a full export on a terminal shows its progress: the count guessed near the real one, never 100% before the end",
      os.waitstatus_to_exitcode(status) == 0 and len(lines) >= 2 and done and all(int(p) < 100 for _, _, p in lines[:-1])
      and 0.93 <= int(lines[0][1]) / int(done[1]) <= 1.1, shown[-1500:])
a, b = tree(big_out), tree(big_full)
diff = sorted(set(a) ^ set(b))[:10] + [f for f in sorted(a) if f in b and a[f] != b[f]][:10]
check("after the killed run, the next export makes the folder a full export makes", not diff and len(a) > 1000,
      ", ".join(diff) + "\n" + r.stdout)

# A story whose page fails to render (a plugin's error, here until a time 30 s away): the run
# names it and exits 1. The next, with nothing changed, tries it again (it is missing) and fails
# the same way, rather than report all well; once the page renders, a run writes it.
flaky, flaky_out = os.path.join(work, "flaky"), os.path.join(work, "flaky-out")
quire("init", "--demo", flaky)
until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
os.makedirs(os.path.join(flaky, "plugins", "flaky"))
with open(os.path.join(flaky, "plugins", "flaky", "plugin.lua"), "w") as f:
    f.write(f"""return quire.plugin {{
  name = "flaky", version = "1.0", requires = {{ "theme" }},
  setup = function(site)
    site:filter("view.body", function(body, entry)
      if entry.title:find("Ferry crossings", 1, true) and quire.time.now() < "{until}" then error("flaky: not yet") end
      return body
    end)
  end,
}}
""")
with open(os.path.join(flaky, "site.lua"), "a") as f:
    f.write('\nplugins[#plugins + 1] = "flaky"\n')


def flaky_export():
    return quire("export", "--format", "html", flaky_out, "--site", flaky, "--base-url", BASE, ok=False)


def ferry_pages():
    return [os.path.join(r, n) for r, _, ns in os.walk(flaky_out) for n in ns
            if n == "index.html" and "<h1" in (t := open(os.path.join(r, n)).read()) and "Ferry crossings suspended" in
            t.split("<h1", 1)[1].split("</h1>", 1)[0]]


first, second = flaky_export(), flaky_export()
in_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) < until
check("a story whose page fails: the export names it and exits 1, with no page written", in_time and first.returncode == 1
      and "export failed for /" in first.stderr and "flaky: not yet" in first.stderr and not ferry_pages(), first.stdout + first.stderr)
check("... and the next run, nothing changed, tries it again and fails the same way", in_time and second.returncode == 1
      and "export failed for /" in second.stderr and not ferry_pages(), second.stdout + second.stderr)
time.sleep(max(0, calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")) - time.time() + 1))
third = flaky_export()
check("... until it renders: then written, by a run that renders only what it must", third.returncode == 0
      and len(ferry_pages()) == 1 and "(full export)" not in third.stdout, third.stdout + third.stderr)

# --watch, a page failing in its run: the next commit, one that bumps no cache tag too (a staff
# account made), makes a run, which renders the page again (a run skipped for such a commit left
# the page missing until the next edit).
until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 15))
plugin = os.path.join(flaky, "plugins", "flaky", "plugin.lua")
with open(plugin) as f:
    code = re.sub(r'now\(\) < "[^"]*"', f'now() < "{until}"', f.read())
with open(plugin, "w") as f:
    f.write(code)
shutil.rmtree(flaky_out)
flaky_log = open(os.path.join(work, "flaky-watch.log"), "w+")
fw = subprocess.Popen([QUIRE, "export", "--format", "html", flaky_out, "--site", flaky, "--base-url", BASE, "--watch"],
                      stdout=flaky_log, stderr=subprocess.STDOUT, start_new_session=True)
harness.procs.append(fw)
deadline = time.time() + 60
while time.time() < deadline and "exported:" not in open(flaky_log.name).read():
    time.sleep(0.2)
in_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) < until
check("--watch: the page fails in its first run", in_time and "flaky: not yet" in open(flaky_log.name).read()
      and not ferry_pages(), open(flaky_log.name).read())
time.sleep(max(0, calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")) - time.time() + 1))
quire("user", "add", "retrier", "--role", "author", "--site", flaky)
deadline = time.time() + 30
while time.time() < deadline and not ferry_pages():
    time.sleep(0.2)
check("--watch: the next commit, one that bumps no cache tag, renders the failed page again", len(ferry_pages()) == 1,
      open(flaky_log.name).read())
interrupt(fw)

# A file at the path of a page that never rendered is not the export's: when the page goes (its
# story trashed), the run leaves the file there (a user's file, or another tool's).
with open(plugin) as f:
    code = re.sub(r'now\(\) < "[^"]*"', 'now() < "9999"', f.read())
with open(plugin, "w") as f:
    f.write(code)
shutil.rmtree(flaky_out)
r = flaky_export()
with open(os.path.join(work, "ferry.lua"), "w") as f:
    f.write('for _, e in ipairs(quire.content.query { status = "published", limit = 1000 }) do\n'
            '  if e.title:find("Ferry crossings", 1, true) then print(e.id, quire.content.url(e)) end\n'
            'end\n')
ferry_id, ferry_url = quire("run", "--site", flaky, os.path.join(work, "ferry.lua")).stdout.split()[:2]
theirs = os.path.join(flaky_out, ferry_url.strip("/"), "index.html")
os.makedirs(os.path.dirname(theirs), exist_ok=True)
with open(theirs, "w") as f:
    f.write("my own notes")
with open(os.path.join(work, "ferry.lua"), "w") as f:
    f.write(f"quire.content.trash({ferry_id})\n")
quire("run", "--yes", "--site", flaky, os.path.join(work, "ferry.lua"))
r2 = flaky_export()
check("a file at the path of a page that never rendered stays when the page goes", r.returncode == 1 and r2.returncode == 0
      and os.path.isfile(theirs) and open(theirs).read() == "my own notes", r.stderr[-500:] + r2.stdout[-800:] + r2.stderr)

finish()
