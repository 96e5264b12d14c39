#!/usr/bin/env python3
"""The Content and Admin APIs over HTTP against a real `quire serve` of the demo site: every
endpoint and its errors, keys and tokens, pagination while entries are added, cache
invalidation after writes, roles, idempotency, hostile bodies, and every answer checked against
the OpenAPI document the server publishes (documented fields present, nothing undocumented).

usage: api_test.py QUIRE_BINARY SOURCE_DIR
"""
import http.client as httpclient
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, fail, finish, quire, Server  # noqa: E402
import harness  # noqa: E402

work = harness.begin("api", sys.argv[1], sys.argv[2])
site = os.path.join(work, "site")


def run(*args, stdin=None):
    # (--site before the script of `run`: what follows a script is its own arguments)
    argv = ["run", "--site", site, *args[1:]] if args[0] == "run" else [*args, "--site", site]
    return quire(*argv, stdin=stdin).stdout


quire("init", site, "--demo")
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write('\napi = { admin_rate = 100000 }\nplugins[#plugins + 1] = "desk"\n')
os.makedirs(os.path.join(site, "plugins", "desk"))
with open(os.path.join(site, "plugins", "desk", "plugin.lua"), "w") as f:
    f.write("""return quire.plugin {
  name = "desk", version = "1.0",
  setup = function(site)
    site:api_route { path = "/desk/latest/{n:int}", summary = "The n newest stories (a plugin's endpoint)",
      query = { { name = "limit", description = "at most" } },
      response = { type = "object", properties = { entries = { type = "array", items = { ["$ref"] = "#/components/schemas/EntryListItem" } } } },
      handler = function(ctx)
        if ctx.params.n > 10 then ctx.fail(400, "n is at most 10") end
        local out = {}
        for _, e in ipairs(quire.content.query { status = "published", limit = math.min(ctx.params.n, ctx.limit(10)) }) do
          out[#out + 1] = ctx.entry(e)
        end
        return { entries = out }
      end }
  end,
}
""")
run("user", "add", "wren", "--email", "wren.secret@staff.example", "--role", "author")
content_key = re.search(r": ([0-9a-f]{32})$", run("api-key", "add", "app", "--content", "--cors", "https://app.example").strip()).group(1)
other_key = re.search(r": ([0-9a-f]{32})$", run("api-key", "add", "gone", "--content").strip()).group(1)
two_key = re.search(r": ([0-9a-f]{32})$", run("api-key", "add", "two", "--content", "--cors", "https://a.example https://b.example").strip()).group(1)
editor_key = re.search(r": (\d+:[0-9a-f]{64})$", run("api-key", "add", "desk", "--role", "editor").strip()).group(1)
contrib_key = re.search(r": (\d+:[0-9a-f]{64})$", run("api-key", "add", "freelance", "--role", "contributor").strip()).group(1)
db = harness.db(site)
check("keys are not stored", not any(k in str(db.execute("SELECT * FROM api_keys").fetchall())
                                     for k in (content_key, editor_key.split(":")[1], contrib_key.split(":")[1])))

server = Server(site, workers=2)
port, BASE = server.port, server.base

bodies = []   # every answer's text, for the email check
answers = []  # (template, method, status, json, partial) for the OpenAPI check
covered = set()


def http(method, url, body=None, headers=None, template=None, partial=False):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    h = dict(headers or {})
    if data is not None and "Content-Type" not in h:
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(BASE + url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    text = raw.decode("utf-8", "replace")
    bodies.append((url, text))
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if template:
        covered.add((method, template))
        answers.append((template, method, status, doc, partial))
    # repeated fields (Vary) as one list, as HTTP reads them
    return status, {k.lower(): ", ".join(hdrs.get_all(k)) for k in set(hdrs.keys())}, doc


def content(path, template, params=None, key=True, headers=None, partial=False):
    p = dict(params or {})
    if key:
        p["key"] = content_key
    q = urllib.parse.urlencode(p)
    return http("GET", "/api/content/v1" + path + ("?" + q if q else ""), headers=headers,
                template="/api/content/v1" + template, partial=partial)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(key, aud="/api/admin/v1/", iat=None, exp=None, kid=None, alg="HS256"):
    kid_, secret = key.split(":")
    now = int(time.time())
    iat = now if iat is None else iat
    exp = iat + 300 if exp is None else exp
    h = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid if kid is not None else kid_}).encode())
    p = b64(json.dumps({"iat": iat, "exp": exp, "aud": aud}).encode())
    sig = b64(hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{sig}"


def admin(method, path, template, body=None, key=None, headers=None, tok=None):
    h = {"Authorization": "Bearer " + (tok or token(key or editor_key))}
    h.update(headers or {})
    return http(method, "/api/admin/v1" + path, body=body, headers=h, template="/api/admin/v1" + template)


after_write = harness.after_write  # (tests/harness.py)


def published_ids(where="", args=()):
    return [r[0] for r in db.execute("SELECT id FROM entries WHERE status = 'published' " + where
                                     + " ORDER BY published_at DESC, id DESC", args)]


def walk(params, limit):
    ids, pages, url = [], 0, None
    p = dict(params, limit=limit)
    while True:
        if url:
            st, _, doc = http("GET", url, template="/api/content/v1/entries")
        else:
            st, _, doc = content("/entries", "/entries", p)
        if st != 200:
            return None, pages
        ids += [e["id"] for e in doc["entries"]]
        pages += 1
        url = doc["meta"]["next"]
        if not url or pages > 200:
            return ids, pages


# --- the OpenAPI document
st, hd, spec = http("GET", "/api/openapi.json")
check("openapi served", st == 200 and spec and spec.get("openapi", "").startswith("3.1"), st)
try:  # a validator of the OpenAPI 3.1 schema itself, where installed (pip: openapi-spec-validator)
    from openapi_spec_validator import validate as validate_spec
except ImportError:
    validate_spec = None
    print("api: openapi-spec-validator not installed: the document's own schema is not checked", file=sys.stderr)
if validate_spec:
    try:
        validate_spec(spec)
        check("the document is valid OpenAPI 3.1", True)
    except Exception as e:  # noqa: BLE001 (any validation error fails the check)
        check("the document is valid OpenAPI 3.1", False, str(e)[:500])
check("plugin content types in the document", "Fields_article" in spec["components"]["schemas"]
      and "Fields_opinion" in spec["components"]["schemas"])

# --- keys
st, _, doc = content("/entries", "/entries", key=False)
check("no key: 401", st == 401 and doc["error"]["code"] == "key_required", st)
st, _, doc = http("GET", "/api/content/v1/entries?key=" + "0" * 32, template="/api/content/v1/entries")
check("unknown key: 401", st == 401, st)
st, hd, doc = content("/entries", "/entries")
check("key: 200 JSON", st == 200 and hd["content-type"].startswith("application/json"), st)
check("CORS of the key", hd.get("access-control-allow-origin") == "https://app.example", hd)
check("Cache-Control", "max-age=" in hd.get("cache-control", ""), hd)

seen = []
for origin in ["https://a.example", "https://b.example", "https://evil.example", "https://a.example"]:
    st, hd, _ = http("GET", f"/api/content/v1/tags?key={two_key}", headers={"Origin": origin}, template="/api/content/v1/tags")
    seen.append((hd.get("access-control-allow-origin"), hd.get("x-cache"), "Origin" in hd.get("vary", "")))
check("CORS with several origins: per request, not kept", seen == [("https://a.example", None, True), ("https://b.example", None, True),
      (None, None, True), ("https://a.example", None, True)], seen)

# --- lists: every published entry once, newest first, drafts never
draft_word = "zephyrquillon"
st, _, doc = admin("POST", "/entries", "/entries", {"type": "article", "title": f"Secret {draft_word} draft",
                                                    "body": f"Embargoed {draft_word} text.", "tags": ["Council"], "section": "News"})
check("editor creates a draft", st == 201 and doc["entries"][0]["status"] == "draft", (st, doc))
draft_id = doc["entries"][0]["id"]
ids, pages = walk({}, 7)
check("list walks every published entry in order", ids == published_ids(), (ids, published_ids()))
check("list has several pages", pages > 3, pages)
check("draft not listed", draft_id not in ids)
for params, where, args in [({"type": "opinion"}, "AND type = ?", ("opinion",)),
                            ({"section": "news"}, "AND id IN (SELECT entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = 'section' AND t.slug = ?)", ("news",)),
                            ({"tag": "tidal-barrage"}, "AND id IN (SELECT entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = 'tag' AND t.slug = ?)", ("tidal-barrage",)),
                            ({"author": "olu"}, "AND author_id = (SELECT id FROM users WHERE login = ?)", ("olu",))]:
    got, _ = walk(params, 4)
    want = published_ids(where, args)
    check(f"filter {params}", got == want and len(want) > 0, (got, want))
dates = [r[0] for r in db.execute("SELECT published_at FROM entries WHERE status = 'published' ORDER BY published_at")]
mid = dates[len(dates) // 2]
got, _ = walk({"published_after": mid}, 10)
check("published_after", got == published_ids("AND published_at >= ?", (mid,)))
got, _ = walk({"published_before": mid}, 10)
check("published_before", got == published_ids("AND published_at < ?", (mid,)))

# refused filters and parameters: 400 with the allowed list
for params, code in [({"status": "draft"}, "unknown_parameter"), ({"filter": "status:draft"}, "unknown_parameter"),
                     ({"author_email": "x"}, "unknown_parameter"), ({"limit": "0"}, "invalid_parameter"),
                     ({"limit": "101"}, "invalid_parameter"), ({"limit": "x"}, "invalid_parameter"),
                     ({"cursor": "bm9wZQ"}, "invalid_cursor"), ({"fields": "title,email"}, "invalid_parameter"),
                     ({"include": "secrets"}, "invalid_parameter"), ({"type": "nope"}, "invalid_parameter"),
                     ({"published_after": "yesterday"}, "invalid_parameter")]:
    st, _, doc = content("/entries", "/entries", params)
    check(f"refused {params}", st == 400 and doc["error"]["code"] == code, (st, doc))
st, _, doc = content("/entries", "/entries", {"status": "draft"})
check("allowed filters listed", "allowed" in doc["error"] and "tag" in doc["error"]["allowed"]
      and "status" not in doc["error"]["allowed"], doc)
st, _, doc = http("GET", f"/api/content/v1/entries?key={content_key}&tag=a&tag=b", template="/api/content/v1/entries")
check("repeated parameter refused", st == 400, st)

# fields= and include=
st, _, doc = content("/entries", "/entries", {"fields": "title", "limit": "2"}, partial=True)
check("fields=title", st == 200 and all(set(e) == {"id", "title"} for e in doc["entries"]), doc)
st, _, doc = content("/entries", "/entries", {"include": "author,terms", "limit": "3"})
check("include=author,terms", st == 200 and all("author" in e and "terms" in e for e in doc["entries"]), doc)

# pagination while entries are published: the next page is the same page
st, _, first = content("/entries", "/entries", {"limit": "5"})
st, _, second = http("GET", first["meta"]["next"], template="/api/content/v1/entries")
new_ids = []
for i in range(3):
    st, _, doc = admin("POST", "/entries", "/entries", {"type": "opinion", "title": f"Late column {i}", "body": "Text.",
                                                        "status": "published", "tags": ["Fishing"]})
    check("editor publishes on create", st == 201, (st, doc))
    new_ids.append(doc["entries"][0]["id"])
st, _, second_again = http("GET", first["meta"]["next"], template="/api/content/v1/entries")
check("page 2 stable while entries are added", [e["id"] for e in second["entries"]] == [e["id"] for e in second_again["entries"]])
# (on PostgreSQL a worker that served none of the writes hears of them by NOTIFY)
st, hd, top = after_write(lambda: content("/entries", "/entries", {"limit": "5"}),
                          lambda r: [e["id"] for e in r[2].get("entries", [])][:3] == new_ids[::-1])
check("list cache dropped by the write: new entries on top", [e["id"] for e in top["entries"]][:3] == new_ids[::-1], top)

# --- single entries: the site's body, by id and by type+slug
article = db.execute("SELECT id, slug, body FROM entries WHERE type = 'article' AND status = 'published'"
                     " AND fields LIKE '%\"dateline\":\"%' ORDER BY id LIMIT 1").fetchone()  # (SQL both stores read)
st, hd, doc = content(f"/entries/{article[0]}", "/entries/{id}")
if st != 200:
    fail(f"entry {article[0]}: {st}", f"{doc} {server.log()[-3000:]}")
e = doc["entries"][0]
check("entry by id", st == 200 and e["id"] == article[0])
check("body_markdown is the source", e["body_markdown"] == article[2])
page = urllib.request.urlopen(BASE + urllib.parse.urlparse(e["url"]).path).read().decode()
check("body_html is the page's body, dateline included", e["body_html"] in page and 'class="dateline"' in e["body_html"])
check("RFC 3339 dates", re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$", e["published_at"]), e["published_at"])
st, _, doc2 = content(f"/entries/article/{article[1]}", "/entries/{type}/{slug}")
check("entry by type and slug", st == 200 and doc2["entries"][0]["id"] == article[0])
st, hd, _ = content(f"/entries/{article[0]}", "/entries/{id}", headers={"If-None-Match": hd["etag"]})
check("ETag: 304", st == 304, st)
st, _, doc = content(f"/entries/{draft_id}", "/entries/{id}")
check("draft by id: 404", st == 404 and doc["error"]["code"] == "not_found", st)
slug = db.execute("SELECT slug FROM entries WHERE id = ?", (draft_id,)).fetchone()[0]
st, _, _ = content(f"/entries/article/{slug}", "/entries/{type}/{slug}")
check("draft by slug: 404", st == 404, st)
st, _, _ = content("/entries/999999", "/entries/{id}")
check("missing entry: 404", st == 404, st)

# invalidation: an update shows at once in the entry and the lists
for _ in range(6):  # each worker keeps its own cache
    st, hd, _ = content(f"/entries/{article[0]}", "/entries/{id}")
check("read again: a cache hit", hd.get("x-cache") == "hit", hd)
rev = db.execute("SELECT max(id) FROM revisions WHERE entry_id = ?", (article[0],)).fetchone()[0]
st, _, doc = admin("PATCH", f"/entries/{article[0]}", "/entries/{id}", {"title": "Retitled by the desk", "base_revision": rev})
check("update with the current revision", st == 200 and doc["entries"][0]["title"] == "Retitled by the desk", (st, doc))
# (on PostgreSQL the other worker hears of the write by NOTIFY: until then it may answer from its
# cache, and after it a fresh answer may already be cached again; on SQLite the first answer is
# rendered anew)
st, hd, doc = after_write(lambda: content(f"/entries/{article[0]}", "/entries/{id}"),
                          lambda r: r[2]["entries"][0]["title"] == "Retitled by the desk")
check("entry answer invalidated by the write", doc["entries"][0]["title"] == "Retitled by the desk"
      and (harness.PG_URL or hd.get("x-cache") != "hit"), (hd, doc["entries"][0]["title"]))
st, _, doc = admin("PATCH", f"/entries/{article[0]}", "/entries/{id}", {"title": "Stale write", "base_revision": rev})
check("stale base_revision: 409 with the current one", st == 409 and doc["error"]["current_revision"] > rev, (st, doc))
check("stale write changed nothing", db.execute("SELECT title FROM entries WHERE id = ?", (article[0],)).fetchone()[0] == "Retitled by the desk")

# --- comments, search, related, terms, authors, types
cid = db.execute("SELECT entry_id FROM comments WHERE status = 'held' LIMIT 1").fetchone()[0]
st, _, doc = content(f"/entries/{cid}/comments", "/entries/{id}/comments")
approved = [r[0] for r in db.execute("SELECT id FROM comments WHERE entry_id = ? AND status = 'approved' ORDER BY id", (cid,))]
check("approved comments only", st == 200 and [c["id"] for c in doc["comments"]] == approved, (doc, approved))
st, _, doc = content(f"/entries/{cid}/comments", "/entries/{id}/comments", {"limit": "1"})
check("comments paginate", st == 200 and len(doc["comments"]) == 1 and (len(approved) < 2 or doc["meta"]["next"]))
st, _, _ = content(f"/entries/{draft_id}/comments", "/entries/{id}/comments")
check("draft's comments: 404", st == 404)
st, _, doc = content("/search", "/search", {"q": "barrage"})
check("search with snippets", st == 200 and doc["meta"]["total"] > 0 and any("<mark>" in r["snippet"] for r in doc["results"]), doc)
pub = set(published_ids())
check("search: published only", all(r["id"] in pub for r in doc["results"]))
st, _, doc = content("/search", "/search", {"q": draft_word})
check("draft not found by search", st == 200 and doc["results"] == [], doc)
st, _, doc = content("/search", "/search", {"q": "barrage", "limit": "2"})
if doc["meta"]["next"]:
    st2, _, doc2 = http("GET", doc["meta"]["next"], template="/api/content/v1/search")
    check("search next page", st2 == 200 and not {r["id"] for r in doc2["results"]} & {r["id"] for r in doc["results"]})
st, _, doc = content("/search", "/search")
check("search without q: 400", st == 400 and doc["error"]["code"] == "missing_parameter")
st, _, doc = content("/search", "/search", {"q": "x" * 300})
check("search too long: 400", st == 400, st)
st, _, doc = content(f"/entries/{article[0]}/related", "/entries/{id}/related")
check("related", st == 200 and all(e["id"] in pub for e in doc["entries"]) and len(doc["entries"]) > 0, doc)
for tax in ("sections", "tags"):
    st, _, doc = content("/" + tax, "/" + tax)
    want = {r[0]: r[1] for r in db.execute("SELECT slug, listed FROM terms WHERE taxonomy = ? AND listed > 0", (tax[:-1],))}
    check(f"{tax} with counts", st == 200 and {t["slug"]: t["count"] for t in doc["terms"]} == want, (doc, want))
st, _, doc = content("/tags", "/tags", {"limit": "2"})
if doc["meta"]["next"]:
    st2, _, doc2 = http("GET", doc["meta"]["next"], template="/api/content/v1/tags")
    check("tags paginate", st2 == 200 and doc2["terms"][0]["slug"] > doc["terms"][-1]["slug"])
st, _, doc = content("/authors", "/authors")
want = sorted(r[0] for r in db.execute("SELECT DISTINCT u.login FROM users u JOIN entries e ON e.author_id = u.id WHERE e.status = 'published'"))
check("authors of published entries", st == 200 and [a["slug"] for a in doc["authors"]] == want, (doc, want))
st, _, doc = content("/authors/olu", "/authors/{slug}")
check("author by slug", st == 200 and doc["authors"][0]["slug"] == "olu")
st, _, doc = content("/authors/wren", "/authors/{slug}")
check("staff without published entries: 404", st == 404)
st, _, doc = content("/types", "/types")
check("types with plugin fields", st == 200 and {"article", "opinion"} <= {t["name"] for t in doc["types"]}
      and "dateline" in [t for t in doc["types"] if t["name"] == "article"][0]["fields"])

# --- a plugin's endpoint: same keys, parameters, document
st, _, doc = content("/desk/latest/3", "/desk/latest/{n}")
check("plugin endpoint", st == 200 and [e["id"] for e in doc["entries"]] == published_ids()[:3], (st, doc))
st, _, doc = content("/desk/latest/3", "/desk/latest/{n}", {"limit": "2"})
check("plugin endpoint's limit", st == 200 and len(doc["entries"]) == 2, (st, doc))
st, _, doc = content("/desk/latest/30", "/desk/latest/{n}")
check("plugin's own error", st == 400 and doc["error"]["message"] == "n is at most 10", (st, doc))
st, _, doc = content("/desk/latest/3", "/desk/latest/{n}", {"status": "draft"})
check("plugin endpoint refuses unknown parameters", st == 400 and doc["error"]["allowed"] == ["key", "limit"], (st, doc))
st, _, doc = content("/desk/latest/3", "/desk/latest/{n}", key=False)
check("plugin endpoint needs the key", st == 401)

# --- the Admin API: tokens
for what, tok, code in [("garbage", "nope", "invalid_token"),
                        ("bad signature", token(editor_key)[:-2] + "AA", "invalid_token"),
                        ("expired", token(editor_key, iat=int(time.time()) - 400, exp=int(time.time()) - 100), "token_expired"),
                        ("too long", token(editor_key, exp=int(time.time()) + 3600), "invalid_token"),
                        ("wrong audience", token(editor_key, aud="/other/"), "invalid_token"),
                        ("unknown kid", token(editor_key, kid="999"), "invalid_token"),
                        ("alg none", token(editor_key, alg="none"), "invalid_token")]:
    st, hd, doc = admin("GET", "/entries", "/entries", tok=tok)
    check(f"token {what}: 401", st == 401 and doc["error"]["code"] == code and "www-authenticate" in hd, (st, doc))
st, _, doc = http("GET", "/api/admin/v1/entries", template="/api/admin/v1/entries")
check("no token: 401", st == 401)
st, hd, doc = admin("GET", "/entries", "/entries", {"status": "draft"} and None)
check("admin list", st == 200 and "private" in hd.get("cache-control", ""), hd)
st, _, doc = http("GET", "/api/admin/v1/entries?status=draft", headers={"Authorization": "Bearer " + token(editor_key)},
                  template="/api/admin/v1/entries")
check("admin list of drafts", st == 200 and draft_id in [e["id"] for e in doc["entries"]])
st, _, doc = admin("GET", f"/entries/{draft_id}", "/entries/{id}")
check("admin reads a draft", st == 200 and doc["entries"][0]["status"] == "draft")

# --- hostile and invalid bodies: 400 with a reason, nothing written
count = lambda: db.execute("SELECT count(*) FROM entries").fetchone()[0]
before = count()
for what, raw, ctype, want in [
        ("not JSON", b'{"type": "article", "title": ', "application/json", 400),
        ("invalid UTF-8", b'{"type": "article", "title": "\xff\xfe"}', "application/json", 400),
        ("deep nesting", b'{"fields": ' + b'{"a": ' * 40 + b'1' + b'}' * 41, "application/json", 400),
        ("huge number", b'{"type": "article", "title": "x", "fields": {"n": 1e400}}', "application/json", 400),
        ("huge integer", b'{"type": "article", "title": "x", "author": 123456789012345678901234567890}', "application/json", 400),
        ("NaN", b'{"type": "article", "title": NaN}', "application/json", 400),
        ("array", b'[1, 2]', "application/json", 400),
        ("form", b'type=article&title=x', "application/x-www-form-urlencoded", 415)]:
    st, _, doc = admin("POST", "/entries", "/entries", raw, headers={"Content-Type": ctype})
    check(f"body {what}: {want}", st == want and doc and doc["error"]["message"], (st, doc))
st, _, doc = admin("POST", "/entries", "/entries", {"type": "article", "tags": "Council", "status": 7, "colour": "red", "fields": {"standfirst": 5}})
fields = sorted(e.get("field") for e in doc["error"].get("errors", []))
check("every field error at once", st == 400 and {"colour", "status", "tags", "title"} <= set(fields), (st, doc))
st, _, doc = admin("POST", "/entries", "/entries", {"type": "article", "title": "Bad fields", "fields": {"standfirst": ["a list"], "nope": 1}})
fields = sorted(e.get("field") for e in doc["error"].get("errors", []))
check("model's field errors with paths", st == 400 and "fields.nope" in fields and "fields.standfirst" in fields, (st, doc))
st, _, doc = http("POST", "/api/admin/v1/entries", b"{" + b'"title": "x", ' * 1 + b'"body": "' + b"a" * (1100 * 1024) + b'"}',
                  headers={"Authorization": "Bearer " + token(editor_key)})
check("body over the request limit: 413", st == 413, st)
check("nothing written by bad bodies", count() == before, (count(), before))

# --- idempotency
idem = {"Idempotency-Key": "create-report-7f3a"}
body = {"type": "opinion", "title": "Filed twice", "body": "Once."}
st1, _, d1 = admin("POST", "/entries", "/entries", body, headers=idem)
st2, hd2, d2 = admin("POST", "/entries", "/entries", body, headers=idem)
check("retried create answers the same", st1 == st2 == 201 and d1 == d2 and hd2.get("idempotent-replayed") == "true", (d1, d2))
check("retried create creates once", db.execute("SELECT count(*) FROM entries WHERE title = 'Filed twice'").fetchone()[0] == 1)
st, _, doc = admin("POST", "/entries", "/entries", dict(body, title="Other"), headers=idem)
check("key reused for another body: 422", st == 422, st)
# the same create sent six times at once (two workers): one entry, one answer
import concurrent.futures
race = {"type": "opinion", "title": "Raced create", "body": "Once only."}
with concurrent.futures.ThreadPoolExecutor(6) as pool:
    results = list(pool.map(lambda _: admin("POST", "/entries", "/entries", race, headers={"Idempotency-Key": "race-1"}), range(6)))
check("concurrent retries: all answered alike", all(r[0] == 201 and r[2] == results[0][2] for r in results), [r[0] for r in results])
check("concurrent retries: created once", db.execute("SELECT count(*) FROM entries WHERE title = 'Raced create'").fetchone()[0] == 1)

# --- roles: contributor vs editor
st, _, doc = admin("POST", "/entries", "/entries", {"type": "opinion", "title": "Freelance pitch", "body": "Draft."}, key=contrib_key)
check("contributor creates a draft", st == 201 and doc["entries"][0]["status"] == "draft", (st, doc))
mine = doc["entries"][0]["id"]
st, _, doc = admin("POST", "/entries", "/entries", {"type": "opinion", "title": "Straight to print", "status": "published"}, key=contrib_key)
check("contributor cannot publish on create: 403", st == 403, (st, doc))
st, _, doc = admin("DELETE", f"/entries/{mine}", "/entries/{id}", key=contrib_key)
check("contributor key refused where an editor key is needed: 403", st == 403 and doc["error"]["code"] == "forbidden", (st, doc))
st, _, doc = admin("PATCH", f"/entries/{article[0]}", "/entries/{id}", {"title": "Hijack"}, key=contrib_key)
check("contributor cannot edit others' entries: 403", st == 403, st)
st, _, doc = admin("GET", f"/entries/{article[0]}", "/entries/{id}", key=contrib_key)
check("contributor cannot read others' entries: 403", st == 403, (st, doc))
st, _, doc = admin("GET", "/entries", "/entries", key=contrib_key)
check("contributor lists only their own entries", st == 200 and [e["id"] for e in doc["entries"]] == [mine], (st, doc))
others = db.execute("SELECT id FROM entries WHERE status = 'draft' AND author_id <> (SELECT id FROM users WHERE login = 'api-freelance')").fetchone()[0]
st, _, doc = admin("POST", f"/entries/{others}/transition", "/entries/{id}/transition", {"transition": "submit"}, key=contrib_key)
check("contributor cannot move others' entries: 403", st == 403 and db.execute("SELECT status FROM entries WHERE id = ?", (others,)).fetchone()[0] == "draft", (st, doc))
st, _, doc = admin("PATCH", f"/entries/{mine}", "/entries/{id}", {"title": "Freelance pitch, revised"}, key=contrib_key)
check("contributor edits own draft", st == 200, (st, doc))
st, _, doc = admin("POST", f"/entries/{mine}/transition", "/entries/{id}/transition", {"transition": "publish"}, key=contrib_key)
check("workflow refuses a contributor's publish", st == 400 and "it takes an author" in doc["error"]["message"], (st, doc))
st, _, doc = admin("POST", f"/entries/{mine}/transition", "/entries/{id}/transition", {"transition": "submit"}, key=contrib_key)
check("contributor submits for review", st == 200 and doc["entries"][0]["status"] == "review", (st, doc))
st, _, doc = admin("POST", f"/entries/{mine}/transition", "/entries/{id}/transition", {"transition": "schedule", "published_at": "2099-01-01T00:00:00Z"})
check("editor schedules the contributor's entry", st == 200 and doc["entries"][0]["status"] == "scheduled", (st, doc))
st, _, doc = admin("PATCH", f"/entries/{mine}", "/entries/{id}", {"body": "Unreviewed words"}, key=contrib_key)
check("contributor cannot change a scheduled entry: 403", st == 403 and "Unreviewed" not in db.execute(
    "SELECT body FROM entries WHERE id = ?", (mine,)).fetchone()[0], (st, doc))
st, _, doc = admin("POST", f"/entries/{mine}/transition", "/entries/{id}/transition", {"transition": "unpublish"})
check("editor takes it back to a draft", st == 200 and doc["entries"][0]["status"] == "draft", (st, doc))
st, _, doc = admin("POST", f"/entries/{mine}/transition", "/entries/{id}/transition", {"transition": "submit"}, key=contrib_key)
st, _, doc = admin("GET", "/comments", "/comments", key=contrib_key)
check("contributor cannot moderate: 403", st == 403)
st, _, doc = admin("POST", f"/entries/{mine}/transition", "/entries/{id}/transition", {"transition": "publish"})
check("editor publishes through the workflow", st == 200 and doc["entries"][0]["status"] == "published", (st, doc))
st, _, doc = after_write(lambda: content(f"/entries/{mine}", "/entries/{id}"), lambda r: r[0] == 200)
check("published entry visible", st == 200)
st, _, doc = admin("POST", f"/entries/{mine}/restore", "/entries/{id}/restore", {"revision": db.execute(
    "SELECT min(id) FROM revisions WHERE entry_id = ?", (mine,)).fetchone()[0]})
check("restore a revision", st == 200 and doc["entries"][0]["title"] == "Freelance pitch" and doc["entries"][0]["status"] == "draft", (st, doc))
st = after_write(lambda: content(f"/entries/{mine}", "/entries/{id}")[0], lambda st: st == 404)
check("restored to a draft: gone from the Content API", st == 404, st)
audit = db.execute("SELECT actor FROM revisions WHERE entry_id = ? ORDER BY id", (mine,)).fetchall()
check("revisions name the keys' users", ("api-freelance",) in audit and ("api-desk",) in audit, audit)

# --- a staff session (the web admin): the cookie, and for changes the session's CSRF token
with open(os.path.join(work, "session.lua"), "w") as f:
    f.write('for _, login in ipairs({ "maren", "olu" }) do\n'
            '  local t = quire.users.open_session(quire.users.get(login).id)\n'
            '  print(t .. " " .. quire.users.session_csrf(t))\n'
            'end\n')
(ed_sess, ed_csrf), (au_sess, au_csrf) = [l.split() for l in run("run", os.path.join(work, "session.lua")).split("\n") if l]
st, hd, doc = http("GET", "/api/admin/v1/users", headers={"Cookie": "__Host-quire_session=" + ed_sess}, template="/api/admin/v1/users")
check("session reads the Admin API", st == 200 and "private" in hd.get("cache-control", ""), (st, hd))
before = count()
st, _, doc = http("POST", "/api/admin/v1/entries", {"type": "opinion", "title": "Forged"}, headers={"Cookie": "__Host-quire_session=" + ed_sess},
                  template="/api/admin/v1/entries")
check("session change without the CSRF token: 403", st == 403 and doc["error"]["code"] == "csrf" and count() == before, (st, doc))
st, _, doc = http("POST", "/api/admin/v1/entries", {"type": "opinion", "title": "Forged"},
                  headers={"Cookie": "__Host-quire_session=" + ed_sess, "X-CSRF-Token": au_csrf}, template="/api/admin/v1/entries")
check("another session's CSRF token: 403", st == 403 and count() == before, (st, doc))
st, _, doc = http("POST", "/api/admin/v1/entries", {"type": "opinion", "title": "From the web admin"},
                  headers={"Cookie": "__Host-quire_session=" + ed_sess, "X-CSRF-Token": ed_csrf}, template="/api/admin/v1/entries")
check("session change with its CSRF token", st == 201, (st, doc))
web_id = doc["entries"][0]["id"]
check("the session's user is the actor", db.execute("SELECT actor FROM revisions WHERE entry_id = ?", (web_id,)).fetchone()[0] == "maren")
st, _, doc = http("DELETE", f"/api/admin/v1/entries/{web_id}", headers={"Cookie": "__Host-quire_session=" + au_sess, "X-CSRF-Token": au_csrf},
                  template="/api/admin/v1/entries/{id}")
check("an author's session cannot delete: 403", st == 403 and doc["error"]["code"] == "forbidden", (st, doc))

# --- schedule: a transition with a date; not public until then
st, _, doc = admin("POST", "/entries", "/entries", {"type": "opinion", "title": "Tomorrow's column", "body": "Later."})
sched = doc["entries"][0]["id"]
st, _, doc = admin("POST", f"/entries/{sched}/transition", "/entries/{id}/transition",
                   {"transition": "schedule", "published_at": "2099-01-01T08:00:00Z"})
check("schedule", st == 200 and doc["entries"][0]["status"] == "scheduled" and doc["entries"][0]["published_at"] == "2099-01-01T08:00:00Z", (st, doc))
st, _, _ = content(f"/entries/{sched}", "/entries/{id}")
check("scheduled entry not public", st == 404)
st, _, doc = admin("POST", f"/entries/{sched}/transition", "/entries/{id}/transition", {"transition": "fly"})
check("unknown transition: 400", st == 400 and "fly" in doc["error"]["message"], (st, doc))

# --- trash
st, _, doc = admin("DELETE", f"/entries/{new_ids[0]}", "/entries/{id}")
check("delete moves to the trash", st == 200 and doc["status"] == "trash", (st, doc))
st = after_write(lambda: content(f"/entries/{new_ids[0]}", "/entries/{id}")[0], lambda s: s == 404)
check("trashed entry: 404", st == 404)
ids, _ = walk({}, 20)
check("trashed entry not listed", new_ids[0] not in ids and ids == published_ids())

# --- moderation
held = db.execute("SELECT id, entry_id FROM comments WHERE status = 'held' ORDER BY id LIMIT 1").fetchone()
st, _, doc = http("GET", "/api/admin/v1/comments?status=held", headers={"Authorization": "Bearer " + token(editor_key)},
                  template="/api/admin/v1/comments")
check("held comments listed", st == 200 and held[0] in [c["id"] for c in doc["comments"]])
st, _, doc = admin("PATCH", f"/comments/{held[0]}", "/comments/{id}", {"status": "approved"})
check("comment approved", st == 200 and doc["comments"][0]["status"] == "approved", (st, doc))
st, _, doc = after_write(lambda: content(f"/entries/{held[1]}/comments", "/entries/{id}/comments"),
                        lambda r: held[0] in [c["id"] for c in (r[2] or {}).get("comments", [])])
check("approved comment appears (cache invalidated)", held[0] in [c["id"] for c in doc["comments"]])
st, _, doc = admin("PATCH", f"/comments/{held[0]}", "/comments/{id}", {"status": "burn"})
check("bad moderation status: 400", st == 400)
st, _, doc = admin("GET", "/users", "/users")
check("users listed without emails", st == 200 and all("email" not in u for u in doc["users"]))

# --- the front pages: slots and the banner through the Admin API (editors), as quire front does
story = published_ids()[0]
st, _, doc = admin("POST", "/front/slots", "/front/slots", {"page": "home", "slot": 2, "entry": story})
mine = [s for s in doc.get("slots", []) if s["page"] == "home" and s["slot"] == 2 and s["state"] == "live"]
check("front slot set", st == 201 and mine and mine[0]["entry_id"] == story, (st, doc))
st, _, doc = admin("POST", "/front/slots", "/front/slots", {"page": "home", "slot": 2, "entry": story}, key=contrib_key)
check("a contributor may not set a front slot: 403", st == 403, (st, doc))
st, _, doc = admin("POST", "/front/slots", "/front/slots", {"page": "home", "slot": 99, "entry": story})
check("a slot out of range: 400 naming it", st == 400 and "slot" in json.dumps(doc), (st, doc))
st, _, doc = admin("GET", "/front", "/front")
check("front state listed", st == 200 and any(s["id"] == mine[0]["id"] for s in doc["slots"]), (st, doc))
st, _, doc = admin("DELETE", f"/front/slots/{mine[0]['id']}", "/front/slots/{id}")
check("front slot removed", st == 200 and not any(s["id"] == mine[0]["id"] for s in doc["slots"]), (st, doc))
st, _, doc = admin("POST", "/front/breaking", "/front/breaking", {"text": "Harbour closed", "ends_at": "+1h", "link": "/section/news"})
check("banner up", st == 201 and doc["banners"][0]["text"] == "Harbour closed", (st, doc))
st, _, doc = admin("DELETE", "/front/breaking", "/front/breaking")
check("banner down", st == 200 and doc["banners"] == [], (st, doc))
# --- the media library (uploads are tested in full by upload_test.py): a 2 x 2 PNG made here
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)) \
    + png_chunk(b"IDAT", zlib.compress(b"\0\xff\0\0\xff\0\0" * 2)) + png_chunk(b"IEND", b"")
upload = (b'--b0undary\r\nContent-Disposition: form-data; name="alt"\r\n\r\nA green dot\r\n'
          b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="dot.png"\r\n\r\n' + png + b"\r\n--b0undary--\r\n")
st, _, doc = admin("POST", "/media", "/media", upload, headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
check("media uploaded", st == 201 and doc["media"][0]["alt"] == "A green dot" and doc["media"][0]["width"] == 2, (st, doc))
dot = doc["media"][0]["id"] if st == 201 else 1
st, _, doc = admin("GET", "/media", "/media")
check("media listed", st == 200 and dot in [m["id"] for m in doc["media"]], (st, doc))
st, _, doc = admin("PATCH", f"/media/{dot}", "/media/{id}", {"alt": "A green dot on white", "focal": "0.5,0.5"})
check("media alt changed", st == 200 and doc["media"][0]["alt"] == "A green dot on white", (st, doc))
st, _, doc = admin("PATCH", f"/media/{dot}", "/media/{id}", {"focal": "9,9"})
check("a bad focal point: 400", st == 400 and "focal point" in doc["error"]["message"], (st, doc))
st, _, doc = admin("GET", f"/media/{dot}", "/media/{id}")
check("one media", st == 200 and doc["media"][0]["focal_x"] == 0.5, (st, doc))
st, _, doc = admin("GET", "/media/99999", "/media/{id}")
check("a missing media: 404", st == 404, (st, doc))

# --- redirects: added and removed through the Admin API, resolved by the Content API and the server
target = published_ids()[0]
st, _, doc = admin("POST", "/redirects", "/redirects", {"from": "/2013/01/old-story/", "entry": target})
check("redirect added to an entry", st == 201 and doc["redirects"][0]["from"] == "/2013/01/old-story"
      and doc["redirects"][0]["entry"] == target, (st, doc))
red_id = doc["redirects"][0]["id"]
st, _, doc = admin("POST", "/redirects", "/redirects", {"from": "/2013/01/old-story", "to": "/elsewhere"})
check("a path that already redirects: 409", st == 409 and "already redirects" in doc["error"]["message"], (st, doc))
st, _, doc = admin("POST", "/redirects", "/redirects", {"from": "/x", "to": "javascript:alert(1)"})
check("a script target refused: 400", st == 400, (st, doc))
for source in ("/admin/login", "/admin", "/api/admin/v1/users/"):
    st, _, doc = admin("POST", "/redirects", "/redirects", {"from": source, "to": "https://evil.example/login"})
    check(f"a redirect of {source} refused: 400", st == 400 and "cannot be redirected" in doc["error"]["message"], (st, doc))
# a row from before such redirects were refused (written past the checks) is not followed
db.execute("INSERT INTO redirects (from_path, to_path, status, source, created_at) VALUES ('/admin/login', 'https://evil.example/', 301, 'manual', '2026-01-01T00:00:00Z')")
db.commit()
with open(os.path.join(work, "bump.lua"), "w") as f:
    f.write('quire.cache.bump { "quire:all" }\n')
run("run", "--yes", os.path.join(work, "bump.lua"))


def login_page():
    c = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/admin/login")
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, r.getheader("location")


got = [login_page() for _ in range(4)]
check("an old row redirecting /admin/login is not followed", all(g == (200, None) for g in got), got)
db.execute("DELETE FROM redirects WHERE from_path = '/admin/login'")
db.commit()
st, _, doc = admin("POST", "/redirects", "/redirects", {"from": "/x", "to": "/y", "entry": target})
check("both to and entry refused: 400", st == 400, (st, doc))
for i in range(3):
    admin("POST", "/redirects", "/redirects", {"from": f"/old/page-{i}", "to": f"/new/page-{i}", "status": 308})
seen, url = [], "/redirects?limit=2"
while url:
    st, _, doc = admin("GET", url, "/redirects")
    seen += [r["from"] for r in doc["redirects"]]
    url = doc["meta"]["next_cursor"] and "/redirects?limit=2&cursor=" + doc["meta"]["next_cursor"]
check("redirects listed in keyset pages", seen == sorted(seen) and {"/2013/01/old-story", "/old/page-0", "/old/page-2"} <= set(seen), seen)
st, _, doc = content("/redirects", "/redirects", {"path": "/2013/01/old-story"})
entry_url = db.execute("SELECT slug FROM entries WHERE id = ?", (target,)).fetchone()[0]
check("Content API resolves an old path to the permalink", st == 200 and doc["redirects"][0]["status"] == 301
      and doc["redirects"][0]["to"].startswith(BASE + "/") and doc["redirects"][0]["to"].endswith("/" + entry_url), (st, doc))
conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
conn.request("GET", "/2013/01/old-story")
r = conn.getresponse()
check("the server answers the same", r.status == 301 and r.getheader("location", "").endswith("/" + entry_url), (r.status, r.getheaders()))
conn.close()
st, _, doc = admin("DELETE", f"/redirects/{red_id}", "/redirects/{id}")
check("redirect deleted", st == 200, (st, doc))
st, _, doc = after_write(lambda: content("/redirects", "/redirects", {"path": "/2013/01/old-story"}), lambda r: r[0] == 404)
check("deleted redirect: 404", st == 404, (st, doc))
st, _, doc = content("/redirects", "/redirects", {"path": "no-slash"})
check("a path without /: 400", st == 400, (st, doc))

# --- a revoked key stops at once, cached answers included
for _ in range(6):  # each worker keeps its own cache
    st, hd, _ = http("GET", f"/api/content/v1/tags?key={other_key}", template="/api/content/v1/tags")
# (on PostgreSQL the redirect deleted above may reach a worker's cache by NOTIFY only now; and
# which worker takes a connection is the kernel's choice: on a loaded machine one may have taken
# all six, the other's cache still empty; so a few more requests, until one comes from a cache)
for _ in range(20):
    st, hd, _ = after_write(lambda: http("GET", f"/api/content/v1/tags?key={other_key}", template="/api/content/v1/tags"),
                            lambda r: r[0] == 200 and r[1].get("x-cache") == "hit")
    if st == 200 and hd.get("x-cache") == "hit":
        break
check("other key cached", st == 200 and hd.get("x-cache") == "hit", hd)
run("api-key", "revoke", "gone")
# (at once on SQLite; on PostgreSQL once the revocation's NOTIFY reached the workers' caches)
st = after_write(lambda: http("GET", f"/api/content/v1/tags?key={other_key}", template="/api/content/v1/tags")[0],
                 lambda s: s == 401)
check("revoked key: 401", st == 401, st)
run("user", "disable", "api-freelance")
st, _, doc = admin("POST", "/entries", "/entries", {"type": "opinion", "title": "By a disabled key"}, key=contrib_key)
check("a key whose user is disabled: 401, nothing written", st == 401 and doc["error"]["code"] == "key_disabled"
      and db.execute("SELECT count(*) FROM entries WHERE title = 'By a disabled key'").fetchone()[0] == 0, (st, doc))
run("user", "enable", "api-freelance")
st, _, doc = admin("GET", "/entries", "/entries", key=contrib_key)
check("enabled again: the key works", st == 200, (st, doc))

# --- rate limit: lowered by a reload, counted for a fresh key
burst_key = re.search(r": (\d+:[0-9a-f]{64})$", run("api-key", "add", "burst", "--role", "editor").strip()).group(1)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write('\napi = { admin_rate = 3, content = "open", cors = "*" }\n')
server.reload()
codes = []
for _ in range(8):
    st, hd, doc = admin("GET", "/users", "/users", key=burst_key)
    codes.append(st)
    retry = hd.get("retry-after")
st, hd, doc = content("/entries", "/entries", key=False)
check("open Content API: no key needed, CORS *", st == 200 and hd.get("access-control-allow-origin") == "*", (st, hd))
with open(os.path.join(work, "bad.lua"), "w") as f:
    f.write('api = { content = "public" }\n')
shutil.copytree(site, os.path.join(work, "bad"), ignore=shutil.ignore_patterns("*.db*"))
shutil.copy(os.path.join(work, "bad.lua"), os.path.join(work, "bad", "site.lua"))
p = quire("config", "check", "--site", os.path.join(work, "bad"), ok=False)
check("a bad api setting is named", p.returncode != 0 and "api.content" in p.stderr, p.stderr)
check("rate limit: 429 with Retry-After", codes[:3] == [200] * 3 and codes[3:] == [429] * 5 and retry and 0 < int(retry) <= 60, codes)

# --- no email anywhere, ever
emails = {r[0] for r in db.execute("SELECT author_email FROM comments WHERE author_email IS NOT NULL")}
emails |= {r[0] for r in db.execute("SELECT email FROM users WHERE email IS NOT NULL")}
check("emails exist to leak", len(emails) > 1)
leaks = [e for e in emails for _, b in bodies if e in b]
check("no email in any response", not leaks and not any(re.search(r'"(author_)?email"\s*:', b) for _, b in bodies), leaks[:3])
check("draft text in no Content API answer", not any(draft_word in b for u, b in bodies if u.startswith("/api/content/")), [(u, b[:300]) for u, b in bodies if u.startswith("/api/content/") and draft_word in b][:2])

# --- every answer against the document: documented fields present, nothing else
schemas = spec["components"]["schemas"]


def resolve(s):
    while "$ref" in s:
        s = schemas[s["$ref"].split("/")[-1]]
    return s


def conforms(s, v, path, partial):
    s = resolve(s)
    if "anyOf" in s:
        errs = [conforms(x, v, path, partial) for x in s["anyOf"]]
        return [] if any(not e for e in errs) else errs[0]
    t = s.get("type")
    ts = t if isinstance(t, list) else [t] if t else []
    kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict,
             "null": type(None)}
    if ts and not any(isinstance(v, kinds[x]) and not (x in ("integer", "number") and isinstance(v, bool)) for x in ts):
        return [f"{path}: {type(v).__name__} is not {ts}"]
    out = []
    if isinstance(v, dict) and "properties" in s:
        if s.get("additionalProperties") is False:
            out += [f"{path}.{k}: undocumented" for k in v if k not in s["properties"]]
        if not partial:
            out += [f"{path}.{k}: missing" for k in s.get("required", []) if k not in v]
        for k, x in v.items():
            if k in s["properties"]:
                out += conforms(s["properties"][k], x, f"{path}.{k}", partial)
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v):
            out += conforms(s["items"], x, f"{path}[{i}]", partial)
    return out


checked = 0
for template, method, status, doc, partial in answers:
    op = spec["paths"].get(template, {}).get(method.lower())
    if op is None:
        check(f"{method} {template} documented", False)
        continue
    resp = op["responses"].get(str(status)) or op["responses"]["default"]
    if status == 304 or doc is None:
        continue
    errs = conforms(resp["content"]["application/json"]["schema"], doc, "$", partial)
    checked += 1
    check(f"{method} {template} {status} matches the document", not errs, errs[:5])
documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p != "/api/openapi.json"}
check("every documented endpoint exercised", documented <= covered, documented - covered)
check("answers checked against the document", checked > 100, checked)

# --- memoised bodies and plugin views (quire.memo): kept through writes that do not touch them,
# dropped by those that do. One worker without the page cache, so every answer is rendered
# again from what its memo kept; a probe plugin counts the builds (per worker) and shows what its
# reads found: the author's role, the hero picture's alt text, the section. The writes come from
# another process (`quire run`), as another node's would.
server.stop()
os.makedirs(os.path.join(site, "plugins", "probe"))
with open(os.path.join(site, "plugins", "probe", "plugin.lua"), "w") as f:
    f.write("""return quire.plugin {
  name = "probe", version = "1.0", requires = { "theme" },
  setup = function(site)
    local builds = {}
    local function count(k) builds[k] = (builds[k] or 0) + 1 return builds[k] end
    site:filter("view.body", function(body, e)
      local u = e.author_id and quire.users.get(e.author_id)
      local pic = e.fields and e.fields.hero_media and quire.media.picture(e.fields.hero_media)
      body.html = (body.html or "") .. ("<p>role=%s alt=%s section=%s built=%d</p>"):format(
        u and u.role or "-", pic and pic.alt or "-", e.section or "-", count("body" .. e.id))
      return body
    end)
    local function card(e) return e.title .. " #" .. count("card" .. e.id) end
    site:route("GET", "/probe/{id:int}", function(req)
      return site:memo("card", card, quire.content.get(math.tointeger(req.params.id)))
    end)
  end,
}
""")
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write('\nplugins[#plugins + 1] = "probe"\n')
with open(os.path.join(work, "probe_ids.lua"), "w") as f:
    f.write("""-- a published story with a section, an author and a hero picture, and another story
local a, b
for _, e in ipairs(quire.content.query { status = "published", limit = 100 }) do
  if not a and e.fields.hero_media and e.section and e.author_id then a = e elseif not b then b = e end
end
if b.id == a.id then b = nil end
print(a.id, b.id, math.tointeger(a.fields.hero_media), a.author_id)
""")
probe_ids = [int(x) for x in run("run", "--yes", os.path.join(work, "probe_ids.lua")).split()]
mem_a, mem_b, mem_media, mem_author = probe_ids
server = Server(site, workers=1, args=["--no-cache"])


def fetch(path):
    with urllib.request.urlopen(server.base + path, timeout=10) as r:
        return r.read().decode()


def api_body(entry_id, query=""):
    return json.loads(fetch(f"/api/content/v1/entries/{entry_id}{query}"))["entries"][0]["body_html"]


def write(lua):
    path = os.path.join(work, "probe_write.lua")
    with open(path, "w") as f:
        f.write(lua)
    run("run", "--yes", path)


def probe_line(body):
    m = re.search(r"role=(\S+) alt=(.*?) section=(.*?) built=(\d+)</p>", body)
    return m and (m.group(1), m.group(2), m.group(3), int(m.group(4)))


first = probe_line(api_body(mem_a))
card = fetch(f"/probe/{mem_a}")
check("API body built once, kept while nothing is written", first and first[3] == 1 and probe_line(api_body(mem_a)) == first, first)
check("plugin view built once", card.endswith(" #1") and fetch(f"/probe/{mem_a}") == card, card)


def listed_body(entry_id):
    doc = json.loads(fetch("/api/content/v1/entries?fields=id,body_html&limit=100"))
    return next((e["body_html"] for e in doc["entries"] if e["id"] == entry_id), "")


check("a list shows the same body", probe_line(listed_body(mem_a)) == first, probe_line(listed_body(mem_a)))
# Each write is another process's: on PostgreSQL the server hears of it by NOTIFY, so what the
# write changes is awaited first (after_write), and what it must keep is checked after that.
def body_line(query=""):
    return probe_line(api_body(mem_a, query))


write(f'quire.content.update({mem_b}, {{ title = "Retitled for the memo test", body = "Another body." }})')
check("M's own body is new", "Another body." in after_write(lambda: api_body(mem_b), lambda b: "Another body." in b),
      api_body(mem_b)[:200])
check("API body of N kept through a write to M", body_line() == first, body_line())
check("plugin view kept through a write to another entry", fetch(f"/probe/{mem_a}") == card, fetch(f"/probe/{mem_a}"))
check("a list shows M's new body and N's kept one",
      "Another body." in listed_body(mem_b) and probe_line(listed_body(mem_a)) == first, probe_line(listed_body(mem_a)))
write(f'quire.content.update({mem_a}, {{ title = "Memo test story", body = "Rewritten for the memo test." }})')
now = after_write(lambda: api_body(mem_a), lambda b: "Rewritten for the memo test." in b)
check("a write to N: its body is built again", "Rewritten for the memo test." in now and probe_line(now)[3] == 2, now[:300])
view = after_write(lambda: fetch(f"/probe/{mem_a}"), lambda v: v.startswith("Memo test story"))
check("a write to N: the plugin view too", view == "Memo test story #2", view)
write(f'quire.terms.rename("section", {json.dumps(first[2])}, "Memo desk")')
line = after_write(body_line, lambda p: p and p[2] == "Memo desk")
check("a term it shows renamed", line[2:] == ("Memo desk", 3), line)
write(f'quire.media.update({mem_media}, {{ alt = "Alt text from the memo test" }})')
line = after_write(body_line, lambda p: p and p[1] == "Alt text from the memo test")
check("a picture it shows changed", line[1:] == ("Alt text from the memo test", "Memo desk", 4), line)
write(f'quire.users.set_role({mem_author}, "{"author" if first[0] != "author" else "editor"}")')
line = after_write(body_line, lambda p: p and p[0] != first[0])
check("its author changed", line[0] != first[0] and line[3] == 5, line)
check("another shape of the same entry shows the same body", body_line("?fields=id,body_html")[3] == 5)
write('quire.cache.bump { "quire:all" }')
line = after_write(body_line, lambda p: p and p[3] != 5)
check("quire:all drops everything", line[3] == 6 and fetch(f"/probe/{mem_a}") == "Memo test story #3",
      (line, fetch(f"/probe/{mem_a}")))
server.stop()

finish()
