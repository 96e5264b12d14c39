#!/usr/bin/env bash
# Hostile input through a real `quire serve` and real clients (issue 14): comment posts whose
# fields hold long runs of whitespace cost time linear in their size; bytes that are not UTF-8,
# NUL and other characters XML cannot carry are refused naming the field; titles holding them
# (written before input was checked) leave RSS, Atom and the sitemap well-formed (python3's XML
# parser and feedparser); `quire config check` names missing partials and layouts; updates
# based on an old revision are refused.
# usage: hostile_test.sh QUIRE_BINARY SOURCE_DIR
set -u
QUIRE=$1
SRC=$2
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
. "$(dirname "$0")/harness.sh"
harness_begin hostile

# python3 with feedparser (Debian's, when a pyenv python3 comes first on PATH)
if python3 -c 'import feedparser' 2>/dev/null; then PY=python3
elif /usr/bin/python3 -c 'import feedparser' 2>/dev/null; then PY=/usr/bin/python3
else echo "hostile: python3-feedparser is missing (apt-get install python3-feedparser)" >&2; exit 1; fi

site=$work/site
"$QUIRE" init --demo "$site" >/dev/null || { echo "quire init --demo failed" >&2; exit 1; }
cat >> "$site/site.lua" <<'LUA'
comments = { rate_limit = 1000, min_seconds = 1 }
access_log = "off"
LUA
serve_site "$site" "$work/serve.log" --workers 2 || exit 1

# --- comment posts: linear time, field-named refusals (python3 sockets via urllib)
"$PY" - "$base" > "$work/comments.out" 2>&1 <<'PY'
import re, sys, time, urllib.error, urllib.parse, urllib.request
base = sys.argv[1]
home = urllib.request.urlopen(base + "/").read().decode()
link = re.search(r'href="(/\d{4}/\d\d/[^"#]+)"', home).group(1)
page = urllib.request.urlopen(base + link).read().decode()
eid = re.search(r'name="entry_id" value="(\d+)"', page).group(1)
token = re.search(r'name="token" value="([^"]+)"', page).group(1)
time.sleep(1.2)  # the form's minimum time to submit

def post(fields=None, raw=None):
    body = raw if raw is not None else urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(base + "/comments", data=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    t = time.monotonic()
    try:
        r = urllib.request.urlopen(req, timeout=30)
        code, text = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read().decode("utf-8", "replace")
    except OSError as e:  # a timeout: far from linear
        code, text = 0, str(e)
    return time.monotonic() - t, code, text

def errors(text):
    return dict(re.findall(r'id="comment-(\w+)-error">([^<]*)<', text))

fails = 0
def expect(what, cond):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += 0 if cond else 1

# x, N spaces (tabs, CR LF) and x: the old trim was quadratic in N (N = 40,000: 10 s). Spaces
# go into every field; tabs and CR LF (three bytes each once encoded) into the name, so that the
# body stays under the 1 MiB limit.
def hostile(chars, ws):
    run = "x" + ws * (chars // len(ws)) + "x"
    f = {"entry_id": eid, "token": token, "name": run, "email": "a@b.example", "comment": "Fine words."}
    if ws == " ":
        f.update(email=run, url=run, comment=run)
    return f
for ws in (" ", "\t", "\r\n"):
    small = min(post(hostile(1000, ws))[0] for _ in range(3))
    big_t, code, text = min(post(hostile(200000, ws)) for _ in range(2))
    # 200 times the input; a linear path stays far under 200 times the time (the page render is
    # most of the small post's time), a quadratic one is 40,000 times.
    expect("whitespace run %r: 200x input took %.1fx the time (%.3fs vs %.3fs), answered %d"
           % (ws, big_t / small, big_t, small, code), big_t / small < 200 and code == 422)

# request heads near their limits (8 KiB a header, 4 KiB a path segment): a cookie with a run of
# inner spaces (the cookie parser's pattern was quadratic in it) and a 404 whose path has a long
# segment (the error page's search suggestion was); 7 times the bytes must not cost 49 times the
# time. Both go through Lua (a 404 is not served from the page cache).
def get(path, headers=None):
    req = urllib.request.Request(base + path, headers=headers or {})
    t = time.monotonic()
    try:
        r = urllib.request.urlopen(req, timeout=30); code = r.status; r.read()
    except urllib.error.HTTPError as e:
        code = e.code; e.read()
    return time.monotonic() - t, code
unique = iter(range(1000000)) # every 404 path differs: none is served from the page cache
for label, make, n in (("cookie", lambda n: ("/no-such-page", {"Cookie": "a=x" + " " * n + "x; quire_session=zz"}), 1000),
                       ("404 path", lambda n: ("/%s/b%d/" % ("a" * n, next(unique)), {"Accept": "text/html"}), 500)):
    small = min(get(*make(n))[0] for _ in range(5))
    big, code = min(get(*make(7 * n)) for _ in range(5))
    expect("%s: 7x the bytes took %.1fx the time (%.4fs vs %.4fs), answered %d" % (label, big / small, big, small, code),
           big / small < 20 and code in (200, 404))

# invalid UTF-8 in the name: said so, not "Please enter your name."
_, code, text = post(raw=("entry_id=%s&token=%s&name=%%FF%%FEx&email=a%%40b.example&comment=hi" % (eid, token)).encode())
e = errors(text)
expect("invalid UTF-8 name: 422 with %r" % e.get("name"), code == 422 and "not valid text (UTF-8)" in e.get("name", ""))

# NUL and other characters XML cannot carry: refused naming the field, nothing stored
for field, value, cp in (("name", "Ann\0Lee", "U+0000"), ("url", "https://ann.example/\0", None),
                         ("comment", "hello\x0bthere", "U+000B"), ("name", "Ann\ufffe", "U+FFFE")):
    f = {"entry_id": eid, "token": token, "name": "Ann", "email": "ann@mail.example", "comment": "Fine words."}
    f[field] = value
    _, code, text = post(f)
    msg = errors(text).get({"comment": "body"}.get(field, field), "")
    expect("%s holding %r: 422, %r" % (field, value, msg), code == 422 and msg != "" and (cp is None or cp in msg))
sys.exit(1 if fails else 0)
PY
rc=$?
cat "$work/comments.out"
check "comment posts (see above)" test $rc -eq 0
check "none of the refused comments was stored" \
  test "$(site_sql "$site" "SELECT count(*) FROM comments WHERE author_name LIKE 'Ann%'")" = 0

# --- titles written before input was checked (straight into the database) leave feeds well-formed
ch=char; on_pg && ch=chr # a character by its code point: SQLite's char(), PostgreSQL's chr()
site_sql "$site" "UPDATE entries SET title = 'Harbour' || $ch(1) || ' fees' || $ch(11) || $ch(65534) || $ch(64976) || ' rise'
  WHERE id = (SELECT id FROM entries WHERE status = 'published' AND type = 'article' ORDER BY published_at DESC LIMIT 1);
  UPDATE terms SET name = name || $ch(27) WHERE id = (SELECT min(id) FROM terms);"
check "reloaded: fresh workers, no page cache from before the raw write" reload_site "$work/serve.log" 2
for f in feed.xml atom.xml sitemap.xml; do curl -s "$base/$f" -o "$work/$f"; done
"$PY" - "$work" <<'PY'
import sys, xml.dom.minidom, feedparser
d = sys.argv[1]
fails = 0
for f in ("feed.xml", "atom.xml", "sitemap.xml"):
    try:
        xml.dom.minidom.parse(d + "/" + f)
        print("ok   %s is well-formed XML" % f)
    except Exception as e:
        print("FAIL %s: %s" % (f, e)); fails += 1
for f in ("feed.xml", "atom.xml"):
    p = feedparser.parse(d + "/" + f)
    titles = [e.title for e in p.entries]
    good = not p.bozo and "Harbour fees rise" in titles
    print(("ok   " if good else "FAIL ") + "%s read by feedparser (bozo=%s), the title without the characters: %r" % (f, p.bozo, titles[:2]))
    fails += 0 if good else 1
sys.exit(1 if fails else 0)
PY
check "feeds and sitemap stay well-formed (see above)" test $? -eq 0

# --- quire config check: a missing partial and a missing layout fail it, each named once
mkdir -p "$site/plugins/brokenlayout/templates"
cat > "$site/plugins/brokenlayout/plugin.lua" <<'LUA'
return quire.plugin { name = "brokenlayout", version = "1", setup = function(site)
  site:content_type { name = "gallery", label = "Gallery", permalink = "/gallery/{slug}", layout = "nosuchlayout", fields = {} }
  site:templates("templates") -- its folder again: every template in it must still count once
end }
LUA
printf '<div>{{> nosuchpartial}}</div>\n' > "$site/plugins/brokenlayout/templates/uses.mustache"
printf '<p>{{#open}}never closed</p>\n' > "$site/plugins/brokenlayout/templates/broken.mustache"
echo 'plugins[#plugins + 1] = "brokenlayout"' >> "$site/site.lua"
out=$("$QUIRE" config check --site "$site" 2>&1); rc=$?
check "config check fails ($rc)" test $rc -eq 1
check "config check names the missing partial" grep -q "uses.mustache:1: partial 'nosuchpartial' not found" <<<"$out"
check "config check names the missing layout" grep -q "content type 'gallery' (plugin brokenlayout): layout template 'nosuchlayout' not found" <<<"$out"
check "a template error is printed once" test "$(grep -c "unclosed section 'open'" <<<"$out")" = 1
check "and counted once (3 problems)" grep -q "failed (3 problems)" <<<"$out"

# --- quire entries update --base-revision
id=$("$QUIRE" entries create --site "$site" --type article --title "Revisioned")
rev=$("$QUIRE" entries get "$id" --site "$site" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["revision"])')
check "get shows the revision ($rev)" test -n "$rev"
check "update based on the current revision" "$QUIRE" entries update "$id" --site "$site" --title "Second" --base-revision "$rev"
out=$("$QUIRE" entries update "$id" --site "$site" --title "Third" --base-revision "$rev" 2>&1); rc=$?
check "update based on an old revision is refused ($rc: $out)" test $rc -eq 1
check "the refusal names what changed and the current revision" grep -q "was changed since revision $rev (title): its current revision is [0-9]" <<<"$out"
check "and the title is the second" grep -q '"title":"Second"' <<<"$("$QUIRE" entries get "$id" --site "$site")"

finish
