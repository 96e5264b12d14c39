#!/usr/bin/env bash
# The admin's media library in Debian's Chromium (tests/browser/media.test.js): a demo site with an
# author, an editor and a contributor, two PNG images and a file that only claims to be one,
# served by the real `quire serve` on a free port.
# usage: media_test.sh QUIRE_BINARY SOURCE_DIR SHOTS_DIR
set -u
QUIRE=$1
SRC=$2
SHOTS=${3:-$PWD/screenshots}
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
. "$SRC/tests/harness.sh"
harness_begin media_browser
site=$work/site
"$QUIRE" init --demo "$site" > /dev/null || { echo "quire init --demo failed" >&2; exit 1; }
echo 'access_log = "off"' >> "$site/site.lua"
for u in cora:contributor avi:author ed:editor; do
  echo "media-pass-${u%%:*}" | "$QUIRE" user add "${u%%:*}" --role "${u##*:}" --name "${u%%:*} Staff" --password-stdin --site "$site" > /dev/null || exit 1
done
# Two PNGs of different colours (made here: no image files in the repository), and a text file
# named like an image.
python3 - "$work" <<'PY'
import struct, sys, zlib
def png(path, w, h, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png(sys.argv[1] + "/harbour-boats.png", 800, 500, (30, 90, 160))
png(sys.argv[1] + "/storm-sky.png", 640, 480, (90, 90, 100))
open(sys.argv[1] + "/notes.png", "w").write("not an image at all\n")
PY
serve_site "$site" "$work/serve.log" --workers 1 || exit 1
QUIRE_URL=$base QUIRE_FILES=$work QUIRE_SHOTS=$SHOTS node "$SRC/tests/browser/media.test.js"
status=$?
if grep -q "failed:" "$work/serve.log"; then echo "server errors:" >&2; grep "failed:" "$work/serve.log" >&2; status=1; fi
exit $status
