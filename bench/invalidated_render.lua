-- Statements (and CPU time) one render of a story page, and one Content API answer, cost after
-- each kind of write (bench/nodes.sh, run with `quire run` against the site): the memo keeps
-- what no write touched (lua/quire/memo.lua), plugins' site:memo fragments and the API's bodies
-- and entry JSON included. The last row is what every write cost before the memo dropped by
-- tag: a write naming quire:all drops everything. Writes through the content API of this
-- process; another node's commit drops the same values (the tags are read from the same table).
-- Run it with two binaries on copies of one site for a before/after.
-- usage: quire run --yes --site SITE bench/invalidated_render.lua [ROUNDS]
local db = quire._db
local core = require "quire.core"
local rounds = math.tointeger(tonumber((arg and arg[1]) or "")) or 5
local list = quire.content.query { type = "article", status = "published", limit = 2 }
local story, other = list[1], list[2]
-- A Content API key made for the run (the API answers only with one unless the site opens it).
local name = "bench-" .. core.getpid()
local _, key = require("quire.api_keys").new(quire, quire._site).add(name, { content = true })
local targets = {
  { "story page", quire.content.url(story) },
  { "API entry", "/api/content/v1/entries/" .. story.id .. "?key=" .. key },
  { "API list (15)", "/api/content/v1/entries?fields=id,title,body_html&key=" .. key },
}
local function render(path)
  local before, t0 = db:statements(), os.clock()
  local r = quire.app.request("GET", path)
  if r.status ~= 200 then error(("%s answered %d"):format(path:gsub("key=%x+", "key=..."), r.status)) end
  return db:statements() - before, (os.clock() - t0) * 1e6
end
for _, t in ipairs(targets) do render(t[2]) end
local rows = {
  { "nothing written (warm)", function() end },
  { "the story's title edited", function(i) quire.content.update(story.id, { title = story.title .. " (" .. i .. ")" }) end },
  { "another story's body edited", function(i) quire.content.update(other.id, { body = other.body .. "\n\nEdit " .. i .. "." }) end },
  { "a write naming quire:all (every write, before)", function()
    quire.store.transaction(function() quire._site.bump({ [require("quire.memo").ALL] = true }) end)
  end },
}
io.stdout:setvbuf("line")
print(("statements and CPU microseconds per request after each write (median of %d):"):format(rounds))
local head = { ("  %-48s"):format("") }
for _, t in ipairs(targets) do head[#head + 1] = ("%22s"):format(t[1]) end
print(table.concat(head))
for _, row in ipairs(rows) do
  local line = { ("  %-48s"):format(row[1]) }
  for _, t in ipairs(targets) do
    local counts, times = {}, {}
    for i = 1, rounds do
      row[2](i)
      counts[i], times[i] = render(t[2])
    end
    table.sort(counts)
    table.sort(times)
    local mid = (rounds + 1) // 2
    line[#line + 1] = ("%12d %7.0f us"):format(counts[mid], times[mid])
  end
  print(table.concat(line))
end
require("quire.api_keys").new(quire, quire._site).revoke(name)
