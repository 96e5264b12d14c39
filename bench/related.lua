-- Per-story cost of related posts (issue 21): times quire.content.related over every published
-- story of a site with the related plugin's default options (ROUNDS times each; the memo holds a
-- few pages' worth, so each call scores afresh) and writes every list (ids and scores, exact)
-- to OUT, so that two binaries can be compared on the same site:
--   quire run --yes --site SITE bench/related.lua [ROUNDS [OUT [LIMIT]]]
-- (LIMIT: how many each list holds, 3 by default as on the plugin's block; 64 compares more scores)
-- (a site made as bench/export.sh makes it: KEEP=1 keeps its folder). Prints CPU ms per story.
local opts = { weights = { keywords = 100, tags = 80, date = 10, text = 40 }, threshold = 80, rarity = 0.5,
  date_window_days = 365, limit = math.tointeger(tonumber(arg[3] or "3")) or error("LIMIT: a whole number") }
local rounds = math.tointeger(tonumber(arg[1] or "1")) or error("ROUNDS: a whole number")
local ids = {}
for _, r in ipairs(quire.store.query("SELECT id FROM entries WHERE status = 'published' AND type <> 'page' ORDER BY id")) do
  ids[#ids + 1] = r.id
end
local lists = {}
local st0, t0 = quire._db:statements(), os.clock()
for round = 1, rounds do
  for _, id in ipairs(ids) do
    local list = quire.content.related(id, opts)
    if round == 1 then
      local parts = { id }
      for _, e in ipairs(list) do parts[#parts + 1] = ("%d=%.17g"):format(e.id, e.score) end
      lists[#lists + 1] = table.concat(parts, " ")
    end
  end
end
local dt, calls = os.clock() - t0, math.max(#ids * rounds, 1)
print(("%d stories x %d: %.3f ms CPU, %.2f statements per story"):format(#ids, rounds, dt * 1000 / calls,
  (quire._db:statements() - st0) / calls))
if arg[2] then
  local f = assert(io.open(arg[2], "w"))
  f:write(table.concat(lists, "\n"), "\n")
  f:close()
end
