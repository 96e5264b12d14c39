#!/usr/bin/env bash
# Staff sign-in in Debian's Chromium (tests/browser/auth.test.js) against the real `quire serve`
# on a free port: a fresh site with an admin whose password the test types.
# usage: auth_test.sh QUIRE_BINARY SOURCE_DIR SHOTS_DIR
set -u
QUIRE=$1
SRC=$2
SHOTS=${3:-$PWD/screenshots}
work=$(mktemp -d /tmp/quire-auth-browser-XXXXXX)
master=""
cleanup() {
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
site=$work/site
"$QUIRE" init "$site" > /dev/null || { echo "quire init failed" >&2; exit 1; }
echo 'access_log = "off"' >> "$site/site.lua"
password="a long admin password"
echo "$password" | "$QUIRE" user add dee --role admin --name "Dee Admin" --password-stdin --site "$site" > /dev/null || exit 1
"$QUIRE" serve --site "$site" --listen 127.0.0.1:0 --workers 1 > "$work/serve.log" 2>&1 &
master=$!
for _ in $(seq 600); do grep -q "serving with" "$work/serve.log" && break; sleep 0.1; done # 60 s: slow under a sanitizer at load
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
[ -n "$port" ] || { echo "server did not start: $(cat "$work/serve.log")" >&2; exit 1; }
QUIRE_URL=http://127.0.0.1:$port QUIRE_PASSWORD=$password QUIRE_SHOTS=$SHOTS node "$SRC/tests/browser/auth.test.js"
status=$?
if grep -q "failed:" "$work/serve.log"; then echo "server errors:" >&2; grep "failed:" "$work/serve.log" >&2; status=1; fi
exit $status
