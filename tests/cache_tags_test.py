#!/usr/bin/env python3
"""Cache tags (issue 21): which cached pages a write makes stale, in the real page cache of
`quire serve` (one worker, X-Cache: hit | miss | stale). On the demo site every public article
page, the tag pages, the front page, /latest and the feeds are cached; then, after each write,
every page is fetched from that server and from a second, fresh one (an empty cache): no page
may be served with other bytes than the fresh server's (never stale), every page whose bytes
changed must have gone stale, and none other than those the write can change:
- a body-only edit makes stale the story's page and the feeds that carry its text, nothing else:
  not the lists, fronts, related lists, prev/next links or most-read sidebars showing it as a
  card or headline (teaser:ID), nor the pages of stories sharing a tag with it;
- the same for the newest story, which every page's sidebar lists;
- a title edit makes stale exactly the pages showing the story (its card, headline, link), not
  the pages of stories that only share a tag with it (related lists are drawn from tags, words
  and keywords, each bumped only when that set changes: quire.related);
- a title that gains a word makes stale the pages whose related lists look that word up;
- a list page does not go stale for the row it fetched to learn whether an older page exists;
- a new tag on the story makes that tag's page and its stories' pages stale;
- a draft's saves make no public page stale; a new published story makes stale the lists it
  joins, its neighbour's page, and the related lists sharing a word with it, not the others.
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
    f.write('\naccess_log = "off"\nbase_url = "https://news.example"\n')  # (absolute links the same from any server)

script = os.path.join(work, "ed.lua")
with open(script, "w") as f:
    f.write("""local mode, id, arg = os.getenv("MODE"), tonumber(os.getenv("ID") or ""), os.getenv("ARG")
local cjson = require "cjson"
if mode == "list" then
  local out = {}
  for _, e in ipairs(quire.content.query { type = "article", status = "published", limit = 1000 }) do
    out[#out + 1] = { id = e.id, url = quire.content.url(e), tags = e.tags, title = e.title,
      standfirst = e.fields.standfirst or "" }
  end
  print(cjson.encode(out))
elseif mode == "published" then
  print(quire.content.count { status = "published" })
elseif mode == "body" then
  local e = quire.content.get(id)
  quire.content.update(id, { body = e.body .. "\\n\\nA note, zqxbodymark." })
elseif mode == "title" then
  local e = quire.content.get(id)
  quire.content.update(id, { title = e.title .. " " .. arg })
elseif mode == "tag" then
  local e = quire.content.get(id)
  local tags = e.tags
  tags[#tags + 1] = arg
  quire.content.update(id, { tags = tags })
elseif mode == "new" or mode == "draft" then
  local e = quire.content.create { type = "article", title = "A new " .. arg, body = "Zqxnewbody.",
    status = mode == "new" and "published" or "draft", tags = { arg } }
  print(mode == "new" and quire.content.url(quire.content.get(e)) or e)
elseif mode == "draft-edit" then
  quire.content.update(id, { title = "A draft, zqxdrafttitle", body = "Zqxdraftbody, zqxdrafttwo." })
end
""")


def ed(mode, id="", arg=""):
    env = dict(os.environ, MODE=mode, ID=str(id), ARG=arg)
    r = subprocess.run([QUIRE, "run", "--yes", "--site", site, script], capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        fail(f"quire run {mode}", r.stdout + r.stderr)
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""


articles = json.loads(ed("list"))  # newest first
by_url = {a["url"]: a for a in articles}


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


srv = Server(site)


TOKEN = re.compile(r'(name="token" value=")[^"]*"')


def fetch(server, path):
    """(X-Cache value, body) of an anonymous GET; the comment form's token (signed with the time
    it was made: no two servers make the same) left out."""
    with urllib.request.urlopen(server.base + path, timeout=30) as r:
        return (r.headers.get("X-Cache") or "-").lower(), TOKEN.sub(r'\1"', r.read().decode("utf-8", "replace"))


def get(path):
    return fetch(srv, path)


tag_pages = sorted({"/tag/" + slug(t) for a in articles for t in a["tags"]})
pages = [a["url"] for a in articles] + tag_pages + ["/", "/latest", "/feed.xml", "/atom.xml"]
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


def stale_after(name, write):
    """Caches every page, does write(), and returns the set of pages no longer a hit, the pages'
    bytes before the write and the set of pages whose bytes changed (checking on the way that no
    page is served with other bytes than a fresh server renders)."""
    cold = warm()
    check(f"{name}: every page is cached before the write", not cold, ", ".join(cold[:10]))
    before = dict(bodies)
    write()
    with Server(site) as fresh:
        now = {p: fetch(fresh, p)[1] for p in pages}
    changed = {p for p in pages if now[p] != before[p]}
    # On PostgreSQL the server hears of the write by NOTIFY: the pages it changed are asked for
    # again until they are no longer a hit (harness.after_write; at once on SQLite), and once
    # one is, the server knows every tag the write bumped.
    out, served = set(), {}
    for p in sorted(changed) + [p for p in pages if p not in changed]:
        x, served[p] = harness.after_write(lambda: get(p), lambda r: r[0] != "hit") if p in changed else get(p)
        if x != "hit":
            out.add(p)
    wrong = sorted(p for p in pages if served[p] != now[p])
    if wrong and os.getenv("DEBUG_DIFF"):
        import difflib
        print("\n".join(list(difflib.unified_diff(served[wrong[0]].splitlines(), now[wrong[0]].splitlines(), lineterm=""))[:30]))
    check(f"{name}: no page is served stale (the same bytes as a fresh server's)", not wrong, ", ".join(wrong[:10]))
    check(f"{name}: every page whose bytes changed went stale", changed <= out, ", ".join(sorted(changed - out)))
    return out, before, changed


def linking(before, url):
    """The pages whose copy before the write had a link to url (relative or absolute)."""
    link = re.compile(r'(?:href="|>)(?:https?://[^/"<]+)?' + re.escape(url) + r'["<#]')
    return {p for p in pages if link.search(before[p])}


def words(a):
    return {w for w in re.findall(r"[a-z0-9]+", (a["title"] + " " + a["standfirst"]).lower()) if len(w) >= 4}


feeds = {"/feed.xml", "/atom.xml"}

# A story with tags whose neighbours and related lists exist, not among the newest five (every
# page's sidebar lists those while nothing has been read) nor the oldest.
a = next(x for x in articles[6:-2] if len(x["tags"]) >= 1 and sum(1 for y in articles if set(y["tags"]) & set(x["tags"])) > 3)
tag_mates = {y["url"] for y in articles if y is not a and set(y["tags"]) & set(a["tags"])}

# --- a body-only edit: only the pages showing the story's text
stale, before, changed = stale_after("body edit", lambda: ed("body", a["id"]))
showing = linking(before, a["url"]) - {a["url"]}
check("a body edit makes the story's page stale", a["url"] in stale)
check("a body edit makes stale exactly the pages whose bytes changed", stale == changed,
      "stale, unchanged: " + ", ".join(sorted(stale - changed)))
check("those are the story's page and feeds", stale <= {a["url"]} | feeds, ", ".join(sorted(stale - {a["url"]} - feeds)))
cards = showing - feeds
check("pages show the story as a card, headline or link (lists, related, prev/next)", len(cards) >= 3, str(sorted(cards)))
check("they stay cached", not (cards & stale), ", ".join(sorted(cards & stale)))
quiet_mates = tag_mates - showing
check("some stories share a tag with it without showing it", len(quiet_mates) > 0, str(sorted(tag_mates)))
check("their pages stay cached", not (quiet_mates & stale), ", ".join(sorted(quiet_mates & stale)))
check("the body edit is on the page", "zqxbodymark" in get(a["url"])[1])

# --- the newest story's body: every page's sidebar shows its headline, none its text
newest = articles[0]
stale, before, changed = stale_after("newest story's body edit", lambda: ed("body", newest["id"]))
sidebar = linking(before, newest["url"]) - feeds - {newest["url"]}
check("most pages link to the newest story (sidebar)", len(sidebar) > len(pages) // 2, str(len(sidebar)))
check("its body edit makes stale exactly the pages whose bytes changed", stale == changed,
      ", ".join(sorted(stale - changed)[:10]))
check("no page showing only its headline goes stale", not (sidebar & stale), ", ".join(sorted(sidebar & stale)[:10]))

# --- a title edit: exactly the pages showing it (a word no other story has)
stale, before, changed = stale_after("title edit", lambda: ed("title", a["id"], "zqxtitleword"))
showing = linking(before, a["url"]) | {a["url"]}
check("a title edit makes the pages showing it stale", showing <= stale, ", ".join(sorted(showing - stale)))
check("a title edit makes stale exactly the pages whose bytes changed", stale == changed,
      "stale, unchanged: " + ", ".join(sorted(stale - changed)))
quiet_mates = tag_mates - showing
check("the pages of stories only sharing a tag with it stay cached", quiet_mates and not (quiet_mates & stale),
      ", ".join(sorted(quiet_mates & stale)))
a["title"] += " zqxtitleword"

# --- a title that gains a word other stories' related lists look up
b = next(x for x in articles[6:-2] if x is not a and not set(x["tags"]) & set(a["tags"]))
word = next(w for w in sorted(words(b), key=len, reverse=True) if w not in words(a) and w.isalpha())
lookers = {y["url"] for y in articles if y is not a and word in words(y)}  # (the same word: the same index term)
stale, before, changed = stale_after("title gains a word", lambda: ed("title", a["id"], word))
check("a new word in a title makes stale the related lists looking it up", b["url"] in stale and lookers <= stale,
      f"{word}: " + ", ".join(sorted(lookers - stale)))
others = {y["url"] for y in articles if y is not a and not any(w[:3] == word[:3] for w in words(y))} - linking(before, a["url"])
check("not the pages of stories without the word", others and not (others & stale), ", ".join(sorted(others & stale)))
a["title"] += " " + word

# --- the look-ahead row of a list: /latest shows ten; the eleventh is fetched, not shown
eleventh = articles[10]
stale, before, changed = stale_after("title edit of an unshown row", lambda: ed("title", eleventh["id"], "zqxeleven"))
check("/latest did not show it", "/latest" not in linking(before, eleventh["url"]))
check("its title edit made the pages showing it stale", linking(before, eleventh["url"]) <= stale)
check("the list that fetched but did not show it stays cached", "/latest" not in stale)

# --- a new tag on the story: that tag's page and the related lists of its stories
other = next(t for t in sorted({t for x in articles for t in x["tags"]}, key=lambda t: -sum(t in x["tags"] for x in articles))
             if t not in a["tags"])
stale, before, changed = stale_after("new tag", lambda: ed("tag", a["id"], other))
check("a new tag makes the tag's page stale", "/tag/" + slug(other) in stale)
other_mates = {y["url"] for y in articles if other in y["tags"] and y is not a}
check("a new tag makes its stories' pages stale (related posts)", other_mates <= stale, ", ".join(sorted(other_mates - stale)))
a["tags"].append(other)
strangers = {y["url"] for y in articles if not set(y["tags"]) & set(a["tags"])} - linking(before, a["url"])
check("the pages of stories sharing no tag stay cached", strangers and not (strangers & stale), ", ".join(sorted(strangers & stale)))

# --- a draft: created and saved again, no public page goes stale
lonely = next(t for t in sorted({t for x in articles for t in x["tags"]}) if sum(t in x["tags"] for x in articles) <= 2)
draft = {}
stale, before, changed = stale_after("new draft", lambda: draft.__setitem__("id", ed("draft", "", "zqxdraft")))
check("a new draft makes no public page stale", not stale, ", ".join(sorted(stale)[:10]))
stale, before, changed = stale_after("draft saved", lambda: ed("draft-edit", draft["id"]))
check("a draft's save makes no public page stale", not stale, ", ".join(sorted(stale)[:10]))


# --- a new story: the lists it joins, its neighbour, the related lists sharing a word with it
def step(n):  # quire.related's rounded count of published entries
    s = 1
    while s * 16 <= n:
        s *= 2
    return n - n % s


while step(int(ed("published"))) != step(int(ed("published")) + 1):
    ed("new", "", "zqxwarmup")  # so that the story measured does not move the count every list uses
new = {}
stale, before, changed = stale_after("new story", lambda: new.__setitem__("url", ed("new", "", lonely)))
new_url = new["url"]
check("a new story makes the front page, /latest and the feeds stale", {"/", "/latest"} | feeds <= stale, ", ".join(sorted(stale)))
check("a new story makes its tag's page stale", "/tag/" + slug(lonely) in stale)
x, body = get(new_url)
prev = [u for u in by_url if ('href="' + u + '"') in body and u != new_url]
neighbour = [u for u in prev if u in stale]
check("a new story makes its neighbour's page stale (its next link)", len(neighbour) > 0, str(prev))
shared = {w[:3] for w in ("new", lonely.lower())}
untouched = {y["url"] for y in articles if lonely not in y["tags"] and not any(w[:3] in shared for w in words(y))}
untouched -= linking(before, new_url) | set(prev) | {u for u in by_url if u in before["/"]}
check("older stories with nothing in common with it stay cached", len(untouched) > 5 and not (untouched & stale),
      ", ".join(sorted(untouched & stale)))
srv.stop()
finish()
