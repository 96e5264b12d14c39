#!/usr/bin/env python3
"""quire export --format html: what the export leaves beside the files it owns. On the demo site
(--compress gzip), after a full export:
- a sibling --compress does not ask for (a .gz beside a file under 1 kB, a .br) is removed by the
  next run whatever it is: a symbolic link (to a secret, which gzip_static would send) or a stale
  regular file; one it asks for that is a link is replaced; the dry run says so first;
- an empty folder in a .gz's place is replaced by the .gz; one holding files stops the run with a
  message naming it and saying to remove it, and is left as it was;
- a .gz cut short beside a page the run renders again is written again (its trailer's length);
- a static file's copy that is a link to the same bytes is replaced when its source is touched;
- an edited stylesheet's old fingerprinted copy stays in the folder while quire serve would still
  answer it (static_retention, by its copy's mtime in SITE/.quire/static), and goes after;
- a folder emptied by `rm -rf out/*` (a full export) still loses a link beside a file of the
  hidden folders it keeps.
usage: export_files_test.py QUIRE_BINARY SOURCE_DIR"""
import gzip
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, quire  # noqa: E402
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
BASE = "https://news.example"
DAY = 86400
work = harness.begin("export_files", QUIRE, SRC)
site, out = os.path.join(work, "site"), os.path.join(work, "out")
quire("init", "--demo", site)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write(f'\nbase_url = "{BASE}"\naccess_log = "off"\n')
secret = os.path.join(work, "secret")
with open(secret, "w") as f:
    f.write("not for the web\n")


def export(*extra, ok=True):
    return quire("export", "--format", "html", out, "--site", site, "--jobs", "1", *extra, ok=ok)


def at(name):
    return os.path.join(out, name)


def clear(name):
    """Removes what is at name in the folder, a folder too."""
    if os.path.isdir(at(name)) and not os.path.islink(at(name)):
        shutil.rmtree(at(name))
    elif os.path.lexists(at(name)):
        os.remove(at(name))


r = export()
check("first export is full", "(full export)" in r.stdout, r.stdout)
entry = next(os.path.join(root[len(out) + 1:], "index.html") for root, _, names in os.walk(at("2026")) if "index.html" in names)
check("robots.txt is under 1 kB (no .gz)", os.path.getsize(at("robots.txt")) < 1024 and not os.path.lexists(at("robots.txt.gz")))

# --- siblings --compress does not ask for, and one it asks for that is a link
planted = {"robots.txt.gz": "link", "feed.xml.br": "link", entry + ".br": "link", "index.html.br": "file",
           "static/theme/quire.css.br": "link"}
for name, kind in planted.items():
    if kind == "link":
        os.symlink(secret, at(name))
    else:
        with open(at(name), "wb") as f:
            f.write(b"a stale copy of an older page")
os.remove(at("atom.xml.gz"))
os.symlink(secret, at("atom.xml.gz"))
r = export("--dry-run")
check("the dry run names the siblings it would remove",
      all(f"would remove {n}\n" in r.stdout + "\n" for n in planted) and " 5 removed (would be)" in r.stdout, r.stdout)
r = export("--verbose")
left = [n for n in planted if os.path.lexists(at(n))]
check("a link or a stale file where --compress asks for no sibling is removed", not left and " 5 removed" in r.stdout,
      f"{left}\n{r.stdout}")
check("... the link's target is untouched", open(secret).read() == "not for the web\n")
check("a link where a .gz is asked for is replaced by the .gz",
      not os.path.islink(at("atom.xml.gz")) and gzip.open(at("atom.xml.gz")).read() == open(at("atom.xml"), "rb").read(), r.stdout)

# --- a folder in a .gz's place
feed_gz = gzip.open(at("feed.xml.gz")).read()
clear("feed.xml.gz")
os.mkdir(at("feed.xml.gz"))
r = export(ok=False)
check("an empty folder in a .gz's place is replaced by the .gz", r.returncode == 0 and os.path.isfile(at("feed.xml.gz"))
      and gzip.open(at("feed.xml.gz")).read() == feed_gz, r.stderr)
clear("feed.xml.gz")
os.makedirs(at("feed.xml.gz/kept"))
r = export(ok=False)
check("a folder holding files there stops the run, naming it and what to do", r.returncode == 1 and re.search(
      r"cannot write \S+/out/feed\.xml\.gz: a folder that is not empty is in its place \(the export replaces only an empty"
      r" one\): remove that folder and export again", r.stderr), r.stderr)
check("... and is left as it was", os.path.isdir(at("feed.xml.gz/kept")))
clear("feed.xml.gz")
r = export()
check("once it is removed, the .gz is written", gzip.open(at("feed.xml.gz")).read() == feed_gz, r.stdout)

# --- a .gz cut short beside a page the run renders again (404.html: every run; all of them when
# site.lua changes)
for name in ("404.html", "feed.xml"):
    with open(at(name + ".gz"), "r+b") as f:
        f.truncate(os.path.getsize(at(name + ".gz")) // 2)
r = export("--verbose")
check("a .gz cut short beside a page rendered again is written again",
      "write 404.html.gz" in r.stdout and gzip.open(at("404.html.gz")).read() == open(at("404.html"), "rb").read(), r.stdout)
check("... only it: the feed was not rendered", "feed.xml" not in r.stdout, r.stdout)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("-- every page rendered again\n")
r = export("--verbose")
check("... and the feed's, in a run that renders every page",
      "write feed.xml.gz" in r.stdout and gzip.open(at("feed.xml.gz")).read() == open(at("feed.xml"), "rb").read(), r.stdout)
check("... and no whole .gz is written again", len(re.findall(r"^write ", r.stdout, re.M)) == 1, r.stdout)

# --- a static file's copy that is a link to the same bytes
theme = os.path.join(site, "plugins", "theme")
shutil.copytree(os.path.join(SRC, "plugins", "theme"), theme)  # the site's own theme
css = os.path.join(theme, "static", "quire.css")
export()
copy = at("static/theme/quire.css")
same = os.path.join(work, "same.css")
shutil.copyfile(copy, same)
os.remove(copy)
os.symlink(same, copy)
os.utime(css)
r = export("--verbose")
check("a copy that is a link to the same bytes is replaced when its source is touched",
      not os.path.islink(copy) and open(copy, "rb").read() == open(css, "rb").read(), r.stdout)

# (compared in parts: a file of some MB touched is kept, one changed in its last byte is copied)
big = os.path.join(site, "public", "big.bin")
os.makedirs(os.path.dirname(big), exist_ok=True)
with open(big, "wb") as f:
    f.write(os.urandom(2500000))
export()
os.utime(big)
r = export("--verbose")
check("a large static file touched, the same bytes: not copied again", "render big.bin (same bytes)" in r.stdout, r.stdout)
with open(big, "r+b") as f:
    f.seek(-1, 2)
    last = f.read(1)
    f.seek(-1, 2)
    f.write(bytes([last[0] ^ 1]))
r = export("--verbose")
check("... changed in its last byte: copied", "write big.bin" in r.stdout and open(at("big.bin"), "rb").read() == open(big, "rb").read(),
      r.stdout)

# --- an edited stylesheet's old fingerprinted copy
copies = os.path.join(site, ".quire", "static", "theme")


def stylesheet():
    return re.search(r"/static/theme/(quire\.[0-9a-f]{12}\.css)", open(at("index.html")).read()).group(1)


v1 = stylesheet()
with open(css, "a") as f:
    f.write("\n.edited { color: #123456; }\n")
r = export()
v2 = stylesheet()
check("the edited stylesheet gets a new copy", v2 != v1 and os.path.isfile(at("static/theme/" + v2)), r.stdout)
check("the old copy stays in the folder (pages a CDN holds name it)",
      os.path.isfile(at("static/theme/" + v1)) and os.path.isfile(at("static/theme/" + v1 + ".gz")), os.listdir(at("static/theme")))
t = time.time() - 5 * DAY
os.utime(os.path.join(copies, v1), (t, t))
r = export()
check("... while quire serve would answer it (named 5 days ago, static_retention 7)",
      os.path.isfile(at("static/theme/" + v1)) and os.path.isfile(os.path.join(copies, v1)), r.stdout)
t = time.time() - (7 + 1.1 + 0.1) * DAY  # (past the retention and the lease's slack: quire.assets)
os.utime(os.path.join(copies, v1), (t, t))
r = export("--dry-run", "--verbose")
check("the dry run says the old copy would go", f"would remove static/theme/{v1}\n" in r.stdout, r.stdout)
r = export()
check("past the retention, the old copy goes from the folder, with its .gz",
      not os.path.lexists(at("static/theme/" + v1)) and not os.path.lexists(at("static/theme/" + v1 + ".gz"))
      and not os.path.exists(os.path.join(copies, v1)), f"{os.listdir(at('static/theme'))}\n{r.stdout}{r.stderr}")
check("... the current one stays", os.path.isfile(at("static/theme/" + v2)))

# --- a folder emptied by `rm -rf out/*`, which leaves its hidden folders: a full export with
# nothing to compare against, but for the files of those folders
os.makedirs(os.path.join(site, "public", ".well-known"))
with open(os.path.join(site, "public", ".well-known", "security.txt"), "w") as f:
    f.write("Contact: mailto:security@news.example\n" * 40)
export()
check("a hidden folder's static file is exported with its .gz", os.path.isfile(at(".well-known/security.txt.gz")))
# (another hidden folder's files, a checkout's .git, are not: they were, config and all)
os.makedirs(os.path.join(site, "public", ".git"))
with open(os.path.join(site, "public", ".git", "config"), "w") as f:
    f.write('[remote "origin"]\n\turl = https://deploy:secret@git.example/site.git\n')
r = export()
check("... another hidden folder's files are not", not os.path.lexists(at(".git")) and os.path.isfile(at(".well-known/security.txt")),
      r.stdout + r.stderr)
for name in os.listdir(out):
    if not name.startswith("."):
        clear(name)
os.symlink(secret, at(".well-known/security.txt.br"))
r = export()
check("... in a folder emptied but for it, a link beside it is removed", "(full export)" in r.stdout
      and not os.path.lexists(at(".well-known/security.txt.br")) and os.path.isfile(at("index.html")), r.stdout)

# --- symbolic links in public/: followed, as quire serve follows them, only to what is inside it
# (a link to a file or a folder elsewhere published it, though the server answers 404), and not
# to a folder holding the link (a link to "." was walked again and again)
public = os.path.join(site, "public")
os.makedirs(os.path.join(public, "inner"))
with open(os.path.join(public, "inner", "note.txt"), "w") as f:
    f.write("public note\n")
os.makedirs(os.path.join(work, "elsewhere"))
shutil.copy(secret, os.path.join(work, "elsewhere", "secret.txt"))
for link, target in (("secret.txt", secret), ("elsewhere", os.path.join(work, "elsewhere")), ("inner/loop", "."),
                     ("alias.txt", "inner/note.txt"), ("alias", "inner")):
    os.symlink(target, os.path.join(public, link))
r = export()
leaked = [os.path.relpath(os.path.join(d, n), out) for d, _, ns in os.walk(out) for n in ns
          if b"not for the web" in open(os.path.join(d, n), "rb").read()]
check("a link in public/ to a file or folder outside it is not followed", not leaked and not os.path.lexists(at("secret.txt"))
      and not os.path.lexists(at("elsewhere")), str(leaked) + r.stdout + r.stderr)
check("... one to a file or folder inside it is, once", os.path.isfile(at("alias.txt")) and os.path.isfile(at("alias/note.txt"))
      and os.path.isfile(at("inner/note.txt")) and not os.path.lexists(at("inner/loop")), r.stdout + r.stderr)
finish()
