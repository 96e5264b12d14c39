#!/usr/bin/env bash
# Integration tests of the news site (the bundled plugins over the demo content) through a real
# `quire serve` and real clients: the whole comment flow and its refusals, share counting,
# feeds read by python3-feedparser, HTML checked by tidy, the page cache kept honest; with
# --screenshots, headless Chromium pictures of the article and the opinion page.
# usage: site_test.sh QUIRE_BINARY SOURCE_DIR [--screenshots]   (KEEP=1 keeps the responses in /tmp)
set -u
QUIRE=$1
SRC=$2
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
MODE=${3:-}
. "$(dirname "$0")/harness.sh"
harness_begin site

if [ "$MODE" = "--screenshots" ]; then
  browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
  [ -n "$browser" ] || { echo "site screenshots: no chromium (apt-get install chromium)" >&2; exit 1; }
fi

# --- a demo site, served by two workers on a free port
site=$work/site
"$QUIRE" init --demo "$site" >/dev/null || { echo "quire init --demo failed" >&2; exit 1; }
cat >> "$site/site.lua" <<'LUA'
comments = { rate_limit = 8, min_seconds = 1 }
access_log = "off"
LUA
if [ "$MODE" = "--screenshots" ]; then
  # A page served by the site itself (so it may look into same-origin frames) that loads pages at
  # phone widths in frames and reports layout faults: sideways scrolling, squeezed neighbours.
  mkdir -p "$site/plugins/probe/static"
  echo 'return quire.plugin { name = "probe", version = "1.0", setup = function() end }' > "$site/plugins/probe/plugin.lua"
  cat > "$site/plugins/probe/static/probe.html" <<'HTML'
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>layout probe</title></head>
<body><pre id="out">pending</pre>
<script>
const q = new URLSearchParams(location.search), pages = q.getAll("p"), widths = [320, 390], faults = [];
const jobs = pages.flatMap(p => widths.map(w => [p, w]));
function next() {
  const job = jobs.shift();
  if (!job) { document.getElementById("out").textContent = faults.length ? faults.join("\n") : "ok"; return; }
  const [path, w] = job, f = document.createElement("iframe");
  f.style.cssText = `width:${w}px;height:900px;border:0`;
  f.onload = () => {
    const d = f.contentDocument, root = d.documentElement;
    if (root.scrollWidth > root.clientWidth) {
      const wide = [...d.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > root.clientWidth + 1);
      faults.push(`${path} at ${w}px: ${root.scrollWidth}px wide (${wide.slice(-3).map(e => e.tagName + "." + e.className).join(", ")})`);
    }
    for (const n of d.querySelectorAll(".prevnext > div")) {
      if (n.getBoundingClientRect().width < 0.9 * n.parentElement.getBoundingClientRect().width)
        faults.push(`${path} at ${w}px: ${n.className} link squeezed into part of the width`);
    }
    f.remove();
    next();
  };
  f.src = path;
  document.body.appendChild(f);
}
next();
</script>
</body></html>
HTML
  echo 'plugins[#plugins + 1] = "probe"' >> "$site/site.lua"
fi
check "server started" serve_site "$site" "$work/serve.log" --workers 2
[ -n "$port" ] || finish

"$QUIRE" entries list --site "$site" --status published --limit 1000 --format json > "$work/entries.json"
path_of() { # path_of TYPE TITLE-PREFIX -> the entry's path
  python3 - "$1" "$2" "$work/entries.json" <<'PY'
import json, sys
for e in json.load(open(sys.argv[3])):
    if e["type"] == sys.argv[1] and e["title"].startswith(sys.argv[2]):
        y, m = e["published_at"][:4], e["published_at"][5:7]
        print(f"/{y}/{m}/{e['slug']}" if e["type"] == "article" else f"/opinion/{e['slug']}")
        break
PY
}
article=$(path_of article "Halden Bay council backs")
opinion=$(path_of opinion "A wall across the bay")
check "demo has the lead article ($article)" test -n "$article"
check "demo has the opinion piece ($opinion)" test -n "$opinion"

# Every body a test fetches is kept, to prove later that the commenter's email is in none of them.
n=0
fetch() { # fetch NAME CURL-ARGS... -> body in $work/r/NAME, headers in $work/r/NAME.h, prints the status
  mkdir -p "$work/r"
  curl -s -o "$work/r/$1" -D "$work/r/$1.h" -w '%{http_code}' "${@:2}"
}
header() { tr -d '\r' < "$work/r/$1.h" | sed -n "s/^$2: //Ip" | tail -1; }

if [ "$MODE" = "--screenshots" ]; then
  # Headless Chromium, fresh profile, no network beyond the test server. The pictures stay in /tmp.
  shoot() {
    local profile; profile=$(mktemp -d "$work/chrome-XXXXXX")
    timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
      --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
      --screenshot="$2" --window-size="$3" "$base$1" >/dev/null 2>&1
  }
  for page in article opinion; do
    for size in 1280,4200 390,5200; do
      out=/tmp/quire-site-$page-${size%%,*}.png
      rm -f "$out"
      shoot "${!page}" "$out" "$size"
      bytes=$(stat -c %s "$out" 2>/dev/null || echo 0)
      check "screenshot of the $page page ($out, $bytes bytes)" test "$bytes" -gt 20000
      check "$out is a PNG" test "$(head -c 8 "$out" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a
      echo "site screenshots: $out"
    done
  done
  # Layout at phone widths, measured by Chromium itself.
  probe="$base/static/probe/probe.html?p=/&p=$article&p=$opinion&p=/search%3Fq%3Dthe&p=/section/news&p=/comment/1/reply"
  profile=$(mktemp -d "$work/chrome-XXXXXX")
  layout=$(timeout 90 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
    --disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=20000 --dump-dom "$probe" 2>/dev/null |
    tr '\n' '\r' | grep -o '<pre id="out">[^<]*</pre>' | sed 's/<[^>]*>//g' | tr '\r' '\n')
  check "phone widths (320, 390px): no page scrolls sideways, neighbours are not squeezed: $layout" test "$layout" = ok
  finish
fi

# --- pages: status, cache, valid HTML
# the latest list's "Older" link (the list the front page replaced): a keyset page named by its
# first story's date and id
older=$(curl -s "$base/latest" | grep -o 'class="pagination-next" rel="next" href="[^"]*"' | sed 's/.*href="//; s/"$//')
check "the latest list links to older stories by date and id ($older)" grep -qE '^/latest/older/[0-9]{14}-[0-9]+$' <<<"$older"
# One address per page: the older page's Newer link is the first page's; the "newer than" address
# of before (stories newer than the last of the first page's: fewer than a page) sends there.
newer_link=$(curl -s "$base$older" | grep -o 'class="pagination-prev" rel="prev" href="[^"]*"' | sed 's/.*href="//; s/"$//')
check "the older page links Newer to the first page ($newer_link)" test "$newer_link" = /latest
check "an old newer/ address answers 302" test "$(fetch oldnewer "$base${older/older/newer}")" = 302
check "... to the first page" test "$(header oldnewer Location)" = /latest
# The archive listed once: the front page's "Older stories" is that same page, and the front
# page's own older/ addresses (links and bookmarks from before) move there for good.
front_older=$(curl -s "$base/" | grep -o 'class="pagination-next" rel="next" href="[^"]*"' | sed 's/.*href="//; s/"$//')
check "the front page's Older stories link to the latest list's page ($front_older)" test "$front_older" = "$older"
check "the front page's old older/ address answers 301" test "$(fetch oldolder "$base${older#/latest}")" = 301
check "... to the latest list's page" test "$(header oldolder Location)" = "$older"
for p in / "$older" "$article" "$opinion" /section/environment /tag/tidal-barrage /author/maren "/search?q=barrage+tides" /robots.txt; do
  n=$((n + 1))
  check "GET $p" test "$(fetch "page$n" "$base$p")" = 200
done
cached=""
for i in 1 2 3 4 5 6; do # two workers, a cache each: a few requests reach both
  fetch again "$base$article" >/dev/null
  if [ "$(header again X-Cache)" = hit ]; then cached=yes; break; fi
done
check "the article is served from the page cache" test -n "$cached"
check "the dateline leads the first paragraph" grep -q '<p><span class="dateline">Halden Bay, [A-Z][a-z]* [0-9]*, 20[0-9][0-9] –</span> The vote' "$work/r/page3"
check "the opinion page has its label and pull quote" grep -q 'class="opinion-label">Opinion<' "$work/r/page4"
check "no JavaScript on any page" test -z "$(grep -l '<script' "$work"/r/page[1-8] | xargs -r grep -L 'application/ld+json')"

# tidy 5.8 predates ARIA 1.1's aria-current, <source sizes> in <picture> and <img fetchpriority,
# loading, decoding> and calls them "proprietary"; all are valid HTML.
tidy_ok='proprietary attribute "aria-current"\|<source> proprietary attribute "sizes"\|<img> proprietary attribute "\(fetchpriority\|loading\|decoding\)"'
for i in 1 2 3 4 5 6 7 8; do
  tidy -errors -q "$work/r/page$i" > "$work/tidy$i" 2>&1
  rc=$?
  others=$(grep -v "$tidy_ok" "$work/tidy$i")
  check "tidy: page $i has no errors (rc $rc)" test "$rc" -lt 2
  check "tidy: page $i has no warnings${others:+: $others}" test -z "$others"
done

# --- the comment flow: post -> held -> approve -> shown
token=$(grep -o 'name="token" value="[^"]*"' "$work/r/page3" | head -1 | cut -d'"' -f4)
entry_id=$(grep -o 'name="entry_id" value="[0-9]*"' "$work/r/page3" | head -1 | cut -d'"' -f4)
check "the form carries a token and the entry" test -n "$token" -a -n "$entry_id"
email="reader-$RANDOM-secret@example.net"
sleep 1.1 # the form's minimum time to submit
post() { # post NAME FIELDS... (curl --data-urlencode pairs) with this site's Origin
  local name=$1; shift
  local args=()
  for f in "$@"; do args+=(--data-urlencode "$f"); done
  fetch "$name" -H "Origin: $base" "${args[@]}" "$base/comments"
}
status=$(post posted "entry_id=$entry_id" "token=$token" "name=Wren Tally" "email=$email" "comment=The *inquiry* should sit in the evenings, so that working people can attend.")
check "a valid comment is accepted with a redirect (303, got $status)" test "$status" = 303
location=$(header posted Location)
cid=$(grep -o '[0-9]*$' <<<"$location")
check "the redirect names the new comment ($location)" test -n "$cid"
check "held: the author sees a moderation notice" test "$(fetch notice "$base$location")" = 200
check "the notice says so" grep -q 'awaiting moderation' "$work/r/notice"
check "the notice is private" test "$(header notice Cache-Control)" = "private, no-store"
fetch held "$base$article" >/dev/null
check "a held comment is not on the page" test -z "$(grep -o "id=\"comment-$cid\"" "$work/r/held")"
out=$("$QUIRE" comments approve "$cid" --site "$site")
check "quire comments approve ($out)" grep -q '1 comment approved' <<<"$out"
# (a command's write: on PostgreSQL the workers hear of it by NOTIFY, so settled polls there)
comment_shown() { fetch shown "$base$article" >/dev/null; grep -q "id=\"comment-$cid\"" "$work/r/shown"; }
settled "the approved comment is shown (the cached page was invalidated)" comment_shown
check "its Markdown is rendered" grep -q 'The <em>inquiry</em> should sit' "$work/r/shown"
check "the page is cacheable again" test "$(header shown Cache-Control)" = ""
follows() { test "$(fetch follow "$base$location")" = 303 -a "$(header follow Location)" = "$article#comment-$cid"; }
settled "the comment's address now redirects to its anchor" follows
sleep 1.1
status=$(post again_post "entry_id=$entry_id" "token=$token" "name=Wren Tally" "email=$email" "parent=$cid" "comment=Replying to myself.")
cid2=$(header again_post Location | grep -o '[0-9]*$')
check "an approved address is auto-approved ($status)" test "$(fetch again_follow "$base/comment/$cid2")" = 303
# (the demo's own replies already put a list of children on this page: the wait is for this reply
# inside its parent's)
threaded() { fetch thread "$base$article" >/dev/null
  tr -d '\n' < "$work/r/thread" | grep -q "id=\"comment-$cid\">.*<ol class=\"children\"> *<li class=\"comment\" id=\"comment-$cid2\">"; }
settled "the reply is threaded under its parent" threaded

# --- refusals
status=$(post invalid "entry_id=$entry_id" "token=$token" "name=" "email=not-an-address" "comment=Keep this text")
check "validation errors: 422 ($status)" test "$status" = 422
check "the name error sits next to its field" grep -q 'id="comment-name-error">Please enter your name.' "$work/r/invalid"
check "the email error sits next to its field" grep -q 'id="comment-email-error">Please enter a valid email' "$work/r/invalid"
check "the reader's input is kept" grep -q '>Keep this text</textarea>' "$work/r/invalid"
check "a rejected form is private" test "$(header invalid Cache-Control)" = "private, no-store"
check "tidy: the rejected form is valid HTML" test "$(tidy -errors -q "$work/r/invalid" 2>&1 | grep -vc "$tidy_ok")" = 0
status=$(post forged "entry_id=$entry_id" "token=forged.0.AAAA" "name=Mallory" "email=m@example.org" "comment=hi")
check "a forged token: 403 ($status)" test "$status" = 403
check "the forged form is re-rendered with a notice" grep -q 'could not be verified' "$work/r/forged"
status=$(fetch crosssite -H "Origin: https://evil.example" --data-urlencode "entry_id=$entry_id" --data-urlencode "token=$token" \
  --data-urlencode "name=Mallory" --data-urlencode "email=m@example.org" --data-urlencode "comment=hi" "$base/comments")
check "a cross-site post: 403 ($status)" test "$status" = 403
limited=""
for i in $(seq 12); do
  status=$(post "flood$i" "entry_id=$entry_id" "token=$token" "name=Flood" "email=f@example.org" "comment=flood $i")
  if [ "$status" = 429 ]; then limited=$i; break; fi
done
check "the per-address rate limit answers 429 (after $limited more posts)" test -n "$limited"
check "429 says when to retry" test -n "$(header "flood$limited" Retry-After)"
held=$("$QUIRE" comments list --site "$site" --status held --format csv | grep -c 'Flood')
check "posts under the limit were held, not published ($held)" test "$held" -ge 1

# --- shares: counted once per client and network, through a signed redirect
share=$(grep -o 'href="/share/facebook/[^"]*"' "$work/r/shown" | head -1 | cut -d'"' -f2 | sed 's/&amp;/\&/g')
before=$(grep -o '<strong>[0-9]*</strong>' "$work/r/shown" | head -1 | grep -o '[0-9]*')
check "share redirect (303)" test "$(fetch share1 "$base$share")" = 303
check "to the network with the article's address" grep -q "facebook.com/sharer/sharer.php?u=http%3A%2F%2F127.0.0.1%3A$port" <<<"$(header share1 Location)"
for i in 2 3 4; do fetch "share$i" "$base$share" >/dev/null; done
# (on PostgreSQL a worker that served none of the clicks hears of them by NOTIFY)
counted() { fetch after_share "$base$article" >/dev/null
  after=$(grep -o '<strong>[0-9]*</strong>' "$work/r/after_share" | head -1 | grep -o '[0-9]*'); [ "$after" -gt "$before" ]; }
settled "the share is counted" counted
check "four clicks from one client count once ($before -> $after)" test "$after" = $((before + 1))
check "a forged share token: 404" test "$(fetch share_bad "$base/share/facebook/$entry_id?t=nope")" = 404

# --- feeds, read by a real parser
if python3 -c 'import feedparser' 2>/dev/null; then PY=python3
elif /usr/bin/python3 -c 'import feedparser' 2>/dev/null; then PY=/usr/bin/python3
else PY=false; echo "site: python3-feedparser is missing (apt-get install python3-feedparser)" >&2; fi
for f in feed.xml atom.xml feed.json section/news/feed.xml tag/tidal-barrage/atom.xml sitemap.xml sitemap-news.xml sitemap-pages.xml "sitemap.xml?part=1"; do
  check "GET /$f" test "$(fetch "$(tr / _ <<<"$f")" "$base/$f")" = 200
done
out=$("$PY" - "$work/r" "$work/entries.json" "$base/" <<'PY' 2>&1
import calendar, json, sys, time, feedparser
d, entries = sys.argv[1], json.load(open(sys.argv[2]))
base = sys.argv[3] # the demo sets no base_url: feeds name the address served
published = {e["title"]: e for e in entries if e["status"] == "published" and e["type"] != "page"}
newest = sorted(published.values(), key=lambda e: (e["published_at"], e["id"]), reverse=True)
problems = []
def check(name, path, want_count, scope=None):
    f = feedparser.parse(open(f"{d}/{path}", "rb").read())
    if f.bozo:
        problems.append(f"{name}: not well-formed: {f.bozo_exception}")
    if len(f.entries) != want_count:
        problems.append(f"{name}: {len(f.entries)} entries, want {want_count}")
    expected = [e for e in newest if scope is None or scope(e)][:want_count]
    for got, want in zip(f.entries, expected):
        if got.title != want["title"]:
            problems.append(f"{name}: title {got.title!r}, want {want['title']!r}")
        if not got.link.startswith(base) or not got.link.endswith(want["slug"]):
            problems.append(f"{name}: link {got.link} for {want['slug']}")
        stamp = calendar.timegm(got.published_parsed)
        want_stamp = calendar.timegm(time.strptime(want["published_at"], "%Y-%m-%dT%H:%M:%SZ"))
        if stamp != want_stamp:
            problems.append(f"{name}: {got.title!r} dated {stamp}, want {want_stamp}")
    return f
rss = check("RSS", "feed.xml", 20)
atom = check("Atom", "atom.xml", 20)
# Debian's feedparser (6.0) predates JSON Feed support: read it as JSON against the 1.1 spec.
jf = json.load(open(f"{d}/feed.json"))
if jf.get("version") != "https://jsonfeed.org/version/1.1": problems.append(f"JSON Feed version {jf.get('version')}")
if jf.get("title") != "The Mereland Courier": problems.append(f"JSON Feed title {jf.get('title')!r}")
if len(jf.get("items", [])) != 20: problems.append(f"JSON Feed: {len(jf.get('items', []))} items")
for got, want in zip(jf.get("items", []), newest):
    if not got.get("id") or not (got.get("content_html") or got.get("content_text")):
        problems.append(f"JSON Feed item without id or content: {got.get('title')!r}")
    if got.get("title") != want["title"] or not got.get("url", "").endswith(want["slug"]) or got.get("date_published") != want["published_at"]:
        problems.append(f"JSON Feed item {got.get('title')!r} {got.get('url')} {got.get('date_published')}, want {want['title']!r} {want['published_at']}")
if rss.version != "rss20": problems.append(f"RSS version {rss.version}")
if atom.version != "atom10": problems.append(f"Atom version {atom.version}")
if rss.feed.title != "The Mereland Courier": problems.append(f"RSS feed title {rss.feed.title!r}")
check("section RSS", "section_news_feed.xml", min(20, sum(1 for e in newest if e.get("section") == "News")), lambda e: e.get("section") == "News")
barrage = [e for e in newest if "Tidal Barrage" in (e.get("tags") or [])]
check("tag Atom", "tag_tidal-barrage_atom.xml", min(20, len(barrage)), lambda e: "Tidal Barrage" in (e.get("tags") or []))
import xml.etree.ElementTree as ET
ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "n": "http://www.google.com/schemas/sitemap-news/0.9"}
index = ET.parse(f"{d}/sitemap.xml").getroot()
files = [l.text for l in index.findall("s:sitemap/s:loc", ns)]
want_files = [base + "sitemap-pages.xml", base + "sitemap-news.xml", base + "sitemap.xml?part=1"]
if files != want_files: problems.append(f"sitemap index lists {files}, want {want_files}")
locs = []
for name in ("sitemap.xml?part=1", "sitemap-pages.xml"):
    locs += [l.text for l in ET.parse(f"{d}/{name.replace('/', '_')}").getroot().findall("s:url/s:loc", ns)]
if len(locs) != len(set(locs)): problems.append("sitemap: a URL listed twice")
all_published = [e for e in entries if e["status"] == "published"]
if len([l for l in locs if "/section/" not in l and l != base]) != len(all_published):
    problems.append(f"sitemap: {len(locs)} URLs for {len(all_published)} published entries")
news = ET.parse(f"{d}/sitemap-news.xml").getroot().findall("s:url/n:news", ns)
if not news: problems.append("sitemap: no news fields for today's stories")
print("\n".join(problems) if problems else "ok")
PY
)
check "feedparser reads RSS, Atom, JSON Feed, section and tag feeds and the sitemap with the right titles, dates and links${out:+: $out}" test "$out" = ok

# --- error pages: a browser gets the site's layout with a 404 (never cached), curl plain text
html_accept='Accept: text/html,application/xhtml+xml,*/*;q=0.8'
check "an unknown URL is a 404 for browsers" test "$(fetch missing -H "$html_accept" "$base/no/such/story")" = 404
check "the 404 page is HTML" test "$(header missing Content-Type)" = "text/html; charset=utf-8"
check "the 404 page has the masthead" grep -q 'class="site-title"' "$work/r/missing"
check "the 404 page says so" grep -q '<h1 id="error-title">Page not found</h1>' "$work/r/missing"
check "the 404 page has the search box" grep -q 'class="site-search"' "$work/r/missing"
check "the 404 page has the section navigation" grep -q 'class="site-nav"' "$work/r/missing"
tidy -errors -q "$work/r/missing" > "$work/tidy_missing" 2>&1
rc=$?
others=$(grep -v 'proprietary attribute "aria-current"' "$work/tidy_missing")
check "tidy: the 404 page has no errors or warnings (rc $rc)${others:+: $others}" test "$rc" -lt 2 -a -z "$others"
fetch missing2 -H "$html_accept" "$base/no/such/story" >/dev/null
check "the 404 page is not served from the page cache" test "$(header missing2 X-Cache)" != hit
check "curl's */* gets a plain 404" test "$(fetch missing_plain "$base/no/such/story")" = 404 -a "$(cat "$work/r/missing_plain")" = "Not Found"

# --- absolute links follow the address served when site.lua sets no base_url (the demo's case),
# never a Host header a client sends; an explicit base_url wins
fetch canon -H 'Host: evil.example' "$base$article" >/dev/null
check "the canonical link names the address served" grep -q "<link rel=\"canonical\" href=\"$base$article\">" "$work/r/canon"
check "and og:url too" grep -q "property=\"og:url\" content=\"$base$article\"" "$work/r/canon"
check "a forged Host header moves no link" test -z "$(grep -o 'evil\.example' "$work/r/canon")"
fetch robots -H 'Host: evil.example' "$base/robots.txt" >/dev/null
check "robots.txt names the sitemap at the address served" grep -qx "Sitemap: $base/sitemap.xml" <(tr -d '\r' < "$work/r/robots")
check "the sitemap index names its files at the address served" grep -q "<loc>$base/sitemap-pages.xml</loc>" "$work/r/sitemap.xml"
check "and the home page in them" grep -q "<loc>$base/</loc>" "$work/r/sitemap-pages.xml"
echo 'base_url = "https://news.example"' >> "$site/site.lua"
check "reloaded with the base_url" reload_site "$work/serve.log" 2
fetch canon2 "$base$article" >/dev/null
check "an explicit base_url wins over the address served" grep -q "<link rel=\"canonical\" href=\"https://news.example$article\">" "$work/r/canon2"
fetch share_explicit "$base$share" >/dev/null
check "share redirects name it too" grep -q "u=https%3A%2F%2Fnews.example" <<<"$(header share_explicit Location)"

# --- the commenter's email is in no response: pages, feeds, notices, refusals, JSON
leaks=$(grep -l -F "$email" "$work"/r/* 2>/dev/null)
check "the commenter's email appears in no response${leaks:+: $leaks}" test -z "$leaks"
fetch search_name "$base/search?q=Wren+Tally+inquiry" >/dev/null
check "nor in search results for the commenter" test -z "$(grep -F "$email" "$work/r/search_name")"
finish
