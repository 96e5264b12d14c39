-- Prints the demo site's front page: the latest stories with datelines, neighbours and comments.
local site = quire.site
local function date_line(e)
  local y, m, d = e.published_at:match("^(%d+)-(%d+)-(%d+)")
  local months = { "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December" }
  local place = e.fields.dateline
  local date = ("%s %d, %s"):format(months[tonumber(m)], tonumber(d), y)
  return place and (place .. ", " .. date .. " –") or (date .. " –")
end

print(("%s — %s"):format(site.name, site.base_url))
print(("="):rep(72))
for _, e in ipairs(quire.content.query { status = "published", limit = 10 }) do
  local author = e.author and quire.users.get(e.author)
  local label = e.type == "opinion" and "Opinion Piece: " or ""
  print(label .. e.title)
  print(("  %s  %s"):format(e.section or "", author and ("by " .. author.display_name) or ""))
  print("  " .. date_line(e) .. " " .. (e.fields.standfirst or ""))
  local prev, nxt = quire.content.neighbours(e.id)
  local comments = quire.comments.count(e.id)
  print(("  Tags: %s | %d comment%s | Previous: %s | Next: %s"):format(table.concat(e.tags, ", "),
    comments, comments == 1 and "" or "s", prev and prev.title or "–", nxt and nxt.title or "–"))
  print()
end
local hits = quire.content.search("bridge", { status = "published", limit = 3 })
print(("Search \"bridge\": %d results"):format(#hits))
for _, h in ipairs(hits) do print("  " .. h.title) end
