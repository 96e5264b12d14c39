#!/usr/bin/env bash
# Incremental static export benchmark (issue 21, goal: < 1 s after one edit): the bench/export.sh
# corpus (N posts; no Hugo here) exported in full once, then after a correction to one post's
# text, after a new headline for it, with nothing changed, after a new post published (at the top
# of every list it is in), after it is unpublished again, after a retag of an older post (it
# leaves one tag list and joins another), after a redirect added and after it is deleted, ROUNDS
# times each; the same for
# QUIRE_BEFORE (an older quire) on its own copy of the site in the same run. CPU (user + system,
# all processes) is the figure to compare on a shared machine; wall time is printed too.
#
#   N=10000 QUIRE_BEFORE=/path/to/older/quire bash bench/export_incremental.sh
#   N=2000 ROUNDS=3 JOBS=2 bash bench/export_incremental.sh
# QUIRE_BEFORE runs with its own bundled plugins, QUIRE_BEFORE_PLUGINS, by default ../plugins beside
# its build folder when that exists (as in bench/export.sh): today's plugins may call what it lacks.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
QUIRE=${QUIRE:-$root/build/quire}
N=${N:-10000}
JOBS=${JOBS:-$(nproc)}
ROUNDS=${ROUNDS:-3}
[ -x "$QUIRE" ] || { echo "export_incremental.sh: no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }
[ -z "${QUIRE_BEFORE:-}" ] || [ -x "$QUIRE_BEFORE" ] || { echo "export_incremental.sh: QUIRE_BEFORE=$QUIRE_BEFORE is not a program" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "export_incremental.sh: /usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
export QUIRE_BUNDLED_PLUGINS=$root/plugins

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quire-bench-export-inc-XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
echo "corpus: $N posts ($(nproc) cpus, $JOBS workers, $ROUNDS rounds)"
python3 "$root/bench/export/corpus.py" "$N" "$tmp/corpus.jsonl" "$tmp/hugo" >/dev/null
rm -rf "$tmp/hugo"
"$QUIRE" init --demo "$tmp/site" >/dev/null
echo 'base_url = "https://news.example"' >> "$tmp/site/site.lua"
"$QUIRE" run --yes --site "$tmp/site" "$root/bench/export/import.lua" "$tmp/corpus.jsonl" >/dev/null
cat > "$tmp/edit.lua" <<'LUA'
local n, kind = math.floor(tonumber(arg[1]) / 2), arg[2]
local e = quire.content.get { type = "article", slug = "post-" .. n }
if kind == "body" then quire.content.update(e.id, { body = e.body .. "\n\nCorrection: an earlier version misspelt a name." })
elseif kind == "title" then quire.content.update(e.id, { title = e.title .. " (updated)" })
elseif kind == "publish" then
  quire.content.create { type = "article", title = "A new post", slug = "bench-new-" .. os.time(), section = e.section, tags = e.tags,
    status = "published", body = e.body, author = "ash" }
elseif kind == "unpublish" then quire.content.update(quire.content.query { status = "published", limit = 1 }[1].id, { status = "draft" })
elseif kind == "retag" then
  local tags = e.tags
  tags[#tags] = tags[#tags] == "bench-retag" and "bench-retag-2" or "bench-retag"
  quire.content.update(e.id, { tags = tags })
elseif kind == "redirect-add" then quire.redirects.add { from = "/bench-old-address", to = "/latest" }
elseif kind == "redirect-delete" then quire.redirects.delete("/bench-old-address") end
LUA
KINDS=${KINDS:-body title nothing publish unpublish retag redirect-add redirect-delete}

declare -A cpu wall
# run WHO BINARY SITE PLUGINS: the full export, then ROUNDS of each of KINDS; sums in cpu/wall.
run() {
  local who=$1 q=$2 site=$3 kind r t
  local -x QUIRE_BUNDLED_PLUGINS=$4
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$q" export --format html "$tmp/out-$who" --site "$site" --base-url https://news.example \
    --jobs "$JOBS" >/dev/null
  printf '%-7s full export: %s s wall\n' "$who" "$(cut -d' ' -f1 "$tmp/time")"
  for r in $(seq "$ROUNDS"); do
    for kind in $KINDS; do
      [ "$kind" = nothing ] || "$q" run --yes --site "$site" "$tmp/edit.lua" "$N" "$kind" >/dev/null 2>&1
      /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$q" export --format html "$tmp/out-$who" --site "$site" \
        --base-url https://news.example --jobs "$JOBS" > "$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
      read -r w u s < "$tmp/time"
      t=$(bc -l <<<"$u + $s")
      printf '%-7s round %d %-8s %6.2f s wall %6.2f s cpu  %s\n' "$who" "$r" "$kind" "$w" "$t" "$(tail -1 "$tmp/log" | grep -o '[0-9]* files written.*' | cut -c1-60)"
      cpu[$who.$kind]=$(bc -l <<<"${cpu[$who.$kind]:-0} + $t")
      wall[$who.$kind]=$(bc -l <<<"${wall[$who.$kind]:-0} + $w")
    done
  done
}
if [ -n "${QUIRE_BEFORE:-}" ]; then
  cp -a "$tmp/site" "$tmp/site-before"
  before_plugins=${QUIRE_BEFORE_PLUGINS:-$(cd "$(dirname "$QUIRE_BEFORE")/.." && pwd)/plugins}
  [ -d "$before_plugins" ] || before_plugins=$root/plugins
  run before "$QUIRE_BEFORE" "$tmp/site-before" "$before_plugins"
fi
run quire "$QUIRE" "$tmp/site" "$root/plugins"
declare -A label=([body]="a body edit" [title]="a title edit" [nothing]="no change" [publish]="a publish"
  [unpublish]="an unpublish" [retag]="a retag" [redirect-add]="redirect added" [redirect-delete]="redirect gone")
for kind in $KINDS; do
  line=$(printf '%-15s quire %5.2f s cpu, %5.2f s wall (mean)' "${label[$kind]}" "$(bc -l <<<"${cpu[quire.$kind]} / $ROUNDS")" \
    "$(bc -l <<<"${wall[quire.$kind]} / $ROUNDS")")
  if [ -n "${QUIRE_BEFORE:-}" ]; then
    line+=$(printf '; before %5.2f s cpu, %5.2f s wall; cpu ratio %.3f' "$(bc -l <<<"${cpu[before.$kind]} / $ROUNDS")" \
      "$(bc -l <<<"${wall[before.$kind]} / $ROUNDS")" "$(bc -l <<<"${cpu[quire.$kind]} / ${cpu[before.$kind]}")")
  fi
  echo "$line"
done
echo "(goal: < 1 s wall after one edit)"
