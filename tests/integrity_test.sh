#!/usr/bin/env bash
# Editorial data that is never silently lost, through the real `quire` binary: a schema-6 site
# migrated with its data (ids never reused after), the trash (hidden from every public page of a
# real server, restorable, emptied by hand or by the trash.empty job), `quire run` writing nothing
# before a delete is confirmed, and the small ones (no-op saves, diffs, --author, jobs list).
# usage: integrity_test.sh QUIRE_BINARY SOURCE_DIR
set -u
QUIRE=$1
SRC=$2
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
. "$(dirname "$0")/harness.sh"
harness_begin integrity
lacks() { if grep -qF -- "$2" <<<"$out"; then bad "$1: output has '$2'"; else ok; fi; }
same() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', expected '$3'"; fi; }

if ! on_pg; then
# --- a site made with the schema before 0007 (migrations 0001-0006), with data and a deleted entry
old="$work/old"; mkdir -p "$old/plugins"; echo 'name = "Old"' > "$old/site.lua"
{
  echo "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT '');"
  for f in "$SRC"/db/migrations/000[1-6]_*.sql; do
    cat "$f"; n=$(basename "$f"); echo "INSERT INTO schema_migrations (version, name) VALUES (${n:0:4}, '$n');"
  done
  cat <<'SQL'
INSERT INTO users (id, login, display_name, password_hash) VALUES (1, 'ann', 'Ann', '$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g');
INSERT INTO entries (id, type, slug, status, title, body, author_id, created_at, updated_at, published_at) VALUES
  (3, 'article', 'gulls', 'published', 'Gulls return', 'The harbour gulls are back', 1, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'),
  (5, 'article', 'ferry', 'draft', 'Ferry late', 'Again', 1, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z', NULL);
INSERT INTO terms (id, taxonomy, slug, name) VALUES (1, 'tag', 'birds', 'Birds');
INSERT INTO entry_terms (entry_id, term_id) VALUES (3, 1);
INSERT INTO revisions (entry_id, title, slug, status, body, fields, saved_by, actor, created_at) VALUES (3, 'Gulls return', 'gulls', 'published', 'x', '{}', 1, 'ann', '2024-01-01T00:00:00Z');
INSERT INTO comments (id, entry_id, author_name, author_email, body, created_at) VALUES (4, 3, 'Bo', 'bo@example.org', 'Noisy', '2024-01-03T00:00:00Z');
INSERT INTO shares (entry_id, network, count) VALUES (3, 'mastodon', 12);
INSERT INTO media (url, entry_id, created_at) VALUES ('/m/gull.jpg', 3, '2024-01-01T00:00:00Z');
-- entry 9 and comment 8 were deleted before the upgrade: the audit log names them
INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ('2024-02-01T00:00:00Z', 'ann', 'entry.deleted', 'entry:9', 'Storm'),
  ('2024-02-01T00:00:00Z', 'ann', 'comment.deleted', 'comment:8', '');
SQL
} | sqlite3 "$old/quire.db"
olddb() { sqlite3 "$old/quire.db" "$1"; }
expect 0 "check migrates a schema-6 site" -- "$QUIRE" check --site "$old"; contains "check after 0007" "integrity ok, search index ok"
latest=$(basename "$(ls "$SRC"/db/migrations/*.sql | sort | tail -1)"); latest=$((10#${latest%%_*}))
same "schema version" "$(olddb 'SELECT max(version) FROM schema_migrations')" "$latest"
same "entries kept" "$(olddb "SELECT group_concat(x, ' ') FROM (SELECT id || status || author_id AS x FROM entries ORDER BY id)")" "3published1 5draft1"
same "child rows kept" "$(olddb 'SELECT (SELECT count(*) FROM entry_terms) || (SELECT count(*) FROM revisions) || (SELECT count(*) FROM comments) || (SELECT count(*) FROM media WHERE entry_id = 3) || (SELECT count(*) FROM shares)')" 11111
# the same indexes and triggers on entries as a site made new
entries_schema="SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE tbl_name = 'entries' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name)"
"$QUIRE" init "$work/fresh-schema" >/dev/null
same "indexes and triggers of entries" "$(olddb "$entries_schema")" "$(sqlite3 "$work/fresh-schema/quire.db" "$entries_schema")"
same "search index kept" "$(olddb "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'gulls'")" 3
for t in entries revisions comments terms users media; do
  olddb "SELECT sql FROM sqlite_schema WHERE name = '$t'" | grep -q AUTOINCREMENT && ok || bad "$t is not AUTOINCREMENT after 0007"
done
expect 0 "create after migration" -- "$QUIRE" entries create --type article --title "Tern colony" --body "terns" --site "$old"
same "no id named in the audit log is handed out again" "$out" 10
same "the new entry is searchable" "$(olddb "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'terns'")" 10
# delete for good, then create: the id is higher still
expect 0 "trash" -- "$QUIRE" entries delete 10 --site "$old"
expect 0 "delete for good" -- "$QUIRE" entries delete 10 --permanent --yes --site "$old"
expect 0 "create after a delete" -- "$QUIRE" entries create --type article --title "Skuas" --site "$old"
same "id after a delete" "$out" 11
expect 0 "comment ids" -- "$QUIRE" run --site "$old" /dev/stdin <<'LUA'
print(quire.comments.create { entry = 3, author_name = "Cy", author_email = "cy@example.org", body = "Loud" })
LUA
same "no comment id named in the audit log is handed out again" "$out" 9
expect 0 "check after the writes" -- "$QUIRE" check --site "$old"; contains "check clean" "integrity ok, search index ok"
# the audit log names entry 10 once, for the one story it was
expect 0 "audit of entry 10" -- "$QUIRE" audit --subject entry:10 --format csv --site "$old"
same "entry 10's audit names one story" "$(tail -n +2 <<<"$out" | cut -d, -f6 | sort -u)" "Tern colony"
else
# --- (PostgreSQL sites start at schema 12, db/pg/0012_schema.sql: there is no schema-6 site to
# migrate.) Ids are never handed out again there either: sequences, past a delete for good.
old="$work/old"; "$QUIRE" init "$old" >/dev/null
expect 0 "create" -- "$QUIRE" entries create --type article --title "Tern colony" --body "terns" --site "$old"; first=$out
expect 0 "trash" -- "$QUIRE" entries delete "$first" --site "$old"
expect 0 "delete for good" -- "$QUIRE" entries delete "$first" --permanent --yes --site "$old"
expect 0 "create after a delete" -- "$QUIRE" entries create --type article --title "Skuas" --site "$old"
same "id after a delete" "$out" "$((first + 1))"
expect 0 "check after the writes" -- "$QUIRE" check --site "$old"; contains "check clean" "integrity ok, search index ok"
fi

# --- quire run asks before writing anything: creates then a delete, without --yes
site="$work/site"; "$QUIRE" init "$site" >/dev/null
cat > "$work/create_then_delete.lua" <<'LUA'
local ids = {}
for i = 1, 3 do ids[i] = quire.content.create { type = "article", title = "Made " .. i } print("created", ids[i]) end
quire.content.delete(ids[2])
LUA
count() { site_sql "$site" "SELECT count(*) FROM entries"; }
expect 1 "a deleting run without --yes is refused" -- "$QUIRE" run --site "$site" "$work/create_then_delete.lua" </dev/null
contains "refusal names --yes" "nothing was written; run it again with --yes"
lacks "the trial's output is not shown" "created"
same "the refused run wrote nothing" "$(count)" 0
same "not even a revision" "$(site_sql "$site" "SELECT count(*) FROM revisions")" 0
# the same script that catches the refusal is refused all the same
printf 'pcall(quire.content.create, { type = "article", title = "Sly" })\nlocal e = quire.content.create { type = "article", title = "Sly 2" }\nprint(pcall(quire.content.delete, e))\n' > "$work/sly.lua"
expect 1 "a caught refusal is still refused" -- "$QUIRE" run --site "$site" "$work/sly.lua" </dev/null
same "the caught refusal wrote nothing" "$(count)" 0
# on a terminal (script(1) gives it one) it asks first: no leaves nothing, yes runs it once
tty_site="$work/tty"; "$QUIRE" init "$tty_site" >/dev/null
out=$(printf 'n\n' | script -qec "$QUIRE run --site $tty_site $work/create_then_delete.lua" /dev/null 2>&1)
grep -qF "nothing has been written yet. Run it? [y/N]" <<<"$out" && ok || bad "no question on a terminal: $out"
same "no at the terminal writes nothing" "$(site_sql "$tty_site" "SELECT count(*) FROM entries")" 0
out=$(printf 'y\n' | script -qec "$QUIRE run --site $tty_site $work/create_then_delete.lua" /dev/null 2>&1)
same "yes at the terminal runs it once" "$(site_sql "$tty_site" "SELECT count(*) || ' ' || sum(CASE WHEN status = 'trash' THEN 1 ELSE 0 END) FROM entries")" "3 1"
same "its output once" "$(grep -oP 'created\t\d+' <<<"$out" | wc -l)" 3
expect 0 "with --yes" -- "$QUIRE" run --yes --site "$site" "$work/create_then_delete.lua"
contains "with --yes summary" "0 entries changed, 3 created, 0 deleted, 1 trashed"
# The ids it made (on PostgreSQL the refused trials used some up: a sequence does not roll back).
read -r made1 made2 made3 <<<"$(grep -oP 'created\t\K\d+' <<<"$out" | tr '\n' ' ')"
same "--yes creates them once" "$(count)" 3
same "one of them in the trash" "$(site_sql "$site" "SELECT title FROM entries WHERE status = 'trash'")" "Made 2"
# a run that deletes nothing is tried, then run for real, its output shown once
printf 'local out = io.stdout\nprint("made", quire.content.create { type = "page", title = "Plain" })\nout:write("raw\\n")\nio.write("written\\n")\n' > "$work/plain.lua"
expect 0 "a run without deletes" -- "$QUIRE" run --site "$site" "$work/plain.lua" </dev/null
same "its output, once" "$(grep -c '^made' <<<"$out") $(grep -c '^raw' <<<"$out") $(grep -c '^written' <<<"$out")" "1 1 1"
same "it wrote once" "$(site_sql "$site" "SELECT count(*) FROM entries WHERE title = 'Plain'")" 1
# --dry-run: the first 20 changes, then how many more
printf 'for i = 1, 30 do quire.content.create { type = "page", title = "Dry " .. i } end\n' > "$work/dry.lua"
expect 0 "dry run of 30 creates" -- "$QUIRE" run --dry-run --site "$site" "$work/dry.lua"
contains "dry run counts" "0 entries changed, 30 created"
contains "dry run says how many more" "… and 10 more"

# --- the trash from the command line, and the retention job
expect 0 "untrash" -- "$QUIRE" entries untrash $made2 --site "$site"
same "untrash gives the status back" "$(site_sql "$site" "SELECT status FROM entries WHERE id = $made2")" draft
expect 1 "--permanent needs the trash first" -- "$QUIRE" entries delete $made2 --permanent --yes --site "$site"; contains "not trashed" "not in the trash: $made2"
expect 0 "trash" -- "$QUIRE" entries trash $made2 $made3 --site "$site"
expect 1 "a trashed entry is not edited" -- "$QUIRE" entries update $made2 --title "Edited" --site "$site"; contains "trashed edit" "in the trash: untrash it first"
expect 0 "trash list" -- "$QUIRE" entries empty-trash --list --format csv --site "$site"; contains "trash list" "$made2,article,made-2,Made 2,draft,"
expect 1 "empty-trash asks" -- "$QUIRE" entries empty-trash --site "$site" </dev/null; contains "empty-trash asks" "add --yes"
same "nothing emptied without --yes" "$(site_sql "$site" "SELECT count(*) FROM trash")" 2
expect 0 "jobs list" -- "$QUIRE" jobs list --site "$site"; contains "jobs header" "NAME"; contains "trash job" "trash.empty"
site_sql "$site" "UPDATE trash SET trashed_at = '2020-01-01T00:00:00Z' WHERE entry_id = $made2; UPDATE jobs SET run_at = '2020-01-01T00:00:00Z' WHERE name = 'trash.empty'"
expect 0 "the retention job" -- "$QUIRE" jobs run --site "$site"; contains "job ran" "1 job(s) run, 0 failed"
same "the job emptied what was old enough" "$(site_sql "$site" "SELECT entry_id FROM trash")" "$made3"
same "with its revisions" "$(site_sql "$site" "SELECT count(*) FROM revisions WHERE entry_id = $made2")" 0
expect 0 "audit of the job" -- "$QUIRE" audit --subject entry:$made2 --format csv --site "$site"; contains "job audited" ",job:trash.empty,entry.deleted,entry:$made2,Made 2"
printf 'trash_retention = 0\n' >> "$site/site.lua"
site_sql "$site" "DELETE FROM jobs"
expect 0 "jobs list, none" -- "$QUIRE" jobs list --site "$site"; contains "no jobs header" "NAME"; contains "no jobs" "no jobs"
printf 'trash_retention = -1\n' >> "$site/site.lua"
expect 1 "bad retention" -- "$QUIRE" check --site "$site"; contains "bad retention" "trash_retention must be a whole number of days"
sed -i '/trash_retention = -1/d' "$site/site.lua"
expect 0 "empty-trash --yes" -- "$QUIRE" entries empty-trash --yes --site "$site"; contains "emptied" "1 deleted for good"
expect 0 "check after the trash" -- "$QUIRE" check --site "$site"

# --- the small ones: --author, no revision for a no-op save, diffs by field, [] in JSON
"$QUIRE" user add rita --site "$site" >/dev/null
expect 0 "create --author" -- "$QUIRE" entries create --type article --title "By Rita" --author rita --fields '{"dateline":"Oslo","standfirst":"Short"}' --site "$site"
rid=$out
same "author set" "$(site_sql "$site" "SELECT u.login FROM entries e JOIN users u ON u.id = e.author_id WHERE e.id = $rid")" rita
expect 1 "--author unknown" -- "$QUIRE" entries update "$rid" --author nobody --site "$site"; contains "unknown author" "author: no user nobody"
expect 0 "no-op update" -- "$QUIRE" entries update "$rid" --title "By Rita" --author rita --site "$site"
same "no revision for a no-op save" "$(site_sql "$site" "SELECT count(*) FROM revisions WHERE entry_id = $rid")" 1
expect 0 "update --author" -- "$QUIRE" entries update "$rid" --author rita --fields '{"standfirst":"Longer"}' --site "$site"
# an old revision stored with its keys in the other order
site_sql "$site" "INSERT INTO revisions (entry_id, title, slug, status, body, fields, terms, created_at, actor) SELECT entry_id, title, slug, status, body, '{\"standfirst\":\"Short\",\"dateline\":\"Oslo\"}', terms, created_at, actor FROM revisions WHERE entry_id = $rid ORDER BY id LIMIT 1"
revs=$(site_sql "$site" "SELECT id FROM revisions WHERE entry_id = $rid ORDER BY id")
set -- $revs
expect 0 "diff, key order" -- "$QUIRE" entries diff "$rid" "$1" "$3" --site "$site"; same "no change for another key order" "$out" ""
expect 0 "diff, one field" -- "$QUIRE" entries diff "$rid" "$1" "$2" --site "$site"; same "one field changed" "$out" "fields.standfirst: [-Short-]{+Longer+}"
expect 0 "json list" -- "$QUIRE" entries get "$rid" --site "$site"; contains "empty tags" '"tags":[]'
expect 0 "json empty list" -- "$QUIRE" entries list --status archived --format json --site "$site"; same "empty list" "$out" "[]"

# --- a trashed entry is public nowhere, on a real server, and comes back when untrashed
demo="$work/demo"
"$QUIRE" init --demo "$demo" >/dev/null || bad "demo init"
check "server started" serve_site "$demo" "$work/serve.log" --workers 2
[ -n "$port" ] || finish
row=$(site_sql "$demo" "SELECT e.id, e.slug, substr(e.published_at, 1, 4) || '/' || substr(e.published_at, 6, 2) FROM entries e JOIN entry_terms et ON et.entry_id = e.id JOIN terms t ON t.id = et.term_id AND t.taxonomy = 'section' WHERE e.type = 'article' AND e.status = 'published' ORDER BY e.published_at DESC LIMIT 1")
IFS='|' read -r eid slug ym <<<"$row"
section=$(site_sql "$demo" "SELECT t.slug FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id = $eid AND t.taxonomy = 'section'")
word=$(site_sql "$demo" "SELECT title FROM entries WHERE id = $eid" | tr -cs '[:alnum:]' '\n' | awk 'length > 5' | head -1)
pages=("/" "/section/$section" "/feed.xml" "/atom.xml" "/feed.json" "/sitemap.xml" "/search?q=$word")
status() { curl -s -o /dev/null -w '%{http_code}' "$base$1"; }
# A page's text; for /sitemap.xml, the index and every sitemap file it lists (fetched from this server).
page() {
  if [ "$1" != /sitemap.xml ]; then curl -s "$base$1"; return; fi
  curl -s "$base/sitemap.xml" | grep -o '<loc>[^<]*</loc>' | sed 's/<[^>]*>//g; s/&amp;/\&/g; s|^[a-z]*://[^/]*||' |
    while read -r path; do curl -s "$base$path"; done
}
answers() { [ "$(status "$1")" = "$2" ]; }
shows() { page "$1" | grep -q -- "$slug"; }
hides() { ! shows "$1"; }
same "the article is served" "$(status "/$ym/$slug")" 200
for p in "${pages[@]}"; do check "$p shows the article before it is trashed" shows "$p"; done
expect 0 "trash the live article" -- "$QUIRE" entries trash "$eid" --site "$demo"
settled "a trashed article is 404" answers "/$ym/$slug" 404
for p in "${pages[@]}"; do settled "$p does not show the trashed article" hides "$p"; done
expect 0 "untrash the article" -- "$QUIRE" entries untrash "$eid" --site "$demo"
settled "an untrashed article is back" answers "/$ym/$slug" 200
for p in "${pages[@]}"; do settled "$p shows the article once untrashed" shows "$p"; done

# --- a lossless export: export -> import into a fresh site with the same plugins -> export, byte for byte
kill -TERM "$master" 2>/dev/null; wait "$master" 2>/dev/null; master=""
printf 'correct horse battery\n' | "$QUIRE" user add ed --role editor --password-stdin --site "$demo" >/dev/null
"$QUIRE" entries update "$eid" --title "A second version" --as ed --site "$demo" >/dev/null
"$QUIRE" entries trash "$((eid + 1))" --site "$demo" >/dev/null
"$QUIRE" entries trash "$((eid + 2))" --site "$demo" >/dev/null
"$QUIRE" entries delete "$((eid + 2))" --permanent --yes --site "$demo" >/dev/null
"$QUIRE" jobs list --site "$demo" >/dev/null # records the jobs
expect 0 "export" -- "$QUIRE" export --format jsonl "$work/x1" --site "$demo"
for f in manifest.json users.jsonl entries.jsonl comments.jsonl tables/revisions.jsonl tables/shares.jsonl tables/audit_log.jsonl tables/jobs.jsonl tables/media.jsonl tables/trash.jsonl; do
  [ -f "$work/x1/$f" ] && ok || bad "the export has no $f"
done
same "the export folder is its owner's alone" "$(stat -c %a "$work/x1")" 700
grep -q '"password_hash":"$argon2id' "$work/x1/users.jsonl" && ok || bad "password hashes not exported"
grep -q '"name":"trash.empty"' "$work/x1/tables/jobs.jsonl" && ok || bad "jobs not exported"
grep -q '"action":"entry.deleted"' "$work/x1/tables/audit_log.jsonl" && ok || bad "audit log not exported"
[ "$(wc -l < "$work/x1/tables/revisions.jsonl")" -gt "$(wc -l < "$work/x1/entries.jsonl")" ] && ok || bad "revisions not all exported"
grep -q '"plugins":\[{"name":"article","version":"1.0"},{"name":"opinion","version":"1.0"}\]' "$work/x1/manifest.json" && ok || bad "manifest plugins: $(cat "$work/x1/manifest.json")"
bare="$work/bare"; "$QUIRE" init "$bare" >/dev/null
expect 1 "import into a site without the plugins" -- "$QUIRE" import "$work/x1" --site "$bare"
contains "missing plugins named at once" "plugins not enabled in this site: article, opinion"
contains "missing types named" "content types this site does not define: opinion"
same "nothing imported" "$(site_sql "$bare" "SELECT count(*) FROM entries")" 0
fresh="$work/fresh"; "$QUIRE" init "$fresh" >/dev/null; cp "$demo/site.lua" "$fresh/site.lua"
expect 0 "import into a fresh site" -- "$QUIRE" import "$work/x1" --site "$fresh"
expect 0 "export again" -- "$QUIRE" export --format jsonl "$work/x2" --site "$fresh"
out=$(diff -r "$work/x1" "$work/x2" 2>&1) && ok || bad "the round trip is not byte-identical: $out"
expect 0 "markdown export" -- "$QUIRE" export --format markdown "$work/m1" --site "$demo"
fresh2="$work/fresh2"; "$QUIRE" init "$fresh2" >/dev/null; cp "$demo/site.lua" "$fresh2/site.lua"
expect 0 "import markdown" -- "$QUIRE" import "$work/m1" --site "$fresh2"
expect 0 "markdown export again" -- "$QUIRE" export --format markdown "$work/m2" --site "$fresh2"
out=$(diff -r "$work/m1" "$work/m2" 2>&1) && ok || bad "the markdown round trip is not byte-identical: $out"
expect 0 "the copy's staff can sign in" -- "$QUIRE" run --site "$fresh" /dev/stdin <<'LUA'
assert(quire.users.authenticate("ed", "correct horse battery"), "password lost")
LUA
expect 0 "check the copy" -- "$QUIRE" check --site "$fresh"
expect 0 "import twice" -- "$QUIRE" import "$work/x1" --site "$fresh"
expect 0 "export after importing twice" -- "$QUIRE" export --format jsonl "$work/x3" --site "$fresh"
out=$(diff -r "$work/x1" "$work/x3" 2>&1) && ok || bad "a second import changed the site: $out"

# --- a site migrated from WordPress round-trips too: redirects, what came from where, media, sections in sections
wxr="$SRC/../shared/conformance/wordpress/themeunittestdata.wordpress.xml"
if [ -f "$wxr" ]; then
  wp="$work/wp"; "$QUIRE" init --demo "$wp" >/dev/null
  expect 0 "WordPress import" -- "$QUIRE" import --from wordpress "$wxr" --site "$wp"
  expect 0 "export the migrated site" -- "$QUIRE" export --format jsonl "$work/w1" --site "$wp"
  for t in redirects import_map media terms; do [ -s "$work/w1/tables/$t.jsonl" ] && ok || bad "the export has no $t rows"; done
  wp2="$work/wp2"; "$QUIRE" init "$wp2" >/dev/null; cp "$wp/site.lua" "$wp2/site.lua"
  expect 0 "import it into a fresh site" -- "$QUIRE" import "$work/w1" --site "$wp2"
  expect 0 "export that" -- "$QUIRE" export --format jsonl "$work/w2" --site "$wp2"
  out=$(diff -r "$work/w1" "$work/w2" 2>&1) && ok || bad "the migrated site's round trip is not byte-identical: $out"
else
  echo "integrity: $wxr missing, the WordPress round trip is skipped" >&2
fi

finish
