#!/usr/bin/env bash
# Faults (issue 14), with the real binary: the disk fills up during writes and during an export
# (small tmpfs mounts), the file system is read-only (a read-only bind mount) or the user may not
# write (setpriv to nobody), and two `quire run` writers race on one entry. Needs root for the
# mounts: exits 77 (skipped) where mounting is not permitted.
# usage: fault_test.sh QUIRE_BINARY SOURCE_DIR
set -u
QUIRE=$1
SRC=$2
export QUIRE_BUNDLED_PLUGINS=$SRC/plugins
. "$(dirname "$0")/harness.sh"
harness_begin fault
mounts=()
on_cleanup() { for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done; }

mkdir -p "$work/full" # 8 MB: the demo (3 MB of pictures) and room to fill
if ! mount -t tmpfs -o size=8m tmpfs "$work/full" 2>/dev/null; then
  echo "fault: cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN): skipped"
  exit 77
fi
mounts+=("$work/full")

# --- a full disk during writes: the script's line, nothing committed lost, check clean, serving
site=$work/full/site
"$QUIRE" init --demo "$site" >/dev/null || { echo "quire init --demo failed" >&2; exit 1; }
echo 'access_log = "off"' >> "$site/site.lua"
serve_site "$site" "$work/serve.log" --workers 2 || exit 1
page=$(curl -s "$base/" | grep -o 'href="/[0-9]\{4\}/[0-9][0-9]/[^"#]*"' | head -1 | cut -d'"' -f2)
check "an article to fetch ($page)" test -n "$page"
head -c 600000 /dev/zero > "$work/full/spare" # freed after the disk has filled up

cat > "$work/fill.lua" <<'LUA'
-- Creates entries until the disk is full; prints each id once its transaction has committed.
local body = ("Harbour fees rise again, and the ferry timetable changes with them. "):rep(3000)
for i = 1, 100000 do
  local id = quire.content.create { type = "article", title = "Filler " .. i, body = body .. i, status = "published" }
  print(id)
  io.stdout:flush()
end
LUA
"$QUIRE" run --yes --site "$site" "$work/fill.lua" > "$work/fill.out" 2> "$work/fill.err"; rc=$?
err=$(cat "$work/fill.err")
check "the script fails when the disk is full ($rc)" test $rc -eq 1
check "its error names the script's line ($err)" grep -q "^$work/fill.lua:4: " <<<"$err"
check "and says the disk is full and what to do" grep -q "disk holding the database is full.*free some space" <<<"$err"
check "the core's files are not named" test -z "$(grep -o 'lua/quire/[a-z_]*\.lua' <<<"$err")"
committed=$(wc -l < "$work/fill.out")
check "some entries were committed before ($committed)" test "$committed" -gt 0
stored=$("$QUIRE" entries list --site "$site" --type article --format json | grep -o '"title": *"Filler ' | wc -l)
check "every committed entry is there ($stored of $committed)" test "$stored" -eq "$committed"
out=$("$QUIRE" check --site "$site" 2>&1); rc=$?
check "quire check is clean on the full disk ($rc: $out)" test $rc -eq 0
check "the server keeps serving the home page" test "$(curl -s -o /dev/null -w '%{http_code}' "$base/")" = 200
check "and an article" test "$(curl -s -o /dev/null -w '%{http_code}' "$base$page")" = 200
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
  --data 'entry_id=1&name=A&email=a%40b.example&comment=hi' "$base/comments")
check "a write refused by the full disk answers, it does not hang ($status)" grep -qE '^(303|403|422|429|500|503)$' <<<"$status"
check "the master is still running" kill -0 "$master"
# space again: writes work again, in the same server and from the CLI
rm -f "$work/full/spare"
id=$("$QUIRE" entries create --site "$site" --type article --title "After the disk was full" 2>&1)
check "a write succeeds once there is space ($id)" grep -qE '^[0-9]+$' <<<"$id"
check "quire check is still clean" "$QUIRE" check --site "$site" >/dev/null
check "the server still serves the article" test "$(curl -s -o /dev/null -w '%{http_code}' "$base$page")" = 200
kill -TERM "$master"; wait "$master" 2>/dev/null; master=""
umount "$work/full"; mounts=()

# --- a full disk during an export: the files and the reason named; the next run, with room,
# makes the whole folder (a run that fails leaves a manifest that vouches for nothing)
site=$work/exported
"$QUIRE" init --demo "$site" >/dev/null
export_to() { "$QUIRE" export --format html "$1" --site "$site" --base-url https://news.example --jobs 2 2>&1; }
"$QUIRE" export --format html "$work/reference" --site "$site" --base-url https://news.example --jobs 2 >/dev/null
mkdir -p "$work/exp"
mount -t tmpfs -o size=16m tmpfs "$work/exp" && mounts+=("$work/exp")
out=$(export_to "$work/exp/out"); rc=$?
check "an export with room is done ($rc: $out)" test $rc -eq 0
# The folder emptied (cleared by hand, or a new disk), and now too small for the site (6 MB).
rm -rf "$work/exp/out"/*
mount -o remount,size=3m "$work/exp"
out=$(export_to "$work/exp/out"); rc=$?
check "an export onto a full disk fails ($rc)" test $rc -eq 1
check "and names a file, the reason and what to do: $out" \
  grep -qz "cannot write $work/exp/out/.*No space left on device.*run the export again" <<<"$out"
check "no temporary file is left" test -z "$(find "$work/exp" -name '.quire-tmp-*')"
mount -o remount,size=16m "$work/exp"
out=$(export_to "$work/exp/out"); rc=$?
check "the next export, with room again, is done ($rc: $out)" test $rc -eq 0
listing() { (cd "$1" && find . -type f | sort); }
check "and the folder holds every file a full export makes" diff <(listing "$work/exp/out") <(listing "$work/reference")
# A story published, an export that the full disk stops part-way, the story taken back: the next
# run leaves nothing of it (the failed run's files are recorded, not taken for the old ones).
id=$("$QUIRE" entries create --site "$site" --type article --title "Withdrawn marker zqx" --body "Text." \
  --status published --tags Harbour --section News 2>&1 | tail -1)
room=$(df --output=avail -B1 "$work/exp" | tail -1)
head -c $((room - 120000)) /dev/zero > "$work/exp/spare" 2>/dev/null
out=$(export_to "$work/exp/out"); rc=$?
check "an incremental export stopped by the full disk fails ($rc: $out)" test $rc -eq 1
check "after writing pages that show the new story" test -n "$(grep -rl 'Withdrawn marker zqx' "$work/exp/out")"
"$QUIRE" entries update "$id" --site "$site" --status draft >/dev/null
rm -f "$work/exp/spare"
out=$(export_to "$work/exp/out"); rc=$?
check "the next export, with the story taken back, is done ($rc: $out)" test $rc -eq 0
check "and no file shows the story: $(grep -rl 'Withdrawn marker zqx' "$work/exp/out" | head -3)" \
  test -z "$(grep -rl 'Withdrawn marker zqx' "$work/exp/out")"
"$QUIRE" export --format html "$work/reference2" --site "$site" --base-url https://news.example --jobs 2 >/dev/null
check "and the folder holds what a full export makes" diff <(listing "$work/exp/out") <(listing "$work/reference2")
umount "$work/exp"; mounts=()

# --- a read-only file system, and a user who may not write
site=$work/site
"$QUIRE" init "$site" >/dev/null
"$QUIRE" entries create --site "$site" --type page --title "Kept" >/dev/null
mkdir -p "$work/ro"
if mount --bind "$site" "$work/ro" 2>/dev/null && mount -o remount,bind,ro "$work/ro" 2>/dev/null; then
  mounts+=("$work/ro")
  for cmd in "entries list" "check" "run"; do
    # shellcheck disable=SC2086
    out=$("$QUIRE" $cmd --site "$work/ro" $([ "$cmd" = run ] && echo "$work/fill.lua") 2>&1); rc=$?
    check "quire $cmd on a read-only file system fails ($rc)" test $rc -eq 1
    check "and names the database, the reason and what to do: $out" \
      grep -q "cannot open the database $work/ro/quire.db: Read-only file system.*remount it read-write" <<<"$out"
  done
  umount "$work/ro"; mounts=()
else
  echo "fault: no read-only bind mount here: that part skipped"
fi
if setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" --version >/dev/null 2>&1; then
  chmod 755 "$work"; chmod 1777 "$site"; chmod 644 "$site/quire.db" "$site/site.lua"
  out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" check --site "$site" 2>&1); rc=$?
  check "quire check by a user who may only read: no false problem ($rc: $out)" test $rc -eq 0
  check "it says what it could not check" grep -q "note: the database is read-only for this user" <<<"$out"
  out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" entries create --site "$site" --type page --title x 2>&1); rc=$?
  check "a write by that user fails naming the reason ($out)" grep -q "attempt to write a readonly database" <<<"$out"
  chmod 755 "$site"; chmod 666 "$site/quire.db"; rm -f "$site/quire.db-wal" "$site/quire.db-shm"
  out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" entries list --site "$site" 2>&1)
  check "a folder the user cannot write is named: $out" \
    grep -q "cannot open the database $site/quire.db: its folder $site: Permission denied.*fix the owner or permissions" <<<"$out"
  chmod 600 "$site/site.lua"
  out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$QUIRE" check --site "$site" 2>&1)
  check "an unreadable site.lua is unreadable, not missing: $out" grep -q "cannot read $site/site.lua: Permission denied" <<<"$out"
  chmod 644 "$site/site.lua"
else
  echo "fault: cannot run quire as nobody here (setpriv, or the binary's folder is private): that part skipped"
fi

# --- two writers racing on one entry (`quire run`, two processes)
site=$work/race
"$QUIRE" init "$site" >/dev/null
id=$("$QUIRE" entries create --site "$site" --type page --title "Raced" --body "")
cat > "$work/race.lua" <<'LUA'
-- arg: id, letter, go-file, mode ("fresh": plain get then update; "based": with base_revision,
-- retried on conflict). Every get must be at least as new as the revision read just before it.
local id, letter, go, mode = tonumber(arg[1]), arg[2], arg[3], arg[4]
while not io.open(go) do end -- both start together
local stale, conflicts = 0, 0
for _ = 1, 300 do
  while true do
    quire.content.get(id) -- a read that may be memoised: the next must still see newer commits
    local newest = quire.store.query("SELECT max(id) AS r FROM revisions WHERE entry_id = ?", id)[1].r
    local cur = quire.content.get(id)
    if cur.revision < newest then stale = stale + 1 end
    local ok, err = pcall(quire.content.update, id, { body = cur.body .. letter },
      mode == "based" and { base_revision = cur.revision } or nil)
    if ok then
      local t = os.clock() -- a moment outside the write lock, so that the writers interleave
      while os.clock() - t < 0.002 do end
      break
    end
    if not quire.errors.is(err, "conflict") then error(err, 0) end
    conflicts = conflicts + 1
    if conflicts > 3000 then error(("%s: no progress after %d conflicts (stale reads: %d)"):format(letter, conflicts, stale), 0) end
  end
end
print(("%s stale=%d conflicts=%d"):format(letter, stale, conflicts))
LUA
for mode in fresh based; do
  "$QUIRE" entries update "$id" --site "$site" --body "-" >/dev/null
  rm -f "$work/go"
  # --yes: without it `quire run` first tries the whole script in one transaction (to find
  # deletes), holding the write lock that long; the race is about the real run.
  "$QUIRE" run --yes --site "$site" "$work/race.lua" "$id" a "$work/go" $mode > "$work/a.out" 2>&1 &
  pa=$!
  "$QUIRE" run --yes --site "$site" "$work/race.lua" "$id" b "$work/go" $mode > "$work/b.out" 2>&1 &
  pb=$!
  sleep 0.3; touch "$work/go"
  wait $pa; ra=$?; wait $pb; rb=$?
  echo "fault: race $mode: $(cat "$work/a.out" "$work/b.out" | tr "\n" " ")"
  check "$mode: both writers finish ($ra $rb): $(cat "$work/a.out" "$work/b.out" | tr '\n' ' ')" test $ra -eq 0 -a $rb -eq 0
  check "$mode: no read was older than the newest revision before it" \
    test "$(cat "$work/a.out" "$work/b.out" | grep -c 'stale=0 ')" = 2
  if [ $mode = based ]; then
    body=$("$QUIRE" entries get "$id" --site "$site" | grep -o '"body": *"[^"]*"' | cut -d'"' -f4)
    na=$(tr -cd a <<<"$body" | wc -c); nb=$(tr -cd b <<<"$body" | wc -c)
    check "based: no update lost (a=$na b=$nb of 300 each)" test "$na" -eq 300 -a "$nb" -eq 300
  fi
done
check "quire check is clean after the race" "$QUIRE" check --site "$site" >/dev/null

finish
