#!/usr/bin/env bash
# One node on SQLite against one node on PostgreSQL (issue 20), same run, same page: the demo
# site, its data copied to a throw-away PostgreSQL 15 cluster (tests/pg_cluster.sh: Unix socket,
# fsync off on both sides' behalf: SQLite runs as quire sets it), each served by one worker, wrk
# on the demo's tag page from the page cache (cached) and with --no-cache (uncached), in ROUNDS
# interleaved rounds. Prints the median req/s of each and the PostgreSQL / SQLite ratios (the
# issue's goal: uncached >= 0.7).
# usage: bash bench/nodes.sh   (from the repo root after a build in ./build)
# env: QUIRE (default build/quire), CONNECTIONS (8), DURATION (5s), ROUNDS (3), PAGE (/tag/council)
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
PAGE=${PAGE:-/tag/council}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
. "$(dirname "$0")/../tests/pg_cluster.sh"
pg_cluster_start
WORK=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; pg_cluster_stop' EXIT
"$QUIRE" init --demo "$WORK/sqlite" >/dev/null
"$QUIRE" store copy --site "$WORK/sqlite" --to "$QUIRE_PG_URL" >/dev/null
mkdir "$WORK/pg" && cp "$WORK/sqlite/site.lua" "$WORK/pg/site.lua"
echo "database = \"$QUIRE_PG_URL\"" >> "$WORK/pg/site.lua"

serve() { # serve NAME SITE [ARGS] -> port in $port
  "$QUIRE" serve --site "$2" --listen 127.0.0.1:0 --workers 1 "${@:3}" > "$WORK/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -qs "serving with" "$WORK/$1.log" && break; sleep 0.1; done
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/$1.log" | head -1 | cut -d: -f3)
  curl -sf -o /dev/null "http://127.0.0.1:$port$PAGE" || { echo "$1: $PAGE does not answer 200" >&2; exit 1; }
}
declare -A ports
serve sqlite_cached "$WORK/sqlite"; ports[sqlite_cached]=$port
serve pg_cached "$WORK/pg"; ports[pg_cached]=$port
serve sqlite_uncached "$WORK/sqlite" --no-cache; ports[sqlite_uncached]=$port
serve pg_uncached "$WORK/pg" --no-cache; ports[pg_uncached]=$port

declare -A runs
for round in $(seq "$ROUNDS"); do
  for k in sqlite_cached pg_cached sqlite_uncached pg_uncached; do
    rps=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:${ports[$k]}$PAGE" | awk '/Requests\/sec/ { print $2 }')
    runs[$k]="${runs[$k]:-} $rps"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for k in sqlite_cached pg_cached sqlite_uncached pg_uncached; do
  printf '%-16s req/s %s (runs:%s)\n' "$k" "$(echo "${runs[$k]}" | median)" "${runs[$k]}"
done
for mode in cached uncached; do
  s=$(echo "${runs[sqlite_$mode]}" | median) p=$(echo "${runs[pg_$mode]}" | median)
  printf 'PostgreSQL / SQLite, %s: %s\n' "$mode" "$(echo "scale=2; $p / $s" | bc)"
done
