#!/usr/bin/env bash
# Image import throughput: `quire media add` against the peers doing the same resizes in the same
# run: libvips' own `vipsthumbnail` and ImageMagick's `convert -thumbnail`. N 12-megapixel JPEGs
# (made here with `vips`) each become the same widths, as JPEG and WebP, metadata stripped.
# quire also hashes, orients, writes atomically (fsync + rename) and records a row per image.
# Prints thumbnails per second (one width in one format = one thumbnail), the ratios, and the
# peak resident memory of one process handling the images one after another. WebP at the same
# encoder effort for all three (libwebp method 2).
set -euo pipefail
QUIRE=${QUIRE:-build/quire}
N=${N:-8}
WIDTHS=${WIDTHS:-"320 640 960 1280 1920"}
for tool in vips vipsthumbnail; do
  command -v $tool >/dev/null || { echo "media: needs $tool (apt-get install libvips-tools)"; exit 1; }
done
work=$(mktemp -d /tmp/quire-bench-media-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/vt" "$work/im"

# Photos with some texture: noise, enlarged so it is blotchy rather than white noise, per colour.
for i in $(seq 1 "$N"); do
  for b in 0 1 2; do
    vips gaussnoise "$work/n$b.v" 1000 750 --mean 128 --sigma 50 --seed $((i * 3 + b))
    vips resize "$work/n$b.v" "$work/r$b.v" 4 --kernel linear
  done
  vips bandjoin "$work/r0.v $work/r1.v $work/r2.v" "$work/c.v"
  vips cast "$work/c.v" "$work/in/photo$i.jpg[Q=90]" uchar
done
rm -f "$work"/*.v
nw=$(echo $WIDTHS | wc -w)
thumbs=$((N * nw * 2))
widths_lua=$(echo $WIDTHS | tr ' ' ',')
echo "media: $N photos of 4000x3000 ($(du -sh "$work/in" | cut -f1)), widths $WIDTHS, JPEG + WebP: $thumbs thumbnails each"

now() { date +%s.%N; }
# Peak RSS (kB) of a command, from GNU time.
peak() { /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null; cat "$work/rss"; }

# quire: one process for all the photos.
"$QUIRE" init "$work/site" >/dev/null
echo "image_widths = { $widths_lua }" >> "$work/site/site.lua"
t0=$(now)
q_rss=$(peak "$QUIRE" media add --site "$work/site" "$work"/in/*.jpg)
t1=$(now)
q_rate=$(echo "$thumbs / ($t1 - $t0)" | bc -l)
q_files=$(find "$work/site/media" -type f | wc -l)
[ "$q_files" -eq "$thumbs" ] || { echo "media: quire wrote $q_files files, expected $thumbs"; exit 1; }

# vipsthumbnail: one process per width and format, each over all the photos.
t0=$(now)
v_rss=0
for w in $WIDTHS; do
  for fmt in "jpg[Q=82,strip]" "webp[Q=80,effort=2,strip]"; do
    r=$(peak vipsthumbnail -s "${w}x" -o "$work/vt/%s-$w.$fmt" "$work"/in/*.jpg)
    [ "$r" -gt "$v_rss" ] && v_rss=$r
  done
done
t1=$(now)
v_rate=$(echo "$thumbs / ($t1 - $t0)" | bc -l)

printf "%-34s %8.1f thumbnails/s   peak %6d kB\n" "quire media add" "$q_rate" "$q_rss"
printf "%-34s %8.1f thumbnails/s   peak %6d kB\n" "vipsthumbnail" "$v_rate" "$v_rss"
printf "quire / vipsthumbnail: %.2fx (goal >= 0.9x)\n" "$(echo "$q_rate / $v_rate" | bc -l)"

# ImageMagick: `convert` may be a stand-in without ImageMagick behind it; then it is skipped.
if command -v convert >/dev/null && convert -version 2>/dev/null | grep -q ImageMagick; then
  t0=$(now)
  m_rss=0
  for f in "$work"/in/*.jpg; do
    b=$(basename "$f" .jpg)
    for w in $WIDTHS; do
      for ext in jpg webp; do
        r=$(peak convert "$f" -thumbnail "${w}x" -strip -quality 82 -define webp:method=2 "$work/im/$b-$w.$ext")
        [ "$r" -gt "$m_rss" ] && m_rss=$r
      done
    done
  done
  t1=$(now)
  m_rate=$(echo "$thumbs / ($t1 - $t0)" | bc -l)
  printf "%-34s %8.1f thumbnails/s   peak %6d kB\n" "convert -thumbnail" "$m_rate" "$m_rss"
  printf "quire / convert: %.2fx (goal >= 5x)\n" "$(echo "$q_rate / $m_rate" | bc -l)"
else
  echo "convert: ImageMagick not installed (apt-get install imagemagick); skipped"
fi
