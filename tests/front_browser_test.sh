#!/usr/bin/env bash
# The edited front page in Chromium (tests/browser/front.test.js) against a real `quire serve`
# of the demo site on an ephemeral port. Screenshots go to SHOTS_DIR.
# usage: front_browser_test.sh QUIRE_BINARY SOURCE_DIR SHOTS_DIR
set -u
QUIRE=$1
SRC=$2
export QUIRE_SHOTS=$3
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
work=$(mktemp -d /tmp/quire-front-browser-XXXXXX)
master=""
cleanup() {
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
[ -d "$SRC/tests/browser/node_modules/playwright-core" ] || { echo "front_browser: run make browser-deps first" >&2; exit 1; }
"$QUIRE" init --demo "$work/site" >/dev/null || { echo "quire init --demo failed" >&2; exit 1; }
echo 'access_log = "off"' >> "$work/site/site.lua"
"$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers 1 > "$work/serve.log" 2>&1 &
master=$!
for _ in $(seq 600); do grep -q "serving with" "$work/serve.log" && break; sleep 0.1; done # 60 s: slow under a sanitizer at load
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
[ -n "$port" ] || { cat "$work/serve.log" >&2; exit 1; }
story=$("$QUIRE" entries list --site "$work/site" --status published --limit 1000 --format json | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["title"].startswith("Halden Bay council backs"):
        print("/%s/%s/%s" % (e["published_at"][:4], e["published_at"][5:7], e["slug"]))')
QUIRE_URL="http://127.0.0.1:$port" QUIRE_STORY="$story" node "$SRC/tests/browser/front.test.js"
status=$?
if grep -q "failed:" "$work/serve.log"; then echo "server errors:" >&2; grep "failed:" "$work/serve.log" >&2; status=1; fi
exit $status
