# Shared scaffolding of the shell tests (source it; tests/harness.py is the python one).
# After `harness_begin NAME`: $work is a fresh folder removed at exit (kept when KEEP is set),
# together with the server `serve_site` started; a test with more to undo defines on_cleanup.
# check WHAT COMMAND... counts a pass or a failure; finish prints the counts and exits.

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
# expect CODE WHAT -- COMMAND...: runs COMMAND, checks its exit code, keeps its output in $out
expect() {
  local code=$1 what=$2; shift 3
  out=$("$@" 2>&1); local rc=$?
  if [ "$rc" -eq "$code" ]; then ok; else bad "$what: exit $rc, expected $code; output: $out"; fi
}
contains() { if grep -qF -- "$2" <<<"$out"; then ok; else bad "$1: output lacks '$2': $out"; fi; }
# settled WHAT COMMAND...: check, but on PostgreSQL (tests/pg_http_test.sh sets QUIRE_TEST_PG_URL)
# COMMAND is tried again for up to 10 s: the server's workers hear of the CLI's write by NOTIFY,
# so a page cache may answer as before it for the notification's delay (README; milliseconds
# on an idle machine, the bound is for a sanitizer build on a loaded one).
settled() {
  local what=$1 end=$SECONDS; shift
  [ -n "${QUIRE_TEST_PG_URL:-}" ] && end=$((SECONDS + 10))
  until "$@"; do [ "$SECONDS" -ge "$end" ] && { bad "$what"; return; }; sleep 0.01; done
  ok
}
# waitfor SECONDS COMMAND...: COMMAND again every 0.1 s until it succeeds (status 0), or status 1
# once SECONDS have passed. For what a loaded machine or a sanitizer build delays (a reload, a
# log line, a worker started): it returns as soon as the condition holds, so the bound only ends
# a hang, and a check on the condition stays as strict as before.
waitfor() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.1; done
}
finish() { echo "$TEST_NAME: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

harness_begin() { # harness_begin NAME
  TEST_NAME=$1
  work=$(mktemp -d "/tmp/quire-$1-XXXXXX")
  master=""
  trap harness_cleanup EXIT
}

harness_cleanup() {
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; fi
  if declare -F on_cleanup >/dev/null; then on_cleanup; fi
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}

# site_url SITE: the PostgreSQL URL the site's site.lua names (the last `database =`), or nothing.
site_url() {
  sed -n 's/^[[:space:]]*database[[:space:]]*=[[:space:]]*"\(postgres[^"]*\)".*/\1/p' "$1/site.lua" | tail -1
}

# site_sql SITE SQL: the rows of SQL on the site's store, fields separated by "|" (sqlite3's
# way): quire.db, or the PostgreSQL database site.lua names (tests/pg_http_test.sh runs tests so).
site_sql() {
  local url
  url=$(site_url "$1")
  if [ -n "$url" ]; then
    "${PG_BIN:-/usr/lib/postgresql/15/bin}/psql" -d "$url" -X -qAt -v ON_ERROR_STOP=1 -c "$2"
  else
    sqlite3 "$1/quire.db" "$2"
  fi
}

# site_dump SITE: every row of the site's store as text, to compare before and after: sqlite3's
# .dump, or pg_dump's data without the sequences' positions (a rolled-back insert moves them)
# and without the random key of its \restrict lines.
site_dump() {
  local url
  url=$(site_url "$1")
  if [ -n "$url" ]; then
    "${PG_BIN:-/usr/lib/postgresql/15/bin}/pg_dump" -d "$url" --data-only 2>/dev/null | grep -v -e '^SELECT pg_catalog.setval(' -e '^\\restrict ' -e '^\\unrestrict '
  else
    sqlite3 "$1/quire.db" .dump
  fi
}

# site_copy SITE COPY: a copy of the site's folder; on PostgreSQL of its database too (CREATE
# DATABASE ... TEMPLATE, on the server of QUIRE_TEST_PG_URL), which the copy's site.lua names.
site_copy() {
  cp -r "$1" "$2"
  local url name copy
  url=$(site_url "$1")
  [ -n "$url" ] || return 0
  name=${url%%\?*}; name=${name##*/}
  copy="t_copy_$$_${RANDOM}"
  "${PG_BIN:-/usr/lib/postgresql/15/bin}/psql" -d "$QUIRE_TEST_PG_URL" -X -qAt -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE \"$copy\" TEMPLATE \"$name\"" >/dev/null || return 1
  echo "database = \"${url%%/$name*}/$copy${url#*/$name}\"" >> "$2/site.lua"
}

# on_pg: the test runs against PostgreSQL (tests/pg_http_test.sh sets QUIRE_TEST_PG_URL, and every
# `quire init` gets a database there). For the few checks that differ by store.
on_pg() { [ -n "${QUIRE_TEST_PG_URL:-}" ]; }

# gone PID...: none of these processes runs any more.
gone() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

# reload_site LOG GENERATION: SIGHUP to $master, then waits (30 s at most each) until LOG says
# GENERATION serves and every worker from before has exited: until it begins its drain an old
# worker may still accept a connection and answer with the old site.lua. Status 1 if not.
reload_site() {
  local old; old=$(pgrep -P "$master" | tr '\n' ' ')
  kill -HUP "$master"
  # shellcheck disable=SC2086
  waitfor 30 grep -q "reloaded: generation $2 serving" "$1" && waitfor 30 gone $old
}

# started LOG: the server ($master) logged "serving with" in LOG, or is gone (so a wait ends).
started() { grep -q "serving with" "$1" 2>/dev/null || ! kill -0 "$master" 2>/dev/null; }

# serve_site SITE LOG [SERVE ARGS...]: `quire serve` on a free loopback port; sets master, port
# and base (http://127.0.0.1:PORT). Fails, showing the log, when the server did not start.
serve_site() {
  local site=$1 log=$2; shift 2
  "$QUIRE" serve --site "$site" --listen 127.0.0.1:0 "$@" > "$log" 2>&1 &
  master=$!
  waitfor 60 started "$log"
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f3)
  base="http://127.0.0.1:$port"
  [ -n "$port" ] || { echo "$TEST_NAME: the server did not start" >&2; cat "$log" >&2; return 1; }
}
