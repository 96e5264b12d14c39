#!/usr/bin/env bash
# Stale-while-revalidate in the page cache (issue 14): right after an edit of a public entry the
# first anonymous request gets the previous copy at once (X-Cache: stale, with its Age) and the
# page is rendered again after that answer, so the next request gets the new one; past
# limits.stale_grace_ms, after an unpublish, a trash or a hidden comment, and for logged-in
# requests, never the old copy; only hot pages (10 requests a second) are given stale;
# stale_grace_ms = 0 turns it off.
# usage: stale_test.sh QUIRE_BINARY
set -u
QUIRE=$1
work=$(mktemp -d /tmp/quire-stale-XXXXXX)
master=""
stop() { [ -n "$master" ] && { kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; }; master=""; }
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/harness.sh"
TEST_NAME=stale

"$QUIRE" init --demo "$work/site" >/dev/null || exit 1
cp "$work/site/site.lua" "$work/site.lua.orig"
# The editor: MODE=url prints the N-th published article's id and URL; the other modes
# (edit, unpublish, trash, comment, hide) act on entry N by id.
cat > "$work/ed.lua" <<'LUA'
local n, mode = tonumber(os.getenv("N")), os.getenv("MODE")
if os.getenv("WAIT") then print("ready") io.stdout:flush() io.stdin:read("l") end -- (ed_ready)
if mode == "url" then
  local e = quire.content.query { type = "article", status = "published", limit = 1000 }[n]
  print(e.id .. " " .. quire.content.url(e))
  return
end
local e = quire.content.get(n)
if mode == "edit" then quire.content.update(e.id, { body = e.body .. "\n\nMARKER-" .. os.getenv("MARK") }) end
if mode == "unpublish" then quire.content.update(e.id, { status = "draft" }) end
if mode == "trash" then quire.content.trash(e.id) end
if mode == "comment" then
  print(quire.comments.create { entry = e.id, author_name = "A", author_email = "a@example.org", body = "SPAMMY-WORDS", status = "approved" })
end
if mode == "hide" then quire.comments.set_status(tonumber(os.getenv("C")), "spam") end
LUA
ed() { MODE=$1 N=$2 MARK=${3:-} C=${4:-} "$QUIRE" run --yes --site "$work/site" "$work/ed.lua" 2>/dev/null; }
# ed_ready MODE N [MARK]: the editor started and waiting, its site loaded, to write on ed_go.
# A page is hot for a second or two after the requests that made it so: an editor started after
# them can take longer than that on a loaded machine (a sanitizer build, 20 processes on 2 cores).
ed_ready() {
  rm -f "$work/go" "$work/ed.out"; mkfifo "$work/go"
  MODE=$1 N=$2 MARK=${3:-} WAIT=1 "$QUIRE" run --yes --site "$work/site" "$work/ed.lua" < "$work/go" > "$work/ed.out" 2>/dev/null &
  ed_pid=$!
  exec 7>"$work/go"
  waitfor 60 grep -q '^ready$' "$work/ed.out"
}
ed_go() { echo >&7; exec 7>&-; wait "$ed_pid"; }

start() { # start GRACE_MS
  cp "$work/site.lua.orig" "$work/site/site.lua"
  printf 'limits = { stale_grace_ms = %s }\n' "$1" >> "$work/site/site.lua"
  "$QUIRE" serve --site "$work/site" --listen 127.0.0.1:0 --workers 1 > "$work/serve.log" 2>&1 &
  master=$!
  waitfor 60 started "$work/serve.log"
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3)
  base="http://127.0.0.1:$port"
}
# get PATH [curl args]: the body to $work/body, prints the X-Cache value ("-" when none)
get() {
  local p=$1; shift
  curl -s -D "$work/head" -o "$work/body" "$@" "$base$p"
  local x; x=$(tr -d '\r' < "$work/head" | sed -n 's/^X-Cache: //Ip')
  echo "${x:--}"
}
# heard PATH [curl args]: get, but on PostgreSQL (tests/pg_http_test.sh) again every 10 ms for up
# to 10 s while the answer is a plain hit: the worker hears of the CLI's write by NOTIFY, and
# until then its cache answers as before the write (README). Prints the first other X-Cache.
# HEARD_PAUSE: seconds between tries (a cold page's wait: every hit counts towards a hot page).
heard() {
  local x end=$SECONDS
  on_pg && end=$((SECONDS + 10))
  while x=$(get "$@"); [ "$x" = hit ] && [ "$SECONDS" -lt "$end" ]; do sleep "${HEARD_PAUSE:-0.01}"; done
  echo "$x"
}
# warm PATH: makes it a hot page (asked for 10 times a second or more): 15 requests on one
# connection, so to the one worker
warm() { local a=(); for _ in $(seq 15); do a+=(-o /dev/null "$base$1"); done; curl -s "${a[@]}"; }

start 3000
check "server started" test -n "$port"
read -r i1 a1 <<<"$(ed url 1)"; read -r i2 a2 <<<"$(ed url 2)"; read -r i3 a3 <<<"$(ed url 3)"
read -r i4 a4 <<<"$(ed url 4)"; read -r i5 _ <<<"$(ed url 5)"

# --- an edit: the first request gets the old copy at once, the next one the new page
ed_ready edit $i1 one
warm "$a1"
check "warm page is a hit" test "$(get "$a1")" = hit
ed_go
x=$(heard "$a1")
check "first request after an edit is stale ($x)" test "$x" = stale
check "the stale copy is the old page" bash -c "! grep -q MARKER-one '$work/body'"
check "the stale copy says its Age" grep -qi '^Age: [0-9]' "$work/head"
x=$(get "$a1")
check "the next request gets the new page ($x)" test "$x" = hit
check "the new page has the edit" grep -q MARKER-one "$work/body"

# --- a page asked for seldom is rendered at once: its next reader sees the write
get "$a1" >/dev/null; sleep 2.1; get "$a1" >/dev/null
ed edit $i1 cold
x=$(HEARD_PAUSE=0.25 heard "$a1") # (4 tries a second at most: the page stays cold while it waits)
check "a cold page is not given stale ($x)" test "$x" = miss
check "a cold page has the edit" grep -q MARKER-cold "$work/body"

# --- logged-in requests never see a stale copy (they bypass the cache)
warm "$a1"
ed edit $i1 two
x=$(get "$a1" -H 'Cookie: quire_session=abc')
check "a logged-in request is never stale ($x)" test "$x" = -
sees_two() { get "$a1" -H 'Cookie: quire_session=abc' >/dev/null; grep -q MARKER-two "$work/body"; }
settled "a logged-in request sees the edit" sees_two

# --- past the grace: never the old copy
warm "$a2"
ed edit $i2 three
sleep 3.2
x=$(get "$a2")
check "past the grace the page is rendered again ($x)" test "$x" = miss
check "past the grace the page has the edit" grep -q MARKER-three "$work/body"

# --- taken out of public view: never stale
warm "$a2"
ed unpublish $i2
code_is() { test "$(curl -s -o /dev/null -w '%{http_code}' "$base$1")" = "$2"; }
settled "an unpublished entry is gone at once" code_is "$a2" 404
warm "$a3"
ed trash $i3
settled "a trashed entry is gone at once" code_is "$a3" 404
cid=$(ed comment $i4)
warm "$a4"
shows_comment() { get "$a4" >/dev/null; grep -q SPAMMY-WORDS "$work/body"; }
settled "the comment shows" shows_comment
ed hide $i4 "" "$cid"
x=$(heard "$a4")
check "a hidden comment is gone at once ($x)" test "$x" = miss
check "the hidden comment is not shown" bash -c "! grep -q SPAMMY-WORDS '$work/body'"
# A withdrawal anywhere ends stale copies of every page kept before it.
warm "$a1"
ed unpublish $i5 >/dev/null
ed edit $i1 four
x=$(heard "$a1")
check "no stale copy of pages kept before a withdrawal ($x)" test "$x" = miss

# --- stale_grace_ms = 0: off
stop
start 0
warm "$a1"
ed edit $i1 five
x=$(heard "$a1")
check "grace 0: the first request after an edit renders ($x)" test "$x" = miss
check "grace 0: it has the edit" grep -q MARKER-five "$work/body"

finish
