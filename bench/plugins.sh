#!/usr/bin/env bash
# Plugin overhead: the cost of one filter call through the sandbox (budgeted, ordered) against
# calling the same Lua functions directly, and start-up time with 30 plugins against none.
set -euo pipefail
QUIRE=${QUIRE:-build/quire}
QUIRE=$(realpath "$QUIRE")
CALLS=${CALLS:-20000}
work=$(mktemp -d /tmp/quire-bench-plugins-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$QUIRE" init "$work/bare" >/dev/null
"$QUIRE" init "$work/site" >/dev/null
names=()
for i in $(seq -w 1 30); do
  name="p$i"; names+=("\"$name\"")
  mkdir -p "$work/site/plugins/$name"
  cat > "$work/site/plugins/$name/plugin.lua" <<LUA
return quire.plugin {
  name = "$name", version = "1.0", settings = { weight = $((10#$i)) },
  setup = function(site)
    site:content_type { name = "type_$name", fields = { n = "number", s = { "text", max = 100 } } }
    -- the first 20 plugins each add one filter to the pipeline
    if $((10#$i)) <= 20 then
      site:filter("view.entry", function(view) view.score = view.score + site.settings.weight; return view end)
    end
    site:hook("entry.saved", function(entry) end)
  end,
}
LUA
done
echo "plugins = { $(IFS=,; echo "${names[*]}") }" >> "$work/site/site.lua"

cat > "$work/filters.lua" <<'LUA'
local clock = require("quire.core").clock
local calls = tonumber(arg[1])
-- the same 20 functions, called directly: the floor the pipeline is measured against
local direct = {}
for i = 1, 20 do direct[i] = function(view) view.score = view.score + i; return view end end
local t0 = clock()
for _ = 1, calls do
  local v = { score = 0 }
  for i = 1, 20 do v = direct[i](v) end
end
local t1 = clock()
for _ = 1, calls do quire.filters.apply("view.entry", { score = 0 }) end
local t2 = clock()
assert(quire.filters.apply("view.entry", { score = 0 }).score == 210)
local per = 1e9 / (calls * 20)
print(("%.1f %.1f"):format((t1 - t0) * per, (t2 - t1) * per))
LUA
read -r direct piped < <("$QUIRE" run --site "$work/site" "$work/filters.lua" "$CALLS")
printf 'filter call: %.0f ns through quire.filters.apply (20 filters), %.0f ns as a direct Lua call; overhead %.0f ns per filter\n' \
  "$piped" "$direct" "$(echo "$piped - $direct" | bc -l)"

echo 'return 0' > "$work/empty.lua"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 3 --runs 30 --export-json "$work/startup.json" \
    -n "no plugins" "$QUIRE run --site $work/bare $work/empty.lua" \
    -n "30 plugins" "$QUIRE run --site $work/site $work/empty.lua" 2>/dev/null | grep -E 'Time|±|faster|plugins' || true
else
  echo "hyperfine not installed (apt-get install hyperfine): start-up time skipped"
fi
