#!/usr/bin/env python3
"""WordPress import on the WordPress project's own test exports, used where they are
(../shared/conformance/wordpress/ beside the repository), checked against counts taken from the
XML here, independently of the importer, and over HTTP through a real `quire serve`.

usage: wxr_test.py QUIRE_BINARY SOURCE_DIR      (exit 77: the test data is not there)
"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, Server  # noqa: E402
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
DATA = os.path.normpath(os.path.join(SRC, "..", "shared", "conformance", "wordpress"))
THEME = os.path.join(DATA, "themeunittestdata.wordpress.xml")
BLOCKS = os.path.join(DATA, "64-block-test-data.xml")
if not (os.path.exists(THEME) and os.path.exists(BLOCKS)):
    print(f"wxr: no WordPress test data in {DATA} (the shared/ folder beside the repository)", file=sys.stderr)
    sys.exit(77)

# --- what WordPress has, read from the XML here (namespace-agnostic: the two files differ)
def local(tag):
    return tag.rsplit("}", 1)[-1]


def kids(node, name):
    return [c for c in node if local(c.tag) == name]


def txt(node, name):
    for c in node:
        if local(c.tag) == name:
            return c.text or ""
    return None


def wordpress(path):
    ch = ET.parse(path).getroot().find("channel")
    items = kids(ch, "item")
    w = {"items": items, "channel": ch}
    w["posts"] = [i for i in items if txt(i, "post_type") == "post"]
    w["pages"] = [i for i in items if txt(i, "post_type") == "page"]
    w["attachments"] = [i for i in items if txt(i, "post_type") == "attachment"]
    w["categories"] = kids(ch, "category")
    w["tags"] = kids(ch, "tag")
    w["authors"] = kids(ch, "author")
    kinds = {}
    for i in w["posts"] + w["pages"]:
        for c in kids(i, "comment"):
            t = txt(c, "comment_type") or "comment"
            kinds[t] = kinds.get(t, 0) + 1
    w["comment_kinds"] = kinds
    return w


wp = wordpress(THEME)

work = harness.begin("wxr", QUIRE, SRC)
site = os.path.join(work, "site")
server = None


def quire(*args, check_rc=True):
    return harness.quire(*args, ok=check_rc)


def db():
    return harness.db(site)


def counts():
    with db() as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("entries", "comments", "terms", "media", "redirects", "revisions", "import_map")}


def report_counts(out):
    got = {}
    for m in re.finditer(r"^\s+(\w+)\s+(\d+)\s+\(created (\d+), updated (\d+), unchanged (\d+), not imported (\d+)\)", out, re.M):
        got[m.group(1)] = tuple(int(x) for x in m.group(2, 3, 4, 5, 6))
    return got


try:
    # (each site keeps the store `quire init` gave it: on PostgreSQL a database of its own)
    SETTINGS = '\nplugins = { "theme", "article", "comments", "feeds", "search", "listings" }\naccess_log = "off"\n'

    def init(where):
        quire("init", where)
        with open(os.path.join(where, "site.lua"), "a") as f:
            f.write(SETTINGS)

    init(site)

    # --- dry run: the report, nothing written
    before = counts()
    out = quire("import", "--site", site, "--from", "wordpress", THEME, "--dry-run").stdout
    check("dry run says so", out.startswith("dry run: nothing was written"), out[:200])
    check("dry run writes nothing", counts() == before, f"{before} -> {counts()}")
    rc = report_counts(out)
    expect = {"posts": len(wp["posts"]), "pages": len(wp["pages"]), "categories": len(wp["categories"]),
              "tags": len(wp["tags"]), "attachments": len(wp["attachments"]), "authors": len(wp["authors"]),
              "comments": wp["comment_kinds"].get("comment", 0), "pingbacks": wp["comment_kinds"].get("pingback", 0),
              "trackbacks": wp["comment_kinds"].get("trackback", 0)}
    for kind, n in expect.items():
        check(f"report counts {kind} as WordPress has them", rc.get(kind, (None,))[0] == n, f"{rc.get(kind)} vs {n}")
    check("the report names the password-protected post", re.search(r"password-protected: imported as a draft \(not public\)", out) is not None)
    check("the report lists pingbacks and trackbacks", out.count("pingback from ") == expect["pingbacks"] and out.count("trackback from ") == expect["trackbacks"])

    # --- the import
    out1 = quire("import", "--site", site, "--from", "wordpress", THEME).stdout
    c = db()
    n_article = c.execute("SELECT count(*) FROM entries WHERE type = 'article'").fetchone()[0]
    n_page = c.execute("SELECT count(*) FROM entries WHERE type = 'page'").fetchone()[0]
    check("every post is an article", n_article == len(wp["posts"]), f"{n_article} vs {len(wp['posts'])}")
    check("every page is a page", n_page == len(wp["pages"]), f"{n_page} vs {len(wp['pages'])}")
    check("every comment is a comment", c.execute("SELECT count(*) FROM comments").fetchone()[0] == expect["comments"])
    check("every attachment is a media record", c.execute("SELECT count(*) FROM media").fetchone()[0] == len(wp["attachments"]))
    n_sections = c.execute("SELECT count(*) FROM terms WHERE taxonomy = 'section'").fetchone()[0]
    check("every category is a section", n_sections == len(wp["categories"]), f"{n_sections} vs {len(wp['categories'])}")
    # Parents, by WordPress's own slugs (two categories may share a name under different parents).
    parent_of = dict(c.execute("SELECT m.ext_id, pm.ext_id FROM import_map m JOIN terms t ON t.id = m.local_id"
                               " LEFT JOIN import_map pm ON pm.kind = 'category' AND pm.local_id = t.parent_id WHERE m.kind = 'category'"))
    for k in wp["categories"]:
        nicename, parent = txt(k, "category_nicename"), txt(k, "category_parent") or None
        check(f"category {nicename} keeps its parent", nicename in parent_of and parent_of[nicename] == parent, f"{parent_of.get(nicename)} vs {parent}")
    tag_names = {r[0].lower() for r in c.execute("SELECT name FROM terms WHERE taxonomy = 'tag'")}
    missing = [txt(t, "tag_name") for t in wp["tags"] if txt(t, "tag_name").lower() not in tag_names]
    check("every tag is a tag (case-insensitively)", not missing, str(missing[:5]))

    def entry(title_part):
        r = c.execute("SELECT id, slug, status, fields, created_at, updated_at, published_at, title FROM entries WHERE title LIKE ?", (f"%{title_part}%",)).fetchone()
        return dict(zip(("id", "slug", "status", "fields", "created_at", "updated_at", "published_at", "title"), r)) if r else None

    def item(title_part):
        return next(i for i in wp["items"] if title_part in (txt(i, "title") or ""))

    many = item("Many Categories")
    cats = {x.text for x in kids(many, "category") if x.get("domain") == "category"}
    e = entry("Many Categories")
    got = {r[0] for r in c.execute("SELECT t.name FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id = ?", (e["id"],))}
    got_lower = {g.lower() for g in got}
    check(f"a post in {len(cats)} categories keeps them all", all(x.lower() in got_lower for x in cats), str(sorted(x for x in cats if x.lower() not in got_lower)[:5]))

    sticky = entry("Template: Sticky")
    check("sticky is a field", json.loads(sticky["fields"]).get("sticky") is True)
    fmt = entry("Post Format: Gallery")
    check("the post format is a field", json.loads(fmt["fields"]).get("format") == "gallery")
    media = {txt(i, "post_id"): txt(i, "attachment_url") for i in wp["attachments"]}
    for i in wp["posts"]:
        thumb = [txt(m, "meta_value") for m in kids(i, "postmeta") if txt(m, "meta_key") == "_thumbnail_id"]
        if thumb and thumb[0] in media:
            e = c.execute("SELECT fields FROM entries e JOIN import_map m ON m.local_id = e.id AND m.kind = 'post' WHERE m.ext_id = ?", (txt(i, "post_id"),)).fetchone()
            check(f"post {txt(i, 'post_id')}'s featured image is its hero image", e and json.loads(e[0]).get("hero_image") == media[thumb[0]])

    def gmt(s):
        return s.replace(" ", "T") + "Z"

    for i in wp["posts"]:
        if txt(i, "status") == "publish" and not txt(i, "post_password"):
            r = c.execute("SELECT e.created_at, e.updated_at, e.published_at FROM entries e JOIN import_map m ON m.local_id = e.id AND m.kind = 'post'"
                          " WHERE m.ext_id = ? AND m.guid = ?", (txt(i, "post_id"), txt(i, "guid"))).fetchone()
            modified = txt(i, "post_modified_gmt") or txt(i, "post_date_gmt")  # WordPress.com exports leave it out
            check(f"post {txt(i, 'post_id')} keeps its dates", r == (gmt(txt(i, "post_date_gmt")), gmt(modified), gmt(txt(i, "post_date_gmt"))),
                  f"{r} vs {txt(i, 'post_date_gmt')} {txt(i, 'post_modified_gmt')}")
    protected = [i for i in wp["items"] if txt(i, "post_password")]
    check("the export has a password-protected post", len(protected) >= 1)
    for i in protected + [i for i in wp["items"] if txt(i, "status") == "private"]:
        e = entry(txt(i, "title"))
        check(f"{txt(i, 'title')!r} is not public", e and e["status"] != "published", str(e and e["status"]))
    titled = entry("Title With Markup")
    check("a title with markup is text", titled and "<" not in titled["title"] and titled["title"] == "Markup: Title With Markup", str(titled and titled["title"]))
    c.close()

    # --- the second import updates nothing and adds nothing
    before = counts()
    out2 = quire("import", "--site", site, "--from", "wordpress", THEME).stdout
    rc2 = report_counts(out2)
    check("a second import adds nothing", counts() == before, f"{before} -> {counts()}")
    check("a second import creates and updates no entry", all(rc2[k][1] == 0 and rc2[k][2] == 0 for k in ("posts", "pages", "comments")), str(rc2))

    # --- importing again after the newsroom changed things here: its edit and its trash stay
    # (in a site of its own: the checks below want WordPress's titles and dates)
    edited = os.path.join(work, "edited")
    init(edited)
    quire("import", "--site", edited, "--from", "wordpress", THEME)
    with harness.db(edited) as c:
        ids = dict(c.execute("SELECT title, id FROM entries WHERE title IN ('Post Format: Aside', 'Post Format: Chat')"))
    quire("entries", "update", "--site", edited, str(ids["Post Format: Aside"]), "--title", "Aside, edited here")
    quire("entries", "trash", "--site", edited, str(ids["Post Format: Chat"]))
    with harness.db(edited) as c:
        approved = c.execute("SELECT min(id) FROM comments WHERE status = 'approved'").fetchone()[0]
    quire("comments", "delete", "--site", edited, str(approved))
    # terms renamed here: a tag, the tag a category also is, a section
    quire("terms", "rename", "--site", edited, "tag", "8BIT", "Eight bit")
    quire("terms", "rename", "--site", edited, "tag", "Block", "Blocks")
    quire("terms", "rename", "--site", edited, "section", "Markup", "Markup tests")
    with harness.db(edited) as c:
        terms_before = sorted(c.execute("SELECT taxonomy, name FROM terms"))
    out3 = quire("import", "--site", edited, "--from", "wordpress", THEME).stdout
    with harness.db(edited) as c:
        terms_after = sorted(c.execute("SELECT taxonomy, name FROM terms"))
        blocks = c.execute("SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = 'tag' AND t.name = 'Blocks'").fetchone()[0]
    check("importing again keeps terms renamed here (no old name made again) and their entries",
          terms_after == terms_before and blocks > 0, (sorted(set(terms_after) ^ set(terms_before)), blocks))
    with harness.db(edited) as c:
        st = c.execute("SELECT status FROM comments WHERE id = ?", (approved,)).fetchone()[0]
    check("importing again keeps a comment deleted here out of view, and says so",
          st == "trash" and re.search(r"comment \d+: moderated here \(trash\): kept, not made approved as in WordPress", out3), (st, out3[-1500:]))
    with harness.db(edited) as c:
        after = dict(c.execute("SELECT id, title || ' ' || status FROM entries WHERE id IN (?, ?)", tuple(ids.values())))
    check("importing again keeps an entry edited here and one trashed here",
          after == {ids["Post Format: Aside"]: "Aside, edited here published", ids["Post Format: Chat"]: "Post Format: Chat trash"}, after)
    check("... and says so", len(re.findall(r"changed here \(.*?\) after its last change in WordPress \(.*?\): kept as it is", out3)) == 2, out3[-1500:])

    # --- served by the real server
    server = Server(site, workers=2)
    base = server.base

    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoFollow)

    def get(path):
        req = urllib.request.Request(base + path, headers={"Accept": "text/html"})
        try:
            with opener.open(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode("utf-8", "replace")

    def path_of(link):
        p = urllib.parse.urlsplit(link)
        return p.path + (("?" + p.query) if p.query else "")

    # Hierarchy: the nested pages at nested permalinks, old page URLs redirected there.
    st, _, body = get("/level-1/level-2/level-3")
    check("a page three levels down is at /level-1/level-2/level-3", st == 200 and "Level 3" in body, str(st))
    for i in wp["pages"]:
        link = path_of(txt(i, "link"))
        if txt(i, "status") == "publish" and re.fullmatch(r"[a-z0-9/-]+", link):
            st, h, _ = get(link)
            check(f"old page URL {link} redirects to its nested permalink", st == 301 and h.get("Location") == link.rstrip("/"), f"{st} {h.get('Location')}")
            st, _, _ = get(link.rstrip("/"))
            check(f"{link.rstrip('/')} answers", st == 200, str(st))

    # Old URLs of published posts: the permalink, ?p=ID, the day form; each 301 to a page that answers.
    with db() as c:
        for i in wp["posts"]:
            if txt(i, "status") != "publish" or txt(i, "post_password"):
                continue
            row = c.execute("SELECT e.type, e.slug, e.published_at FROM entries e JOIN import_map m ON m.local_id = e.id AND m.kind = 'post' WHERE m.guid = ? AND m.ext_id = ?",
                            (txt(i, "guid"), txt(i, "post_id"))).fetchone()
            new = "/%s/%s/%s" % (row[2][:4], row[2][5:7], row[1])
            for old in {path_of(txt(i, "link")), "/?p=" + txt(i, "post_id")}:
                st, h, _ = get(old)
                check(f"old URL {old} answers 301 to {new}", st == 301 and h.get("Location") == new, f"{st} {h.get('Location')}")
            st, h, body = get(new)
            check(f"{new} answers", st == 200, str(st))
            modified = gmt(txt(i, "post_modified_gmt") or txt(i, "post_date_gmt"))
            check(f"{new}: JSON-LD dates are WordPress's", f'"dateModified":"{modified}"' in body.replace(" ", "")
                  and f'"datePublished":"{gmt(txt(i, "post_date_gmt"))}"' in body.replace(" ", ""), re.findall(r'"date\w+":\s*"[^"]*"', body)[:2])
    st, h, _ = get("/feed/")
    check("/feed/ redirects to the feed", st == 301 and h.get("Location") == "/feed.xml", f"{st} {h.get('Location')}")
    st, h, _ = get("/category/parent/child-1/child-2/")
    check("a nested category URL redirects to its list", st == 301 and h.get("Location") == "/tag/child-2", f"{st} {h.get('Location')}")
    st2, _, _ = get("/tag/child-2")
    check("... which answers", st2 == 200, str(st2))
    st, h, _ = get("/?p=" + txt(wp["posts"][0], "post_id") + "&utm=1")
    check("/?p=ID with anything more is not redirected", st != 301, str(st))
    # Each worker has its own page cache: ask until one has answered twice.
    caches = [get(path_of(txt(item("Template: Sticky"), "link")))[1].get("X-Cache") for _ in range(12)]
    check("a redirect is kept by the page cache", "hit" in caches, str(caches))

    # The protected post: 404 at every URL, absent from feeds, sitemap, search and lists.
    for i in protected:
        for old in (path_of(txt(i, "link")), "/?p=" + txt(i, "post_id")):
            st, _, _ = get(old)
            check(f"the protected post's old URL {old} is not served", st in (403, 404), str(st))
        with db() as c:
            row = c.execute("SELECT e.slug, e.created_at FROM entries e JOIN import_map m ON m.local_id = e.id AND m.kind = 'post' WHERE m.guid = ? AND m.ext_id = ?",
                            (txt(i, "guid"), txt(i, "post_id"))).fetchone()
        st, _, _ = get("/%s/%s/%s" % (row[1][:4], row[1][5:7], row[0]))
        check("the protected post's would-be permalink is 404", st == 404, str(st))
        lists = ["/tag/" + re.sub(r"[^a-z0-9]+", "-", x.text.lower()).strip("-") for x in kids(i, "category") if x.get("domain") in ("category", "post_tag")]
        for page in ["/feed.xml", "/atom.xml", "/feed.json", "/sitemap.xml", "/", "/search?q=protected", "/search?q=password"] + lists:
            st, _, body = get(page)
            check(f"the protected post is not in {page}", row[0] not in body and "Password Protected" not in body, f"{st}")

    # Comments closed: no form; open: a form (the control).
    closed = get(get(path_of(txt(item("Template: Comments Disabled"), "link")))[1]["Location"])[2]
    opened = get(get(path_of(txt(item("Template: Comments"), "link")))[1]["Location"])[2]
    check("the closed-comments post shows no comment form", "Comments Disabled" in closed and "comment-form" not in closed)
    check("an open post shows the comment form", "comment-form" in opened)

    # Crawl every page the site links to (and the sitemap's): no literal shortcode, no block comment.
    seen, queue, pages = set(), ["/", "/sitemap.xml", "/feed.xml"], 0
    SHORTCODE = re.compile(r"\[/?(caption|wp_caption|gallery|audio|video|embed|playlist)\b")
    while queue and pages < 3000:
        p = queue.pop()
        if p in seen:
            continue
        seen.add(p)
        st, h, body = get(p)
        if st in (301, 302, 308):
            loc = h.get("Location", "")
            if loc.startswith("/"):
                queue.append(loc)
            continue
        pages += 1
        check(f"{p} answers", st == 200, str(st))
        m = SHORTCODE.search(body)
        check(f"no literal shortcode on {p}", m is None, m and body[max(0, m.start() - 60):m.end() + 60])
        if h.get("Content-Type", "").startswith("text/html"):
            check(f"no block comment on {p}", "<!-- wp:" not in body)
            # An embed's URL is HTML text in WordPress ("&amp;"): escaped once more it is another URL.
            check(f"no doubly escaped & on {p}", "&amp;amp;" not in body)
        for link in re.findall(r'(?:href|src)="(/[^"#]*)"', body) + re.findall(r"<loc>https?://[^/<]+(/[^<]*)</loc>", body):
            link = link.replace("&amp;", "&")
            if not link.startswith(("/static", "/share/", "/comment")) and link not in seen:
                queue.append(link)
    check(f"the crawl saw the imported site ({pages} pages)", pages > len(wp["posts"]) // 2)

    # A redirect added at a page the cache keeps takes effect at once (tag "redirects"), and
    # so does its removal.
    caches = [get("/level-1/level-2/level-3")[1].get("X-Cache") for _ in range(12)]
    check("the page is in the page cache", "hit" in caches, str(caches))
    quire("redirects", "add", "--site", site, "/level-1/level-2/level-3", "/level-1", "--status", "302")
    answers = harness.after_write(lambda: {(r[0], r[1].get("Location")) for r in (get("/level-1/level-2/level-3") for _ in range(12))},
                                  lambda a: a == {(302, "/level-1")})
    check("a new redirect replaces a cached page in every worker", answers == {(302, "/level-1")}, str(answers))
    listed = quire("redirects", "list", "--site", site, "--source", "manual", "--format", "json").stdout
    check("quire redirects list shows it", json.loads(listed)[0]["from_path"] == "/level-1/level-2/level-3", listed[:200])
    quire("redirects", "delete", "--site", site, "/level-1/level-2/level-3")
    answers = harness.after_write(lambda: {get("/level-1/level-2/level-3")[0] for _ in range(12)}, lambda a: a == {200})
    check("a deleted redirect stops at once in every worker", answers == {200}, str(answers))
    bad = quire("redirects", "add", "--site", site, "/x", "javascript:alert(1)", check_rc=False)
    check("quire redirects add refuses a target that is not a path or http(s) URL", bad.returncode == 1 and "not a path" in bad.stderr, bad.stderr)

    r = quire("redirects", "check", "--site", site, check_rc=False)
    problems = [l for l in r.stdout.splitlines()[1:] if l.strip() and " gone " not in l]
    check("quire redirects check finds no loop, chain or 404 (only non-public entries' old URLs)", not problems, "\n".join(problems[:5]))

    # --- the block editor's test content: structure kept
    out = quire("import", "--site", site, "--from", "wordpress", BLOCKS).stdout
    blocks = wordpress(BLOCKS)
    rc = report_counts(out)
    check("block data: every post counted", rc.get("posts", (0,))[0] == len(blocks["posts"]), str(rc.get("posts")))
    check("block data: a title with an entity (Media &amp; Text) is text, not reported as markup removed",
          '"Media & Text": markup in the title removed' not in out and entry("Media & Text") is not None)

    class Count(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.n = {}

        def handle_starttag(self, tag, attrs):
            tag = "h2" if tag == "h1" else tag
            self.n[tag] = self.n.get(tag, 0) + 1

    def structure(fragment):
        p = Count()
        p.feed(fragment)
        return {k: p.n.get(k, 0) for k in ("h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "tr", "blockquote", "pre")}

    with db() as c:
        for i in blocks["posts"]:
            if txt(i, "status") != "publish":
                continue
            row = c.execute("SELECT e.slug, e.published_at, e.body FROM entries e JOIN import_map m ON m.local_id = e.id AND m.kind = 'post' WHERE m.guid = ? AND m.ext_id = ?",
                            (txt(i, "guid"), txt(i, "post_id"))).fetchone()
            st, _, body = get("/%s/%s/%s" % (row[1][:4], row[1][5:7], row[0]))
            m = re.search(r'<div class="entry-body"[^>]*>(.*?)</div>', body, re.S)
            want, got = structure(txt(i, "encoded") or ""), structure(m.group(1) if m else "")
            check(f"block post {txt(i, 'title')!r} keeps its structure", st == 200 and want == got, f"{st} want {want} got {got}")
            check(f"block post {txt(i, 'title')!r}: rendering adds no empty paragraph (around a heading)",
                  m and m.group(1).count("<p></p>") == row[2].count("<p></p>"), m and (m.group(1).count("<p></p>"), row[2].count("<p></p>")))

    # --- round trip of the imported site: export -> import into a fresh site -> export gives the
    # same bytes, revisions and redirects included
    exp1, exp2, site2 = (os.path.join(work, n) for n in ("export1", "export2", "site2"))
    quire("export", "--site", site, exp1)
    init(site2)
    quire("import", "--site", site2, exp1)
    quire("export", "--site", site2, exp2)

    def tree(top):
        out = {}
        for d, _, files in os.walk(top):
            for name in files:
                with open(os.path.join(d, name), "rb") as f:
                    out[os.path.relpath(os.path.join(d, name), top)] = f.read()
        return out
    t1, t2 = tree(exp1), tree(exp2)
    check("export -> import -> export of the imported site is byte-identical", t1 == t2,
          sorted(k for k in set(t1) | set(t2) if t1.get(k) != t2.get(k))[:5])
    check("the export carries the revisions and the redirects",
          t1.get("tables/revisions.jsonl", b"").count(b"\n") >= len(wp["posts"])
          and t1.get("tables/redirects.jsonl", b"").count(b"\n") == counts()["redirects"] > 0)

    # --- --uploads DIR: the attachments from a local copy of the uploads folder into the media
    # library. The folder is made here: a generated image (each its own colour) at each image
    # attachment's YEAR/MONTH/NAME, as WordPress stores them; other files as they are named.
    if shutil.which("vips"):
        up, site3 = os.path.join(work, "uploads"), os.path.join(work, "site3")
        made = {}
        for n, i in enumerate(wp["attachments"]):
            url = txt(i, "attachment_url") or ""
            m = re.search(r"(\d{4}/\d{2}/[^/]+)$", url)
            if not m:
                continue
            dest = os.path.join(up, urllib.parse.unquote(m.group(1)))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if re.search(r"\.(jpe?g|png)$", dest, re.I):
                subprocess.run(["vips", "black", dest + ".v", "480", "320", "--bands", "3"], check=True)
                subprocess.run(["vips", "linear", dest + ".v", dest, "1 1 1", f"{n * 6 % 250} {100 + n} {250 - n * 6 % 250}", "--uchar"], check=True)
                os.remove(dest + ".v")
                made[txt(i, "post_id")] = dest
            else:
                open(dest, "wb").write(b"not an image")
        init(site3)
        out = quire("import", "--site", site3, "--from", "wordpress", THEME, "--uploads", up).stdout
        m = re.search(r"library files\s+(\d+)\s+\(created (\d+), updated \d+, unchanged \d+, not imported (\d+)\)", out)
        check("--uploads: every image found goes into the library", m and int(m.group(2)) == len(made), out[-2000:])
        check("--uploads: the other files are reported, not imported", m and int(m.group(3)) == len(wp["attachments"]) - len(made)
              and "not a JPEG, PNG or WebP image" in out, m and m.groups())
        c3 = harness.db(site3)
        check("--uploads: one media row per attachment, the images with files of their own",
              c3.execute("SELECT count(*), count(hash) FROM media").fetchone() == (len(wp["attachments"]), len(made)))
        # Featured images (_thumbnail_id) become hero_media, pointing at the library row of that file.
        featured = {}
        for i in wp["posts"]:
            for pm in kids(i, "postmeta"):
                if txt(pm, "meta_key") == "_thumbnail_id" and txt(pm, "meta_value") in made:
                    featured[txt(i, "post_id")] = txt(pm, "meta_value")
        hero = "(e.fields::jsonb ->> 'hero_media')::bigint" if harness.PG_URL else "json_extract(e.fields, '$.hero_media')"
        rows = c3.execute(f"SELECT m.ext_id, {hero}, e.status FROM entries e JOIN import_map m"
                          " ON m.local_id = e.id AND m.kind = 'post'").fetchall()
        heroes = {r[0]: r[1] for r in rows if r[1] is not None}
        check("--uploads: every featured image with a file is the entry's hero_media", set(heroes) == set(featured) and len(featured) > 0,
              (sorted(heroes), sorted(featured)))
        src_of = {r[0]: r[1] for r in c3.execute("SELECT id, source FROM media")}
        check("--uploads: the hero is the featured attachment's own row",
              all(src_of.get(heroes[p], "").endswith("#" + featured[p]) for p in heroes), {p: src_of.get(heroes[p]) for p in heroes})
        # [caption] and [gallery] of library images become galleries, rendered from the library.
        log3 = open(os.path.join(work, "serve3.log"), "w")
        server3 = subprocess.Popen([QUIRE, "serve", "--site", site3, "--listen", "127.0.0.1:0", "--workers", "1"], stdout=log3,
                                   stderr=subprocess.STDOUT, env=dict(os.environ, QUIRE_BUNDLED_PLUGINS=os.path.join(SRC, "plugins")))
        try:
            port3 = None
            for _ in range(600):  # 60 s at most: a sanitizer build on a loaded machine starts slowly
                text3 = open(os.path.join(work, "serve3.log")).read()
                m = re.search(r"http://127\.0\.0\.1:(\d+)", text3)
                if m and "serving with" in text3:
                    port3 = m.group(1)
                    break
                time.sleep(0.1)

            def get3(path):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port3}{path}", timeout=10) as r:
                        return r.status, r.read().decode("utf-8", "replace")
                except urllib.error.HTTPError as err:
                    return err.code, ""

            def page_of(slug):
                row = c3.execute("SELECT published_at FROM entries WHERE slug = ? AND status = 'published'", (slug,)).fetchone()
                return get3("/%s/%s/%s" % (row[0][:4], row[0][5:7], slug))[1] if row else ""

            body = page_of("post-format-gallery")
            gal = re.search(r'<div class="gallery" data-count="(\d+)">(.*?)</div>', body, re.S)
            children = [i for i in wp["attachments"] if txt(i, "post_parent") == next(
                txt(p, "post_id") for p in wp["posts"] if txt(p, "post_name") == "post-format-gallery")]
            want = len([i for i in children if txt(i, "post_id") in made])
            check("[gallery]: a gallery of the post's attached images from the library", gal and int(gal.group(1)) == want > 0,
                  (gal and gal.group(1), want))
            check("[gallery]: responsive, lazy, no image from the old site",
                  gal and gal.group(2).count('srcset="/media/') >= 2 * want and 'loading="lazy"' in gal.group(2)
                  and "wpthemetestdata" not in gal.group(2), body[:300])
            body = page_of("post-format-image-caption")
            check("[caption] with a library image: a figure with its caption, from the library",
                  # (an AVIF source comes first once the server's background work has made that image's copies)
                  re.search(r'<figure class="gallery-item"><picture>(<source type="image/avif" srcset="/media/[^"]+" sizes="[^"]+">)?'
                            r'<source type="image/webp" srcset="/media/.*?<figcaption>', body, re.S), body[-3000:])
            hero_post = next(p for p in wp["posts"] if txt(p, "post_id") in featured)
            body = page_of(txt(hero_post, "post_name"))
            check("a featured image is the page's <picture> hero", re.search(r'<figure class="hero">\s*<picture>', body), body[:2000])
            st = get3("/?attachment_id=" + next(iter(made)))[0]
            check("an attachment's old address leads to the library's file", st == 200, st)
        finally:
            server3.terminate()
            server3.wait(10)
        # Again: the same library rows, nothing new.
        before3 = c3.execute("SELECT count(*) FROM media").fetchone()[0]
        out = quire("import", "--site", site3, "--from", "wordpress", THEME, "--uploads", up).stdout
        m = re.search(r"library files\s+(\d+)\s+\(created (\d+), updated \d+, unchanged (\d+)", out)
        check("--uploads again: unchanged, no new rows", m and m.group(2) == "0" and int(m.group(3)) == len(made)
              and c3.execute("SELECT count(*) FROM media").fetchone()[0] == before3, m and m.groups())
        r = quire("import", "--site", site3, "--from", "wordpress", THEME, "--uploads", os.path.join(work, "nowhere"), check_rc=False)
        check("--uploads of a missing folder: a clear error", r.returncode == 2 and "no such folder" in r.stderr, r.stderr)
finally:
    if server:
        server.stop()  # before the summary; the work folder goes at exit

finish()
