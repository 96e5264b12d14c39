#!/usr/bin/env bash
# What a page costs as the archive grows: sites of 1,000, 100,000 and 1,000,000 generated stories
# (the demo site plus N published articles in one section, two of eight tags each, created by
# `quire run` in batches of 1,000 per transaction), each served by one worker; every page type
# requested REQUESTS times, (a) uncached: `quire serve --no-cache`, a write committed by another
# process right before each request (so the worker's memo of database reads is dropped, as in a
# working newsroom), and (b) from the page cache, no writes. Prints the median and p99 latency of
# each page type at each size, the ratio of the largest size's median to the smallest's, and
# the worker's RSS after each run.
# usage: bash bench/scale.sh [SIZE...]   (from the repo root after a build in ./build;
#        default sizes: 1000 100000 1000000)
# env: QUIRE (default build/quire), REQUESTS (default 300), ROUNDS (default 3: each round
#      measures every size in turn), KEEP=1 keeps the generated sites
#      (in /tmp/quire-bench-scale-*) and reuses them on the next run with the same KEEP_DIR.
# Goals (issue 22): median at the largest size <= 1.5x at 1,000 for every page but search
# (<= 5x); worker RSS <= 1.5x. Two outputs grow with the archive, so they are shown but not
# judged: the sitemap index names one file per 10,000 ids (1 at 1,000 stories, 100 at a
# million), and the sitemap file of the first 10,000 ids lists 1,000 URLs at 1,000 stories and
# 10,000 from 10,000 on. On a busy machine the wall times move with the load; the worker's CPU
# time per request (10 ms ticks, averaged) says what the page itself cost.
set -euo pipefail
QUIRE=$(realpath "${QUIRE:-build/quire}")
REQUESTS=${REQUESTS:-300}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 100000 1000000)
[ -x "$QUIRE" ] || { echo "no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

work=${KEEP_DIR:-$(mktemp -d /tmp/quire-bench-scale-XXXXXX)}
mkdir -p "$work"
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  [ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/gen.lua" <<'LUA'
-- gen.lua N: N published articles in section Metro, two of eight tags each, a minute apart,
-- 1,000 per transaction.
local n = tonumber(arg[1])
local TAGS = { "Politics", "Economy", "Climate", "Sport", "Health", "Transport", "Housing", "Education" }
local WORDS = { "harbour", "bridge", "school", "budget", "river", "market", "station", "library", "stadium", "clinic" }
local base = 1600000000
for b = 1, n, 1000 do
  quire.store.transaction(function()
    for i = b, math.min(b + 999, n) do
      local w = WORDS[i % #WORDS + 1]
      quire.content.create { type = "article", status = "published", section = "Metro", author = "maren",
        title = ("The %s plan, part %d"):format(w, i), published_at = base + i * 60,
        body = ("The council met on the %s question (%d) and voted to fund a review of the %s by spring.")
          :format(w, i, WORDS[(i * 7) % #WORDS + 1]),
        tags = { TAGS[i % 8 + 1], TAGS[(i + 1 + i // 8 % 7) % 8 + 1] } }
    end
  end)
end
LUA
# The addresses to measure: a generated story in the middle of the archive, and the tag page
# that starts at the middle of its tag (a deep page, by its keyset cursor).
cat > "$work/paths.lua" <<'LUA'
local n = tonumber(arg[1])
local mid = quire.content.query { status = "published", type = "article", section = "Metro", order = "oldest", limit = 1,
  since = 1600000000 + (n // 2) * 60 }[1]
print("article " .. quire.content.url(mid))
local deep = quire.content.query { status = "published", tag = "Climate", order = "oldest", limit = 1,
  since = 1600000000 + (n // 2) * 60 }[1]
print("tag_deep /tag/climate/older/" .. deep.published_at:gsub("[^%d]", "") .. "-" .. deep.id)
LUA

# One measuring client: keep-alive HTTP/1.1, a write through its own SQLite connection before
# each request when asked (uncached), times from the request's first byte sent to the last
# byte of the body read; and the worker's CPU time (utime + stime from /proc) per request,
# which another process's load on the machine disturbs much less than wall time.
cat > "$work/measure.py" <<'PY'
import http.client, json, os, sqlite3, sys, time
port, db, mode, n, paths, worker = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6]
TICK = os.sysconf("SC_CLK_TCK")
def rss_kb():
    for line in open(f"/proc/{worker}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
def cpu_s():
    f = open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
writer = sqlite3.connect(db, timeout=30, isolation_level=None) if mode == "uncached" else None
out = {}
for name, path in paths:
    times, cpu = [], 0.0
    # The sitemap file renders up to 10,000 URLs: a few requests tell its cost.
    count = max(3, n // 10) if name.startswith("sitemap file") else n
    for i in range(count + 3):
        if writer:
            writer.execute("INSERT INTO settings (key, value) VALUES ('bench-scale', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(i),))
        c0 = cpu_s() if i >= 3 else 0
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Accept-Encoding": "identity"})
        r = conn.getresponse()
        body = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            sys.exit(f"{path}: HTTP {r.status}")
        if i >= 3:  # the first few warm the worker
            times.append(dt * 1000)
            cpu += cpu_s() - c0
    out[name] = {"times": times, "cpu_s": cpu, "bytes": len(body), "rss_kb": rss_kb()}
print(json.dumps(out))
PY

serve() { # serve SITE FLAG -> sets server, port, worker
  "$QUIRE" serve --site "$1" --listen 127.0.0.1:0 --workers 1 $2 > "$work/serve.log" 2>&1 &
  server=$!
  port=""
  for _ in $(seq 100); do
    port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 | cut -d: -f3 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/serve.log" >&2; exit 1; }
  worker=""
  for _ in $(seq 100); do worker=$(pgrep -P "$server" | head -1 || true); [ -n "$worker" ] && break; sleep 0.1; done
}

declare -A paths=()
for n in "${SIZES[@]}"; do
  site="$work/site-$n"
  if [ ! -f "$site/quire.db" ]; then
    "$QUIRE" init --demo "$site" >/dev/null
    start=$(date +%s.%N)
    # --yes: no trial run first (it would look for deletes, and there are none)
    "$QUIRE" run --yes --site "$site" "$work/gen.lua" "$n" >/dev/null 2>&1
    echo "generated $n stories in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s ($(du -sh "$site/quire.db" | cut -f1))" >&2
  fi
  declare -A where=()
  while read -r k v; do where[$k]=$v; done < <("$QUIRE" run --site "$site" "$work/paths.lua" "$n" 2>/dev/null)
  paths[$n]=$(python3 -c 'import json,sys; print(json.dumps([["home","/"],["article",sys.argv[1]],["tag page 1","/tag/climate"],["tag deep page",sys.argv[2]],["search council","/search?q=council"],["/feed.xml","/feed.xml"],["sitemap index","/sitemap.xml"],["news sitemap","/sitemap-news.xml"],["sitemap file 1","/sitemap.xml?part=1"]]))' "${where[article]}" "${where[tag_deep]}")
done

# ROUNDS rounds, each measuring every size in turn (REQUESTS / ROUNDS requests a page), so a
# spell of load from elsewhere on the machine falls on all sizes alike.
ROUNDS=${ROUNDS:-3}
results="$work/results.jsonl"
: > "$results"
for round in $(seq "$ROUNDS"); do
  for n in "${SIZES[@]}"; do
    for mode in uncached cached; do
      flag=""; [ "$mode" = uncached ] && flag="--no-cache"
      serve "$work/site-$n" "$flag"
      json=$(python3 "$work/measure.py" "$port" "$work/site-$n/quire.db" "$mode" $((REQUESTS / ROUNDS)) "${paths[$n]}" "$worker")
      echo "{\"size\": $n, \"mode\": \"$mode\", \"round\": $round, \"pages\": $json}" >> "$results"
      kill -TERM "$server"; wait "$server" 2>/dev/null || true; server=""
    done
    echo "round $round: measured $n" >&2
  done
done

python3 - "$results" "$REQUESTS" "$ROUNDS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sizes = sorted({r["size"] for r in rows})
first, last = sizes[0], sizes[-1]
def agg(size, mode, page):
    times, cpu, rss = [], 0.0, 0
    for r in rows:
        if r["size"] == size and r["mode"] == mode:
            p = r["pages"][page]
            times += p["times"]; cpu += p["cpu_s"]
    times.sort()
    return {"median": statistics.median(times), "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
            "cpu": cpu * 1000 / len(times), "n": len(times)}
def rss(size, mode, page):
    # the most the worker held over the rounds, after that page
    return max(r["pages"][page]["rss_kb"] for r in rows if r["size"] == size and r["mode"] == mode)
pages = list(rows[0]["pages"])
print(f"\n{sys.argv[2]} requests a page in {sys.argv[3]} rounds (the sitemap file: a tenth), one worker")
for mode in ("uncached", "cached"):
    print(f"\n{mode}: median / p99 ms (wall), worker CPU ms per request")
    print(f"{'page':<16}" + "".join(f"{s:>30,}" for s in sizes) + f"{'median ' + str(last // first) + 'x':>14}{'CPU':>8}")
    for page in pages:
        a = {s: agg(s, mode, page) for s in sizes}
        cells = "".join(f"{a[s]['median']:>12.2f} / {a[s]['p99']:>7.2f} / {a[s]['cpu']:>6.2f}" for s in sizes)
        ratio = a[last]["median"] / a[first]["median"]
        cpu_ratio = a[last]["cpu"] / a[first]["cpu"] if a[first]["cpu"] > 0 else float("nan")
        goal = 5 if page.startswith("search") else 1.5
        # Their output grows with the archive: the index names a file per 10,000 ids, the file
        # lists up to 10,000 URLs. Shown, not judged.
        grows = page.startswith("sitemap file") or page == "sitemap index"
        verdict = "  (output grows)" if grows else ("  ok" if ratio <= goal else f"  over {goal}x")
        print(f"{page:<16}{cells}{ratio:>13.2f}x{cpu_ratio:>7.2f}x{verdict}")
    # The worker's RSS after the pages whose output is bounded (the sitemap file of 10,000 ids
    # comes last: its output, and the memory to build it, grow with the archive up to 10,000).
    r = {s: rss(s, mode, "news sitemap") for s in sizes}
    ratio = r[last] / r[first]
    print(f"{'worker RSS':<16}" + "".join(f"{r[s] / 1024:>27.1f} MB" for s in sizes) + f"{ratio:>13.2f}x{'':>8}{'  ok' if ratio <= 1.5 else '  over 1.5x'}")
    print(f"{'  + sitemap file':<16}" + "".join(f"{rss(s, mode, 'sitemap file 1') / 1024:>27.1f} MB" for s in sizes))
PY
