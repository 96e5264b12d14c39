#!/usr/bin/env bash
# Integration tests of `quire serve` with real clients (curl, wrk, raw sockets through bash's
# /dev/tcp): HTTP/1.1 behaviour, limits, static files, the page cache and `quire cache stats`,
# reload under load, crash recovery, draining, the access log, slowloris.
# usage: server_test.sh QUIRE_BINARY TESTS_DIR
set -u
QUIRE=$1
FIXTURES=$2/fixtures/plugins
work=$(mktemp -d /tmp/quire-server-XXXXXX)
master=""
cleanup() { [ -n "$master" ] && kill -9 "$master" 2>/dev/null; pkill -9 -f "__worker --site $work" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap '' PIPE # a server that answers and closes early must not kill the test shell
. "$(dirname "$0")/harness.sh"
TEST_NAME=server

"$QUIRE" init "$work/site" >/dev/null
cat >> "$work/site/site.lua" <<LUA
plugins = { "serverfix" }
plugin_path = { "$FIXTURES" }
-- Reads right after a write must see it: no stale-while-revalidate here (tests/stale_test.sh).
limits = { header_timeout_ms = 1500, keepalive_timeout_ms = 1500, connections_per_ip = 10, request_body = 65536, page_cache_bytes = 1048576, stale_grace_ms = 0 }
LUA
mkdir -p "$work/site/public/css" "$work/outside"
printf 'body { color: #111; }\n' > "$work/site/public/css/site.0123abcd.css"
head -c 5000 /dev/urandom > "$work/site/public/blob.bin"
echo "secret" > "$work/outside/secret.txt"
ln -s "$work/outside/secret.txt" "$work/site/public/link.txt"
# public/ as a checkout: its .git and an .env are the site's, not the public's; .well-known is.
mkdir -p "$work/site/public/.git" "$work/site/public/.well-known" "$work/site/public/docs/.hidden"
echo "[remote] url = https://token@git.example" > "$work/site/public/.git/config"
echo "DB_PASSWORD=x" > "$work/site/public/.env"
echo "inside" > "$work/site/public/docs/.hidden/a.txt"
echo "Contact: mailto:security@news.example" > "$work/site/public/.well-known/security.txt"

start() {
  "$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers 2 > "$work/serve.log" 2>&1 &
  master=$!
  waitfor 60 started "$work/serve.log"
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
  base="http://127.0.0.1:$port"
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# raw REQUEST-BYTES: sends them on a fresh connection and prints what comes back (2 s at most)
raw() {
  exec 5<>/dev/tcp/127.0.0.1/$port
  printf "$1" >&5
  timeout 3 cat <&5
  exec 5<&-
}

start
check "server started" test -n "$port"

# --- basics
check "GET a plugin route" test "$(curl -s "$base/hello")" = hello
check "404" test "$(code "$base/missing")" = 404
check "405" test "$(code -X DELETE "$base/hello")" = 405
allow=$(curl -s -D - -o /dev/null -X DELETE "$base/hello" | tr -d '\r' | grep -i '^allow:')
check "405 names Allow ($allow)" test "$allow" = "Allow: GET, HEAD"
head=$(curl -s -I "$base/hello" | tr -d '\r')
check "HEAD has a length and no body" grep -q '^Content-Length: 5' <<<"$head"
etag=$(curl -s -D - -o /dev/null "$base/hello" | tr -d '\r' | sed -n 's/^ETag: //p')
check "ETag present" test -n "$etag"
check "If-None-Match gives 304" test "$(code -H "If-None-Match: $etag" "$base/hello")" = 304
gz=$(curl -s -D - -o "$work/big.gz" -H 'Accept-Encoding: gzip' "$base/big" | tr -d '\r')
check "gzip when accepted" grep -q '^Content-Encoding: gzip' <<<"$gz"
check "Vary: Accept-Encoding" grep -q '^Vary: Accept-Encoding' <<<"$gz"
check "gzip body decodes" test "$(gunzip -c "$work/big.gz" | wc -c)" = 12000
check "no gzip when not accepted" test "$(curl -s "$base/big" | wc -c)" = 12000
check "POST body" test "$(curl -s --data-binary 'hello world' "$base/echo")" = "11:hello world"

# --- keep-alive and pipelining: three requests in one write, three answers in order
out=$(raw 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
statuses=$(grep -o 'HTTP/1.1 [0-9]*' <<<"$out" | awk '{print $2}' | tr '\n' ' ')
check "pipelined answers in order ($statuses)" test "$statuses" = "200 404 200 "
out=$(raw 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
check "chunked request body" grep -q '11:hello world' <<<"$out"
out=$(curl -s -H 'Expect: 100-continue' --data-binary "@$work/site/public/blob.bin" -H 'Content-Type: application/octet-stream' "$base/echo" | tr -d '\0')
check "Expect: 100-continue" grep -q '^5000:' <<<"$out"

# --- limits and framing
long=$(head -c 9000 /dev/zero | tr '\0' a)
check "request line too long: 414" test "$(code "$base/$long")" = 414
check "header too long: 431" test "$(code -H "X-Big: $long" "$base/hello")" = 431
hdrs=(); for i in $(seq 101); do hdrs+=(-H "X-H$i: v"); done
check "too many headers: 431" test "$(code "${hdrs[@]}" "$base/hello")" = 431
head -c 70000 /dev/zero > "$work/body.bin"
check "body too large: 413" test "$(code --data-binary "@$work/body.bin" "$base/echo")" = 413
out=$(raw 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
check "Content-Length with Transfer-Encoding: 400" grep -q '^HTTP/1.1 400' <<<"$out"
out=$(raw 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!')
check "conflicting lengths: 400" grep -q '^HTTP/1.1 400' <<<"$out"
out=$(raw 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n')
check "chunk-size overflow: 400" grep -q '^HTTP/1.1 400' <<<"$out"
out=$(raw 'GARBAGE\r\n\r\n')
check "malformed request: 400" grep -q '^HTTP/1.1 400' <<<"$out"

# --- slow and idle clients cannot hold the server
exec 6<>/dev/tcp/127.0.0.1/$port; printf 'GET /hello HTTP/1.1\r\nHost: x\r\n' >&6
out=$(timeout 4 cat <&6); exec 6<&-
check "slow head: 408" grep -q '^HTTP/1.1 408' <<<"$out"
exec 6<>/dev/tcp/127.0.0.1/$port; printf 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n' >&6
start_t=$(date +%s%N); out=$(timeout 5 cat <&6); end_t=$(date +%s%N); exec 6<&-
idle_ms=$(( (end_t - start_t) / 1000000 ))
check "idle keep-alive connection closed (${idle_ms} ms)" test "$idle_ms" -lt 4500
# 25 connections over 2 workers with a cap of 10 per address and worker: some are refused
fds=()
for i in $(seq 25); do exec {fd}<>/dev/tcp/127.0.0.1/$port; fds+=("$fd"); done
refused=0
# Each is read to its end, as the server closes every one (a 429 at once, the others after the
# 1.5 s header deadline): no guess at how soon a loaded machine answers.
for fd in "${fds[@]}"; do timeout 5 cat <&$fd | grep -q '^HTTP/1.1 429' && refused=$((refused + 1)); done
for fd in "${fds[@]}"; do exec {fd}<&-; done
check "per-IP connection cap: 429 ($refused refused)" test "$refused" -ge 5
sleep 0.3

# --- static files
check "static file" grep -q 'color' <<<"$(curl -s "$base/css/site.0123abcd.css")"
cc=$(curl -s -D - -o /dev/null "$base/css/site.0123abcd.css" | tr -d '\r')
check "fingerprinted assets cached for a year" grep -q 'max-age=31536000, immutable' <<<"$cc"
check "static content type" grep -q '^Content-Type: text/css' <<<"$cc"
lm=$(sed -n 's/^Last-Modified: //p' <<<"$cc")
check "If-Modified-Since gives 304" test "$(code -H "If-Modified-Since: $lm" "$base/css/site.0123abcd.css")" = 304
check "Range gives 206" test "$(code -H 'Range: bytes=10-19' "$base/blob.bin")" = 206
check "Range bytes are right" cmp -s <(curl -s -H 'Range: bytes=10-19' "$base/blob.bin") <(tail -c +11 "$work/site/public/blob.bin" | head -c 10)
check "unsatisfiable Range: 416" test "$(code -H 'Range: bytes=9000-' "$base/blob.bin")" = 416
check "no .. traversal" test "$(code --path-as-is "$base/../site.lua")" != 200
check "no encoded traversal" test "$(code "$base/%2e%2e/site.lua")" != 200
check "no symlink escape" test "$(code "$base/link.txt")" = 404
check "no hidden file or folder of public/ (.git, .env, docs/.hidden), raw or encoded" \
  test "$(code "$base/.git/config") $(code "$base/.env") $(code "$base/%2eenv") $(code "$base/docs/.hidden/a.txt")" = "404 404 404 404"
check ".well-known is served" test "$(curl -s "$base/.well-known/security.txt")" = "Contact: mailto:security@news.example"
# One rule for request paths, whatever would answer them (a public/ folder at /, the plugins'
# static files, the router): a backslash, a dot segment, an encoded NUL or a malformed %-escape,
# raw or encoded, is a 400 naming the problem. Checked here with public/ and again without it.
refused_paths() {
  local p out
  for p in '/a\b' '/a%5Cb' '/static/serverfix/x\y' '/a/./c' '/a/../c' '/hello/.' '/story/1/./' '/css/%2e%2e/site.0123abcd.css' \
      '/css/.%2E/site.0123abcd.css' '/a%00b' '/a%zz'; do
    out=$(curl -s --path-as-is -w '%{http_code}' "$base$p" | tr '\n' ' ') # (the body's line, then the status)
    check "$1: $p is a 400 naming the problem ($out)" grep -Eq '^400 Bad Request: the request path has (a backslash|a \. or \.\. segment|an encoded NUL|a malformed %-escape).* 400$' <<<"$out"
  done
  out=$(raw 'GET /a\\b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  check "$1: a raw backslash over a plain socket too" grep -q '^HTTP/1.1 400' <<<"$out"
  check "$1: the query is not the path's business" test "$(code --path-as-is "$base/hello?x=/../a\\b")" = 200
  check "$1: a name of dots is no dot segment" test "$(code "$base/a/...")" = 404
}
refused_paths "with public/"

# --- page cache: hits after the first render, never stale after a write, per-story invalidation
cat > "$work/stories.lua" <<'LUA'
for i = 1, 3 do quire.content.create { type = "article", title = "Story " .. i, status = "published" } end
LUA
"$QUIRE" run --site "$work/site" "$work/stories.lua"
hits=0
for _ in $(seq 10); do curl -s -D - -o /dev/null "$base/story/1" | grep -qi '^X-Cache: hit' && hits=$((hits + 1)); done
check "cached story page hits ($hits of 10)" test "$hits" -ge 7
first=$(curl -s "$base/story/1")
check "a hit is the same page" test "$(curl -s "$base/story/1")" = "$first"
echo 'quire.content.update(1, { title = "Story one, updated" })' > "$work/update.lua"
"$QUIRE" run --site "$work/site" "$work/update.lua"
stale=0
for _ in $(seq 10); do curl -s "$base/story/1" | grep -q '^Story one, updated' || stale=$((stale + 1)); done
check "no stale page after a write in another process ($stale stale)" test "$stale" = 0
for _ in $(seq 10); do curl -s "$base/latest" | grep -q 'Story one, updated' || stale=$((stale + 1)); done
check "lists follow the write too ($stale stale)" test "$stale" = 0
# Warm story 2 in both workers: the request id starts with the worker's pid.
declare -A warm=()
for _ in $(seq 400); do # which worker accepts is the scheduler's choice: ask until both have it
  h=$(curl -s -D - -o /dev/null "$base/story/2" | tr -d '\r')
  grep -qi '^X-Cache: hit' <<<"$h" && warm[$(sed -n 's/^X-Request-Id: \([0-9a-f]*\)-.*/\1/p' <<<"$h")]=1
  [ "${#warm[@]}" -ge 2 ] && break
done
check "story 2 cached in both workers" test "${#warm[@]}" = 2
echo 'quire.comments.create { entry = 1, author_name = "A", author_email = "a@example.org", body = "hi", status = "approved" }' > "$work/comment.lua"
"$QUIRE" run --site "$work/site" "$work/comment.lua"
check "a comment changes its story" grep -q '1 comments' <<<"$(curl -s "$base/story/1")"
hits=0
for _ in $(seq 6); do curl -s -D - -o /dev/null "$base/story/2" | grep -qi '^X-Cache: hit' && hits=$((hits + 1)); done
check "a comment on story 1 leaves story 2 cached ($hits of 6 hits)" test "$hits" = 6
for _ in $(seq 4); do curl -s "$base/story/3" > /dev/null; done
curl -s -X POST --data-binary "Story three, via the server" "$base/story/3/title" >/dev/null
stale=0
for _ in $(seq 10); do curl -s "$base/story/3" | grep -q '^Story three, via the server' || stale=$((stale + 1)); done
check "no stale page after a write through a worker ($stale stale)" test "$stale" = 0
check "logged-in requests bypass the cache" bash -c "! curl -s -D - -o /dev/null -H 'Cookie: __Host-quire_session=abc' '$base/story/2' | grep -qi '^X-Cache'"

# --- handler-declared lifetimes: res:max_age(1) is served from the cache for a second, then
# rendered again; Cache-Control reaches the client; no-cache pages are never kept.
# Two requests on one connection reach the same worker.
xc() { local args=(); for u; do args+=(-o /dev/null "$u"); done; curl -s -w '%header{x-cache} ' "${args[@]}"; }
seen=$(xc "$base/live" "$base/live")
check "max_age page: a miss, then a hit ($seen)" test "$seen" = "miss hit "
h=$(curl -s -D - -o /dev/null "$base/live" | tr -d '\r')
check "max_age reaches the client" grep -q '^Cache-Control: max-age=1$' <<<"$h"
sleep 1.5
seen=$(xc "$base/live" "$base/live")
check "max_age page after 1.5 s: rendered again ($seen)" test "$seen" = "miss hit "
seen=$(xc "$base/fresh" "$base/fresh" "$base/fresh")
check "no-cache page never kept ($seen)" test "$seen" = "   "
check "no-cache reaches the client" grep -q '^Cache-Control: no-cache' <<<"$(curl -s -D - -o /dev/null "$base/fresh" | tr -d '\r')"

# --- quire cache stats: the running server's cache, per worker and in total (the workers write
# their numbers every 2 s)
sleep 2.5
out=$("$QUIRE" cache stats --site "$work/site"); rc=$?
check "cache stats runs (exit $rc)" test "$rc" = 0
check "cache stats: one row per worker and a total" test "$(grep -Ec '^([0-9]+|total) +[0-9.]+%' <<<"$out")" = 3
check "cache stats: bytes against the cap" grep -q ' / 1.0 MiB ' <<<"$out"
"$QUIRE" cache stats --site "$work/site" --format json > "$work/stats.json"
check "cache stats as JSON adds up" python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
w, t = s["workers"], s["total"]
assert len(w) == 2, w
for k in ("hits", "misses", "entries", "bytes", "evictions", "invalidations", "expirations"):
    assert t[k] == sum(x[k] for x in w), k
assert all(x["max_bytes"] == 1048576 for x in w) and t["max_bytes"] == 2 * 1048576
assert t["hits"] > 0 and t["invalidations"] > 0, t
assert abs(t["hit_ratio"] - t["hits"] / (t["hits"] + t["misses"])) < 1e-9
PY
check "cache stats --help" grep -q 'usage: quire cache stats' <<<"$("$QUIRE" cache stats --help)"
check "cache stats: a bad format is a usage error" test "$("$QUIRE" cache stats --site "$work/site" --format xml 2>/dev/null; echo $?)" = 2

# --- scheduled publishing runs inside the server, once
echo 'quire.content.create { type = "article", title = "Embargoed until soon", status = "scheduled", published_at = os.time() + 2 }' > "$work/sched.lua"
"$QUIRE" run --site "$work/site" "$work/sched.lua"
published() { [ "$(sqlite3 "$work/site/quire.db" "SELECT status FROM entries WHERE title = 'Embargoed until soon'")" = published ]; }
waitfor 30 published
check "a scheduled entry is published by the server" test "$(sqlite3 "$work/site/quire.db" "SELECT status FROM entries WHERE title = 'Embargoed until soon'")" = published
check "published once (one revision for the publish)" test "$(sqlite3 "$work/site/quire.db" "SELECT count(*) FROM revisions r JOIN entries e ON e.id = r.entry_id WHERE e.title = 'Embargoed until soon'")" = 2

# --- reload under load: wrk (20 connections) through two reloads sees only 2xx and no socket
# errors, on kept-alive connections and on a fresh connection per request; a broken plugin
# keeps the old workers
load() { local fails=0; for _ in $(seq "$1"); do [ "$(code "$base/hello")" = 200 ] || fails=$((fails + 1)); done; echo "$fails"; }
# reloaded N: the log says generation N serves.
reloaded() { grep -q "reloaded: generation $1 serving" "$work/serve.log"; }
generation=2
wrk_reload() {
  local what=$1; shift
  # wrk runs until stopped (SIGINT: it prints its numbers), across both reloads however long a
  # loaded machine takes for one; a SIGHUP during a reload would be dropped ("a reload is
  # already under way"), so the second waits for the first.
  wrk -t2 -c20 -d120s "$@" "$base/hello" > "$work/wrk.out" 2>&1 & local wrk_pid=$!
  sleep 0.5
  for _ in 1 2; do
    generation=$((generation + 1)); kill -HUP "$master"
    check "wrk $what: reloaded to generation $generation" waitfor 30 reloaded $generation
  done
  sleep 0.5; kill -INT $wrk_pid
  wait $wrk_pid
  local n; n=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$work/wrk.out")
  check "wrk $what: it ran (${n:-no} requests)" test "${n:-0}" -gt 100
  # wrk prints these lines only when there was at least one.
  check "wrk $what: zero non-2xx ($(grep -o 'Non-2xx.*' "$work/wrk.out"))" bash -c "! grep -q 'Non-2xx or 3xx responses' '$work/wrk.out'"
  check "wrk $what: zero socket errors ($(grep -o 'Socket errors.*' "$work/wrk.out"))" bash -c "! grep -q 'Socket errors' '$work/wrk.out'"
}
# wrk's 20 connections from one address need more than the 10 per worker set above: a reload
# brings the new limit.
sed -i 's/connections_per_ip = 10,/connections_per_ip = 1000,/' "$work/site/site.lua"
check "reloaded with the new limit" reload_site "$work/serve.log" 2
wrk_reload "keep-alive"
wrk_reload "connection per request" -H 'Connection: close'
check "reloads logged" reloaded 6
# A burst of connections spreads over both workers (libuv's accept loop would let the first
# worker to wake take them all): 32 connections wait in the backlog while the workers are
# stopped, then one request on each; its request id starts with the pid of the worker that
# accepted it. Connections are counted, not requests: how many requests a worker answers in a
# while is the CPU the scheduler gave it (one starved for 2 s at load 20 failed this check when
# it counted wrk's requests). A burst is shared when each worker took a tenth of it or more.
# Eight bursts, the workers woken in turn first; two must be shared: under ASan at load 15 half
# of them still went 31 to 1 or 32 to 0 to the worker woken first (the other half 15 to 17),
# and without the spreading every burst goes 32 to 0 (31 to 1 once in 44).
stopped=$(pgrep -f "__worker --site $work/site" | tr '\n' ' ')
splits="" shared=0
for round in 1 2 3 4 5 6 7 8; do
  burst=()
  # shellcheck disable=SC2086
  kill -STOP $stopped
  for _ in $(seq 32); do exec {fd}<>/dev/tcp/127.0.0.1/$port && burst+=("$fd"); done
  # shellcheck disable=SC2086
  if [ $((round % 2)) = 1 ]; then kill -CONT $stopped; else kill -CONT $(tr ' ' '\n' <<<"$stopped" | tac); fi
  for fd in "${burst[@]}"; do printf 'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"; done
  per_worker=$(for fd in "${burst[@]}"; do timeout 10 cat <&"$fd" | tr -d '\r' | sed -n 's/^X-Request-Id: \([0-9a-f]*\)-.*/\1/p'; exec {fd}<&-; done |
    sort | uniq -c | awk '{print $1}' | sort -n | tr '\n' ' ')
  read -r fewest most <<<"$per_worker"
  [ -n "$most" ] && [ "$fewest" -ge $(( (fewest + most) / 10 )) ] && shared=$((shared + 1))
  splits="$splits[${per_worker% }] "
done
check "a burst is shared by both workers ($shared of 8 bursts; connections per worker: ${splits% })" test "$shared" -ge 2
echo 'return quire.plugin { name = "serverfix", version = "1.0", setup = function(site) error("broken on purpose") end }' > "$work/broken.lua"
mkdir -p "$work/site/plugins/serverfix" && cp "$work/broken.lua" "$work/site/plugins/serverfix/plugin.lua"
sed -i "s|^plugin_path = .*|plugin_path = { }|" "$work/site/site.lua"
kill -HUP "$master"
check "broken reload reported" waitfor 30 grep -q 'reload failed: .*broken on purpose' "$work/serve.log"
check "old workers keep serving" test "$(code "$base/hello")" = 200
rm -rf "$work/site/plugins/serverfix"; sed -i "s|^plugin_path = .*|plugin_path = { \"$FIXTURES\" }|" "$work/site/site.lua"

# --- a crashed worker is restarted
worker=$(pgrep -f "__worker --site $work/site" | head -1)
kill -9 "$worker"
check "crash logged" waitfor 10 grep -q 'exited unexpectedly' "$work/serve.log"
check "cache stats leaves out a crashed worker" bash -c "! '$QUIRE' cache stats --site '$work/site' | grep -q '^$worker '"
check "and removes its file" test ! -e "$work/site/.quire/cache-$worker"
check "still serving after a crash" test "$(load 20)" = 0
two_workers() { test "$(pgrep -f "__worker --site $work/site" | wc -l)" = 2; }
check "worker replaced" waitfor 30 two_workers

# --- SIGTERM drains in-flight requests, then exits
# A request whose body is half sent when SIGTERM arrives: the worker has it in hand, whatever the
# machine's load, and must finish it.
exec 5<>"/dev/tcp/127.0.0.1/$port"
printf 'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello' >&5
sleep 0.5; kill -TERM "$master"; sleep 0.3
printf 'world' >&5
timeout 10 cat <&5 > "$work/drain.out"
exec 5>&-
check "in-flight request finished during drain" grep -q '^10:helloworld' "$work/drain.out"
check "master exited after drain" waitfor 30 bash -c "! kill -0 $master 2>/dev/null"
wait "$master"; status=$?
check "clean exit status ($status)" test "$status" = 0
master=""
check "workers gone" test "$(pgrep -f "__worker --site $work/site" | wc -l)" = 0
check "the workers removed their statistics" test -z "$(ls "$work/site/.quire" | grep -vx -e static -e uploads)" # static: quire.assets' copies; uploads: the spool folder
out=$("$QUIRE" cache stats --site "$work/site" 2>&1); rc=$?
check "cache stats with no server: exit 1 ($rc)" test "$rc" = 1
check "cache stats with no server says so" grep -q 'no `quire serve` is running' <<<"$out"
check "access log lines" grep -q '"GET /hello HTTP/1.1" 200' "$work/serve.log"
# combined format + request id + seconds: ADDR - - [DATE] "REQUEST" STATUS BYTES "REF" "UA" "ID" SECS
check "combined log format" grep -Eq '^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} [+-][0-9]{4}\] "GET /hello HTTP/1\.1" 200 5 "-" "curl/[^"]*" "[0-9a-f]+-s?[0-9a-f]+" [0-9.]+$' "$work/serve.log"
check "server errors are logged too" grep -q '"-" 400 ' "$work/serve.log"
check "error log lines carry a level" grep -Eq '^[0-9T:-]+Z \[(notice|error)\] quire\[[0-9]+\]: serving with' "$work/serve.log"

# --- slowloris: 200 connections trickling a request head do not stop a normal client; each
# gets its 408 when the head deadline passes.
sed -i 's/^limits = .*/limits = { header_timeout_ms = 3000, connections_per_ip = 1000 }/' "$work/site/site.lua"
mv "$work/site/public" "$work/public.away" # (the paths' rule without it)
: > "$work/serve.log"
start
check "server restarted for slowloris" test -n "$port"
refused_paths "without public/"
rid=$(curl -s -D - -o /dev/null "$base/hello" | tr -d '\r' | sed -n 's/^X-Request-Id: //p')
check "X-Request-Id header ($rid)" test -n "$rid"
# A worker writes its access-log lines once per turn of its loop, after the answers went out.
check "the request id is in the access log" waitfor 10 grep -q "\"$rid\" [0-9.]*\$" "$work/serve.log"
# a healthy probe (Varnish asks every few seconds) is not logged unless log_health_checks = true
check "the health probe answers 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200
# The probe and a request after it on one connection (so one worker, which writes its lines in
# order): once the second's line is there, the probe's would be.
curl -s -o /dev/null "$base/healthz" -o /dev/null "$base/hello?after-probe"
check "the request after it is logged" waitfor 10 grep -q 'GET /hello?after-probe' "$work/serve.log"
check "a healthy /healthz leaves no access-log line" bash -c "! grep -q 'GET /healthz' '$work/serve.log'"
slow=()
for _ in $(seq 200); do exec {fd}<>/dev/tcp/127.0.0.1/$port && slow+=("$fd"); done
check "200 slow connections open (${#slow[@]})" test "${#slow[@]}" = 200
trickle='GET /hello HTTP/1.1\r\nHost: x\r\n'
worst=0 failures=0 t_start=$(date +%s%N)
for round in $(seq 0 5); do
  for fd in "${slow[@]}"; do printf '%s' "${trickle:$round:1}" >&"$fd" 2>/dev/null; done
  res=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 3 "$base/hello")
  [ "${res% *}" = 200 ] || failures=$((failures + 1))
  ms=$(awk -v t="${res#* }" 'BEGIN { printf "%d", t * 1000 }')
  [ "$ms" -gt "$worst" ] && worst=$ms
  sleep 0.3
done
check "a normal client is served during slowloris ($failures failed)" test "$failures" = 0
# Served behind the slow ones it would wait for their 3000 ms head deadline (or fail above).
check "and quickly (worst ${worst} ms; the slow ones' deadline is 3000 ms)" test "$worst" -lt 2000
left=$(( 3600 - ($(date +%s%N) - t_start) / 1000000 )); [ "$left" -gt 0 ] && sleep "$(awk -v ms="$left" 'BEGIN { print ms / 1000 }')"
timed_out=0
for fd in "${slow[@]}"; do timeout 5 cat <&"$fd" 2>/dev/null | grep -q '^HTTP/1.1 408' && timed_out=$((timed_out + 1)); exec {fd}<&-; done
check "slow connections got 408 at the head deadline ($timed_out of 200)" test "$timed_out" = 200
check "still serving after slowloris" test "$(code "$base/hello")" = 200
kill -TERM "$master"; wait "$master"; master=""

# --- --dev: an edited template in a plugin's subfolder reloads; database writes do not
"$QUIRE" init "$work/dev" >/dev/null
mkdir -p "$work/dev/plugins/devfix/templates"
echo 'plugins = { "devfix" }' >> "$work/dev/site.lua"
cat > "$work/dev/plugins/devfix/plugin.lua" <<'LUA'
return quire.plugin { name = "devfix", version = "1.0", setup = function(site)
  site:route("GET", "/dev", function(_, res) res:cache_tags { "dev" } return quire.template.render("devpage", {}) end)
end }
LUA
echo 'version one' > "$work/dev/plugins/devfix/templates/devpage.mustache"
"$QUIRE" serve --dev --site "$work/dev" --listen 127.0.0.1:0 --workers 1 > "$work/dev.log" 2>&1 &
master=$!
waitfor 60 started "$work/dev.log"
base="http://127.0.0.1:$(grep -o 'http://127.0.0.1:[0-9]*' "$work/dev.log" | head -1 | cut -d: -f3)"
check "dev: the template is served" test "$(curl -s "$base/dev")" = "version one"
# Every page fresh in dev mode (as --no-cache: an edited stylesheet's new name shows at once).
check "dev: no page is cached" test -z "$(curl -s -D - -o /dev/null "$base/dev" | tr -d '\r' | grep -i '^x-cache: hit')"
reloads=$(grep -c 'files changed' "$work/dev.log")
reloaded() { [ "$(grep -c 'files changed' "$work/dev.log")" -gt "$reloads" ]; }
echo 'version two' > "$work/dev/plugins/devfix/templates/devpage.mustache"
serves() { [ "$(curl -s "$base/dev")" = "$1" ]; }
check "dev: an edit in plugins/devfix/templates/ is served" waitfor 30 serves "version two"
check "dev: and reloads the workers" waitfor 30 reloaded
mkdir "$work/dev/plugins/devfix/templates/new"
sleep 0.5
reloads=$(grep -c 'files changed' "$work/dev.log")
echo 'return quire.users.create { login = "dev", name = "Dev", email = "dev@example.com" }' > "$work/devwrite.lua"
"$QUIRE" run --site "$work/dev" "$work/devwrite.lua" >/dev/null 2>&1
check "dev: the write reached the database" test -s "$work/dev/quire.db"
curl -s "$base/dev" >/dev/null # the worker publishes its cache numbers under .quire/
sleep 1.2
check "dev: database and .quire/ writes do not reload ($(grep -c 'files changed' "$work/dev.log") reloads, $reloads before)" \
  test "$(grep -c 'files changed' "$work/dev.log")" = "$reloads"
echo 'version three' > "$work/dev/plugins/devfix/templates/devpage.mustache"
check "dev: still serving template edits after that" waitfor 30 serves "version three"
check "dev: and reloading on them" waitfor 30 reloaded
kill -TERM "$master"; wait "$master"; master=""

finish
