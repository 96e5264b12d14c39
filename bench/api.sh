#!/usr/bin/env bash
# The Content API against the same content as HTML, same server, same run, with wrk: the lead
# article's page vs /api/content/v1/entries/ID (body, dateline, include=author,terms), and the
# News section's page vs /api/content/v1/entries?section=news&limit=10 (the same ten stories);
# once from the page cache, once with --no-cache (every request rendered), in ROUNDS rounds
# that alternate HTML and API. Prints the median req/s and the API / HTML ratio of each pair.
# usage: bash bench/api.sh   (from the repo root after a build in ./build)
# env: QUIRE (default build/quire), WORKERS (default: cores), CONNECTIONS (32), THREADS (2), DURATION (5s),
#      ROUNDS (3)
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
WORKERS=${WORKERS:-$(nproc)}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
[ -x "$QUIRE" ] || { echo "no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed: sudo apt-get install -y wrk" >&2; exit 1; }

work=$(mktemp -d /tmp/quire-bench-api-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$QUIRE" init --demo "$work/site" >/dev/null
cat >> "$work/site/site.lua" <<'LUA'
access_log = "off"
limits = { connections_per_ip = 10000 }
api = { content = "open" }
LUA
cat > "$work/lead.lua" <<'LUA'
local lead, most = nil, -1
for _, e in ipairs(quire.content.query { type = "article", status = "published", limit = 1000 }) do
  local n = quire.comments.count(e.id, "approved")
  if e.fields.dateline and n > most then lead, most = e, n end
end
print(lead.id .. " " .. quire.content.url(lead))
LUA
read -r LEAD_ID LEAD_PATH < <("$QUIRE" run --site "$work/site" "$work/lead.lua")

rate() { # URL -> requests per second
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$1" | awk '/^Requests\/sec/ {printf "%d", $2}'
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

run_mode() { # label, extra serve flags
  "$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers "$WORKERS" $2 > "$work/serve.log" 2>&1 &
  pid=$!
  local port=
  for _ in $(seq 100); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
  local b="http://127.0.0.1:$port"
  # The same stories in both: the section page lists the ten newest of News.
  curl -sf "$b/api/content/v1/entries?section=news&limit=10" > /dev/null
  local r html_one=() api_one=() html_list=() api_list=()
  for r in $(seq "$ROUNDS"); do
    html_one+=("$(rate "$b$LEAD_PATH")")
    api_one+=("$(rate "$b/api/content/v1/entries/$LEAD_ID?include=author,terms")")
    html_list+=("$(rate "$b/section/news")")
    api_list+=("$(rate "$b/api/content/v1/entries?section=news&limit=10")")
  done
  local h1 a1 h2 a2
  h1=$(median "${html_one[@]}"); a1=$(median "${api_one[@]}"); h2=$(median "${html_list[@]}"); a2=$(median "${api_list[@]}")
  printf '%-9s single entry: HTML %7d req/s  API %7d req/s  API/HTML %.2f\n' "$1" "$h1" "$a1" "$(echo "$a1 / $h1" | bc -l)"
  printf '%-9s list of 10:   HTML %7d req/s  API %7d req/s  API/HTML %.2f\n' "$1" "$h2" "$a2" "$(echo "$a2 / $h2" | bc -l)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

echo "quire $("$QUIRE" --version | awk '{print $2}'), $WORKERS worker(s), wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
run_mode cached ""
run_mode uncached "--no-cache"
