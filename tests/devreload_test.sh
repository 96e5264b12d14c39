#!/usr/bin/env bash
# `quire serve --dev` refreshes the open tab: pages carry the reload script, the event stream
# (server-sent events) says "reload" once a template, plugin or stylesheet changed since the id
# the browser sent back; without --dev, neither the script nor the stream exists.
# usage: devreload_test.sh QUIRE_BINARY
set -u
QUIRE=$1
work=$(mktemp -d /tmp/quire-devreload-XXXXXX)
master=""
cleanup() { [ -n "$master" ] && kill -9 "$master" 2>/dev/null; pkill -9 -f "__worker --site $work" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/harness.sh"
TEST_NAME=devreload

"$QUIRE" init "$work/site" >/dev/null
p="$work/site/plugins/devpage"
mkdir -p "$p/templates" "$p/static"
echo 'plugins = { "devpage" }' >> "$work/site/site.lua"
cat > "$p/plugin.lua" <<'LUA'
return quire.plugin { name = "devpage", version = "1.0", setup = function(site)
  site:route("GET", "/page", function() return quire.template.render("page", {}) end)
  site:route("GET", "/fragment", function() return "<p>just a fragment</p>" end)
  site:route("GET", "/text", function(_, res) res:header("content-type", "text/plain") res:write("</body>") end)
  -- A fingerprinted stylesheet, asked for once outside dev mode, as the bundled theme does.
  local css
  site:route("GET", "/styled", function()
    if not css or quire.site.config.dev then css = quire.assets.url("devpage", "styled.css") end
    return '<!doctype html><html><head><link rel="stylesheet" href="' .. css .. '"></head><body></body></html>'
  end)
end }
LUA
printf '<!doctype html><html><head><link rel="stylesheet" href="/static/devpage/site.css"></head>\n<body><p>version one</p></body></html>\n' > "$p/templates/page.mustache"
printf 'p { color: #111; }\n' > "$p/static/site.css"
printf 'p { color: #111; }\n' > "$p/static/styled.css"

serve() { # serve [--dev]: starts the server, sets base
  "$QUIRE" serve "$@" --site "$work/site" --listen 127.0.0.1:0 --workers 1 > "$work/serve.log" 2>&1 &
  master=$!
  waitfor 60 started "$work/serve.log"
  base="http://127.0.0.1:$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)"
}
stop() { kill -TERM "$master"; wait "$master"; master=""; }
# events [LAST_ID]: the event stream's answer (headers and body)
events() { curl -s -D - ${1:+-H "Last-Event-ID: $1"} "$base/_quire/dev/events" | tr -d '\r'; }
id_of() { sed -n 's/^id: //p' <<<"$1"; }

# --- normal mode: no script, no event stream
serve
page=$(curl -s "$base/page")
check "normal: the page is served" grep -q 'version one' <<<"$page"
check "normal: no reload script" test -z "$(grep -o 'EventSource' <<<"$page")"
check "normal: no event stream ($(curl -s -o /dev/null -w '%{http_code}' "$base/_quire/dev/events"))" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "$base/_quire/dev/events")" = 404
stop

# --- dev mode
serve --dev
page=$(curl -s "$base/page")
check "dev: the script sits just before </body>" grep -q 'new EventSource("/_quire/dev/events").*</script></body></html>' <<<"$page"
check "dev: a fragment is left as it is" test "$(curl -s "$base/fragment")" = "<p>just a fragment</p>"
check "dev: text that is not HTML is left as it is" test "$(curl -s "$base/text")" = '</body>'
first=$(events)
id1=$(id_of "$first")
check "dev: the stream is text/event-stream" grep -qi '^content-type: text/event-stream' <<<"$first"
check "dev: the stream is never cached" grep -qi '^cache-control: no-store' <<<"$first"
check "dev: it gives an id and a retry delay" test -n "$id1" -a -n "$(grep '^retry: [0-9]' <<<"$first")"
check "dev: a first connection does not reload" test -z "$(grep '^data:' <<<"$first")"
check "dev: nothing changed, no reload" test -z "$(events "$id1" | grep '^data:')"
check "dev: the same id from the other worker state" test "$(id_of "$(events "$id1")")" = "$id1"

# a stylesheet edit (no worker reload): the next answer says reload, with a new id
printf 'p { color: #222; }\n' > "$p/static/site.css"
after=$(events "$id1")
id2=$(id_of "$after")
check "dev: a stylesheet edit reloads the tab" grep -q '^data: reload$' <<<"$after"
check "dev: with a new id" test -n "$id2" -a "$id2" != "$id1"
check "dev: once" test -z "$(events "$id2" | grep '^data:')"

# a fingerprinted stylesheet's edit: the page, asked for before (twice: the page cache would keep
# it), names the new copy at once, which is served
styled() { curl -s "$base/styled" | grep -o '/static/devpage/styled\.[0-9a-f]*\.css'; }
old_css=$(styled); styled >/dev/null
printf 'p { color: #444; }\n' > "$p/static/styled.css"
new_css=$(styled)
check "dev: a fingerprinted stylesheet's edit gives the page its new copy ($old_css -> $new_css)" \
  test -n "$old_css" -a -n "$new_css" -a "$old_css" != "$new_css"
check "dev: which holds the edit" grep -q '#444' <(curl -s "$base$new_css")

# a template edit within the same second (same size): still seen
printf '<!doctype html><html><head><link rel="stylesheet" href="/static/devpage/site.css"></head>\n<body><p>version two</p></body></html>\n' > "$p/templates/page.mustache"
after=$(events "$id2")
check "dev: a template edit reloads the tab" grep -q '^data: reload$' <<<"$after"
id3=$(id_of "$after")
new_page() { grep -q 'version two' <(curl -s "$base/page"); }
check "dev: and the reloaded page is the new one" waitfor 30 new_page # (after the workers' reload)

# a plugin edit
echo '-- edited' >> "$p/plugin.lua"
check "dev: a plugin edit reloads the tab" grep -q '^data: reload$' <(events "$id3")
# the database and .quire/ are not watched
id4=$(id_of "$(events)")
"$QUIRE" entries create --site "$work/site" --type page --title "A write" >/dev/null 2>&1
check "dev: a database write does not reload the tab" test -z "$(events "$id4" | grep '^data:')"

# --- a real browser: headless Chromium keeps the page open; a stylesheet edit makes it load the
# page again (counted in the access log), by itself.
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -n "$browser" ]; then
  loads() { grep -c '"GET /page HTTP' "$work/serve.log"; }
  before=$(loads)
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
    --disable-component-update --disable-sync --user-data-dir="$work/chrome" --remote-debugging-port=0 \
    "$base/page" >/dev/null 2>&1 &
  chrome=$!
  for _ in $(seq 600); do [ "$(loads)" -gt "$before" ] && grep -q 'GET /_quire/dev/events' "$work/serve.log" && break; sleep 0.1; done
  check "browser: the page is open and listening" grep -q 'GET /_quire/dev/events' "$work/serve.log"
  sleep 1
  opened=$(loads)
  printf 'p { color: #333; }\n' > "$p/static/site.css"
  for _ in $(seq 300); do [ "$(loads)" -gt "$opened" ] && break; sleep 0.1; done
  check "browser: a stylesheet edit reloaded the open tab ($opened -> $(loads) loads)" test "$(loads)" -gt "$opened"
  sleep 2
  check "browser: once ($(loads) loads)" test "$(loads)" = $((opened + 1))
  kill "$chrome" 2>/dev/null; wait "$chrome" 2>/dev/null
else
  echo "devreload: no chromium, browser check skipped" >&2
fi
stop

finish
