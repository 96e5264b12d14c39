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

echo "== store copy: the demo site to PostgreSQL and back"
COPY_URL=$(pg_new_db copy)
"$QUIRE" init --demo demo >/dev/null
# A deleted entry leaves a gap in the ids that the counters must keep across the copies.
"$QUIRE" entries create --site demo --type article --title "Gone soon" >/dev/null
gone=$("$QUIRE" entries list --site demo | awk 'NR > 1 && /Gone soon/ { print $1 }')
"$QUIRE" entries delete --site demo --yes "$gone" >/dev/null
"$QUIRE" entries empty-trash --site demo --yes >/dev/null
"$QUIRE" export --site demo --format jsonl before >/dev/null
"$QUIRE" store copy --site demo --to "$COPY_URL"
# The copy refuses a store that already holds data.
if "$QUIRE" store copy --site demo --to "$COPY_URL" 2>err.txt; then echo "a second copy into a full store was not refused"; exit 1; fi
grep -q "the target already holds data" err.txt || { cat err.txt; exit 1; }
# The PostgreSQL copy checks clean (schema, constraints, search index) as a site of its own.
mkdir pgsite && sed '/^database *=/d' demo/site.lua > pgsite/site.lua && cp -r demo/plugins pgsite/ 2>/dev/null || true
echo "database = \"$COPY_URL\"" >> pgsite/site.lua
"$QUIRE" check --site pgsite
"$QUIRE" init back >/dev/null
cp demo/site.lua back/site.lua
"$QUIRE" store copy --site back --from "$COPY_URL" >/dev/null
"$QUIRE" check --site back
"$QUIRE" export --site back --format jsonl after >/dev/null
diff -r before after
# The deleted id stays used: the next entry on the copy gets the id after it, as on the original.
next_demo=$("$QUIRE" entries create --site demo --type article --title "After") 
next_back=$("$QUIRE" entries create --site back --type article --title "After")
[ "$next_demo" = "$next_back" ] || { echo "next id differs: $next_demo vs $next_back"; exit 1; }
echo "exports identical ($(cat before/*.jsonl | wc -l) lines), next ids identical ($next_back)"
echo "pg: all passed"
