#!/usr/bin/env bash
# Editorial bulk work over N entries: a retag script through quire.each, and `quire entries
# search-replace` over every title and body; against the sqlite3 CLI doing the same work in raw
# SQL: the same rows changed, a revision per changed entry with its terms and actor, the cache
# tags a save bumps, and the search index kept by the same triggers (what raw SQL skips is
# quire's validation). Each side runs RUNS times (default 3) on a fresh copy of the seeded
# database; the medians of wall time and of CPU time (user + sys) are compared.
set -euo pipefail
QUIRE=${QUIRE:-build/quire}
N=${N:-100000}
RUNS=${RUNS:-3}
work=$(mktemp -d /tmp/quire-bench-ed-XXXXXX)
trap 'rm -rf "$work"' EXIT

cat > "$work/seed.lua" <<'LUA'
local n = tonumber(arg[1])
local tags = { "politics", "economy", "climate", "sport" }
for b = 0, n - 1, 1000 do
  quire.store.transaction(function()
    for i = b + 1, math.min(b + 1000, n) do
      quire.content.create { type = "article", title = "Story " .. i, status = "published", published_at = 1700000000 + i,
        body = "The harbour authority said on Monday " .. i .. " that the harbour would reopen.", tags = { tags[i % 4 + 1] } }
    end
  end)
end
LUA
"$QUIRE" init "$work/seed" >/dev/null
"$QUIRE" run --site "$work/seed" "$work/seed.lua" "$N" 2>/dev/null
v0=$(sqlite3 "$work/seed/quire.db" "SELECT max(version) FROM cache_tags")

cat > "$work/retag.lua" <<'LUA'
quire.each({ tag = "climate" }, function(e)
  local tags = e.tags
  tags[#tags + 1] = "Environment"
  quire.content.update(e.id, { tags = tags })
end)
LUA

# The actor quire records for a `quire run` or a CLI command without --as.
actor="cli:${SUDO_USER:-$(id -un)}"
# An entry's terms as a revision records them (lua/quire/replace.lua).
TERMS="(SELECT CASE WHEN count(*) FILTER (WHERE taxonomy = 'section') = 0
    THEN json_object('tags', json_group_array(name) FILTER (WHERE taxonomy = 'tag'))
    ELSE json_object('tags', json_group_array(name) FILTER (WHERE taxonomy = 'tag'), 'section', max(name) FILTER (WHERE taxonomy = 'section')) END
  FROM (SELECT t.taxonomy, t.name FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id = e.id ORDER BY et.position))"
# Revisions and cache tags for the entries in temp.changed, as a save writes them (CROSS JOIN: the
# changed entries drive the joins, as in quire's own SQL, rather than a scan of every entry).
SAVED="
INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, published_at, author_id, saved_by, actor, created_at)
  SELECT e.id, e.title, e.slug, e.status, e.body, e.fields, $TERMS, e.published_at, e.author_id, NULL, '$actor', e.updated_at
  FROM temp.changed c CROSS JOIN entries e ON e.id = c.id ORDER BY e.id;
CREATE TEMP TABLE v AS SELECT coalesce(max(version), 0) + 1 AS v FROM cache_tags;
INSERT INTO cache_tags (tag, version) SELECT tag, (SELECT v FROM temp.v) FROM (
  SELECT 'entry:' || id AS tag FROM temp.changed
  UNION ALL SELECT DISTINCT 'ids:' || (id / 10000) FROM temp.changed
  UNION ALL SELECT 'list:all'
  UNION ALL SELECT DISTINCT 'list:type:' || e.type FROM temp.changed c CROSS JOIN entries e ON e.id = c.id
  UNION ALL SELECT DISTINCT 'list:' || t.taxonomy || ':' || t.slug FROM temp.changed c
    CROSS JOIN entry_terms et ON et.entry_id = c.id CROSS JOIN terms t ON t.id = et.term_id
) WHERE true ON CONFLICT (tag) DO UPDATE SET version = excluded.version;"

cat > "$work/retag.sql" <<SQL
PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE changed AS SELECT et.entry_id AS id FROM entry_terms et JOIN terms t ON t.id = et.term_id
  WHERE t.taxonomy = 'tag' AND t.slug = 'climate';
-- the old tags' lists are bumped too: the entries are still in them
INSERT INTO terms (taxonomy, slug, name) VALUES ('tag', 'environment', 'Environment');
INSERT INTO entry_terms (entry_id, term_id, position)
  SELECT c.id, (SELECT id FROM terms WHERE taxonomy = 'tag' AND slug = 'environment'),
    (SELECT count(*) + 1 FROM entry_terms et WHERE et.entry_id = c.id) FROM temp.changed c;
UPDATE entries SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id IN (SELECT id FROM temp.changed);
$SAVED
COMMIT;
SQL
cat > "$work/replace.sql" <<SQL
PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE changed AS SELECT id FROM entries WHERE instr(title, 'harbour') > 0 OR instr(body, 'harbour') > 0;
UPDATE entries SET title = replace(title, 'harbour', 'port'), body = replace(body, 'harbour', 'port'),
  updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id IN (SELECT id FROM temp.changed);
$SAVED
COMMIT;
SQL

# timed OUT CMD...: runs CMD, appends "wall cpu" (seconds, to the millisecond) to OUT.
timed() {
  local out=$1; shift
  local TIMEFORMAT='%3R %3U %3S'
  { time "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }; } 2>"$work/time"
  awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$work/time" >> "$out"
}
for i in $(seq "$RUNS"); do
  rm -rf "$work/q" "$work/s.db"
  cp -r "$work/seed" "$work/q"
  cp "$work/seed/quire.db" "$work/s.db"
  timed "$work/q.retag" "$QUIRE" run --yes --site "$work/q" "$work/retag.lua" # (--yes: no trial run, see quire run --help)
  timed "$work/q.replace" "$QUIRE" entries search-replace harbour port --site "$work/q"
  timed "$work/s.retag" sqlite3 "$work/s.db" ".read $work/retag.sql"
  timed "$work/s.replace" sqlite3 "$work/s.db" ".read $work/replace.sql"
done

# The last run of each side did the same work.
qs() { sqlite3 "$work/q/quire.db" "$1"; }
ss() { sqlite3 "$work/s.db" "$1"; }
retagged=$(qs "SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.slug = 'environment'")
[ "$retagged" = "$(ss "SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.slug = 'environment'")" ] || { echo "retag results differ"; exit 1; }
[ "$(qs "SELECT count(*) FROM entries WHERE body LIKE '%harbour%'")" = 0 ] || { echo "search-replace left matches"; exit 1; }
for q in "SELECT title, body FROM entries ORDER BY id" \
  "SELECT entry_id, title, body, json_extract(terms, '$.tags'), actor FROM revisions ORDER BY id" \
  "SELECT tag FROM cache_tags WHERE version > $v0 ORDER BY tag"; do
  [ "$(qs "$q")" = "$(ss "$q")" ] || { echo "quire and raw SQL differ on: $q"; exit 1; }
done
"$QUIRE" check --site "$work/q" >/dev/null

# median FILE COLUMN
median() { cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf 'N=%s, median of %s runs each (wall time; CPU = user + sys)\n' "$N" "$RUNS"
printf '%-22s %10s %10s %10s %10s %8s %10s %10s %8s\n' "" "quire/s" "sqlite3/s" "quire s" "sqlite3 s" "ratio" \
  "quire cpu" "sqlite cpu" "ratio"
for job in retag replace; do
  qw=$(median "$work/q.$job" 1) sw=$(median "$work/s.$job" 1) qc=$(median "$work/q.$job" 2) sc=$(median "$work/s.$job" 2)
  n=$([ "$job" = retag ] && echo "$retagged" || echo "$N")
  label=$([ "$job" = retag ] && echo "retag ($n)" || echo "search-replace ($n)")
  printf '%-22s %10.0f %10.0f %10.3f %10.3f %7.2fx %10.3f %10.3f %7.2fx\n' "$label" "$(echo "$n / $qw" | bc -l)" \
    "$(echo "$n / $sw" | bc -l)" "$qw" "$sw" "$(echo "$sw / $qw" | bc -l)" "$qc" "$sc" "$(echo "$sc / $qc" | bc -l)"
done
echo "(entries per second; ratio = raw SQL time / quire time = quire rate / raw SQL rate; goal: >= 0.5x. quire also validates every change)"
