#!/usr/bin/env python3
"""The media library through the real `quire` binary: images made here at test time (libvips'
`vips` command and plain bytes), imported with `quire media add`, bad files refused with a clear
error and no file left behind, the variants checked with `vipsheader`, and served by a real
`quire serve` with immutable caching.

usage: media_test.py QUIRE_BINARY SOURCE_DIR      (exit 77: no `vips` command to make images)
"""
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, Server  # noqa: E402
import harness  # noqa: E402

QUIRE, SRC = sys.argv[1], sys.argv[2]
if not shutil.which("vips") or not shutil.which("vipsheader"):
    print("media: no vips command (apt-get install libvips-tools)", file=sys.stderr)
    sys.exit(77)

work = harness.begin("media", QUIRE, SRC)
site = os.path.join(work, "site")
img = os.path.join(work, "img")
os.mkdir(img)


def quire(*args):
    return harness.quire(*args, ok=False)  # the checks read the exit status themselves


def media(*args):
    return quire("media", *args, "--site", site)


def vips(*args):
    subprocess.run(["vips", *args], check=True, capture_output=True)


def header(path, field):
    return subprocess.run(["vipsheader", "-f", field, path], capture_output=True, text=True).stdout.strip()


def stored():
    return sorted(p for p in glob.glob(os.path.join(site, "media", "**", "*"), recursive=True) if os.path.isfile(p))


def tmpfiles():
    return [p for p in glob.glob(os.path.join(site, "media", "**", ".tmp-*"), recursive=True)]


def db():
    return harness.db(site)


r = quire("init", site)
assert r.returncode == 0, r.stderr
# The theme and articles, for the media field type, the hero <picture> and the alt precondition.
sl = open(os.path.join(site, "site.lua")).read()
open(os.path.join(site, "site.lua"), "w").write(re.sub(r"(?m)^plugins = \{ \}", 'plugins = { "theme", "article" }', sl))
site_files = [f for f in os.listdir(site) if not f.startswith("quire.db-")]


def site_listing():
    return [f for f in os.listdir(site) if not f.startswith("quire.db-")]


# --- the images
# 12 megapixels, mostly red with a blue block, stored sideways: EXIF orientation 6 (rotate 90°
# clockwise to show), with a camera name and a GPS position that must not be published.
vips("black", f"{img}/b.v", "4000", "3000", "--bands", "3")
vips("linear", f"{img}/b.v", f"{img}/red.v", "1 1 1", "200 30 40", "--uchar")
vips("black", f"{img}/blk.v", "800", "600", "--bands", "3")
vips("linear", f"{img}/blk.v", f"{img}/blue.v", "1 1 1", "20 40 220", "--uchar")
vips("insert", f"{img}/red.v", f"{img}/blue.v", f"{img}/photo.v", "100", "100")
vips("copy", f"{img}/photo.v", f"{img}/plain.jpg[Q=85]")


def exif_app1():
    # Big-endian TIFF: IFD0 {Make, Orientation=6, GPS IFD pointer}, GPS IFD {LatitudeRef 'N', Latitude}.
    make = b"SecretCam\0"
    ifd0_off = 8
    n0 = 3
    ifd0_size = 2 + n0 * 12 + 4
    make_off = ifd0_off + ifd0_size
    gps_off = make_off + len(make)
    n1 = 2
    gps_size = 2 + n1 * 12 + 4
    lat_off = gps_off + gps_size
    t = b"MM\0\x2a" + struct.pack(">I", ifd0_off)
    t += struct.pack(">H", n0)
    t += struct.pack(">HHI", 0x010F, 2, len(make)) + struct.pack(">I", make_off)
    t += struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">HH", 6, 0)
    t += struct.pack(">HHI", 0x8825, 4, 1) + struct.pack(">I", gps_off)
    t += struct.pack(">I", 0)
    t += make
    t += struct.pack(">H", n1)
    t += struct.pack(">HHI", 0x0001, 2, 2) + b"N\0\0\0"
    t += struct.pack(">HHI", 0x0002, 5, 3) + struct.pack(">I", lat_off)
    t += struct.pack(">I", 0)
    t += struct.pack(">IIIIII", 51, 1, 30, 1, 2645, 100)
    body = b"Exif\0\0" + t
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


plain = open(f"{img}/plain.jpg", "rb").read()
photo = plain[:2] + exif_app1() + plain[2:]
open(f"{img}/photo.jpg", "wb").write(photo)
check("the test photo carries orientation 6", header(f"{img}/photo.jpg", "orientation") == "6")

# A small PNG (no upscaling), and the bad ones.
vips("black", f"{img}/s.v", "200", "100", "--bands", "3")
vips("linear", f"{img}/s.v", f"{img}/small.png", "1 1 1", "10 120 10", "--uchar")
vips("black", f"{img}/bomb.png", "20000", "20000")  # 400 megapixels of black in a small file
check("the bomb is small on disk", os.path.getsize(f"{img}/bomb.png") < 3_000_000, os.path.getsize(f"{img}/bomb.png"))


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


huge = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)) \
    + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b"")
open(f"{img}/huge.png", "wb").write(huge)
open(f"{img}/truncated.jpg", "wb").write(plain[: len(plain) // 2])
open(f"{img}/drawing.svg", "w").write('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                                      '<script>alert(1)</script><rect width="10" height="10"/></svg>')
open(f"{img}/drawing.png", "w").write('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>')
open(f"{img}/page.jpg", "w").write("<!doctype html><html><body><script>alert(1)</script></body></html>")
open(f"{img}/empty.jpg", "wb").close()
shutil.copy(f"{img}/small.png", f"{img}/lying.jpg")
# A polyglot: a valid JPEG that is also HTML (markup in a comment segment and after the end).
html = b"<html><script>alert(document.cookie)</script></html>"
poly = plain[:2] + b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html + plain[2:] + html
open(f"{img}/polyglot.jpg", "wb").write(poly)
trick_dir = os.path.join(img, "..%2f..%2fetc")
os.mkdir(trick_dir)
trick = os.path.join(trick_dir, "-x <b>evil<\\b>\n\x1b[31m..passwd.png")
shutil.copy(f"{img}/small.png", trick)

# --- refused, each with a clear error, nothing left on disk, no row
refusals = [
    ("bomb.png", r"over the limit of 60000000 pixels.*decompression bomb"),
    ("huge.png", r"50000 x 50000 pixels is over the limit"),
    ("truncated.jpg", r"truncated or corrupt"),
    ("drawing.svg", r"SVG is refused"),
    ("drawing.png", r"SVG is refused"),
    ("page.jpg", r"HTML or XML text, not a JPEG, PNG or WebP image"),
    ("empty.jpg", r"empty \(0 bytes\)"),
    ("lying.jpg", r"the name says JPEG but the bytes are PNG; rename it to \.png"),
]
for name, want in refusals:
    r = media("add", f"{img}/{name}")
    check(f"{name} refused", r.returncode == 1, r.stdout + r.stderr)
    check(f"{name}: clear error", re.search(want, r.stderr) and name in r.stderr, repr(r.stderr))
    check(f"{name}: no file left", stored() == [], stored())
with db() as c:
    check("no rows after refusals", c.execute("SELECT count(*) FROM media").fetchone()[0] == 0)

# A file over limits.media_bytes, set low in site.lua.
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("\nlimits = { media_bytes = 100000 }\n")
r = media("add", f"{img}/photo.jpg")
check("a file over media_bytes refused", r.returncode == 1 and "over the limit of 100000 (limits.media_bytes" in r.stderr, r.stderr)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("\nlimits = { media_bytes = 25 * 1024 * 1024 }\n")

# --- the photo: oriented, widths, both formats, no metadata, a dominant colour
r = media("add", f"{img}/photo.jpg", "--alt", "A red wall", "--credit", "Test Desk", "--focal", "0.25,0.75")
check("photo added", r.returncode == 0, r.stderr)
m = re.search(r"media (\d+): (/media/\S+)\s+(\d+)x(\d+)\s+(#[0-9a-f]{6})", r.stdout)
check("add prints id, url, size, colour", m, r.stdout)
pid = int(m.group(1))
check("orientation applied: portrait", (m.group(3), m.group(4)) == ("3000", "4000"), m.group(0))
colour = m.group(5)
rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
check("dominant colour is the red", all(abs(a - b) <= 16 for a, b in zip(rgb, (200, 30, 40))), colour)
files = stored()
check("5 widths x 2 formats", len(files) == 10, files)
for w in (320, 640, 960, 1280, 1920):
    for ext in ("webp", "jpg"):
        p = [f for f in files if f.endswith(f"-{w}.{ext}")]
        check(f"{w}.{ext} written", len(p) == 1, files)
        if p:
            check(f"{w}.{ext} is {w} wide, portrait", header(p[0], "width") == str(w) and header(p[0], "height") == str(round(w * 4 / 3)),
                  header(p[0], "width") + "x" + header(p[0], "height"))
            data = open(p[0], "rb").read()
            check(f"{w}.{ext}: no EXIF, camera or GPS", b"Exif" not in data and b"SecretCam" not in data and b"GPS" not in data)
            check(f"{w}.{ext}: no orientation left", header(p[0], "orientation") in ("", "1"), header(p[0], "orientation"))
check("content-addressed: media/ab/<hash>-W.ext",
      all(re.search(r"/media/[0-9a-f]{2}/[0-9a-f]{30}-\d+\.(webp|jpg)$", f) for f in files), files)
check("no temporary files", tmpfiles() == [])

# The same bytes again: the same row, nothing new.
r = media("add", f"{img}/photo.jpg")
check("same bytes: same id, flagged", r.returncode == 0 and f"media {pid}:" in r.stdout and "already in the library" in r.stdout, r.stdout)
check("same bytes: no new files", stored() == files)

# Metadata in the database.
r = media("get", str(pid))
row = json.loads(r.stdout)
check("get: alt, credit, focal", row["alt"] == "A red wall" and row["credit"] == "Test Desk" and row["focal_x"] == 0.25 and row["focal_y"] == 0.75, row)
check("get: size and colour", row["width"] == 3000 and row["height"] == 4000 and row["colour"] == colour, row)
check("get: uploader", row["uploaded_by"].startswith("cli:"), row.get("uploaded_by"))
check("get: variants with URLs", [v["width"] for v in row["variants"]] == [320, 640, 960, 1280, 1920]
      and row["variants"][1]["webp"].endswith("-640.webp") and row["variants"][1]["height"] == 853, row["variants"])

# --- handled: small image (no upscale), polyglot (re-encoded: no markup), tricky name
r = media("add", f"{img}/small.png", "--caption", "Small")
check("small png added", r.returncode == 0, r.stderr)
sid = int(re.search(r"media (\d+):", r.stdout).group(1))
srow = json.loads(media("get", str(sid)).stdout)
check("small: one width, its own (never upscaled)", [(v["width"], v["height"]) for v in srow["variants"]] == [(200, 100)], srow["variants"])
check("small: png and webp", srow["variants"][0]["src"].endswith("-200.png") and srow["format"] == "png")

r = media("add", f"{img}/polyglot.jpg")
check("polyglot: accepted as the JPEG it is", r.returncode == 0, r.stderr)
polyid = int(re.search(r"media (\d+):", r.stdout).group(1))
prow = json.loads(media("get", str(polyid)).stdout)
for v in prow["variants"]:
    for key in ("webp", "src"):
        data = open(os.path.join(site, v[key].lstrip("/")), "rb").read()
        check(f"polyglot {v[key]}: re-encoded, no markup", b"<script" not in data and b"<html" not in data)

r = media("add", trick)
check("tricky name: added (the name never names a file)", r.returncode == 0, r.stderr)
check("tricky name: same bytes as small.png, same row", f"media {sid}:" in r.stdout, r.stdout)
vips("linear", f"{img}/s.v", os.path.join(trick_dir, "x\n\x1b..png"), "1 1 1", "11 120 10", "--uchar")
r = media("add", os.path.join(trick_dir, "x\n\x1b..png"))
check("tricky name 2 added", r.returncode == 0, r.stderr)
tid = int(re.search(r"media (\d+):", r.stdout).group(1))
trow = json.loads(media("get", str(tid)).stdout)
check("tricky name: title without control characters or path", trow["title"] == "x.", repr(trow["title"]))
check("nothing written outside media/", sorted(site_listing()) == sorted(site_files + ["media"])
      and sorted(os.listdir(work)) == ["img", "site"], (os.listdir(site), os.listdir(work)))

# --- update, list, bad metadata
r = media("update", str(pid), "--alt", "A red wall with a blue window")
check("update", r.returncode == 0 and json.loads(media("get", str(pid)).stdout)["alt"] == "A red wall with a blue window", r.stderr)
r = media("update", str(pid), "--focal", "2,0.5")
check("bad focal refused", r.returncode == 1 and "focal point" in r.stderr and "0 to 1" in r.stderr, r.stderr)
r = media("update", str(pid), "--alt", "x" * 1001)
check("long alt refused", r.returncode == 1 and "at most 1000" in r.stderr, r.stderr)
r = media("update", "999", "--alt", "x")
check("update of a missing id", r.returncode == 1 and "no media 999" in r.stderr, r.stderr)
r = media("list", "--format", "json")
check("list json", sorted(x["id"] for x in json.loads(r.stdout)) == sorted([pid, sid, polyid, tid]), r.stdout[:300])
r = media("list", "--format", "xml")
check("list: a bad format", r.returncode == 2, r.stderr)
r = media("list")
check("list table", r.returncode == 0 and "A red wall with a blue window" in r.stdout and "3000x4000" in r.stdout, r.stdout)

# --- the media field type and the alt precondition at publish
def create(fields, *extra):
    return quire("entries", "create", "--site", site, "--type", "article", "--title", "Green field", "--body", "Text.",
                 "--fields", json.dumps(fields), *extra)


r = create({"hero_media": 99999})
check("a missing media id refused", r.returncode == 1 and "fields.hero_media: refers to media 99999, which does not exist" in r.stderr, r.stderr)
r = create({"hero_media": "big"})
check("a non-id refused", r.returncode == 1 and "must be a media id" in r.stderr, r.stderr)
r = create({"hero_media": sid}, "--status", "published")
check("publishing without alt refused", r.returncode == 1 and f"media {sid} has no alt text, which a published Article needs" in r.stderr
      and f"quire media update {sid} --alt" in r.stderr, r.stderr)
r = create({"hero_media": sid})
check("a draft without alt is fine", r.returncode == 0, r.stderr)
art = int(r.stdout.strip())
r = quire("entries", "publish", str(art), "--site", site)
check("publish refused without alt", r.returncode == 1 and "has no alt text" in r.stderr, r.stderr)
r = create({"hero_media": sid, "hero_alt": "Grass"}, "--status", "published")
check("the entry's hero_alt is enough", r.returncode == 0, r.stderr)
media("update", str(sid), "--alt", "A green field")
r = quire("entries", "publish", str(art), "--site", site)
check("publish once the media has alt", r.returncode == 0, r.stderr)
r = media("delete", str(sid))
check("delete refused while a media field uses it", r.returncode == 1 and f"is used by entries {art}" in r.stderr, r.stderr)
art_path = time.strftime("/%Y/%m/green-field", time.gmtime())

# --- served by the static path: immutable caching, right type, nosniff
with Server(site) as server:
    port = server.port
    url = f"http://127.0.0.1:{port}{row['variants'][1]['webp']}"
    with urllib.request.urlopen(url) as resp:
        body = resp.read()
        check("served 200 webp", resp.status == 200 and resp.headers["Content-Type"] == "image/webp", resp.headers)
        check("immutable caching", "immutable" in resp.headers.get("Cache-Control", "") and "max-age=31536000" in resp.headers["Cache-Control"], resp.headers)
        check("nosniff", resp.headers.get("X-Content-Type-Options") == "nosniff")
        check("the bytes on disk", body == open(os.path.join(site, row["variants"][1]["webp"].lstrip("/")), "rb").read())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{prow['variants'][0]['src']}") as resp:
        check("polyglot served as image/jpeg", resp.headers["Content-Type"] == "image/jpeg")
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}{art_path}").read().decode()
    fig = re.search(r"<picture>.*?</picture>", page, re.S)
    check("hero: a <picture>", fig, page[:2000])
    if fig:
        pic = fig.group(0)
        check("hero: webp source with srcset and sizes", re.search(r'<source type="image/webp" srcset="/media/[0-9a-f]{2}/[0-9a-f]{30}-200\.webp 200w" sizes="[^"]+">', pic), pic)
        check("hero: img with width, height, alt, png srcset", 'width="200" height="100"' in pic and 'alt="A green field"' in pic
              and re.search(r'srcset="/media/\S+-200\.png 200w"', pic), pic)
    media("update", str(sid), "--alt", "A greener field")
    # (on PostgreSQL the workers hear of the CLI's commit by NOTIFY: up to its delay, README)
    deadline = time.monotonic() + (10 if harness.PG_URL else 0)
    while True:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}{art_path}").read().decode()
        if 'alt="A greener field"' in page or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    check("a changed alt reaches the cached page", 'alt="A greener field"' in page)
    for bad in ("/media/../site.lua", "/media/%2e%2e/quire.db", "/media/zz/nothing-1.webp"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{bad}")
            check(f"{bad} not served", False)
        except urllib.error.HTTPError as e:
            check(f"{bad} not served", e.code in (400, 404), e.code)

# --- delete (refused while used), prune
r = quire("entries", "create", "--site", site, "--type", "page", "--title", "Uses it", "--body", f"![x]({row['variants'][0]['src']})")
if r.returncode == 0:
    r = media("delete", str(pid))
    check("delete refused while an entry uses it", r.returncode == 1 and "is used by entry" in r.stderr, r.stderr)
    check("refused delete keeps the files", all(os.path.exists(f) for f in files))
r = media("delete", str(pid), "--force")
check("delete --force", r.returncode == 0, r.stderr)
check("delete removes the files", not any(os.path.exists(f) for f in files))
r = media("get", str(pid))
check("deleted row gone", r.returncode == 1 and "no media" in r.stderr, r.stderr)

orphan = os.path.join(site, "media", "ab", "0123456789abcdef0123456789abcd-640.webp")
os.makedirs(os.path.dirname(orphan), exist_ok=True)
open(orphan, "wb").write(b"x")
fresh_tmp = os.path.join(site, "media", "ab", ".tmp-abc123")
open(fresh_tmp, "wb").write(b"x")
old_tmp = os.path.join(site, "media", "ab", ".tmp-old999")
open(old_tmp, "wb").write(b"x")
os.utime(old_tmp, (time.time() - 7200, time.time() - 7200))
kept = stored()
r = media("prune", "--dry-run")
check("prune --dry-run lists the orphan and the old temp file", orphan in r.stdout and old_tmp in r.stdout and fresh_tmp not in r.stdout, r.stdout)
check("prune --dry-run removes nothing", os.path.exists(orphan))
r = media("prune")
check("prune removes them", not os.path.exists(orphan) and not os.path.exists(old_tmp) and os.path.exists(fresh_tmp), r.stdout)
check("prune keeps every file a row names", [f for f in kept if f not in (orphan, old_tmp)] == stored(), stored())

# --- the widths come from site.lua
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("\nimage_widths = { 100, 150 }\n")
r = media("add", f"{img}/plain.jpg")
check("custom widths", r.returncode == 0 and [v["width"] for v in json.loads(media("get", re.search(r"media (\d+):", r.stdout).group(1)).stdout)["variants"]] == [100, 150], r.stdout + r.stderr)
with open(os.path.join(site, "site.lua"), "a") as f:
    f.write("\nimage_widths = { 640, 320 }\n")
r = media("list")
check("bad widths: a clear error", r.returncode == 1 and "image_widths must be 1 to 16 ascending" in r.stderr, r.stderr)

r = media("add")
check("add without files: usage", r.returncode == 2 and "needs one or more FILEs" in r.stderr, r.stderr)
r = media("frobnicate")
check("unknown sub-command", r.returncode == 2 and "unknown command 'quire media frobnicate'" in r.stderr, r.stderr)

finish()
