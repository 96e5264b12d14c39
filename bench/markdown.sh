#!/usr/bin/env bash
# Markdown benchmark: a generated 5,000-word article (headings, emphasis, links, lists, a table,
# quotes, code) rendered over and over by quire.markdown.render (md4c) inside `quire run`; prints
# MB/s of Markdown input for trusted (editor) and untrusted (comment) rendering, and MB/s of HTML
# input for quire.html.sanitize of the rendered article, and MB/s of Markdown input for
# quire.media.body_html (render then sanitize: what an entry page shows). Every call converts a text
# of its own (the memos by text never answer). ROUNDS rounds of ROUND_SECONDS each; the
# best round counts (the median is printed too).
#
#   bash bench/markdown.sh          (from the repository root, after a build in ./build)
#   QUIRE=build-x/quire ROUNDS=10 ROUND_SECONDS=2 bash bench/markdown.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
QUIRE=${QUIRE:-$root/build/quire}
ROUNDS=${ROUNDS:-5}
ROUND_SECONDS=${ROUND_SECONDS:-1}

[ -x "$QUIRE" ] || { echo "markdown.sh: no quire binary at $QUIRE (build first, or set QUIRE)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/quire-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$QUIRE" init "$tmp/site" >/dev/null

cat >"$tmp/bench.lua" <<'LUA'
local rounds, seconds = tonumber(arg[1]), tonumber(arg[2])

-- A deterministic article of 5,000 words in the shape an editor writes.
local words = { "minister", "said", "the", "budget", "would", "include", "new", "funding", "for",
  "schools", "and", "hospitals", "across", "region", "after", "months", "of", "talks", "with",
  "unions", "officials", "confirmed", "on", "Tuesday", "that", "plan", "is", "expected", "to",
  "pass", "parliament", "next", "week", "despite", "opposition", "from", "several", "members" }
local seed = 7
local function word()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return words[seed % #words + 1]
end
local out, count = {}, 0
local function sentence(n)
  local t = {}
  for i = 1, n do
    local w = word()
    if i % 11 == 3 then w = "*" .. w .. "*"
    elseif i % 17 == 5 then w = "**" .. w .. "**"
    elseif i % 23 == 7 then w = "[" .. w .. "](https://example.com/" .. w .. ")"
    elseif i % 29 == 9 then w = "`" .. w .. "`" end
    t[i] = w
  end
  count = count + n
  return (t[1]:gsub("^%a", string.upper)) .. " " .. table.concat(t, " ", 2) .. "."
end
local section = 0
while count < 5000 do
  section = section + 1
  out[#out + 1] = "## " .. sentence(4):sub(1, -2) .. "\n"
  for _ = 1, 3 do out[#out + 1] = sentence(18) .. " " .. sentence(14) .. " " .. sentence(20) .. "\n" end
  if section % 3 == 0 then
    out[#out + 1] = "- " .. sentence(8) .. "\n- " .. sentence(9) .. "\n- [x] " .. sentence(6) .. "\n"
  elseif section % 3 == 1 then
    out[#out + 1] = "> " .. sentence(25) .. " &mdash; a source\n"
  else
    out[#out + 1] = "| Region | Share | Change |\n|:--|--:|--:|\n| North | 41% | +2 |\n| South | 35% | ~~-1~~ |\n"
  end
  if section % 4 == 0 then out[#out + 1] = "```lua\nlocal total = a + b -- " .. sentence(5) .. "\n```\n" end
end
local src = table.concat(out, "\n")

local function bench(name, bytes, fn)
  local mb = bytes / 1e6
  local best, rates = 0, {}
  for r = 1, rounds do
    local n, t0 = 0, os.clock()
    repeat
      for _ = 1, 10 do fn() end
      n = n + 10
    until os.clock() - t0 >= seconds
    local rate = n * mb / (os.clock() - t0)
    rates[r] = rate
    if rate > best then best = rate end
  end
  table.sort(rates)
  print(("%-28s %7.1f MB/s best, %7.1f MB/s median, %6.0f articles/s"):format(name, best, rates[(#rates + 1) // 2], best / mb))
end

local html = assert(quire.markdown.render(src))
print(("article: %d words, %d bytes of Markdown, %d bytes of HTML, %d headings"):format(count, #src, #html, select(2, html:gsub("<h2", ""))))
-- quire.markdown and quire.html keep results by input text, so every call gets a text of its
-- own (the article and a paragraph with a counter): each one converts, none is a memo hit.
local serial = 0
local function fresh(s, open, close)
  serial = serial + 1
  return s .. open .. serial .. close
end
local render = quire.markdown.render
bench("markdown.render (trusted)", #src, function() render(fresh(src, "\n\n", "\n")) end)
local U = { untrusted = true }
bench("markdown.render (untrusted)", #src, function() render(fresh(src, "\n\n", "\n"), U) end)
local sanitize, policy = quire.html.sanitize, quire.html.policies.default
bench("html.sanitize (its HTML)", #html, function() sanitize(fresh(html, "<p>", "</p>\n"), policy) end)
local function body_html(md) return quire.media.body_html(md, quire.html) end -- as plugins call it
bench("media.body_html (both)", #src, function() body_html(fresh(src, "\n\n", "\n")) end)
LUA

echo "quire.markdown: $ROUNDS rounds of ${ROUND_SECONDS}s each ($(uname -m), $("$QUIRE" --version 2>/dev/null || echo quire))"
"$QUIRE" run --site "$tmp/site" "$tmp/bench.lua" "$ROUNDS" "$ROUND_SECONDS"
