#!/usr/bin/env bash
# Static export benchmark (issue 21): the same corpus (N posts, a section each, 5 Zipf-distributed
# tags, ~800-word Markdown bodies; bench/export/corpus.py) built as a static site by Hugo, with
# related posts on every page (.Related) and without, and exported by `quire export --format html`
# (the demo site's plugins: related posts, prev/next, feeds, sitemaps, lists on every page); then
# quire again after editing one post (its text, then its title). Wall time and peak memory (/usr/bin/time -v; for quire the
# largest of its processes: the coordinator or one of its workers) of each, and the ratios.
#
#   bash bench/export.sh            (from the repository root, after a build in ./build)
#   N=2000 JOBS=2 bash bench/export.sh
#   RUNS=5 bash bench/export.sh    (five pairs of Hugo without .Related and quire's full export)
#   QUIRE_BEFORE=/path/to/older/quire bash bench/export.sh   (also times that binary's full export,
#     of a site it made itself from the same corpus: an older binary refuses a newer schema;
#     with its own bundled plugins, QUIRE_BEFORE_PLUGINS, by default ../plugins beside its build
#     folder when that exists: a worktree of an older commit, `make build`)
#   COMPRESS=gzip,br bash bench/export.sh   (--compress for QUIRE; QUIRE_BEFORE gets no option)
# Hugo writes no compressed siblings: quire's full export is also timed with --compress none
# (quire_plain, into a folder of its own), like for like with hugo_plain. Hugo's layouts here are
# a few lines each, and its default feed is one RSS of summaries per list; quire writes three
# full-text feeds of 20 items per list (RSS, Atom, JSON Feed). hugo_feeds is Hugo without .Related
# writing those three too (hugo/feeds.json and the list.fullrss/atom/jsonfeed layouts, which the
# other two runs do not use): the issue's goals stay against hugo_plain and hugo_related.
# The machine is shared and its noise large (a run's CPU moves by 15% within an hour): Hugo
# without .Related and quire's full export are run RUNS times (default 3), alternately, each
# pair within seconds of each other; the ratio against hugo_plain is the median of the pairs'
# ratios, the others use quire's median run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
QUIRE=${QUIRE:-$root/build/quire}
N=${N:-10000}
JOBS=${JOBS:-$(nproc)}
RUNS=${RUNS:-3}
case $RUNS in ''|*[!0-9]*|0) echo "export.sh: RUNS must be a whole number of at least 1 (got '$RUNS')" >&2; exit 1 ;; esac
compress=()
[ -z "${COMPRESS:-}" ] || compress=(--compress "$COMPRESS")
[ -x "$QUIRE" ] || { echo "export.sh: no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }
command -v hugo >/dev/null || { echo "export.sh: hugo is not installed (make bench-deps)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "export.sh: /usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
export QUIRE_BUNDLED_PLUGINS=$root/plugins

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quire-bench-export-XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT

echo "corpus: $N posts ($(uname -m), $(nproc) cpus, hugo $(hugo version | grep -o 'v[0-9.]*' | head -1), $JOBS quire workers, --compress ${COMPRESS:-default}, output on $(stat -f -c %T "$tmp"))"
python3 "$root/bench/export/corpus.py" "$N" "$tmp/corpus.jsonl" "$tmp/hugo"
cp -r "$root/bench/export/hugo/." "$tmp/hugo/"
"$QUIRE" init --demo "$tmp/site" >/dev/null
echo 'base_url = "https://news.example"' >> "$tmp/site/site.lua"
"$QUIRE" run --yes --site "$tmp/site" "$root/bench/export/import.lua" "$tmp/corpus.jsonl" >/dev/null
before=()
if [ -n "${QUIRE_BEFORE:-}" ]; then
  before_plugins=${QUIRE_BEFORE_PLUGINS:-$(cd "$(dirname "$QUIRE_BEFORE")/.." && pwd)/plugins}
  [ -d "$before_plugins" ] || before_plugins=$root/plugins
  before=(env QUIRE_BUNDLED_PLUGINS="$before_plugins" "$QUIRE_BEFORE")
  "${before[@]}" init --demo "$tmp/site-before" >/dev/null
  echo 'base_url = "https://news.example"' >> "$tmp/site-before/site.lua"
  "${before[@]}" run --yes --site "$tmp/site-before" "$root/bench/export/import.lua" "$tmp/corpus.jsonl" >/dev/null
fi

# measure NAME COMMAND...: runs it under /usr/bin/time -v; sets secs[NAME] (wall), cpu[NAME]
# (user + system, all its processes: the fairer figure on a shared machine), sys[NAME] (the
# system part: mostly making files, whose cost depends on the file system; on ext4 without a
# journal each new inode is found past those deleted in the last minutes, by anyone, in the same
# group: the first writer after a neighbour's rm -rf pays it (15,000 new inodes: 4.8 s of system
# time right after 30,000 were deleted, 0.6 to 0.9 s for the next writers); so the ratios also
# give the user part alone, which does not depend on that) and kib[NAME]. Every tool writes into
# a new folder beside the others' in $tmp and deletes nothing, so all meet the same file system;
# but leave a minute after a deletion of many files (such as the last run's cleanup) before a
# run: the first writers pay it (the setup above, then Hugo). Each measured command starts after
# a sync: the one before leaves no dirty pages to write back during it.
declare -A secs cpu sys usr kib
measure() {
  local name=$1; shift
  sync
  /usr/bin/time -v -o "$tmp/time.$name" "$@" > "$tmp/out.$name" 2>&1 || { cat "$tmp/out.$name" >&2; exit 1; }
  secs[$name]=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tmp/time.$name")
  cpu[$name]=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { print s }' "$tmp/time.$name")
  sys[$name]=$(awk -F': ' '/System time \(seconds\)/ { print $2 }' "$tmp/time.$name")
  usr[$name]=$(awk -F': ' '/User time \(seconds\)/ { print $2 }' "$tmp/time.$name")
  kib[$name]=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time.$name")
  printf '%-16s %8.2f s wall %8.2f s cpu (%6.2f sys) %8.1f MiB peak  %s\n' "$name" "${secs[$name]}" "${cpu[$name]}" "${sys[$name]}" \
    "$(bc -l <<<"${kib[$name]} / 1024")" "$(tail -1 "$tmp/out.$name" | cut -c1-100)"
}

# median V...: the middle value (the mean of the middle two for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
largest() { printf '%s\n' "$@" | sort -g | tail -1; }

measure hugo_related hugo --quiet -s "$tmp/hugo" -d "$tmp/hugo-related" --config "$tmp/hugo/config.json"
measure hugo_feeds hugo --quiet -s "$tmp/hugo" -d "$tmp/hugo-feeds" --config "$tmp/hugo/config.json,$tmp/hugo/norelated.json,$tmp/hugo/feeds.json"
if [ -n "${QUIRE_BEFORE:-}" ]; then
  measure quire_before "${before[@]}" export --format html "$tmp/quire-before" --site "$tmp/site-before" --base-url https://news.example --jobs "$JOBS"
fi
# The pairs: hugo_plain.K then quire_full.K, each into a folder of its own (the first quire
# export's is the one edited below). Each figure of hugo_plain and quire_full is then the median
# of its runs', but peak memory the largest; pair_cpu and pair_user hold the pairs' ratios.
pair_cpu=() pair_user=()
for k in $(seq "$RUNS"); do
  out=$tmp/quire-out; [ "$k" = 1 ] || out=$tmp/quire-out.$k
  measure "hugo_plain.$k" hugo --quiet -s "$tmp/hugo" -d "$tmp/hugo-plain.$k" --config "$tmp/hugo/config.json,$tmp/hugo/norelated.json"
  measure "quire_full.$k" "$QUIRE" export --format html "$out" --site "$tmp/site" --base-url https://news.example --jobs "$JOBS" "${compress[@]}"
  pair_cpu+=("$(bc -l <<<"scale=3; ${cpu[quire_full.$k]} / ${cpu[hugo_plain.$k]}")")
  pair_user+=("$(bc -l <<<"scale=3; ${usr[quire_full.$k]} / ${usr[hugo_plain.$k]}")")
done
for name in secs cpu sys usr kib; do
  declare -n figure=$name
  hv=() qv=()
  for k in $(seq "$RUNS"); do hv+=("${figure[hugo_plain.$k]}"); qv+=("${figure[quire_full.$k]}"); done
  pick=median; [ "$name" = kib ] && pick=largest
  figure[hugo_plain]=$($pick "${hv[@]}")
  figure[quire_full]=$($pick "${qv[@]}")
  unset -n figure
done
measure quire_plain "$QUIRE" export --format html "$tmp/quire-plain" --site "$tmp/site" --base-url https://news.example --jobs "$JOBS" --compress none
# One edit to one post, then an export: a correction to its text (the pages showing it are
# rendered again), then a new headline (also the related posts of every post sharing a tag).
cat > "$tmp/edit.lua" <<'LUA'
local e = quire.content.get { type = "article", slug = "post-" .. math.floor(tonumber(arg[1]) / 2) }
if arg[2] == "body" then quire.content.update(e.id, { body = e.body .. "\n\nCorrection: an earlier version misspelt a name." })
else quire.content.update(e.id, { title = e.title .. " (updated)" }) end
LUA
"$QUIRE" run --yes --site "$tmp/site" "$tmp/edit.lua" "$N" body >/dev/null
measure quire_body_edit "$QUIRE" export --format html "$tmp/quire-out" --site "$tmp/site" --base-url https://news.example --jobs "$JOBS" "${compress[@]}"
"$QUIRE" run --yes --site "$tmp/site" "$tmp/edit.lua" "$N" title >/dev/null
measure quire_title_edit "$QUIRE" export --format html "$tmp/quire-out" --site "$tmp/site" --base-url https://news.example --jobs "$JOBS" "${compress[@]}"
measure quire_nothing "$QUIRE" export --format html "$tmp/quire-out" --site "$tmp/site" --base-url https://news.example --jobs "$JOBS" "${compress[@]}"

hugo_files=$(find "$tmp/hugo-related" -name '*.html' | wc -l)
quire_files=$(find "$tmp/quire-out" -name '*.html' | wc -l)
echo "HTML files: hugo $hugo_files, quire $quire_files"
ratio() { bc -l <<<"scale=3; $1 / $2"; }
echo "quire full / hugo with .Related:    wall $(ratio "${secs[quire_full]}" "${secs[hugo_related]}"), cpu $(ratio "${cpu[quire_full]}" "${cpu[hugo_related]}")  (goal <= 0.1)"
echo "quire full / hugo without:          cpu $(printf %.3f "$(median "${pair_cpu[@]}")"), user cpu $(printf %.3f "$(median "${pair_user[@]}")")  (goal <= 1.0; the median of $RUNS pairs: cpu ${pair_cpu[*]}, user ${pair_user[*]}; of the medians: wall $(ratio "${secs[quire_full]}" "${secs[hugo_plain]}"), cpu $(ratio "${cpu[quire_full]}" "${cpu[hugo_plain]}"))"
echo "quire full / hugo with quire's feeds: wall $(ratio "${secs[quire_full]}" "${secs[hugo_feeds]}"), cpu $(ratio "${cpu[quire_full]}" "${cpu[hugo_feeds]}"), user cpu $(ratio "${usr[quire_full]}" "${usr[hugo_feeds]}")  (hugo without .Related, RSS, Atom and JSON Feed in full text on every list)"
echo "quire plain / hugo without:         wall $(ratio "${secs[quire_plain]}" "${secs[hugo_plain]}"), cpu $(ratio "${cpu[quire_plain]}" "${cpu[hugo_plain]}"), user cpu $(ratio "${usr[quire_plain]}" "${usr[hugo_plain]}")  (--compress none: no .gz, as Hugo)"
[ -z "${QUIRE_BEFORE:-}" ] || echo "quire full / QUIRE_BEFORE's:         wall $(ratio "${secs[quire_full]}" "${secs[quire_before]}"), cpu $(ratio "${cpu[quire_full]}" "${cpu[quire_before]}"), user cpu $(ratio "${usr[quire_full]}" "${usr[quire_before]}")"
echo "quire after a body edit:            ${secs[quire_body_edit]} s wall, ${cpu[quire_body_edit]} s cpu  (goal < 1 s)"
echo "quire after a title edit:           ${secs[quire_title_edit]} s wall, ${cpu[quire_title_edit]} s cpu  (goal < 1 s)"
echo "quire peak memory / hugo's:         $(ratio "${kib[quire_full]}" "${kib[hugo_related]}")  (goal <= 0.1)"
