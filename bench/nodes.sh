#!/usr/bin/env bash
# One machine and many (issue 20), same run, same page: the demo site on SQLite, its data copied
# to a throw-away PostgreSQL 15 cluster (tests/pg_cluster.sh: Unix socket, fsync off), served by
# `quire serve` nodes of one worker each; wrk on PAGE from the page cache (cached) and with
# --no-cache (uncached), in ROUNDS interleaved rounds:
#   sqlite_*   one node on SQLite
#   pg_*       one node on PostgreSQL
#   pg2_*      two nodes on the same PostgreSQL database, a wrk against each at once (summed)
# Then the write-to-invalidation latency across nodes (bench/invalidation.py): WRITES title
# edits committed by a `quire run` process, each timed from the commit's return until the other
# node (which had the old page cached) serves the new title, polled every POLL_MS (with BASE,
# the two binaries take turns in INV_ROUNDS rounds); median, p90,
# p99 and max, with how long B still answered stale, the client's own polling window and the
# fresh answer's own round trip; then the statements a render of that story runs after each kind
# of write (bench/invalidated_render.lua, on PostgreSQL). The machine is shared: `nice -n -10 bash bench/nodes.sh` (as
# root) runs PostgreSQL, the nodes and the clients ahead of builds run under `nice -n 10`.
# Prints medians and the ratios: PostgreSQL / SQLite on one node (the issue's goal: uncached
# >= 0.7), two nodes / one, and with BASE the same against an older binary (before / after).
# usage: bash bench/nodes.sh   (from the repo root after a build in ./build)
# env:
#   QUIRE        the binary measured (default build/quire)
#   BASE         an older binary to compare with (e.g. main's, built in another worktree); it
#                serves its own copies of the site and database (its schema may be older).
#                Unset: no before/after rows.
#   CONNECTIONS  wrk connections per node (8)
#   DURATION     each wrk run (5s)
#   ROUNDS       interleaved rounds, the median of each reported (3)
#   PAGE         the page measured (/tag/council)
#   WRITES       writes timed for the invalidation latency (300)
#   INV_ROUNDS   rounds the binaries take turns in for those writes (6)
#   POLL_MS      how often the other node is asked during a write's wait (1; 0: back to back)
#   ONLY         "invalidation": skip the wrk rows (only the nodes the latency needs are started)
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
BASE=${BASE:+$(realpath "$BASE")}
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
PAGE=${PAGE:-/tag/council}
WRITES=${WRITES:-300}
INV_ROUNDS=${INV_ROUNDS:-6}
ONLY=${ONLY:-}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
. "$HERE/../tests/pg_cluster.sh"
pg_cluster_start
WORK=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; pg_cluster_stop' EXIT

site() { # site BINARY NAME DATABASE_URL: $WORK/NAME-sqlite and $WORK/NAME-pg (the same data)
  "$1" init --demo "$WORK/$2-sqlite" >/dev/null
  "$1" store copy --site "$WORK/$2-sqlite" --to "$3" >/dev/null
  mkdir "$WORK/$2-pg" && cp "$WORK/$2-sqlite/site.lua" "$WORK/$2-pg/site.lua"
  echo "database = \"$3\"" >> "$WORK/$2-pg/site.lua"
}
site "$QUIRE" new "$QUIRE_PG_URL"
[ -n "$BASE" ] && site "$BASE" base "$(pg_new_db base)"

declare -A ports
serve() { # serve KEY BINARY SITE [ARGS]: ports[KEY]
  "$2" serve --site "$3" --listen 127.0.0.1:0 --workers 1 "${@:4}" > "$WORK/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -qs "serving with" "$WORK/$1.log" && break; sleep 0.1; done
  local port
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/$1.log" | head -1 | cut -d: -f3)
  curl -sf -o /dev/null "http://127.0.0.1:$port$PAGE" || { echo "$1: $PAGE does not answer 200" >&2; exit 1; }
  ports[$1]=$port
}
builds=(new)
[ -n "$BASE" ] && builds+=(base)
for b in "${builds[@]}"; do
  bin=$QUIRE
  [ "$b" = base ] && bin=$BASE
  if [ "$ONLY" = invalidation ]; then
    serve "$b:pg_cached:b" "$bin" "$WORK/$b-pg"
    continue
  fi
  serve "$b:sqlite_cached" "$bin" "$WORK/$b-sqlite"
  serve "$b:sqlite_uncached" "$bin" "$WORK/$b-sqlite" --no-cache
  for node in a b; do
    serve "$b:pg_cached:$node" "$bin" "$WORK/$b-pg"
    serve "$b:pg_uncached:$node" "$bin" "$WORK/$b-pg" --no-cache
  done
done

rps() { wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$1$PAGE" | awk '/Requests\/sec/ { print $2 }'; }
declare -A runs
[ "$ONLY" = invalidation ] && ROUNDS=0
KINDS="sqlite_cached pg_cached pg2_cached sqlite_uncached pg_uncached pg2_uncached"
for round in $(seq "$ROUNDS"); do
  for b in "${builds[@]}"; do
    for k in $KINDS; do
      case $k in
        pg2_*) # both nodes at once
          mode=${k#pg2_}
          rps "${ports[$b:pg_$mode:a]}" > "$WORK/wrk-a" & wa=$!
          rps "${ports[$b:pg_$mode:b]}" > "$WORK/wrk-b" & wb=$!
          wait $wa $wb
          r=$(echo "$(cat "$WORK/wrk-a") + $(cat "$WORK/wrk-b")" | bc) ;;
        pg_*) r=$(rps "${ports[$b:$k:a]}") ;;
        *) r=$(rps "${ports[$b:$k]}") ;;
      esac
      runs[$b:$k]="${runs[$b:$k]:-} $r"
    done
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
med() { echo "${runs[$1]}" | median; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
[ "$ONLY" = invalidation ] || echo "$PAGE, $CONNECTIONS connections per node, $DURATION x $ROUNDS rounds (median req/s):"
for b in "${builds[@]}"; do
  [ "$ONLY" = invalidation ] && break
  label=$QUIRE
  [ "$b" = base ] && label="$BASE (BASE)"
  echo "$label"
  for k in $KINDS; do printf '  %-16s req/s %9s  (runs:%s)\n' "$k" "$(med "$b:$k")" "${runs[$b:$k]}"; done
  for mode in cached uncached; do
    echo "  PostgreSQL / SQLite, one node, $mode: $(ratio "$(med "$b:pg_$mode")" "$(med "$b:sqlite_$mode")")"
  done
  for mode in cached uncached; do
    echo "  two PostgreSQL nodes / one, $mode: $(ratio "$(med "$b:pg2_$mode")" "$(med "$b:pg_$mode")")"
  done
done
if [ -n "$BASE" ] && [ "$ONLY" != invalidation ]; then
  echo "after / before (the same row of QUIRE over BASE):"
  for k in $KINDS; do printf '  %-16s %s\n' "$k" "$(ratio "$(med "new:$k")" "$(med "base:$k")")"; done
fi

# The story whose title the writes change, and its page.
echo 'local e = quire.content.query { type = "article", status = "published", limit = 1 }[1]
print(e.id .. " " .. quire.content.url(e))' > "$WORK/story.lua"
# The binaries take turns, WRITES / INV_ROUNDS writes each a round, so that the machine's load
# moving during the run weighs on both alike.
declare -A story
for b in "${builds[@]}"; do
  bin=$QUIRE
  [ "$b" = base ] && bin=$BASE
  story[$b]=$("$bin" run --yes --site "$WORK/$b-pg" "$WORK/story.lua")
done
for round in $(seq "$INV_ROUNDS"); do
  for b in "${builds[@]}"; do
    bin=$QUIRE
    [ "$b" = base ] && bin=$BASE
    read -r id path <<< "${story[$b]}"
    python3 "$HERE/invalidation.py" "$bin" "$WORK/$b-pg" "http://127.0.0.1:${ports[$b:pg_cached:b]}" "$id" "$path" \
      $(( WRITES / INV_ROUNDS )) "$WORK/invalidation-$b"
  done
done
for b in "${builds[@]}"; do
  printf '%s: ' "$b"
  python3 "$HERE/invalidation.py" --summary "$WORK/invalidation-$b"
done
# What a render costs after each kind of write, in statements (the new binary's count).
"$QUIRE" run --yes --site "$WORK/new-pg" "$HERE/invalidated_render.lua" 2>&1 | grep -v 'entries changed'
