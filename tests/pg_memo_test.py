#!/usr/bin/env python3
"""The memo of reads on several nodes (issue 20): after each kind of write, no node serves stale
bytes. Two nodes on one PostgreSQL database, one worker each so that every request meets the
memo the previous ones filled: B with its page cache, C without (--no-cache: every page is
rendered from the memo). Each write is made by a third process (`quire` commands on the same
database, as another node's write), or through B's Admin API (a node's own write); then every
page is fetched from a node started after the write (its memo empty: the fresh bytes), and B and C
must serve those bytes within 5 s (the notification's delay; a memoised value kept past the write
that changed it would never let them). Pages: a story, a story related to it, the home page, a
tag page, the feed and an old URL (a redirect, or none).
usage: pg_py.sh pg_memo_test.py QUIRE_BINARY SOURCE_DIR"""
import http.client, json, os, re, shutil, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nodes_lib import check, new_db, quire, start_node, stop, token, editor_key
import nodes_lib as nl

work = tempfile.mkdtemp(prefix="quire-pg-memo-")
CONVERGE_S = 15  # milliseconds on an idle machine; the bound is for a sanitizer build at load

FACTS = """
local e = quire.content.get(44)
local rel = quire.content.related(44)
local tag = e.tags[1]
print(require("cjson").encode({ story = quire.content.url(e), related = rel[1] and quire.content.url(rel[1]) or false,
  related_id = rel[1] and rel[1].id or false, tag = quire.slugify(tag), hero = e.fields.hero_media or false }))
"""


# The comment form's token is signed with the time of the render: the same page rendered a
# second later differs there only.
TOKEN = re.compile(rb'(name="token" value=")[^"]*"')


def get(port, path):
    """(status, location, body) without following redirects, the form token left out."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Location"), TOKEN.sub(rb'\1"', r.read())
    finally:
        c.close()


n_fresh = 0


def fresh(site, pages):
    """What a node with an empty memo serves now (started after the write)."""
    global n_fresh
    n_fresh += 1
    name = f"fresh{n_fresh}"
    port = start_node(name, site, work, workers=1, args=("--no-cache",))
    try:
        return {p: get(port, p) for p in pages}
    finally:
        stop(name)


def first_difference(a, b):
    """Where two answers part: their statuses, or the bytes around the first difference."""
    if a[:2] != b[:2]:
        return a[:2], b[:2]
    i = next((i for i, (x, y) in enumerate(zip(a[2], b[2])) if x != y), min(len(a[2]), len(b[2])))
    return a[2][max(0, i - 80):i + 80], b[2][max(0, i - 80):i + 80]


def same_within(port, want):
    """The pages of port that still differ from want after CONVERGE_S seconds (none: all fresh)."""
    deadline = time.monotonic() + CONVERGE_S
    while True:
        wrong = [p for p, w in want.items() if get(port, p) != w]
        if not wrong or time.monotonic() > deadline:
            return wrong
        time.sleep(0.05)


try:
    url = new_db("memo")
    demo = os.path.join(work, "demo")
    quire("init", "--demo", demo)
    quire("store", "copy", "--to", url, site=demo)
    base = re.sub(r'(?m)^database *=.*$', "", open(os.path.join(demo, "site.lua")).read())
    sites = {}
    for n in "wbc":  # w: the writer's folder (commands), b and c: the nodes
        sites[n] = os.path.join(work, "node-" + n)
        os.mkdir(sites[n])
        shutil.copytree(os.path.join(demo, "plugins"), os.path.join(sites[n], "plugins"))
        open(os.path.join(sites[n], "site.lua"), "w").write(base + f'\ndatabase = "{url}"\nmedia_dir = "{demo}/media"\nbase_url = "http://news.example"\n')
    script = os.path.join(work, "facts.lua")
    open(script, "w").write(FACTS)
    facts = json.loads(quire("run", "--yes", "--site", sites["w"], script).strip().splitlines()[-1])
    check("the demo story has a related story, a tag and a hero picture",
          facts["related"] and facts["tag"] and facts["hero"], facts)
    pages = [facts["story"], facts["related"], "/", "/tag/" + facts["tag"], "/feed.xml", "/old-harbour-story"]
    ports = {"b": start_node("b", sites["b"], work, workers=1), "c": start_node("c", sites["c"], work, workers=1, args=("--no-cache",))}
    key = editor_key(sites["w"])

    def step(what, write):
        before = {}
        for n in "bc":  # every page read (and memoised) before the write
            for p in pages:
                before[p] = get(ports[n], p)
        write()
        want = fresh(sites["w"], pages)
        check(f"{what}: changes a page", any(want[p] != before[p] for p in pages))
        for n in "bc":
            wrong = same_within(ports[n], want)
            check(f"{what}: node {n} serves no stale page", not wrong,
                  [(p, first_difference(get(ports[n], p), want[p])) for p in wrong])

    def cli(*args):
        return lambda: quire(*args, site=sites["w"])

    def admin(method, path, body):
        def go():
            c = http.client.HTTPConnection("127.0.0.1", ports["b"], timeout=10)
            c.request(method, path, json.dumps(body), {"Authorization": "Bearer " + token(key), "Content-Type": "application/json"})
            r = c.getresponse()
            check(f"{method} {path} on node B", r.status in (200, 201), (r.status, r.read()[:300]))
            c.close()
        return go

    step("a story's title edited", cli("entries", "update", "44", "--title", "Barrage inquiry moves to the evenings"))
    step("its body alone", cli("entries", "update", "44", "--body", "The inquiry sits after six, so working people can come."))
    step("the related story's title, through B's Admin API (B's own write)",
         admin("PATCH", f"/api/admin/v1/entries/{facts['related_id']}", {"title": "Harbour wall study published"}))
    step("a new story in the tag", cli("entries", "create", "--type", "article", "--status", "published", "--title",
                                       "Council answers on the barrage", "--tags", facts["tag"], "--body", "Answers."))
    step("the story's tags changed", cli("entries", "update", "44", "--tags", "harbour,inquiry"))
    step("a comment held", cli("comments", "hold", "4"))
    step("the comment approved again", cli("comments", "approve", "4"))
    step("the hero picture's alt text", cli("media", "update", str(facts["hero"]), "--alt", "The barrage site at low tide"))
    step("a front page lead set", cli("front", "set", "home", "1", str(facts["related_id"])))
    step("a breaking banner", cli("front", "breaking", "Harbour road closed", "--until", "+2h"))
    step("the banner off", cli("front", "breaking", "--off"))
    step("a redirect added", cli("redirects", "add", "/old-harbour-story", facts["story"]))
    step("the tag renamed", cli("terms", "rename", "tag", "harbour", "Harbour works"))
    step("the related story trashed", cli("entries", "trash", str(facts["related_id"])))
finally:
    nl.cleanup(work)
nl.finish()
