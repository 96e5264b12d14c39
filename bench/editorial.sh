#!/usr/bin/env bash
# Editorial bulk work over N entries: a retag script through quire.each, and `quire entries
# search-replace` over every body; in the same run the sqlite3 CLI doing the equivalent raw SQL
# (the same rows changed, revisions written, the search index kept by the same triggers).
set -euo pipefail
QUIRE=${QUIRE:-build/quire}
N=${N:-100000}
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
"$QUIRE" init "$work/q" >/dev/null
"$QUIRE" run --site "$work/q" "$work/seed.lua" "$N" 2>/dev/null
cp "$work/q/quire.db" "$work/s.db" # the raw-SQL run starts from the same data

cat > "$work/retag.lua" <<'LUA'
quire.each({ tag = "climate" }, function(e)
  local tags = e.tags
  tags[#tags + 1] = "Environment"
  quire.content.update(e.id, { tags = tags })
end)
LUA
now() { date +%s.%N; }
t0=$(now); "$QUIRE" run --site "$work/q" "$work/retag.lua" 2>/dev/null; t1=$(now)
"$QUIRE" entries search-replace "harbour" "port" --site "$work/q" >/dev/null; t2=$(now)

s0=$(now)
sqlite3 "$work/s.db" <<'SQL'
PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
BEGIN IMMEDIATE;
INSERT INTO terms (taxonomy, slug, name) VALUES ('tag', 'environment', 'Environment');
INSERT INTO entry_terms (entry_id, term_id, position)
  SELECT et.entry_id, (SELECT id FROM terms WHERE taxonomy = 'tag' AND slug = 'environment'), 2
  FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.taxonomy = 'tag' AND t.slug = 'climate';
UPDATE entries SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id IN
  (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.slug = 'environment');
INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, published_at, created_at)
  SELECT id, title, slug, status, body, fields, '{}', published_at, updated_at FROM entries WHERE id IN
  (SELECT et.entry_id FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.slug = 'environment');
COMMIT;
SQL
s1=$(now)
sqlite3 "$work/s.db" <<'SQL'
PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
BEGIN IMMEDIATE;
UPDATE entries SET body = replace(body, 'harbour', 'port'), updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE instr(body, 'harbour') > 0;
INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, published_at, created_at)
  SELECT id, title, slug, status, body, fields, '{}', published_at, updated_at FROM entries;
COMMIT;
SQL
s2=$(now)

retagged=$(sqlite3 "$work/q/quire.db" "SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.slug = 'environment'")
[ "$retagged" = "$(sqlite3 "$work/s.db" "SELECT count(*) FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE t.slug = 'environment'")" ] || { echo "retag results differ"; exit 1; }
[ "$(sqlite3 "$work/q/quire.db" "SELECT count(*) FROM entries WHERE body LIKE '%harbour%'")" = 0 ] || { echo "search-replace left matches"; exit 1; }
"$QUIRE" check --site "$work/q" >/dev/null

r() { echo "$1 / ($2 - $3)" | bc -l; }
printf '%-16s %12s %12s %8s\n' "" "quire/s" "sqlite3/s" "ratio"
printf '%-16s %12.0f %12.0f %7.2fx\n' "retag ($retagged)" "$(r "$retagged" "$t1" "$t0")" "$(r "$retagged" "$s1" "$s0")" \
  "$(echo "($s1 - $s0) / ($t1 - $t0)" | bc -l)"
printf '%-16s %12.0f %12.0f %7.2fx\n' "search-replace" "$(r "$N" "$t2" "$t1")" "$(r "$N" "$s2" "$s1")" \
  "$(echo "($s2 - $s1) / ($t2 - $t1)" | bc -l)"
echo "(goal: >= 0.5x raw SQL; quire validates, re-indexes, bumps cache tags and writes a revision per entry)"
