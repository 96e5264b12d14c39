#!/usr/bin/env bash
# Integration tests of the real `quire` binary: CLI contract, init, run, check, concurrency.
# On either store: tests/pg_http_test.sh runs it on PostgreSQL (the site data read through
# site_sql, tests/harness.sh); the few checks that differ by store say why.
# usage: cli_test.sh QUIRE_BINARY SOURCE_DIR
set -u
QUIRE=$1
SRC=$2
work=$(mktemp -d /tmp/quire-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/harness.sh"
TEST_NAME=cli
entries() { site_sql "$work/site" "SELECT count(*) FROM entries"; }
# SQL for the value at KEY of the JSON text in column COL, in the site's dialect.
jx() { if on_pg; then echo "($1::jsonb ->> '$2')"; else echo "json_extract($1, '\$.$2')"; fi; }

# --- the command-line contract
expect 0 "help" -- "$QUIRE" --help; contains "help" "quire <command>"
expect 0 "version" -- "$QUIRE" --version; contains "version" "quire "
for cmd in init run check test; do
  expect 0 "$cmd --help" -- "$QUIRE" "$cmd" --help; contains "$cmd --help" "usage: quire $cmd"
done
# single commands print their usage once (not "quire import import DIR")
expect 0 "import --help" -- "$QUIRE" import --help
check_out() { if [ "$out" = "$2" ]; then ok; else bad "$1: got '$out'"; fi; }
check_out "import --help" "usage: quire import DIR | import --from wordpress FILE.xml [--uploads DIR] [--dry-run]"
expect 0 "export --help" -- "$QUIRE" export --help
contains "export --help" "usage: quire export --format jsonl|markdown DIR"
contains "export --help" "usage: quire export --format html DIR"
expect 2 "import without its folder" -- "$QUIRE" import
check_out "import without its folder" "quire: usage: quire import DIR | import --from wordpress FILE.xml [--uploads DIR] [--dry-run]"
expect 0 "user passwd --help" -- "$QUIRE" user passwd --help; contains "user passwd --help" "usage: quire user passwd LOGIN"
expect 2 "no command" -- "$QUIRE"
expect 2 "unknown command" -- "$QUIRE" frobnicate; contains "unknown command" "unknown command 'frobnicate'"
expect 2 "unknown global flag" -- "$QUIRE" --frob; contains "unknown flag" "unknown option '--frob'"
expect 2 "unknown command flag" -- "$QUIRE" check --frob; contains "unknown check flag" "unknown option '--frob'"
expect 2 "missing option value" -- "$QUIRE" run --site
expect 2 "run without script" -- "$QUIRE" run --site "$work/site"

# --- init
expect 0 "init" -- "$QUIRE" init "$work/site"
files="site.lua plugins"; on_pg || files="$files quire.db"
for f in $files; do [ -e "$work/site/$f" ] && ok || bad "init did not create $f"; done
on_pg && { [ -e "$work/site/quire.db" ] && bad "init --database made a quire.db all the same" || ok; }
grep -q '^-- workers = 0' "$work/site/site.lua" && ok || bad "site.lua lacks commented defaults"
echo '-- my edits' >> "$work/site/site.lua"
expect 1 "init refuses an existing site" -- "$QUIRE" init "$work/site"; contains "refuse" "not overwriting"
grep -q 'my edits' "$work/site/site.lua" && ok || bad "init overwrote site.lua"
on_pg || { [ "$(sqlite3 "$work/site/quire.db" 'PRAGMA journal_mode')" = wal ] && ok || bad "database is not in WAL mode"; }
# .gitignore: the runtime files are left out, the content and configuration are not.
git init -q "$work/site"
for f in .quire/worker-1.stats quire.db-wal quire.db-shm data/news.sqlite-wal data/news.sqlite-shm; do
  git -C "$work/site" check-ignore -q "$f" && ok || bad "init's .gitignore does not ignore $f"
done
for f in quire.db site.lua plugins/x/plugin.lua public/travel-journal/index.html data/news.sqlite; do
  git -C "$work/site" check-ignore -q "$f" && bad "init's .gitignore ignores $f" || ok
done
mkdir -p "$work/ours" && echo 'ours' > "$work/ours/.gitignore"
"$QUIRE" init "$work/ours" >/dev/null
[ "$(cat "$work/ours/.gitignore")" = ours ] && ok || bad "init replaced an existing .gitignore"

# --- run: the full API, arguments, error reporting
cat > "$work/create.lua" <<'LUA'
local n = tonumber(arg[1])
quire.store.transaction(function()
  for i = 1, n do quire.content.create { type = "article", title = arg[2] .. " " .. i, tags = { "t" .. (i % 3) } } end
end)
print("created " .. n)
LUA
expect 0 "run creates" -- "$QUIRE" run --site "$work/site" "$work/create.lua" 5 Hello; contains "run output" "created 5"
[ "$(entries)" = 5 ] && ok || bad "expected 5 entries, got $(entries)"

cat > "$work/fails.lua" <<'LUA'
quire.store.transaction(function()
  quire.content.create { type = "article", title = "half written" }
  local x = nil
  return x.field -- line 4
end)
LUA
expect 1 "script error exits 1" -- "$QUIRE" run --site "$work/site" "$work/fails.lua"
contains "error names file and line" "$work/fails.lua:4: attempt to index a nil value"
[ "$(entries)" = 5 ] && ok || bad "a failed script left writes behind ($(entries) entries)"

cat > "$work/invalid.lua" <<'LUA'
quire.content.create { type = "article", title = "" }
LUA
expect 1 "validation error" -- "$QUIRE" run --site "$work/site" "$work/invalid.lua"
contains "validation error names the call site" "$work/invalid.lua:1: invalid article: title: is required"

printf 'local x = \n' > "$work/syntax.lua"
expect 1 "syntax error" -- "$QUIRE" run --site "$work/site" "$work/syntax.lua"; contains "syntax error position" "syntax.lua:2:"
expect 1 "missing script" -- "$QUIRE" run --site "$work/site" "$work/none.lua"; contains "missing script" "none.lua"
expect 1 "missing site" -- "$QUIRE" run --site "$work/nosite" "$work/create.lua" 1 x; contains "missing site" "quire init"

# --- two writers at once: both succeed, no write lost
"$QUIRE" run --site "$work/site" "$work/create.lua" 300 A > "$work/a.out" 2>&1 & a=$!
"$QUIRE" run --site "$work/site" "$work/create.lua" 300 B > "$work/b.out" 2>&1 & b=$!
cat > "$work/small.lua" <<'LUA'
for i = 1, 100 do quire.content.create { type = "page", title = arg[1] .. i } end
LUA
"$QUIRE" run --site "$work/site" "$work/small.lua" C > "$work/c.out" 2>&1 & c=$!
wait $a && wait $b && wait $c && ok || bad "a concurrent writer failed: $(cat "$work"/[abc].out)"
[ "$(entries)" = 705 ] && ok || bad "expected 705 entries after concurrent writers, got $(entries)"

# --- check
expect 0 "check healthy" -- "$QUIRE" check --site "$work/site"; contains "check output" "integrity ok"
QUIRE_SITE="$work/site" expect 0 "QUIRE_SITE" -- "$QUIRE" check
contains "check looks at workflow states" "workflow states ok"
# An entry left in a state whose plugin is gone (e.g. a removed legal-review plugin)
first="(SELECT min(id) FROM entries)" # 1 on SQLite; on PostgreSQL the trial runs above used some
site_sql "$work/site" "UPDATE entries SET status = 'legal_review' WHERE id = $first"
expect 1 "check finds an entry in an unknown state" -- "$QUIRE" check --site "$work/site"
contains "check names the state" "1 entries are in state 'legal_review', which no loaded plugin defines"
site_sql "$work/site" "UPDATE entries SET status = 'draft' WHERE id = $first"
if on_pg; then # the search document of an entry no longer says what the entry says
  site_sql "$work/site" "UPDATE entries_search SET doc = to_tsvector('simple', 'stale') WHERE id = $first"
else # an entry gone without its search row
  sqlite3 "$work/site/quire.db" "DROP TRIGGER entries_fts_delete; DELETE FROM entries WHERE id = 1;"
fi
expect 1 "check finds a stale search index" -- "$QUIRE" check --site "$work/site"; contains "check problem" "search index"

# --- a database newer than the binary is refused
"$QUIRE" init "$work/newer" >/dev/null
site_sql "$work/newer" "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')"
expect 1 "newer schema refused" -- "$QUIRE" check --site "$work/newer"; contains "newer schema" "newer than this quire"

# --- a broken site.lua is reported with file and line
"$QUIRE" init "$work/broken" >/dev/null
printf 'name = "x"\nlimits = { title_max = -1 }\n' > "$work/broken/site.lua"
expect 1 "bad limit" -- "$QUIRE" check --site "$work/broken"; contains "bad limit" "limit 'title_max' must be a positive integer"
printf 'name = \n' > "$work/broken/site.lua"
expect 1 "site.lua syntax" -- "$QUIRE" check --site "$work/broken"; contains "site.lua position" "site.lua:2:"

# --- scheduled jobs run once per interval, however many processes race for them
"$QUIRE" init "$work/jobs" >/dev/null
printf 'plugins = { "notes" }\nplugin_path = { "%s/tests/fixtures/plugins" }\n' "$SRC" >> "$work/jobs/site.lua"
for i in 1 2 3 4; do "$QUIRE" jobs run --site "$work/jobs" > "$work/jobs$i.out" 2>&1 & done; wait
ran=$(cat "$work"/jobs?.out | grep -c '^1 job')
[ "$ran" = 1 ] && ok || bad "expected one process to run the job, $ran did: $(cat "$work"/jobs?.out)"
[ "$(site_sql "$work/jobs" "SELECT count(*) FROM entries WHERE type = 'note'")" = 1 ] && ok || bad "the job ran more than once"

# --- a plugin that fails to load stops the site, naming it
"$QUIRE" init "$work/bad" >/dev/null
printf 'plugins = { "notes", "throws" }\nplugin_path = { "%s/tests/fixtures/plugins" }\n' "$SRC" >> "$work/bad/site.lua"
expect 1 "broken plugin" -- "$QUIRE" run --site "$work/bad" "$work/small.lua" X; contains "broken plugin" "throws/plugin.lua:6:"
expect 0 "check ignores plugins" -- "$QUIRE" check --site "$work/bad"

# --- bulk runs: --dry-run writes nothing, deletes need --yes, kill -9 leaves whole batches only
# (The sites below are filled by `quire run --yes`, run once: a run without it is tried first,
# which on PostgreSQL uses up ids, as a sequence does not roll back, and the checks name ids.)
"$QUIRE" init "$work/bulk" >/dev/null
cat > "$work/seed.lua" <<'LUA'
quire.store.transaction(function()
  for i = 1, 3000 do quire.content.create { type = "article", title = "Bulk " .. i, body = "old text " .. i } end
end)
LUA
"$QUIRE" run --yes --site "$work/bulk" "$work/seed.lua" 2>/dev/null
bulkdb() { site_sql "$work/bulk" "$1"; }
cat > "$work/mark.lua" <<'LUA'
quire.each({ type = "article" }, function(e) quire.content.update(e.id, { title = e.title .. " ✓" }) end, { batch = 100 })
LUA
expect 0 "dry run" -- "$QUIRE" run --dry-run --site "$work/bulk" "$work/mark.lua"
contains "dry-run summary" "3000 entries changed, 0 created, 0 deleted"
contains "dry-run sample diff" "~ entry 1 title: Bulk 1 -> Bulk 1 ✓"
[ "$(bulkdb "SELECT count(*) FROM entries WHERE title LIKE '%✓'")" = 0 ] && ok || bad "dry run wrote"
echo 'for _, e in ipairs(quire.content.query { limit = 2 }) do quire.content.delete(e.id) end' > "$work/del.lua"
expect 1 "delete without --yes refused" -- "$QUIRE" run --site "$work/bulk" "$work/del.lua"; contains "delete refusal" "--yes"
[ "$(bulkdb "SELECT count(*) FROM entries")" = 3000 ] && ok || bad "refused delete deleted"
expect 0 "delete with --yes" -- "$QUIRE" run --yes --site "$work/bulk" "$work/del.lua"
[ "$(bulkdb "SELECT count(*) FROM entries WHERE status <> 'trash'")" = 2998 ] && ok || bad "--yes did not delete"
"$QUIRE" run --site "$work/bulk" "$work/mark.lua" 2>/dev/null & victim=$!
# Killed once 500 are marked; a deadline, not a count of polls, since starting it can take
# seconds on a loaded machine.
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
  n=$(bulkdb "SELECT count(*) FROM entries WHERE title LIKE '%✓'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 500 ] && break; sleep 0.02
done
kill -9 $victim 2>/dev/null; wait $victim 2>/dev/null
marked=$(bulkdb "SELECT count(*) FROM entries WHERE title LIKE '%✓'")
[ $((marked % 100)) = 0 ] && [ "$marked" -gt 0 ] && [ "$marked" -lt 2998 ] && ok || bad "after kill -9: $marked marked, expected whole batches of 100 and not all"
expect 0 "check after kill -9" -- "$QUIRE" check --site "$work/bulk"
expect 0 "resume" -- "$QUIRE" run --resume --site "$work/bulk" "$work/mark.lua"
contains "resume notice" "resuming after entry"
[ "$(bulkdb "SELECT count(*) FROM entries WHERE title LIKE '%✓'")" = 2998 ] && ok || bad "resume did not finish the run"
[ "$(bulkdb "SELECT count(*) FROM entries WHERE title LIKE '%✓ ✓'")" = 0 ] && ok || bad "resume marked entries twice"

# --- editorial commands
expect 0 "entries list" -- "$QUIRE" entries list --site "$work/bulk" --limit 3 --format ids; contains "ids" "1 2 3"
# every entry, written a page of 1000 at a time as it is read: one JSON array, one line of ids, a table
"$QUIRE" entries list --site "$work/bulk" --format json > "$work/list.json"
[ "$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(len(v), len({e["id"] for e in v}))' "$work/list.json")" = "2998 2998" ] && ok || bad "entries list --format json is not every entry once"
[ "$("$QUIRE" entries list --site "$work/bulk" --format ids | wc -w)" = 2998 ] && ok || bad "entries list --format ids is not every entry"
[ "$("$QUIRE" entries list --site "$work/bulk" --format table | wc -l)" = 2999 ] && ok || bad "entries list --format table is not a header and every entry"
[ "$("$QUIRE" entries list --site "$work/bulk" --limit 1500 --format csv | wc -l)" = 1501 ] && ok || bad "entries list --limit 1500 across pages"
expect 2 "entries list --limit 0" -- "$QUIRE" entries list --site "$work/bulk" --limit 0; contains "limit refusal" "--limit must be a positive whole number"
# A mistyped status, type or id is refused naming the valid ones, not an empty (or whole) list.
expect 2 "entries list --status typo" -- "$QUIRE" entries list --site "$work/bulk" --status drafts
contains "status refusal" "unknown --status drafts (one of: archived, draft, published, review, scheduled, trash)"
expect 2 "entries list --type typo" -- "$QUIRE" entries list --site "$work/bulk" --type articles
contains "type refusal" "unknown --type articles (one of: article, page)"
expect 0 "entries list --status --type" -- "$QUIRE" entries list --site "$work/bulk" --status draft --type page
expect 1 "entries list --tag unknown" -- "$QUIRE" entries list --site "$work/bulk" --tag "no such tag"
contains "tag refusal" "no tag no such tag (quire terms list --taxonomy tag lists them)"
expect 1 "entries list --author unknown" -- "$QUIRE" entries list --site "$work/bulk" --author nobody
contains "author refusal" "no user nobody (quire user list lists them)"
"$QUIRE" user add ada --site "$work/bulk" >/dev/null
first=$("$QUIRE" entries list --site "$work/bulk" --limit 1 --format ids)
"$QUIRE" entries update --site "$work/bulk" "$first" --author ada
ada=$(bulkdb "SELECT id FROM users WHERE login = 'ada'")
[ "$("$QUIRE" entries list --site "$work/bulk" --author ada --format ids)" = "$first" ] \
  && [ "$("$QUIRE" entries list --site "$work/bulk" --author "$ada" --format ids)" = "$first" ] && ok || bad "entries list --author by login and by id"
# A name in another script: the refusal says why (a URL is made of a-z and digits) and what to do.
expect 1 "a tag with no letter a-z" -- "$QUIRE" entries update --site "$work/bulk" 1 --tags "Αθήνα"
contains "tag script refusal" '"Αθήνα" has no letter a-z (accents aside) or digit to make its URL from: add one'
expect 2 "terms list --taxonomy typo" -- "$QUIRE" terms list --site "$work/bulk" --taxonomy tags
contains "taxonomy refusal" "unknown --taxonomy tags (one of: section, tag)"
expect 2 "comments list --status typo" -- "$QUIRE" comments list --site "$work/bulk" --status helds
contains "comment status refusal" "unknown --status helds (one of: approved, held, spam, trash)"
expect 2 "comments list --entry typo" -- "$QUIRE" comments list --site "$work/bulk" --entry 1o
contains "comment entry refusal" "--entry must be an entry id (a number), not 1o"
expect 2 "entries publish typo" -- "$QUIRE" entries publish --site "$work/bulk" 1o; contains "publish id refusal" "'1o' is not an entry id (a number)"
expect 2 "entries restore typo" -- "$QUIRE" entries restore --site "$work/bulk" 1 x; contains "restore id refusal" "'x' is not a revision id (a number)"
expect 2 "comments approve typo" -- "$QUIRE" comments approve --site "$work/bulk" 1 x; contains "comment id refusal" "'x' is not a comment id (a number)"
expect 0 "search-replace dry run" -- "$QUIRE" entries search-replace "old text" "new text" --site "$work/bulk" --dry-run
contains "search-replace count" "2998 replacements in 2998 entries (dry run: nothing written)"
expect 0 "search-replace" -- "$QUIRE" entries search-replace "old text" "new text" --site "$work/bulk"
[ "$(bulkdb "SELECT count(*) FROM entries WHERE body LIKE 'new text%'")" = 2998 ] && ok || bad "search-replace did not write"
expect 0 "check after search-replace" -- "$QUIRE" check --site "$work/bulk"
expect 2 "unknown entries command" -- "$QUIRE" entries frob --site "$work/bulk"

# --- search-replace --regex: PCRE2, $1 backreferences, clear errors, fields stay valid
rx="$work/rx"; "$QUIRE" init "$rx" >/dev/null
cat > "$work/rx.lua" <<'LUA'
quire.content.create { type = "article", title = "Dateline", body = "LONDON, 3 May 2024 - Rain.\n\n**Bold** [link](https://example.org/a_b)",
  fields = { standfirst = "Seen on 3 May 2024" } }
quire.content.create { type = "article", title = "Other", body = "No date here. Café ünïcode." }
LUA
"$QUIRE" run --yes --site "$rx" "$work/rx.lua" 2>/dev/null
rxdb() { site_sql "$rx" "$1"; }
expect 0 "regex with groups" -- "$QUIRE" entries search-replace '(\d{1,2}) (May|June) (\d{4})' '$2 $1, $3' --regex --fields title,body,fields.standfirst --site "$rx"
contains "regex count" "2 replacements in 1 entry"
[ "$(rxdb "SELECT body FROM entries WHERE id = 1")" = "$(printf 'LONDON, May 3, 2024 - Rain.\n\n**Bold** [link](https://example.org/a_b)')" ] && ok || bad "regex body: $(rxdb 'SELECT body FROM entries WHERE id = 1')"
[ "$(rxdb "SELECT $(jx fields standfirst) FROM entries WHERE id = 1")" = "Seen on May 3, 2024" ] && ok || bad "regex fields: $(rxdb 'SELECT fields FROM entries WHERE id = 1')"
expect 0 "regex inserting JSON metacharacters" -- "$QUIRE" entries search-replace '^Seen' 'Seen "quoted" \ {x}' --regex --fields fields.standfirst --site "$rx"
valid="json_valid(fields)"; on_pg && valid="CASE WHEN quire_json_valid(fields) THEN 1 ELSE 0 END"
[ "$(rxdb "SELECT $valid || $(jx fields standfirst) FROM entries WHERE id = 1")" = '1Seen "quoted" \ {x} on May 3, 2024' ] && ok || bad "JSON field after regex: $(rxdb 'SELECT fields FROM entries WHERE id = 1')"
expect 0 "regex over unicode" -- "$QUIRE" entries search-replace '\bCaf.\b' 'Coffee' --regex --site "$rx"
[ "$(rxdb "SELECT body FROM entries WHERE id = 2")" = "No date here. Coffee ünïcode." ] && ok || bad "regex unicode: $(rxdb 'SELECT body FROM entries WHERE id = 2')"
expect 2 "invalid regex" -- "$QUIRE" entries search-replace '(unclosed' 'x' --regex --site "$rx"; contains "invalid regex" "missing closing parenthesis at offset 9"
"$QUIRE" run --yes --site "$rx" /dev/stdin 2>/dev/null <<'LUA'
quire.content.create { type = "article", title = "Runaway", body = ("a"):rep(5000) .. "!" }
LUA
before=$(rxdb "SELECT body FROM entries ORDER BY id")
expect 1 "catastrophic regex" -- timeout 20 "$QUIRE" entries search-replace '(a|aa)+$' 'x' --regex --site "$rx"; contains "catastrophic regex" "too much backtracking"
[ "$(rxdb "SELECT body FROM entries ORDER BY id")" = "$before" ] && ok || bad "a failed regex run wrote something"
expect 2 "unknown group in NEW" -- "$QUIRE" entries search-replace '(Rain)' '$7' --regex --site "$rx"; contains "unknown group" "bad replacement: \$7 in the replacement: the pattern has 1 group"
# refused before any match: the pattern matches nothing here
expect 2 "unknown group, no match" -- "$QUIRE" entries search-replace 'nowhere' '$1' --regex --site "$rx"; contains "unknown group, no match" "the pattern has 0 groups"
expect 2 "unknown named group" -- "$QUIRE" entries search-replace '(?<day>\d+)' '${dya}' --regex --site "$rx"; contains "unknown named group" "no group named dya"
expect 2 "lone dollar" -- "$QUIRE" entries search-replace 'Rain' 'US$ 5' --regex --site "$rx"; contains "lone dollar" "write \$\$ for a \$"
expect 2 "invalid UTF-8 in NEW" -- "$QUIRE" entries search-replace 'Rain' "$(printf 'Sn\xffow')" --site "$rx"; contains "invalid UTF-8 in NEW" "OLD and NEW must be valid UTF-8"
expect 0 "check after regex" -- "$QUIRE" check --site "$rx"

# --- search-replace over titles and bodies is set-based: the same result as saving entry by
# entry (the path taken when a plugin watches saves: the saved_hook fixture)
sr="$work/sr"; "$QUIRE" init "$sr" >/dev/null
"$QUIRE" run --yes --site "$sr" /dev/stdin 2>/dev/null <<'LUA'
local tags = { "Harbour news", "Weather", "Ports" }
for i = 1, 12 do
  quire.content.create { type = i % 3 == 0 and "page" or "article", title = "Harbour story " .. i,
    status = i % 2 == 0 and "published" or "draft", body = "The harbour reopened; harbour pilots said so " .. i .. ".",
    tags = { tags[i % 3 + 1], tags[(i + 1) % 3 + 1] }, section = i % 4 == 0 and "Local" or nil }
end
quire.content.create { type = "article", title = "Untouched", body = "Nothing here." }
quire.content.create { type = "article", title = "Gone", body = "Short." }
LUA
"$QUIRE" user add sam --role editor --site "$sr" >/dev/null
for copy in sr2 sr3 sr4; do site_copy "$sr" "$work/$copy"; done
printf 'plugins = { "saved_hook" }\nplugin_path = { "%s/tests/fixtures/plugins" }\n' "$SRC" >> "$work/sr2/site.lua"
srq() { site_sql "$1" "$2"; }
v0=$(srq "$sr" "SELECT coalesce(max(version), 0) FROM cache_tags")
[ "$v0" = "$(srq "$work/sr2" "SELECT coalesce(max(version), 0) FROM cache_tags")" ] && ok || bad "the copies differ"
dump0=$(site_dump "$sr")
expect 0 "set-based dry run" -- "$QUIRE" entries search-replace harbour port --dry-run --site "$sr"
contains "set-based dry run" "24 replacements in 12 entries (dry run: nothing written)"
[ "$(site_dump "$sr")" = "$dump0" ] && ok || bad "a set-based dry run changed the database"
expect 1 "a title over title_max" -- "$QUIRE" entries search-replace 'story' "$(printf 'x%.0s' $(seq 300))" --site "$sr"
contains "title_max refused" "search-replace refused, nothing written"
contains "title_max names the entry" "entry 1 (article): title: is 310 characters, the limit is 300 (limits.title_max)"
expect 1 "a blank title" -- "$QUIRE" entries search-replace 'Gone' ' ' --fields title --site "$sr"
contains "blank title refused" "entry 14 (article): title: is required"
[ "$(site_dump "$sr")" = "$dump0" ] && ok || bad "a refused search-replace wrote something"
for site in "$sr" "$work/sr2"; do
  expect 0 "search-replace $site" -- "$QUIRE" entries search-replace harbour port --as sam --site "$site"
  contains "search-replace count $site" "24 replacements in 12 entries"
  printf '%s\n' "$out" > "$site.out"
  expect 0 "regex with \$1 $site" -- "$QUIRE" entries search-replace '(\w+) (\d+)$' '$1 no. $2' --regex --fields title --site "$site"
  contains "regex count $site" "12 replacements in 12 entries"
  printf '%s\n' "$out" >> "$site.out"
  expect 0 "check after search-replace $site" -- "$QUIRE" check --site "$site"
done
[ "$(srq "$work/sr2" "SELECT count(*) FROM cache_tags WHERE tag LIKE 'saved_hook:%'")" = 12 ] && ok || bad "the hooked site did not save entry by entry"
[ "$(srq "$sr" "SELECT count(*) FROM cache_tags WHERE tag LIKE 'saved_hook:%'")" = 0 ] && ok || bad "saved_hook ran on the plain site"
cmp -s "$sr.out" "$work/sr2.out" && ok || bad "outputs differ: $(diff "$sr.out" "$work/sr2.out")"
# chunks of 5 entries (one transaction each) give the same entries as one chunk
"$QUIRE" run --site "$work/sr3" /dev/stdin 2>/dev/null <<'LUA'
local replace = require "quire.replace"
replace.CHUNK = 5
replace.run(quire, { old = "harbour", new = "port", fields = { "title", "body" } })
replace.run(quire, { old = "(\\w+) (\\d+)$", new = "$1 no. $2", regex = true, fields = { "title" } })
LUA
[ "$(srq "$work/sr3" "SELECT title, body FROM entries ORDER BY id")" = "$(srq "$sr" "SELECT title, body FROM entries ORDER BY id")" ] && ok || bad "chunked run differs"
[ "$(srq "$work/sr3" "SELECT count(*) FROM revisions")" = "$(srq "$sr" "SELECT count(*) FROM revisions")" ] && ok || bad "chunked run: revisions differ"
# a run that dies in its third chunk leaves the first two chunks written whole, and a clean site:
# the clock fails at its first call in that chunk (SQLite's set-based run reads it once a chunk,
# PostgreSQL's saves entry by entry, once an entry)
fail_at=3; on_pg && fail_at=11
"$QUIRE" run --yes --site "$work/sr4" /dev/stdin "$fail_at" >/dev/null 2>&1 <<'LUA'
local replace, time = require "quire.replace", require "quire.time"
replace.CHUNK = 5
local now, calls = time.now, 0
time.now = function() calls = calls + 1; if calls == tonumber(arg[1]) then error("killed") end return now() end
print(pcall(replace.run, quire, { old = "harbour", new = "port", fields = { "title", "body" } }))
LUA
[ "$(srq "$work/sr4" "SELECT id FROM entries WHERE body LIKE '%port pilots%' ORDER BY id" | paste -sd,)" = "1,2,3,4,5,6,7,8,9,10" ] && ok || bad "chunks after a failure: $(srq "$work/sr4" "SELECT id FROM entries WHERE body LIKE '%port pilots%'")"
[ "$(srq "$work/sr4" "SELECT count(*) FROM revisions r JOIN entries e ON e.id = r.entry_id WHERE r.body LIKE '%port pilots%'")" = 10 ] && ok || bad "revisions after a failure"
expect 0 "check after a failed chunk" -- "$QUIRE" check --site "$work/sr4"
same() { # same QUERY on both sites
  local a b; a=$(srq "$sr" "$1"); b=$(srq "$work/sr2" "$1")
  [ "$a" = "$b" ] && ok || bad "set-based and per-entry differ on $1: $(diff <(echo "$a") <(echo "$b"))"
}
same "SELECT id, type, slug, status, title, body, fields, author_id, published_at FROM entries ORDER BY id"
same "SELECT entry_id, title, slug, status, body, fields, $(jx terms tags), $(jx terms section),
  published_at, author_id, saved_by, actor FROM revisions ORDER BY id"
same "SELECT tag FROM cache_tags WHERE version > $v0 AND tag NOT LIKE 'saved_hook:%' AND tag NOT LIKE 'related:%' ORDER BY tag"
[ "$(srq "$sr" "SELECT count(*) FROM revisions WHERE actor = 'sam' AND saved_by = (SELECT id FROM users WHERE login = 'sam')")" = 12 ] && ok || bad "revisions lack the actor"
[ "$(srq "$sr" "SELECT count(*) FROM entries e WHERE id <= 12 AND updated_at <> (SELECT created_at FROM revisions r WHERE r.entry_id = e.id ORDER BY id DESC LIMIT 1)")" = 0 ] && ok || bad "updated_at is not the last revision's time"
# new text moves no entry in any public list: no list tag is bumped but that of the lists of
# drafts (some of them are); related lists: saved one by one, those looking up a word the texts
# gained or lost ("port", "no"); set-based (SQLite only: PostgreSQL saves one by one), every one
# (cache tags: DESIGN.md, quire.related)
tags_of() { srq "$1" "SELECT tag FROM cache_tags WHERE version > $v0 AND tag LIKE '$2%' ORDER BY tag" | paste -sd' '; }
[ "$(tags_of "$sr" list:)" = "list:drafts" ] && ok || bad "list tags bumped: $(tags_of "$sr" list:)"
if on_pg; then want_related=$(tags_of "$work/sr2" related:); else want_related="related:text"; fi
[ "$(tags_of "$sr" related:)" = "$want_related" ] && ok || bad "related tags not bumped: $(tags_of "$sr" "")"
[ "$(tags_of "$work/sr2" related:)" = "related:word:no related:word:port" ] && ok || bad "related tags of the saves: $(tags_of "$work/sr2" "")"
[ "$(srq "$sr" "SELECT count(*) FROM cache_tags WHERE version > $v0 AND tag LIKE 'entry:%'")" = 12 ] && ok || bad "entry tags not bumped"
# the search index: SQLite's FTS5 table (a body column), PostgreSQL's tsvector (the body weighted C)
if on_pg; then
  search="SELECT id FROM entries_search WHERE doc @@ to_tsquery(quire_search_language(), '%s') ORDER BY id"
  body_harbour="harbour:C"
else
  search="SELECT rowid FROM entries_fts WHERE entries_fts MATCH '%s' ORDER BY rowid"
  body_harbour="body:harbour"
fi
[ "$(srq "$sr" "$(printf "$search" port)" | paste -sd' ')" = "1 2 3 4 5 6 7 8 9 10 11 12" ] && ok || bad "search index lacks the new text"
[ "$(srq "$sr" "$(printf "$search" harbour)" | wc -l)" = 12 ] && ok || bad "search index: harbour should stay in the titles only"
[ "$(srq "$sr" "$(printf "$search" "$body_harbour")" | wc -l)" = 0 ] && ok || bad "search index still has the old body text"
[ "$(srq "$sr" "SELECT title FROM entries WHERE id = 7")" = "Harbour story no. 7" ] && ok || bad "regex \$1: $(srq "$sr" "SELECT title FROM entries WHERE id = 7")"

# --- a save in a batch has no savepoint of its own: one that fails half-way poisons the batch
pz="$work/pz"; "$QUIRE" init "$pz" >/dev/null
"$QUIRE" run --yes --site "$pz" /dev/stdin >/dev/null 2>&1 <<'LUA'
quire.content.create { type = "article", title = "One", body = "a" }
quire.content.create { type = "article", title = "Two", body = "b" }
LUA
cat > "$work/pz.lua" <<'LUA'
local site = quire._site
local function ghost_update(id) -- its revision breaks a foreign key after the entry is written
  local actor = site.actor
  site.actor = { id = 99999, name = "ghost" }
  local ok = pcall(quire.content.update, id, { title = "Changed" })
  site.actor = actor
  assert(not ok)
end
local ok, err = pcall(quire.store.transaction, function()
  quire.content.update(2, { title = "Two fine" })
  ghost_update(1)
end)
print(ok, err)
ok = pcall(quire.store.transaction, function() -- a savepoint that takes the half-done save with it
  quire.content.update(2, { title = "Two again" })
  pcall(quire.store.transaction, function() ghost_update(1) error("undo") end)
end)
print(ok)
LUA
expect 0 "a half-done save" -- "$QUIRE" run --site "$pz" "$work/pz.lua"
fk="FOREIGN KEY constraint failed"; on_pg && fk="violates foreign key constraint"
contains "half-done save refused" "a save failed part-way through ("; contains "half-done save names why" "$fk"
contains "rolled-back savepoint clears it" "true"
[ "$(site_sql "$pz" "SELECT title FROM entries ORDER BY id" | paste -sd'|')" = "One|Two again" ] && ok || bad "half-done save: $(site_sql "$pz" "SELECT title FROM entries")"
expect 0 "check after a half-done save" -- "$QUIRE" check --site "$pz"

# --- who and when: --as LOGIN, else the operating-system user
me="cli:${SUDO_USER:-$(id -un)}"
"$QUIRE" user add rita --role editor --site "$work/site" >/dev/null
expect 0 "create as the os user" -- "$QUIRE" entries create --type article --title "Pier closes" --site "$work/site"; pier=$out
expect 0 "update --as" -- "$QUIRE" entries update "$pier" --title "Pier closes early" --as rita --site "$work/site"
expect 1 "--as an unknown user" -- "$QUIRE" entries update "$pier" --title "Nope" --as ghost --site "$work/site"; contains "--as ghost" "no user ghost"
cat > "$work/as.lua" <<'LUA'
quire.content.update(tonumber(arg[1]), { title = "Pier reopens" })
quire.as("rita", function() quire.content.update(tonumber(arg[1]), { title = "Pier reopens soon" }) end)
LUA
expect 0 "run as the os user" -- "$QUIRE" run --site "$work/site" "$work/as.lua" "$pier"
expect 0 "run --as" -- "$QUIRE" run --as rita --site "$work/site" "$work/create.lua" 1 Rita
expect 0 "revisions" -- "$QUIRE" entries revisions "$pier" --format csv --site "$work/site"
[ "$(cut -d, -f3 <<<"$out" | tr '\n' ' ')" = "saved_by rita $me rita $me " ] && ok || bad "revisions do not name who: $out"
grep -qE '^[0-9]+,20[0-9]{2}-[0-9]{2}-[0-9]{2}T' <<<"$out" && ok || bad "revisions do not say when: $out"
[ "$(site_sql "$work/site" "SELECT actor FROM revisions WHERE title = 'Rita 1'")" = rita ] && ok || bad "quire run --as not recorded"
expect 0 "delete as rita" -- "$QUIRE" entries delete "$pier" --yes --as rita --site "$work/site"
expect 0 "audit" -- "$QUIRE" audit --subject "entry:$pier" --format csv --site "$work/site"; contains "audit" ",rita,entry.trashed,entry:$pier,Pier reopens soon"

# --- upgrading a schema-3 site: 0004 rebuilds entries without losing rows, links or the index
# (SQLite only: a PostgreSQL site starts at schema 12, db/pg/0012_schema.sql)
if ! on_pg; then
old="$work/old"; mkdir -p "$old/plugins"; echo 'name = "Old"' > "$old/site.lua"
{
  cat "$SRC"/db/migrations/000[123]_*.sql
  cat <<'SQL'
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT '');
INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init.sql'), (2, '0002_media.sql'), (3, '0003_hits.sql');
INSERT INTO users (id, login, display_name) VALUES (1, 'ann', 'Ann');
INSERT INTO entries (id, type, slug, status, title, body, author_id, created_at, updated_at) VALUES
  (7, 'article', 'gulls', 'published', 'Gulls return', 'The harbour gulls are back', 1, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'),
  (9, 'article', 'ferry', 'draft', 'Ferry late', 'Again', 1, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z');
INSERT INTO terms (id, taxonomy, slug, name) VALUES (1, 'tag', 'birds', 'Birds');
INSERT INTO entry_terms (entry_id, term_id) VALUES (7, 1);
INSERT INTO revisions (entry_id, title, slug, status, body, fields, saved_by, created_at) VALUES (7, 'Gulls return', 'gulls', 'published', 'x', '{}', 1, '2024-01-01T00:00:00Z');
INSERT INTO comments (entry_id, author_name, author_email, body, created_at) VALUES (7, 'Bo', 'bo@example.org', 'Noisy', '2024-01-03T00:00:00Z');
INSERT INTO media (url, entry_id, created_at) VALUES ('/m/gull.jpg', 7, '2024-01-01T00:00:00Z');
SQL
} | sqlite3 "$old/quire.db"
expect 0 "check migrates an old site" -- "$QUIRE" check --site "$old"
olddb() { sqlite3 "$old/quire.db" "$1"; }
[ "$(olddb "SELECT actor FROM revisions")" = ann ] && ok || bad "0005 did not name the actors of old revisions"
[ "$(olddb 'SELECT max(version) FROM schema_migrations')" -ge 4 ] && ok || bad "migration 0004 not recorded"
[ "$(olddb "SELECT group_concat(x, ' ') FROM (SELECT id || status || author_id AS x FROM entries ORDER BY id)")" = "7published1 9draft1" ] && ok || bad "entries changed by the migration: $(olddb 'SELECT * FROM entries')"
[ "$(olddb 'SELECT (SELECT count(*) FROM entry_terms) || (SELECT count(*) FROM revisions) || (SELECT count(*) FROM comments) || (SELECT count(*) FROM media WHERE entry_id = 7)')" = 1111 ] && ok || bad "child rows lost in the migration"
entries_schema="SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE tbl_name = 'entries' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name)"
"$QUIRE" init "$work/fresh-schema" >/dev/null
[ "$(olddb "$entries_schema")" = "$(sqlite3 "$work/fresh-schema/quire.db" "$entries_schema")" ] && ok || bad "indexes or triggers of entries differ from a new site's after the migration"
[ "$(olddb "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'gulls'")" = 7 ] && ok || bad "search index lost by the migration"
expect 0 "update after migration" -- "$QUIRE" entries update 9 --title "Ferry late again" --site "$old"
[ "$(olddb "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'again'")" = 9 ] && ok || bad "search triggers not recreated"
expect 0 "delete after migration" -- "$QUIRE" entries delete 7 --site "$old"
expect 0 "delete for good after migration" -- "$QUIRE" entries delete 7 --permanent --yes --site "$old"
[ "$(olddb 'SELECT (SELECT count(*) FROM entry_terms) || (SELECT count(*) FROM comments) || (SELECT count(*) FROM media WHERE entry_id IS NULL)')" = 001 ] && ok || bad "foreign keys of entries not enforced after the migration"
expect 1 "unknown status" -- "$QUIRE" entries update 9 --status limbo --site "$old"; contains "unknown status" "got limbo"

# --- upgrading a schema-29 site: 0030 rebuilds entries with the body last; every other object of
# the schema, the rows, their ids and AUTOINCREMENT's counter stay as they were; entry_terms gains
# an index in each entry's order
m29="$work/m29"; mkdir -p "$m29/plugins"; echo 'name = "M29"' > "$m29/site.lua"
{
  for f in "$SRC"/db/migrations/00*.sql; do n=$(basename "$f"); [ "${n%%_*}" -le 29 ] || continue; cat "$f"; echo ';'; done
  echo "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT '');"
  for f in "$SRC"/db/migrations/00*.sql; do n=$(basename "$f"); v=$((10#${n%%_*})); [ "$v" -le 29 ] || continue
    echo "INSERT INTO schema_migrations (version, name) VALUES ($v, '$n');"; done
  cat <<'SQL'
INSERT INTO users (id, login, display_name) VALUES (1, 'ann', 'Ann');
INSERT INTO entries (id, type, slug, status, title, body, fields, author_id, created_at, updated_at, published_at) VALUES
  (3, 'article', 'gulls', 'published', 'Gulls return', 'The harbour gulls are back', '{"standfirst":"Noisy neighbours"}', 1, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'),
  (5, 'article', 'ferry', 'draft', 'Ferry late', 'Again', '{}', NULL, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z', NULL),
  (12, 'page', 'about', 'published', 'About', 'Who we are', '{}', 1, '2024-01-03T00:00:00Z', '2024-01-03T00:00:00Z', '2024-01-03T00:00:00Z');
DELETE FROM entries WHERE id = 12;
INSERT INTO terms (id, taxonomy, slug, name) VALUES (1, 'tag', 'birds', 'Birds');
INSERT INTO entry_terms (entry_id, term_id, position) VALUES (3, 1, 0);
INSERT INTO comments (entry_id, author_name, author_email, body, created_at) VALUES (3, 'Bo', 'bo@example.org', 'Loud', '2024-01-03T00:00:00Z');
SQL
} | sqlite3 "$m29/quire.db"
m29db() { sqlite3 "$m29/quire.db" "$1"; }
# (the indexes of entries that 0033 makes again with the card columns are compared with a new site's)
card_indexes="'entries_cards', 'entries_listed', 'entries_author_listed', 'entries_published'"
others="SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM sqlite_schema WHERE name NOT IN ('entries', 'entry_terms_in_order', $card_indexes) ORDER BY type, name"
card_schema="SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_schema WHERE name IN ($card_indexes) ORDER BY name)"
rows="SELECT id, type, slug, status, title, body, fields, author_id, created_at, updated_at, published_at FROM entries ORDER BY id"
schema_before=$(m29db "$others"); rows_before=$(m29db "$rows"); seq_before=$(m29db "SELECT seq FROM sqlite_sequence WHERE name = 'entries'")
[ "$seq_before" = 12 ] && ok || bad "schema-29 fixture: entries' counter is $seq_before, not 12"
expect 0 "check migrates a schema-29 site" -- "$QUIRE" check --site "$m29"
[ "$(m29db 'SELECT max(version) FROM schema_migrations')" -ge 30 ] && ok || bad "migration 0030 not recorded"
[ "$(m29db "SELECT group_concat(name, ' ') FROM (SELECT name FROM pragma_table_info('entries') ORDER BY cid)")" = "id type slug status title fields author_id created_at updated_at published_at body" ] && ok || bad "entries' columns after 0030: $(m29db "SELECT group_concat(name) FROM pragma_table_info('entries')")"
[ "$(m29db "$others")" = "$schema_before" ] && ok || bad "0030 changed other objects of the schema: $(diff <(echo "$schema_before") <(m29db "$others"))"
[ "$(m29db "$card_schema")" = "$(sqlite3 "$work/fresh-schema/quire.db" "$card_schema")" ] && ok || bad "0033: the card indexes differ from a new site's: $(m29db "$card_schema")"
m29db "EXPLAIN QUERY PLAN SELECT e.id, e.title, e.fields FROM entries e INDEXED BY entries_cards WHERE e.id = 3" | grep -q 'COVERING INDEX entries_cards' && ok || bad "0033: a card is not read from entries_cards"
[ "$(m29db "$rows")" = "$rows_before" ] && ok || bad "0030 changed the rows of entries"
m29db "EXPLAIN QUERY PLAN SELECT et.entry_id, t.name FROM entry_terms et JOIN terms t ON t.id = et.term_id WHERE et.entry_id IN (3, 5) ORDER BY et.entry_id, et.position" | grep -q 'COVERING INDEX entry_terms_in_order' && ok || bad "0030: an entry's terms in order are not read from entry_terms_in_order"
[ "$(m29db "SELECT seq FROM sqlite_sequence WHERE name = 'entries'") $(m29db "SELECT count(*) FROM sqlite_sequence WHERE name LIKE 'entries%'")" = "12 1" ] && ok || bad "0030 lost entries' AUTOINCREMENT counter: $(m29db 'SELECT * FROM sqlite_sequence')"
[ "$(m29db "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'neighbours'")" = 3 ] && ok || bad "search index (standfirst through the view) lost by 0030"
[ "$(m29db "PRAGMA foreign_key_check; PRAGMA integrity_check")" = ok ] && ok || bad "0030 left a broken foreign key or index"
expect 0 "create after 0030" -- "$QUIRE" entries create --type article --title "Tide tables" --body "High water at noon" --tags birds --status published --site "$m29"
[ "$(m29db "SELECT id FROM entries WHERE slug = 'tide-tables'")" = 13 ] && ok || bad "0030: a new entry took a used id: $(m29db "SELECT id FROM entries WHERE slug = 'tide-tables'")"
[ "$(m29db "SELECT rowid FROM entries_fts WHERE entries_fts MATCH 'noon'")" = 13 ] && ok || bad "search triggers lost by 0030"
[ "$(m29db "SELECT count(*) FROM entry_terms WHERE entry_id = 13 AND listed_at IS NOT NULL")" = 1 ] && ok || bad "entry_terms' listed_at trigger lost by 0030"
expect 0 "delete after 0030" -- "$QUIRE" entries delete 3 --site "$m29"
expect 0 "delete for good after 0030" -- "$QUIRE" entries delete 3 --permanent --yes --site "$m29"
[ "$(m29db 'SELECT (SELECT count(*) FROM entry_terms WHERE entry_id = 3) || (SELECT count(*) FROM comments)')" = 00 ] && ok || bad "foreign keys of entries not enforced after 0030"
expect 0 "check after 0030" -- "$QUIRE" check --site "$m29"
fi

finish
