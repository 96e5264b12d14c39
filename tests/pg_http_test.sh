#!/bin/bash
# The HTTP tests against PostgreSQL: a throw-away PostgreSQL 15 cluster (tests/pg_cluster.sh),
# whose role may create databases, named to the tests by QUIRE_TEST_PG_URL: every site a test
# makes gets a fresh database there (python: tests/harness.py; shell: they are given
# tests/pg_quire.sh as their quire, which adds --database to `quire init`).
# Usage: pg_http_test.sh QUIRE SRC [TEST.py|TEST.sh ...] (default: the tests below). An item may
# carry arguments of its own ("export_test.py --browser"); shell tests get QUIRE_SHOTS, when set,
# as their third argument (the browser tests' screenshot folder: ctest pg_browser).
set -euo pipefail
QUIRE=$(realpath "$1")
SRC=$(realpath "$2")
shift 2
. "$SRC/tests/pg_cluster.sh"
pg_cluster_start
pg_psql postgres -c "ALTER ROLE quire CREATEDB" >/dev/null
export QUIRE_TEST_PG_URL=$QUIRE_PG_URL PG_BIN QUIRE_REAL=$QUIRE
# Each runs as ctest runs it on SQLite (QUIRE SRC), one after another on the one cluster.
# PASSING must pass; TODO still fail on PostgreSQL and run only with QUIRE_PG_ALL_TESTS=1 (or
# when named on the command line), for their output.
# (The command-line tests, cli_test.sh, integrity_test.sh and hostile_test.sh, run so as ctest's
# pg_cli, and more HTTP tests as pg_http2 and pg_http3: named on their command lines, beside this
# list rather than after it, so that no one ctest runs for too long.)
PASSING="auth_test.py upload_test.py media_test.py search_relevance_test.py site_test.sh front_test.sh api_test.py locale_test.py export_test.py"
TODO=""
TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then
  TESTS=($PASSING)
  for t in $TODO; do
    if [ -n "${QUIRE_PG_ALL_TESTS:-}" ]; then TESTS+=("$t"); else echo "  todo  $t (not run: QUIRE_PG_ALL_TESTS=1 runs it)"; fi
  done
fi
# QUIRE_PG_JOBS=N runs up to N tests at once (ctest pg_browser: the newsroom's wait for its
# scheduled story overlaps the other tests), each one's output shown when it ends.
jobs_max=${QUIRE_PG_JOBS:-1}
results=$(mktemp -d)
run_one() { # run_one TEST: runs it, prints its outcome; a failure is added to $results/failed
  local t=$1 start rc took args
  start=$(date +%s)
  read -r -a args <<<"$t"
  set +e
  case ${args[0]} in
    *.py) python3 "$SRC/tests/${args[0]}" "$QUIRE" "$SRC" "${args[@]:1}" ;;
    *) bash "$SRC/tests/${args[0]}" "$SRC/tests/pg_quire.sh" "$SRC" ${QUIRE_SHOTS:+"$QUIRE_SHOTS"} "${args[@]:1}" ;;
  esac
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  case $rc in
    0) echo "  pass  $t on PostgreSQL (${took} s)" ;;
    77) echo "  skip  $t (a tool it needs is missing)" ;;
    *) echo "FAIL: $t on PostgreSQL (exit $rc, ${took} s)"; echo "$t" >> "$results/failed" ;;
  esac
}
i=0
for t in "${TESTS[@]}"; do
  if [ "$jobs_max" -le 1 ]; then run_one "$t"; continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  i=$((i + 1))
  ( run_one "$t" > "$results/$i.log" 2>&1; cat "$results/$i.log" ) &
done
wait
if [ -s "$results/failed" ]; then echo "pg_http: failed: $(tr '\n' ' ' < "$results/failed")"; rm -rf "$results"; exit 1; fi
rm -rf "$results"
echo "pg_http: all passed"
