#!/bin/bash
# PostgreSQL store tests against a throw-away PostgreSQL 15 cluster (tests/pg_cluster.sh):
# the driver spec, then `quire store copy` from the demo site to PostgreSQL and back, comparing
# the lossless exports byte for byte. Usage: pg_test.sh QUIRE TESTS_DIR
set -euo pipefail
QUIRE=$(realpath "$1")
TESTS=$(realpath "$2")
. "$TESTS/pg_cluster.sh"
pg_cluster_start
WORK=$(mktemp -d)
trap "rm -rf '$WORK'; pg_cluster_stop" EXIT
cd "$WORK"

echo "== driver spec"
"$QUIRE" test "$TESTS/pg"
