#!/usr/bin/env bash
# A hot page being edited: wrk reads the demo's lead article as fast as it can through the page
# cache, first undisturbed, then while an editor saves that article every EDIT_EVERY seconds
# (each save invalidates the cached page in every worker). Prints, for both runs, req/s and the
# latency percentiles, and for the edited run how many renders each edit cost (page-cache misses
# counted by the workers, from `quire cache stats`). The edited run is made twice in the same
# run, with the stale-while-revalidate grace off (limits.stale_grace_ms = 0: the first request
# after an edit renders while the requests behind it on that worker wait) and on (GRACE).
# usage: bash bench/hot.sh   (from the repo root after a build in ./build)
# env: QUIRE (default build/quire), WORKERS (2), CONNECTIONS (64), THREADS (2), DURATION (20s),
#      EDIT_EVERY (1), GRACE (2000)
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
WORKERS=${WORKERS:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-20s}
EDIT_EVERY=${EDIT_EVERY:-1}
GRACE=${GRACE:-2000}
[ -x "$QUIRE" ] || { echo "no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d /tmp/quire-bench-hot-XXXXXX)
master=""
cleanup() {
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null || true; wait "$master" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$QUIRE" init --demo "$work/site" >/dev/null
cp "$work/site/site.lua" "$work/site.lua.orig"
# The editor: the lead story (the datelined article with the most comments) gets a new last line.
cat > "$work/edit.lua" <<'LUA'
local lead, most = nil, -1
for _, e in ipairs(quire.content.query { type = "article", status = "published", limit = 1000 }) do
  local n = quire.comments.count(e.id, "approved")
  if e.fields.dateline and n > most then lead, most = e, n end
end
if os.getenv("PRINT_URL") then print(quire.content.url(lead)) return end
local body = lead.body:gsub("\n\n_Updated [%d.]+%._$", "")
quire.content.update(lead.id, { body = body .. "\n\n_Updated " .. os.clock() .. "._" })
LUA
URL_PATH=$(PRINT_URL=1 "$QUIRE" run --site "$work/site" "$work/edit.lua")
case "$URL_PATH" in /*) ;; *) echo "no lead article URL: $URL_PATH" >&2; exit 1 ;; esac

serve() { # serve GRACE_MS: (re)starts the server with that grace
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null || true; wait "$master" 2>/dev/null || true; fi
  cp "$work/site.lua.orig" "$work/site/site.lua"
  printf 'access_log = "off"\nlimits = { connections_per_ip = 10000, stale_grace_ms = %s }\n' "$1" >> "$work/site/site.lua"
  "$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers "$WORKERS" > "$work/serve.log" 2>&1 &
  master=$!
  for _ in $(seq 100); do grep -q "serving with" "$work/serve.log" && break; sleep 0.1; done
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
  [ -n "$port" ] || { cat "$work/serve.log" >&2; exit 1; }
  url="http://127.0.0.1:$port$URL_PATH"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$url" >/dev/null # warm-up: every worker keeps the page
}
serve 0

# The workers publish their numbers every 2 s: wait for a fresh copy.
stat_total() { # stat_total FIELD
  sleep 2.5
  "$QUIRE" cache stats --site "$work/site" --format json |
    python3 -c "import json, sys; print(json.load(sys.stdin)['total'].get('$1', 0))"
}


# run NAME: wrk for DURATION (editing when NAME is "edited"); sets RPS P50 P99
run() {
  local out editor=""
  if [ "$1" = edited ]; then
    ( while :; do "$QUIRE" run --site "$work/site" "$work/edit.lua" >/dev/null 2>&1; echo . >> "$work/edits"; sleep "$EDIT_EVERY"; done ) &
    editor=$!
  fi
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  if [ -n "$editor" ]; then kill "$editor" 2>/dev/null || true; wait "$editor" 2>/dev/null || true; fi
  RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  P50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
}

m0=$(stat_total misses)
run quiet
Q_RPS=$RPS Q_P50=$P50 Q_P99=$P99
m1=$(stat_total misses)
: > "$work/edits"
run edited
E_RPS=$RPS E_P50=$P50 E_P99=$P99
m2=$(stat_total misses)
edits=$(wc -l < "$work/edits")
serve "$GRACE"
s0=$(stat_total misses)
: > "$work/edits"
run edited
S_RPS=$RPS S_P50=$P50 S_P99=$P99
s1=$(stat_total misses)
sedits=$(wc -l < "$work/edits")

echo "A hot page edited every ${EDIT_EVERY}s: $(nproc) cores, $WORKERS workers, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, GET $URL_PATH"
echo "(quiet and edited: stale_grace_ms = 0; swr: stale_grace_ms = $GRACE, a fresh server)"
printf '%-10s %10s %10s %10s %8s %10s %14s\n' run req/s p50 p99 edits renders "renders/edit"
printf '%-10s %10s %10s %10s %8s %10s %14s\n' quiet "$Q_RPS" "$Q_P50" "$Q_P99" 0 $((m1 - m0)) -
per_edit() { awk -v r="$1" -v e="$2" 'BEGIN { printf "%.2f", e ? r / e : 0 }'; }
printf '%-10s %10s %10s %10s %8s %10s %14s\n' edited "$E_RPS" "$E_P50" "$E_P99" "$edits" $((m2 - m1)) "$(per_edit $((m2 - m1)) "$edits")"
printf '%-10s %10s %10s %10s %8s %10s %14s\n' "swr $GRACE" "$S_RPS" "$S_P50" "$S_P99" "$sedits" $((s1 - s0)) "$(per_edit $((s1 - s0)) "$sedits")"
