#!/usr/bin/env python3
"""Cache tags (issue 21): which cached pages a write makes stale, in the real page cache of
`quire serve` (one worker, X-Cache: hit | miss | stale). On the demo site every public article
page, the tag and section pages, the front page and the feeds are cached; then:
- a body-only edit of one story makes stale exactly the pages showing it (its page, its
  neighbours', the related lists, lists and feeds it is on: every page with a link to it) and
  none other: not the pages of stories that only share a tag with it;
- a title edit makes stale the pages of the stories sharing a tag (their related posts are
  scored by it), not those of stories sharing none;
- a new tag on the story makes that tag's page and its stories' pages stale;
- a new published story makes stale the lists it joins and its neighbour's page, not the pages of
  older stories it has nothing in common with.
usage: cache_tags_test.py QUIRE_BINARY SOURCE_DIR"""
import json
import os
import re
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, fail, finish, quire, Server  # noqa: E402
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
work = harness.begin("cache_tags", QUIRE, SRC)
site = os.path.join(work, "site")
quire("init", "--demo", site)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write('\naccess_log = "off"\n')

script = os.path.join(work, "ed.lua")
with open(script, "w") as f:
    f.write("""local mode, id, arg = os.getenv("MODE"), tonumber(os.getenv("ID") or ""), os.getenv("ARG")
local cjson = require "cjson"
if mode == "list" then
  local out = {}
  for _, e in ipairs(quire.content.query { type = "article", status = "published", limit = 1000 }) do
    out[#out + 1] = { id = e.id, url = quire.content.url(e), tags = e.tags, section = e.section or cjson.null }
  end
  print(cjson.encode(out))
elseif mode == "body" then
  local e = quire.content.get(id)
  quire.content.update(id, { body = e.body .. "\\n\\nA correction, BODY-MARK." })
elseif mode == "title" then
  local e = quire.content.get(id)
  quire.content.update(id, { title = e.title .. " (updated)" })
elseif mode == "tag" then
  local e = quire.content.get(id)
  local tags = e.tags
  tags[#tags + 1] = arg
  quire.content.update(id, { tags = tags })
elseif mode == "new" then
  local e = quire.content.create { type = "article", title = "A new story on " .. arg, body = "Text of the new story.",
    status = "published", tags = { arg } }
  print(quire.content.url(quire.content.get(e)))
end
""")


def ed(mode, id="", arg=""):
    env = dict(os.environ, MODE=mode, ID=str(id), ARG=arg)
    r = subprocess.run([QUIRE, "run", "--yes", "--site", site, script], capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        fail(f"quire run {mode}", r.stdout + r.stderr)
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""


articles = json.loads(ed("list"))
by_url = {a["url"]: a for a in articles}


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


srv = Server(site)


def get(path):
    """(X-Cache value, body) of an anonymous GET."""
    with urllib.request.urlopen(srv.base + path, timeout=30) as r:
        return (r.headers.get("X-Cache") or "-").lower(), r.read().decode("utf-8", "replace")


tag_pages = sorted({"/tag/" + slug(t) for a in articles for t in a["tags"]})
pages = [a["url"] for a in articles] + tag_pages + ["/", "/feed.xml", "/atom.xml"]
bodies = {}


def warm():
    """Every page cached; returns the pages that were not a hit on the second request."""
    for p in pages:
        get(p)
    cold = []
    for p in pages:
        x, bodies[p] = get(p)
        if x != "hit":
            cold.append(p)
    return cold


def stale_after(write):
    """Caches every page, does write(), and returns the set of pages no longer a hit."""
    cold = warm()
    check("every page is cached before the write", not cold, ", ".join(cold[:10]))
    before = dict(bodies)
    write()
    out = set()
    for p in pages:
        x, _ = get(p)
        if x != "hit":
            out.add(p)
    return out, before


def linking(before, url):
    """The pages whose copy before the write had a link to url (relative or absolute)."""
    link = re.compile(r'(?:href="|>)(?:https?://[^/"<]+)?' + re.escape(url) + r'["<#]')
    return {p for p in pages if link.search(before[p])}


# A story with tags whose neighbours and related lists exist.
a = next(x for x in articles if len(x["tags"]) >= 1 and sum(1 for y in articles if set(y["tags"]) & set(x["tags"])) > 3)
tag_mates = {y["url"] for y in articles if y is not a and set(y["tags"]) & set(a["tags"])}

# --- a body-only edit: only the pages showing the story
stale, before = stale_after(lambda: ed("body", a["id"]))
showing = linking(before, a["url"]) | {a["url"]}
check("a body edit makes the story's page stale", a["url"] in stale)
check("a body edit makes every page showing the story stale", showing <= stale, ", ".join(sorted(showing - stale)))
check("a body edit makes no page stale that does not show the story", stale <= showing, ", ".join(sorted(stale - showing)))
quiet_mates = tag_mates - showing
check("some stories share a tag with it without showing it", len(quiet_mates) > 0, str(sorted(tag_mates)))
check("their pages stay cached", not (quiet_mates & stale), ", ".join(sorted(quiet_mates & stale)))
check("the body edit is on the page", "BODY-MARK" in get(a["url"])[1])

# --- a title edit: the related lists of its tags too
stale, before = stale_after(lambda: ed("title", a["id"]))
showing = linking(before, a["url"]) | {a["url"]}
check("a title edit makes the pages showing it stale", showing <= stale, ", ".join(sorted(showing - stale)))
check("a title edit makes the pages of stories sharing a tag stale (related posts)", tag_mates <= stale,
      ", ".join(sorted(tag_mates - stale)))
strangers = {y["url"] for y in articles if not set(y["tags"]) & set(a["tags"])} - showing
check("some stories share no tag with it", len(strangers) > 0)
check("their pages stay cached", not (strangers & stale), ", ".join(sorted(strangers & stale)))
check("no tag page that does not list it goes stale", not ({p for p in tag_pages if p not in showing} & stale),
      ", ".join(sorted({p for p in tag_pages if p not in showing} & stale)))

# --- a new tag on the story: that tag's page and the related lists of its stories
other = next(t for t in sorted({t for x in articles for t in x["tags"]}, key=lambda t: -sum(t in x["tags"] for x in articles))
             if t not in a["tags"])
stale, before = stale_after(lambda: ed("tag", a["id"], other))
check("a new tag makes the tag's page stale", "/tag/" + slug(other) in stale)
other_mates = {y["url"] for y in articles if other in y["tags"] and y is not a}
check("a new tag makes its stories' pages stale (related posts)", other_mates <= stale, ", ".join(sorted(other_mates - stale)))
a["tags"].append(other)
strangers = {y["url"] for y in articles if not set(y["tags"]) & set(a["tags"])} - linking(before, a["url"])
check("the pages of stories sharing no tag stay cached", strangers and not (strangers & stale), ", ".join(sorted(strangers & stale)))

# --- a new story: the lists it joins and its neighbour
lonely = next(t for t in sorted({t for x in articles for t in x["tags"]}) if sum(t in x["tags"] for x in articles) <= 2)
stale, before = stale_after(lambda: globals().__setitem__("new_url", ed("new", "", lonely)))
check("a new story makes the front page and the feeds stale", {"/", "/feed.xml", "/atom.xml"} <= stale, ", ".join(sorted(stale)))
check("a new story makes its tag's page stale", "/tag/" + slug(lonely) in stale)
x, body = get(new_url)  # noqa: F821
prev = [u for u in by_url if ('href="' + u + '"') in body and u != new_url]  # noqa: F821
neighbour = [u for u in prev if u in stale]
check("a new story makes its neighbour's page stale (its next link)", len(neighbour) > 0, str(prev))
untouched = {y["url"] for y in articles if not set(y["tags"]) & {lonely}} - linking(before, new_url) - set(prev)  # noqa: F821
untouched -= {u for u in untouched if any(u in before[p] for p in ("/",))}
check("older stories with nothing in common with it stay cached", len(untouched) > 5 and not (untouched & stale),
      ", ".join(sorted(untouched & stale)))
srv.stop()
finish()
