#!/usr/bin/env bash
# The web admin end to end in Debian's Chromium (tests/browser/newsroom.test.js): a demo site with
# staff of every role, an image in the media library and a held comment, served by the real
# `quire serve` on a free port. Each staff member signs in through /admin/login.
# usage: newsroom_test.sh QUIRE_BINARY SOURCE_DIR SHOTS_DIR
set -u
QUIRE=$1
SRC=$2
SHOTS=${3:-$PWD/screenshots}
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
work=$(mktemp -d /tmp/quire-newsroom-XXXXXX)
master=""
cleanup() {
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; fi
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
site=$work/site
"$QUIRE" init --demo "$site" > /dev/null || { echo "quire init --demo failed" >&2; exit 1; }
echo 'access_log = "off"' >> "$site/site.lua"
# A zone with daylight saving time: the editor schedules in its wall clock.
echo 'timezone = "Europe/Oslo"' >> "$site/site.lua"
for u in cora:contributor cid:contributor avi:author ed:editor eve:editor; do
  echo "newsroom-pass-${u%%:*}" | "$QUIRE" user add "${u%%:*}" --role "${u##*:}" --name "${u%%:*} Staff" --password-stdin --site "$site" > /dev/null || exit 1
done
# A 64x48 PNG for the hero image (made here: no image files in the repository).
python3 - "$work/hero.png" <<'PY'
import struct, sys, zlib
w, h = 64, 48
raw = b"".join(b"\0" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
"$QUIRE" media add "$work/hero.png" --alt "The harbour at dawn" --site "$site" > "$work/media.out" 2>&1 || { cat "$work/media.out"; exit 1; }
cat > "$work/setup.lua" <<'LUA'
-- A comment held for moderation on the first article.
local out = {}
local article = quire.content.query { type = "article", status = "published", limit = 1 }[1]
quire.comments.create { entry = article.id, author_name = "Held Reader", author_email = "held@example.org",
  body = "A held comment about the harbour dredging", status = "held" }
out.article_url = quire.content.url(article)
out.media = quire.media.list { limit = 1 }[1].id
print(quire.json.encode(out))
LUA
"$QUIRE" run --site "$site" "$work/setup.lua" > "$work/setup.json" || exit 1
# On PostgreSQL (tests/pg_http_test.sh sets QUIRE_TEST_PG_URL) two workers: a page cached by one
# is made stale by a write through the other, by NOTIFY, as between nodes.
workers=1
[ -n "${QUIRE_TEST_PG_URL:-}" ] && workers=2
"$QUIRE" serve --site "$site" --listen 127.0.0.1:0 --workers $workers > "$work/serve.log" 2>&1 &
master=$!
for _ in $(seq 600); do grep -q "serving with" "$work/serve.log" && break; sleep 0.1; done # 60 s: slow under a sanitizer at load
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
[ -n "$port" ] || { echo "server did not start: $(cat "$work/serve.log")" >&2; exit 1; }
QUIRE_URL=http://127.0.0.1:$port QUIRE_TZ=Europe/Oslo QUIRE_SETUP=$(cat "$work/setup.json") QUIRE_SHOTS=$SHOTS \
  QUIRE_XSS=$SRC/tests/xss/payloads.txt node "$SRC/tests/browser/newsroom.test.js"
status=$?
if grep -q "failed:" "$work/serve.log"; then echo "server errors:" >&2; grep "failed:" "$work/serve.log" >&2; status=1; fi
exit $status
