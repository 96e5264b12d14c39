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
# COMMAND is tried again for up to 2 s: the server's workers hear of the CLI's write by NOTIFY,
# so a page cache may answer as before it for the notification's delay (README).
settled() {
  local what=$1 tries=1; shift
  [ -n "${QUIRE_TEST_PG_URL:-}" ] && tries=200
  for _ in $(seq "$tries"); do "$@" && { ok; return; }; sleep 0.01; done
  bad "$what"
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

# site_sql SITE SQL: the rows of SQL on the site's store, fields separated by "|" (sqlite3's
# way): quire.db, or the PostgreSQL database site.lua names (tests/pg_http_test.sh runs tests so).
site_sql() {
  local url
  url=$(sed -n 's/^[[:space:]]*database[[:space:]]*=[[:space:]]*"\(postgres[^"]*\)".*/\1/p' "$1/site.lua" | tail -1)
  if [ -n "$url" ]; then
    "${PG_BIN:-/usr/lib/postgresql/15/bin}/psql" -d "$url" -X -qAt -v ON_ERROR_STOP=1 -c "$2"
  else
    sqlite3 "$1/quire.db" "$2"
  fi
}

# serve_site SITE LOG [SERVE ARGS...]: `quire serve` on a free loopback port; sets master, port
# and base (http://127.0.0.1:PORT). Fails, showing the log, when the server did not start.
serve_site() {
  local site=$1 log=$2; shift 2
  "$QUIRE" serve --site "$site" --listen 127.0.0.1:0 "$@" > "$log" 2>&1 &
  master=$!
  for _ in $(seq 100); do grep -q "serving with" "$log" && break; sleep 0.1; done
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f3)
  base="http://127.0.0.1:$port"
  [ -n "$port" ] || { echo "$TEST_NAME: the server did not start" >&2; cat "$log" >&2; return 1; }
}
