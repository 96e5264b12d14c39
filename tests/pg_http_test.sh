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
# pg_cli: named on its command line, beside this list rather than after it.)
PASSING="auth_test.py upload_test.py media_test.py search_relevance_test.py site_test.sh front_test.sh api_test.py locale_test.py export_test.py"
TODO=""
TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then
  TESTS=($PASSING)
  for t in $TODO; do
    if [ -n "${QUIRE_PG_ALL_TESTS:-}" ]; then TESTS+=("$t"); else echo "  todo  $t (not run: QUIRE_PG_ALL_TESTS=1 runs it)"; fi
  done
fi
failed=()
for t in "${TESTS[@]}"; do
  start=$(date +%s)
  set +e
  read -r -a args <<<"$t"
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
    *) echo "FAIL: $t on PostgreSQL (exit $rc, ${took} s)"; failed+=("$t") ;;
  esac
done
[ ${#failed[@]} -eq 0 ] || { echo "pg_http: failed: ${failed[*]}"; exit 1; }
echo "pg_http: all passed"
