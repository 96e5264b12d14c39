#!/usr/bin/env bash
# Template benchmark: an article page (layout through inheritance, 5 partials, 20 related items,
# 10 comments) rendered over and over by quire's C Mustache engine and by mustache.js on Node, with
# the same data; prints renders/s for both and the ratio, after checking both pages are identical.
# The engines take turns, ROUNDS rounds of ROUND_SECONDS each, and each one's best round counts, so
# a busy or throttled machine disturbs both alike.
#
#   bash bench/template.sh          (from the repository root, after a build in ./build)
#   QUIRE=build-x/quire ROUNDS=10 ROUND_SECONDS=2 bash bench/template.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
QUIRE=${QUIRE:-$root/build/quire}
ROUNDS=${ROUNDS:-6}
ROUND_SECONDS=${ROUND_SECONDS:-1}
fixtures=$root/bench/template
nodedir=$root/bench/node

[ -x "$QUIRE" ] || { echo "template.sh: no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }
command -v node >/dev/null || { echo "template.sh: node is not installed" >&2; exit 1; }
if [ ! -f "$nodedir/node_modules/mustache/package.json" ]; then
  echo "installing mustache.js 4.2.0 into bench/node/node_modules ..." >&2
  mkdir -p "$nodedir"
  npm install --prefix "$nodedir" --no-save --no-package-lock --no-audit --no-fund --silent mustache@4.2.0 >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quire-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$QUIRE" init "$tmp/site" >/dev/null
mkdir -p "$tmp/site/templates"
cp "$fixtures"/*.mustache "$tmp/site/templates/"

echo "article page: layout via {{<layout}}, partials header footer byline related_item comment;"
echo "20 related items, 10 comments; $ROUNDS rounds of ${ROUND_SECONDS}s per engine, taking turns ($(uname -m), $(nproc) cpus)"
q_best=0 m_best=0 ratios=()
for ((i = 1; i <= ROUNDS; i++)); do
  q_out=$("$QUIRE" run --site "$tmp/site" "$fixtures/bench.lua" "$fixtures/data.json" "$tmp/quire.html" "$ROUND_SECONDS")
  m_out=$(node "$fixtures/bench.js" "$fixtures" "$fixtures/data.json" "$tmp/node.html" "$ROUND_SECONDS")
  q=$(awk '/^RATE quire/ {print $3}' <<<"$q_out")
  m=$(awk '/^RATE mustachejs/ {print $3}' <<<"$m_out")
  ratios+=("$(awk -v q="$q" -v m="$m" 'BEGIN {printf "%.2f", q / m}')")
  printf "  round %2d: quire.template %8.0f/s   mustache.js %7.0f/s   ratio %5.1fx\n" "$i" "$q" "$m" "${ratios[-1]}"
  q_best=$(awk -v a="$q_best" -v b="$q" 'BEGIN {print (b > a) ? b : a}')
  m_best=$(awk -v a="$m_best" -v b="$m" 'BEGIN {print (b > a) ? b : a}')
done
grep -v '^RATE' <<<"$q_out"
grep -v '^RATE' <<<"$m_out"

if ! cmp -s "$tmp/quire.html" "$tmp/node.html"; then
  echo "template.sh: the two engines rendered different pages:" >&2
  diff "$tmp/quire.html" "$tmp/node.html" | head -20 >&2
  exit 1
fi
echo "pages identical: yes"

median=$(printf "%s\n" "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
awk -v q="$q_best" -v m="$m_best" -v med="$median" 'BEGIN {
  printf "quire.template  %10.0f renders/s (best round)\n", q
  printf "mustache.js     %10.0f renders/s (best round)\n", m
  printf "ratio quire/mustache.js: %.1fx best against best, %.1fx median of rounds\n", q / m, med
}'
