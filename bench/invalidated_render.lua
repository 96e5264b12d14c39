-- Statements one render of a story page runs after each kind of write (bench/nodes.sh, run with
-- `quire run` against the site): the memo keeps what no write touched (lua/quire/memo.lua). The
-- last row is what every write cost before the memo dropped by tag: a write naming quire:all
-- drops everything. Writes through the content API of this process; another node's commit
-- drops the same values (the tags are read from the same table).
-- usage: quire run --yes --site SITE bench/invalidated_render.lua [ROUNDS]
local db = quire._db
local rounds = math.tointeger(tonumber((arg and arg[1]) or "")) or 5
local list = quire.content.query { type = "article", status = "published", limit = 2 }
local story, other = list[1], list[2]
local path = quire.content.url(story)
local function render()
  local before = db:statements()
  local r = quire.app.request("GET", path)
  if r.status ~= 200 then error(("%s answered %d"):format(path, r.status)) end
  return db:statements() - before
end
render()
local rows = {
  { "nothing written (warm)", function() end },
  { "the story's title edited", function(i) quire.content.update(story.id, { title = story.title .. " (" .. i .. ")" }) end },
  { "another story's body edited", function(i) quire.content.update(other.id, { body = other.body .. "\n\nEdit " .. i .. "." }) end },
  { "a write naming quire:all (every write, before)", function()
    quire.store.transaction(function() quire._site.bump({ [require("quire.memo").ALL] = true }) end)
  end },
}
io.stdout:setvbuf("line")
print(("statements per render of %s (median of %d):"):format(path, rounds))
for _, row in ipairs(rows) do
  local counts = {}
  for i = 1, rounds do
    row[2](i)
    counts[i] = render()
  end
  table.sort(counts)
  print(("  %-48s %d"):format(row[1], counts[(rounds + 1) // 2]))
end
