#!/bin/bash
# Read replicas against a real streaming hot standby of the throw-away cluster
# (tests/pg_cluster.sh): anonymous pages are read from the standby; a reader who just wrote sees
# the write; an edit while the standby's replay is paused never leaves a stale page in the page
# cache; a standby that is stopped is skipped (pages come from the primary) and used again once
# it is back; with a second standby, renders read from each in turn, and one stopped leaves the
# other serving. Usage: pg_replica_test.sh QUIRE TESTS_DIR
set -euo pipefail
QUIRE=$(realpath "$1")
TESTS=$(realpath "$2")
. "$TESTS/harness.sh"
. "$TESTS/pg_cluster.sh"
pg_cluster_start
# The harness's EXIT trap (set after the cluster's) stops the server first, then the cluster.
on_cleanup() { pg_cluster_stop; }
harness_begin pg_replica
cd "$work"

URL=$(pg_new_db site)
"$QUIRE" init site >/dev/null
cat >> site/site.lua <<EOF
database = "$URL"
plugins = { "theme", "article", "opinion", "comments", "share", "prevnext", "sponsor", "feeds", "search", "listings", "workflow" }
comments = { min_seconds = 0, check_origin = false, moderation = "none", rate_limit = 1000 }
EOF
# The schema and a story exist before the standby is cloned, so both start alike.
id=$("$QUIRE" entries create --site site --type article --title "Harbour wall repaired" --status published \
  --body "The wall is mended.")
echo "print(quire.content.url(quire.content.get($id)))" > url.lua
story=$("$QUIRE" run --yes --site site url.lua)
pg_standby_create
STANDBY_URL=$(pg_standby_url site)

echo "== site.lua: read_replicas is checked"
cp -r site bad
echo 'read_replicas = { "postgresql://quire@standby/site", "mysql://x/y" }' >> bad/site.lua
if "$QUIRE" config check --site bad >out.txt 2>&1; then echo "FAIL: a bad replica URL was accepted"; exit 1; fi
grep -q 'read_replicas\[2\] must be a URL such as "postgresql://' out.txt || { echo "FAIL: unclear error:"; cat out.txt; exit 1; }
echo "refused: $(tail -1 out.txt)"

cat >> site/site.lua <<EOF
read_replicas = { "$STANDBY_URL" }
limits = { replica_lag_ms = 1500 }
EOF
"$QUIRE" config check --site site >/dev/null
# One worker: one connection to each server, so the standby's pg_stat_activity shows its reads.
log=serve.log
serve_site site "$log" --workers 1

fail() { echo "FAIL: $*"; echo "--- $log"; tail -20 "$log"; exit 1; }
# get PATH [CURL ARGS] -> body in page.html; prints "CODE X-CACHE"
get() {
  local path=$1
  shift
  curl -s -o page.html -D head.txt "$@" "$base$path" >/dev/null
  tr -d '\r' < head.txt | awk 'NR == 1 { code = $2 } tolower($1) == "x-cache:" { x = $2 } END { print code, (x ? x : "-") }'
}
# The statement the worker's standby connection ran last, and when (the standby's clock).
standby_last() {
  pg_standby_psql site -c "SELECT extract(epoch FROM query_start), left(regexp_replace(query, '\s+', ' ', 'g'), 60)
    FROM pg_stat_activity WHERE datname = 'site' AND application_name = 'quire'"
}
standby_now() { pg_standby_psql site -c "SELECT extract(epoch FROM clock_timestamp())"; }
# Did the standby run a content read (not just a look at its replay position) since $1?
read_on_standby_since() {
  standby_last | awk -F'|' -v t="$1" '$1 > t && $2 !~ /pg_last_wal_replay_lsn/ { ok = 1 } END { exit !ok }'
}
# Waits until the standby shows the primary's current WAL position as replayed.
standby_caught_up() {
  local want; want=$(pg_wal_lsn)
  for _ in $(seq 100); do
    [ "$(pg_standby_psql site -c "SELECT pg_last_wal_replay_lsn() >= '$want'")" = t ] && return 0
    sleep 0.1
  done
  fail "the standby did not catch up"
}

# standby_used_again WORD TRIES PAUSE: uncached renders (a search for words new each time, WORD
# and a count) until one reads on the standby: at most TRIES, PAUSE seconds apart.
standby_used_again() {
  local t
  for i in $(seq "$2"); do
    t=$(standby_now)
    get "/search?q=harbour+$1$i" >/dev/null
    read_on_standby_since "$t" && return 0
    sleep "$3"
  done
  return 1
}

echo "== anonymous pages are read from the standby"
# Three renders in a row that read there (a render right after the worker's own job wrote goes
# to the primary until the standby replays that write: tried again). Searches for new words:
# a story rendered again may come from the memo without any SQL.
[ "$(get "$story?n=0")" = "200 miss" ] && grep -q "Harbour wall repaired" page.html || fail "the story"
reads=0
for i in $(seq 10); do
  standby_caught_up
  t=$(standby_now)
  [ "$(get "/search?q=harbour+w$i")" = "200 miss" ] || fail "search w$i: $(get "/search?q=harbour+w$i")"
  if read_on_standby_since "$t"; then reads=$((reads + 1)); else reads=0; fi
  [ $reads = 3 ] && break
done
[ $reads = 3 ] || fail "renders read nothing on the standby: $(standby_last)"
echo "last statement on the standby: $(standby_last | cut -d'|' -f2)"
[ "$(get "$story")" = "200 miss" ] && [ "$(get "$story")" = "200 hit" ] || fail "the story is not kept"

echo "== an edit while the standby's replay is paused: right at once, and no stale page kept"
pg_standby_psql site -c "SELECT pg_wal_replay_pause()" >/dev/null
"$QUIRE" entries update --site site "$id" --title "Harbour wall repaired at last" >/dev/null
# The standby still has the old title; the page (kept before the edit) must show the new one.
[ "$(pg_standby_psql site -c "SELECT title FROM entries WHERE id = $id")" = "Harbour wall repaired" ] ||
  fail "the standby replayed the edit while paused"
for i in $(seq 200); do
  get "$story" >/dev/null
  grep -q "Harbour wall repaired at last" page.html && break
  sleep 0.01
done
grep -q "Harbour wall repaired at last" page.html || fail "the edited story is not shown while the standby is paused"
echo "the edit shown after $i request(s), the standby still paused"
for n in 1 2 3; do
  r=$(get "$story")
  grep -q "Harbour wall repaired at last" page.html || fail "request $n after the edit ($r) shows the old title"
done
[ "$r" = "200 hit" ] || fail "the fresh page is not kept: $r"
# Uncached pages while the standby lags: from the primary, never the standby.
t=$(standby_now)
get "$story?paused=1" >/dev/null
grep -q "Harbour wall repaired at last" page.html || fail "an uncached render read the paused standby"
get "/search?q=harbour+p1" >/dev/null
read_on_standby_since "$t" && fail "a render read the paused standby: $(standby_last)"
# Past limits.replica_lag_ms (1.5 s) the standby is skipped, with one line in the log.
sleep 2
get "$story?paused=2" >/dev/null
get "$story?paused=3" >/dev/null
grep -q "Harbour wall repaired at last" page.html || fail "render while lagging shows the old title"
[ "$(grep -c "read replica 1 .* skipped: it lags" serve.log)" = 1 ] || fail "no single lag line in the log"
grep "read replica 1 .* skipped: it lags" serve.log
pg_standby_psql site -c "SELECT pg_wal_replay_resume()" >/dev/null
standby_caught_up
standby_used_again r 100 0.1 || fail "the standby is not used again after it caught up"
grep -q "read replica 1 .* caught up" serve.log || fail "no 'caught up' line"
r=$(get "$story")
[ "$r" = "200 hit" ] && grep -q "Harbour wall repaired at last" page.html || fail "after the replay: $r, stale page kept"
echo "after the replay: the kept page is the edited one; the standby serves again"

echo "== read-your-writes: a comment posted while the standby is paused is seen by its writer"
standby_caught_up
get "$story" >/dev/null
token=$(grep -o 'name="token" value="[^"]*"' page.html | head -1 | sed 's/.*value="//; s/"$//')
[ -n "$token" ] || fail "no comment form on the story"
pg_standby_psql site -c "SELECT pg_wal_replay_pause()" >/dev/null
code=$(curl -s -o post.html -D post.txt -c jar.txt -w '%{http_code}' \
  --data-urlencode "entry_id=$id" --data-urlencode "token=$token" --data-urlencode "name=Ann Reader" \
  --data-urlencode "email=ann@example.org" --data-urlencode "comment=The new stones look good." "$base/comments")
[ "$code" = 303 ] || [ "$code" = 302 ] || fail "comment POST answered $code: $(head -c 300 post.html)"
grep -qi '^set-cookie: quire_lsn=[0-9a-f]\{16\}; Max-Age=2; Path=/; HttpOnly' post.txt || fail "no quire_lsn cookie: $(cat post.txt)"
where=$(tr -d '\r' < post.txt | awk 'tolower($1) == "location:" { print $2 }')
# Its landing page reads the new comment: with the cookie, from the primary (the standby lacks it).
t=$(standby_now)
r=$(get "$where" -b jar.txt)
case $r in 30[12378]" -") ;; *) fail "GET $where with the cookie: $r" ;; esac
r=$(get "$story" -b jar.txt)
[ "$r" = "200 -" ] || fail "the story with the cookie was answered from the cache or failed: $r"
grep -q "The new stones look good." page.html || fail "the writer does not see the comment"
read_on_standby_since "$t" && fail "the writer's pages were read from the paused standby"
[ "$(pg_standby_psql site -c "SELECT count(*) FROM comments")" = 0 ] || fail "the standby replayed the comment while paused"
pg_standby_psql site -c "SELECT pg_wal_replay_resume()" >/dev/null
standby_caught_up
echo "the comment's writer saw it while the standby had not replayed it"

echo "== the standby stopped: pages from the primary; restarted: used again"
pg_standby_stop
for i in 1 2 3; do
  r=$(get "$story?down=$i")
  [ "$r" = "200 miss" ] && grep -q "The new stones look good." page.html || fail "with the standby down: $r"
done
[ "$(grep -c "read replica 1 .* skipped: .*connection\|read replica 1 .* skipped: .*server" serve.log)" = 1 ] ||
  fail "not one line about the stopped standby: $(grep 'read replica' serve.log)"
grep "read replica 1 .* skipped: " serve.log | tail -1
grep -A1 "read replica 1 .* skipped: " serve.log | tail -1 | grep -q "^127.0.0.1 \|^20[0-9][0-9]-" || fail "the line runs over several"
pg_standby_start
standby_used_again u 150 0.2 || fail "the restarted standby is not used again"
grep -q "read replica 1 .* is back" serve.log || fail "no 'is back' line"
grep "read replica 1 .* is back" serve.log

echo "== two standbys: anonymous renders read from each in turn; one stopped, the other serves"
PG_STANDBY=standby2 pg_standby_create
STANDBY2_URL=$(PG_STANDBY=standby2 pg_standby_url site)
kill -TERM "$master"; wait "$master" 2>/dev/null || true; master=""
echo "read_replicas = { \"$STANDBY_URL\", \"$STANDBY2_URL\" }" >> site/site.lua
log=serve2.log
serve_site site "$log" --workers 1
# render_on PATH STANDBY...: once those standbys (PG_STANDBY names) have replayed all the primary
# wrote, renders PATH (uncached) and adds to $turns which of them read for it: 1 (standby), 2
# (standby2), 12 (both, which must not be) or - (none).
render_on() {
  local path=$1 t r on="" name
  shift
  for name in "$@"; do PG_STANDBY=$name standby_caught_up; done
  t=$(PG_STANDBY=$1 standby_now)
  r=$(get "$path")
  [ "$r" = "200 miss" ] || fail "$path: $r"
  for name in "$@"; do
    if PG_STANDBY=$name read_on_standby_since "$t"; then [ "$name" = standby ] && on=${on}1 || on=${on}2; fi
  done
  turns="$turns ${on:--}"
}
# The last N of $turns, joined.
last_turns() { echo $turns | awk -v n="$1" '{ for (i = NF - n + 1; i <= NF; i++) printf "%s", $i }'; }
turns=""
for i in $(seq 8); do render_on "/search?q=harbour+t$i" standby standby2; done
echo "renders read on:$turns"
# After the first render or two (the worker's own start-up writes may send one to the primary),
# each render reads on one standby, the other one than the render before.
case $(last_turns 6) in 121212|212121) ;; *) fail "renders did not read from the two standbys in turn:$turns" ;; esac
pg_standby_stop # the first one
turns=""
for i in $(seq 6); do render_on "/search?q=harbour+s$i" standby2; done
echo "with the first standby stopped, renders read on:$turns"
[ "$(last_turns 4)" = 2222 ] || fail "the second standby does not serve every render while the first is stopped:$turns"
grep -q "read replica 1 .* skipped: " "$log" || fail "no line about the stopped standby"
grep -q "read replica 2 .* skipped: " "$log" && fail "the live standby was skipped: $(grep 'read replica 2' "$log")"
echo "pg replicas: passed"
