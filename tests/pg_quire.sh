#!/bin/bash
# `quire`, for the shell tests on PostgreSQL (tests/pg_http_test.sh): every `quire init` without a
# --database of its own gets a fresh database on the server of QUIRE_TEST_PG_URL (whose role may
# create databases); everything else runs as given. QUIRE_REAL: the quire binary.
# (The python tests do the same in tests/harness.py.)
if [ "${1:-}" = init ] && [[ " $* " != *" --database "* ]]; then
  name="t_sh_$$_${RANDOM}"
  "${PG_BIN:-/usr/lib/postgresql/15/bin}/psql" -d "$QUIRE_TEST_PG_URL" -X -qAt -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE \"$name\"" >/dev/null || exit 1
  base=${QUIRE_TEST_PG_URL%%\?*}
  query=${QUIRE_TEST_PG_URL#"$base"}
  exec "$QUIRE_REAL" "$@" --database "${base%/*}/$name$query"
fi
exec "$QUIRE_REAL" "$@"
