#!/usr/bin/env bash
# HTTP throughput over loopback with wrk on the demo site's lead article page: (a) nginx serving
# the rendered page as a static file (the ceiling), (b) quire answering from its page cache,
# (c) quire rendering every request (--no-cache); same page bytes, connections, threads and
# duration, in ROUNDS interleaved rounds. Prints the median req/s, p99 latency, ratios to nginx,
# server CPU time per request (utime+stime of the master and all workers from /proc over the
# run), and worker RSS idle and after >= 100k requests.
# usage: bash bench/http.sh   (from the repo root after a build in ./build)
# env: QUIRE (default build/quire), WORKERS (default: cores), CONNECTIONS (64), THREADS (2),
#      DURATION (10s), ROUNDS (3), ACCESS_LOG (on: both servers append to a file; off: neither logs)
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
WORKERS=${WORKERS:-$(nproc)}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
ACCESS_LOG=${ACCESS_LOG:-on}
[ -x "$QUIRE" ] || { echo "no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    systemctl stop nginx 2>/dev/null || true # a freshly installed nginx service is not ours
  else
    echo "missing: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d /tmp/quire-bench-http-XXXXXX)
chmod 755 "$work" # nginx's workers run as nobody and read www/ from here
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)); }

# --- the site: the demo (quire init --demo), benchmarked on its lead story's page (the datelined
# article with the most comments: hero image, Markdown body, related posts, a comment thread,
# share counts, neighbours, sponsor slots)
"$QUIRE" init --demo "$work/site" >/dev/null
mkdir -p "$work/logs"
quire_log=off nginx_log=off
if [ "$ACCESS_LOG" = on ]; then quire_log="$work/logs/quire-access.log"; nginx_log="$work/logs/nginx-access.log"; fi
cat >> "$work/site/site.lua" <<LUA
access_log = "$quire_log"
limits = { connections_per_ip = 10000 }
LUA
cat > "$work/lead.lua" <<'LUA'
local lead, most = nil, -1
for _, e in ipairs(quire.content.query { type = "article", status = "published", limit = 1000 }) do
  local n = quire.comments.count(e.id, "approved")
  if e.fields.dateline and n > most then lead, most = e, n end
end
print(quire.content.url(lead))
LUA
URL_PATH=$("$QUIRE" run --site "$work/site" "$work/lead.lua")
case "$URL_PATH" in /*) ;; *) echo "no lead article URL: $URL_PATH" >&2; exit 1 ;; esac

clk=$(getconf CLK_TCK)
# CPU ticks (utime+stime) of a process and its children (the workers)
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
worker_rss() { # "a b" in KiB for each child
  local p out=""
  for p in $(pgrep -P "$1" || true); do out+="$(awk '/^VmRSS/ {print $2}' "/proc/$p/status") "; done
  echo "${out% }"
}
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1$URL_PATH" && return 0; sleep 0.1; done; return 1; }

# run NAME PID PORT: wrk against the page; sets REQS RPS P99 CPU_US
run() {
  local name=$1 pid=$2 port=$3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port$URL_PATH" >/dev/null # warm-up
  local c0 c1 out
  c0=$(cpu_ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port$URL_PATH")
  c1=$(cpu_ticks "$pid")
  echo "$out" > "$work/wrk-$name.txt"
  REQS=$(awk '/requests in/ {print $1}' <<<"$out")
  RPS=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  local errs
  errs=$(awk '/Non-2xx|Socket errors/' <<<"$out")
  [ -n "$errs" ] && echo "  $name: $errs" >&2
  CPU_US=$(awk -v t=$((c1 - c0)) -v hz="$clk" -v n="$REQS" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
}
# top_up PID PORT DONE: more wrk until at least 100k requests were served, for the RSS figure
top_up() {
  local done=$3
  while [ "$done" -lt 100000 ]; do
    local n
    n=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d5s "http://127.0.0.1:$2$URL_PATH" | awk '/requests in/ {print $1}')
    done=$((done + n))
  done
  SERVED=$done
}

# --- the three servers, all up at once so the rounds can take turns
start_quire() { # VAR_PID VAR_PORT [serve flags]
  local port pid
  port=$(free_port)
  "$QUIRE" serve --site "$work/site" --listen "127.0.0.1:$port" --workers "$WORKERS" "${@:3}" > "$work/logs/quire-$1.out" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_port "$port" || { echo "quire did not start:" >&2; cat "$work/logs/quire-$1.out" >&2; exit 1; }
  printf -v "$1" '%s' "$pid"
  printf -v "$2" '%s' "$port"
}

start_quire CPID CPORT
curl -s "http://127.0.0.1:$CPORT$URL_PATH" > "$work/page.html"
hits=0 # each worker has its own cache: a few requests warm them all
for _ in $(seq 8); do curl -s -D - -o /dev/null "http://127.0.0.1:$CPORT$URL_PATH" | grep -qi '^X-Cache: hit' && hits=$((hits + 1)); done
[ "$hits" -gt 0 ] || echo "warning: the page is not served from the page cache" >&2
page_bytes=$(wc -c < "$work/page.html")
start_quire UPID UPORT --no-cache

# nginx: the same bytes as a static file, same worker count, our own config and prefix
mkdir -p "$work/www$(dirname "$URL_PATH")"
cp "$work/page.html" "$work/www$URL_PATH"
chmod -R a+rX "$work/www"
NPORT=$(free_port)
nginx_access="access_log $nginx_log;"
[ "$nginx_log" = off ] && nginx_access="access_log off;"
cat > "$work/nginx.conf" <<CONF
daemon off;
worker_processes $WORKERS;
pid $work/nginx.pid;
error_log $work/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type text/html;
  $nginx_access
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT;
    root $work/www;
    location / { default_type "text/html; charset=utf-8"; }
  }
}
CONF
"$NGINX" -p "$work" -c "$work/nginx.conf" -e "$work/logs/nginx-error.log" &
NPID=$!
pids+=("$NPID")
wait_port "$NPORT" || { echo "nginx did not start:" >&2; cat "$work/logs/nginx-error.log" >&2; exit 1; }
cmp -s <(curl -s "http://127.0.0.1:$NPORT$URL_PATH") "$work/page.html" || echo "warning: nginx serves different bytes" >&2
sleep 0.5
C_IDLE=$(worker_rss "$CPID") Q_IDLE=$(worker_rss "$UPID") N_IDLE=$(worker_rss "$NPID")

# --- ROUNDS rounds, each running the three servers in turn (in a rotating order, so none is
# always first after a pause); the medians are reported. A shared machine's noise moves single
# runs by 20% or more; interleaving keeps a slow minute from landing on one server only.
names=(nginx cached uncached)
declare -A PID=([nginx]=$NPID [cached]=$CPID [uncached]=$UPID) PORT=([nginx]=$NPORT [cached]=$CPORT [uncached]=$UPORT)
declare -A ALL_RPS ALL_P99 ALL_CPU SERVED_BY
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2; do
    name=${names[$(((i + r - 1) % 3))]}
    run "$name" "${PID[$name]}" "${PORT[$name]}"
    ALL_RPS[$name]+="$RPS " ALL_P99[$name]+="$P99 " ALL_CPU[$name]+="$CPU_US "
    SERVED_BY[$name]=$((${SERVED_BY[$name]:-0} + REQS))
  done
  echo "round $r: req/s nginx $(awk '{print $NF}' <<<"${ALL_RPS[nginx]}"), cached $(awk '{print $NF}' <<<"${ALL_RPS[cached]}"), uncached $(awk '{print $NF}' <<<"${ALL_RPS[uncached]}")" >&2
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# p99 values carry units (us, ms, s): compared in microseconds
to_us() { for v in $1; do awk -v v="$v" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u); f = (u == "s") ? 1e6 : (u == "ms") ? 1e3 : 1; printf "%.0f ", n * f }'; done; }
N_RPS=$(median "${ALL_RPS[nginx]}") C_RPS=$(median "${ALL_RPS[cached]}") U_RPS=$(median "${ALL_RPS[uncached]}")
N_CPU=$(median "${ALL_CPU[nginx]}") C_CPU=$(median "${ALL_CPU[cached]}") U_CPU=$(median "${ALL_CPU[uncached]}")
p99() { awk -v u="$(median "$(to_us "$1")")" 'BEGIN { printf "%.2fms", u / 1000 }'; }
N_P99=$(p99 "${ALL_P99[nginx]}") C_P99=$(p99 "${ALL_P99[cached]}") U_P99=$(p99 "${ALL_P99[uncached]}")

top_up "$CPID" "$CPORT" "${SERVED_BY[cached]}"; C_SERVED=$SERVED C_AFTER=$(worker_rss "$CPID")
top_up "$UPID" "$UPORT" "${SERVED_BY[uncached]}"; Q_SERVED=$SERVED Q_AFTER=$(worker_rss "$UPID")
top_up "$NPID" "$NPORT" "${SERVED_BY[nginx]}"; N_SERVED=$SERVED N_AFTER=$(worker_rss "$NPID")
kill -TERM "$CPID" "$UPID"; kill -QUIT "$NPID"
wait "$CPID" "$UPID" "$NPID" 2>/dev/null || true

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "HTTP over loopback: $(nproc) cores, $WORKERS workers each, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, GET $URL_PATH ($page_bytes bytes), access log $ACCESS_LOG"
echo "medians of $ROUNDS rounds (req/s per round: nginx ${ALL_RPS[nginx]}| cached ${ALL_RPS[cached]}| uncached ${ALL_RPS[uncached]})"
printf '%-24s %10s %10s %14s %12s %12s\n' "server" "req/s" "p99" "CPU us/req" "x nginx rps" "x nginx CPU"
printf '%-24s %10s %10s %14s %12s %12s\n' "nginx static file" "$N_RPS" "$N_P99" "$N_CPU" "1.00" "1.00"
printf '%-24s %10s %10s %14s %12s %12s\n' "quire page cache" "$C_RPS" "$C_P99" "$C_CPU" "$(ratio "$C_RPS" "$N_RPS")" "$(ratio "$C_CPU" "$N_CPU")"
printf '%-24s %10s %10s %14s %12s %12s\n' "quire --no-cache" "$U_RPS" "$U_P99" "$U_CPU" "$(ratio "$U_RPS" "$N_RPS")" "$(ratio "$U_CPU" "$N_CPU")"
echo "RSS per worker (KiB), idle -> after N requests:"
echo "  quire page cache: $C_IDLE -> $C_AFTER (N=$C_SERVED)"
echo "  quire --no-cache: $Q_IDLE -> $Q_AFTER (N=$Q_SERVED)"
echo "  nginx:            $N_IDLE -> $N_AFTER (N=$N_SERVED)"
