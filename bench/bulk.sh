#!/usr/bin/env bash
# Bulk write throughput: quire run vs the sqlite3 CLI doing the same inserts and updates.
# Both write the same rows (entry, revision, tags, search index via the same triggers) into a
# fresh database with the same pragmas, in transactions of 1,000. Prints rates and the ratio.
set -euo pipefail
QUIRE=${QUIRE:-build/quire}
N=${N:-100000}
BATCH=${BATCH:-1000}
work=$(mktemp -d /tmp/quire-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$QUIRE" init "$work/q" >/dev/null
"$QUIRE" init "$work/s" >/dev/null # same schema for sqlite3

cat > "$work/bulk.lua" <<'LUA'
local clock = require("quire.core").clock
local n, batch = tonumber(arg[1]), tonumber(arg[2])
local tags = { "politics", "economy", "climate", "sport", "culture", "science", "health", "world" }
local t0 = clock()
for b = 0, n - 1, batch do
  quire.store.transaction(function()
    for i = b + 1, math.min(b + batch, n) do
      quire.content.create {
        type = "article", title = "Bulk story number " .. i, status = "published",
        published_at = 1700000000 + i, body = "Body of story " .. i .. " about " .. tags[i % 8 + 1] .. ".",
        tags = { tags[i % 8 + 1], tags[(i * 7) % 8 + 1] },
      }
    end
  end)
end
local t1 = clock()
local ids = quire.store.query("SELECT id FROM entries ORDER BY id")
for b = 1, #ids, batch do
  quire.store.transaction(function()
    for i = b, math.min(b + batch - 1, #ids) do
      quire.content.update(ids[i].id, { title = "Updated story number " .. i })
    end
  end)
end
local t2 = clock()
print(("%.3f %.3f"):format(t1 - t0, t2 - t1))
LUA

# The equivalent SQL, generated up front (by quire, as plain Lua) so sqlite3 measures SQLite only.
cat > "$work/gen.lua" <<'LUA'
local n, batch = tonumber(arg[1]), tonumber(arg[2])
local tags = { "politics", "economy", "climate", "sport", "culture", "science", "health", "world" }
local now = "2026-01-01T00:00:00Z"
local out = io.stdout
out:write("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;\n")
local values = {}
for _, t in ipairs(tags) do values[#values + 1] = ("('tag','%s','%s')"):format(t, t) end
out:write("INSERT INTO terms (taxonomy, slug, name) VALUES ", table.concat(values, ","), ";\n")
local revision = "INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, published_at, created_at)"
  .. " SELECT id, title, slug, status, body, fields, '{}', published_at, updated_at FROM entries WHERE id = %d;\n"
for b = 0, n - 1, batch do
  out:write("BEGIN IMMEDIATE;\n")
  for i = b + 1, math.min(b + batch, n) do
    local t1, t2 = tags[i % 8 + 1], tags[(i * 7) % 8 + 1]
    out:write(("INSERT INTO entries (type, slug, status, title, body, fields, created_at, updated_at, published_at)"
      .. " VALUES ('article', 'bulk-story-number-%d', 'published', 'Bulk story number %d', 'Body of story %d about %s.', '{}', '%s', '%s', '%s');\n")
      :format(i, i, i, t1, now, now, now))
    local pos = 0
    for _, t in ipairs(t1 == t2 and { t1 } or { t1, t2 }) do
      pos = pos + 1
      out:write(("INSERT INTO entry_terms (entry_id, term_id, position) SELECT %d, id, %d FROM terms WHERE taxonomy='tag' AND slug='%s';\n"):format(i, pos, t))
    end
    out:write(revision:format(i))
  end
  out:write("COMMIT;\n")
end
out:write("-- updates\n")
for b = 0, n - 1, batch do
  out:write("BEGIN IMMEDIATE;\n")
  for i = b + 1, math.min(b + batch, n) do
    out:write(("UPDATE entries SET title = 'Updated story number %d', updated_at = '%s' WHERE id = %d;\n"):format(i, now, i))
    out:write(revision:format(i))
  end
  out:write("COMMIT;\n")
end
LUA
"$QUIRE" run --yes --site "$work/s" "$work/gen.lua" "$N" "$BATCH" > "$work/bulk.sql"
csplit -s -f "$work/part" "$work/bulk.sql" '/^-- updates$/'
read -r q_ins q_upd < <("$QUIRE" run --yes --site "$work/q" "$work/bulk.lua" "$N" "$BATCH")
head -1 "$work/part00" > "$work/pragmas.sql"
cat "$work/pragmas.sql" "$work/part01" > "$work/updates.sql"
s0=$(date +%s.%N); sqlite3 "$work/s/quire.db" < "$work/part00"; s1=$(date +%s.%N)
sqlite3 "$work/s/quire.db" < "$work/updates.sql"; s2=$(date +%s.%N)
s_ins=$(echo "$s1 - $s0" | bc -l); s_upd=$(echo "$s2 - $s1" | bc -l)

[ "$(sqlite3 "$work/q/quire.db" 'SELECT count(*) FROM entries')" = "$N" ] || { echo "quire wrote the wrong number of entries"; exit 1; }
[ "$(sqlite3 "$work/s/quire.db" 'SELECT count(*) FROM entries')" = "$N" ] || { echo "sqlite3 wrote the wrong number of entries"; exit 1; }
"$QUIRE" check --site "$work/q" >/dev/null

rate() { echo "$N / $1" | bc -l; }
printf '%-8s %14s %14s\n' "" "inserts/s" "updates/s"
printf '%-8s %14.0f %14.0f\n' quire "$(rate "$q_ins")" "$(rate "$q_upd")" sqlite3 "$(rate "$s_ins")" "$(rate "$s_upd")"
printf 'ratio quire/sqlite3: inserts %.2fx, updates %.2fx (goal >= 0.5x)\n' \
  "$(echo "$s_ins / $q_ins" | bc -l)" "$(echo "$s_upd / $q_upd" | bc -l)"
