#!/bin/sh
# The demo site in Arabic (Asia/Beirut) served by the real `quire serve` on an ephemeral port;
# rtl.test.js gets its address in QUIRE_URL, checks the mirrored layout and takes screenshots.
# usage: rtl_test.sh QUIRE_BINARY SOURCE_DIR SHOTS_DIR
set -eu
QUIRE=$1 SRC=$2 SHOTS=$3
[ -d "$SRC/tests/browser/node_modules/playwright-core" ] || { echo "rtl: no playwright-core (make browser-deps)"; exit 77; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM
export QUIRE_BUNDLED_PLUGINS="$SRC/plugins"
"$QUIRE" init --demo "$work/site" >/dev/null
printf 'language = "ar"\ntimezone = "Asia/Beirut"\n' >> "$work/site/site.lua"
"$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers 1 >"$work/log" 2>&1 &
pid=$!
i=0
until grep -q "serving with" "$work/log" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 1200 ] && { cat "$work/log"; exit 1; }; sleep 0.05
done
port=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/log" | head -1)
status=0
QUIRE_URL=$port QUIRE_SHOTS=$SHOTS node "$SRC/tests/browser/rtl.test.js" || status=$?
if grep -q "failed:" "$work/log"; then echo "server errors:" >&2; grep "failed:" "$work/log" >&2; status=1; fi
exit $status
