#!/bin/bash
# Runs a Python multi-node test (tests/nodes_lib.py) against a throw-away PostgreSQL 15 cluster
# (tests/pg_cluster.sh), stopped and removed when it ends. Usage: pg_py.sh SCRIPT QUIRE SOURCE_DIR
set -euo pipefail
script=$1
shift
. "$(dirname "$0")/pg_cluster.sh"
pg_cluster_start
rc=0
python3 "$script" "$@" || rc=$?
exit $rc
