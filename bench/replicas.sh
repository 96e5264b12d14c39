#!/usr/bin/env bash
# Read replicas (issue 20): uncached anonymous story renders on one node over PostgreSQL, reading
# the primary only, against the same node with read_replicas = { a streaming hot standby } of a
# throw-away cluster (tests/pg_cluster.sh), same run, same page, in ROUNDS interleaved rounds.
# Every request has a new query string, so every one renders (no page-cache hit). On one
# machine the standby adds no capacity: this measures what choosing it costs (the floor and
# the routing), not the scale it buys. Prints the median req/s of each and their ratio.
# usage: bash bench/replicas.sh   (from the repo root after a build in ./build)
# env: QUIRE (default build/quire), CONNECTIONS (8), DURATION (5s), ROUNDS (3), WORKERS (2)
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
CONNECTIONS=${CONNECTIONS:-8}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
. "$(dirname "$0")/../tests/pg_cluster.sh"
pg_cluster_start
WORK=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; pg_cluster_stop' EXIT
cd "$WORK"
"$QUIRE" init site >/dev/null
printf 'database = "%s"\nplugins = { "theme", "article", "opinion", "comments", "share", "prevnext", "sponsor", "feeds", "search", "listings", "workflow" }\n' \
  "$QUIRE_PG_URL" >> site/site.lua
id=$("$QUIRE" entries create --site site --type article --title "Harbour wall repaired" --status published \
  --body "The **harbour** wall is mended." --tags "harbour,council")
echo "print(quire.content.url(quire.content.get($id)))" > url.lua
story=$("$QUIRE" run --yes --site site url.lua)
pg_standby_create
cp site/site.lua primary.lua
cp site/site.lua replica.lua
echo "read_replicas = { \"$(pg_standby_url quire)\" }" >> replica.lua
cat > uniq.lua <<'EOF'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "?u=" .. counter .. "-" .. math.random(1000000000))
end
EOF

rate() { # rate CONFIG -> req/s of one wrk run against a fresh server
  cp "$1.lua" site/site.lua
  "$QUIRE" serve --site site --listen 127.0.0.1:0 --workers "$WORKERS" > "$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q "serving with" "$1.log" && break; sleep 0.1; done
  grep -q "serving with" "$1.log" || { echo "the server did not start:" >&2; cat "$1.log" >&2; exit 1; }
  local port; port=$(grep -o 'http://127.0.0.1:[0-9]*' "$1.log" | head -1 | cut -d: -f3)
  wrk -t2 -c"$CONNECTIONS" -d2s -s uniq.lua "http://127.0.0.1:$port$story" >/dev/null # warm up
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s uniq.lua "http://127.0.0.1:$port$story" | awk '/Requests\/sec/ { print $2 }'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
p=() r=()
for round in $(seq "$ROUNDS"); do
  r+=("$(rate replica)")
  p+=("$(rate primary)")
  echo "round $round: primary only ${p[-1]} req/s, with a standby ${r[-1]} req/s"
done
pm=$(printf '%s\n' "${p[@]}" | median)
rm_=$(printf '%s\n' "${r[@]}" | median)
# The standby did the reading: its transactions counted (stats reach the view within seconds).
sleep 1
echo "standby transactions in database quire: $(pg_standby_psql quire -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'quire'")"
echo "median: primary only $pm req/s, with a standby $rm_ req/s; ratio $(awk -v a="$rm_" -v b="$pm" 'BEGIN { printf "%.2f", a / b }')"
