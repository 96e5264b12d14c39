#!/bin/bash
# Lua specs against a throw-away PostgreSQL 15 cluster (tests/pg_cluster.sh), for the ones too
# long to run inside tests/pg_test.sh's list: each must pass.
# Usage: pg_spec.sh QUIRE TESTS_DIR NAME... (tests/lua/NAME_spec.lua)
set -euo pipefail
QUIRE=$(realpath "$1")
TESTS=$(realpath "$2")
shift 2
. "$TESTS/pg_cluster.sh"
pg_cluster_start
cd "$TESTS"
for name in "$@"; do
  start=$(date +%s)
  out=$(QUIRE_TEST_DATABASE=$(pg_new_db "spec_$name") "$QUIRE" test "lua/${name}_spec.lua" 2>&1) || true
  result=$(grep -E "success(es)? /" <<<"$out" | tail -1 || true)
  case $result in
    *" 0 failures / 0 errors"*) echo "  pass  $name on PostgreSQL: $result ($(($(date +%s) - start)) s)" ;;
    *) echo "$out"; echo "FAIL: $name on PostgreSQL: ${result:-no result}"; exit 1 ;;
  esac
done
