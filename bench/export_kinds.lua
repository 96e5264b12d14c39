-- What each kind of page costs a static export (issue 21): walks the addresses a full export
-- renders (quire.static_export.each_page), sorts them into kinds by their address, renders each
-- page of a kind once in that order (as an export worker would: the memo warms as it goes) and
-- prints CPU microseconds and statements per page of each kind, and its share of the time.
--   quire run --yes --site SITE bench/export_kinds.lua [MAX_PER_KIND [KIND]]
-- KIND: entry (dated addresses), list (tag, section, author, /latest and their older pages),
-- front (/, and its older pages when it is no front: with one they are /latest's), feed, sitemap
-- or other (undated entries such as opinion pieces, redirects, the rest). A site made as
-- bench/export.sh makes it (KEEP=1 keeps its folder); run two binaries on copies of it,
-- alternating, for a before/after (the machine's noise is large).
local static_export = require "quire.static_export"
local db = quire._db
local max = math.tointeger(tonumber(arg[1] or "")) or math.maxinteger
local only = arg[2]

local function kind_of(path)
  if path:match("^/sitemap") then return "sitemap" end
  if path:match("/feed%.xml$") or path:match("/atom%.xml$") or path:match("/feed%.json$") then return "feed" end
  if path == "/" or path:match("^/older/") then return "front" end
  if path:match("^/tag/") or path:match("^/section/") or path:match("^/author/") or path:match("^/latest") then return "list" end
  if path:match("^/%d%d%d%d/") then return "entry" end
  return "other"
end

local pages, kinds = {}, {}
static_export.each_page(quire, function(item)
  local kind = kind_of(item.path)
  if only and kind ~= only then return end
  if not pages[kind] then pages[kind] = {}; kinds[#kinds + 1] = kind end
  if #pages[kind] < max then table.insert(pages[kind], item.path) end
end)

local rows, total = {}, 0
for _, kind in ipairs(kinds) do
  local statements, t0 = db:statements(), os.clock()
  for _, path in ipairs(pages[kind]) do
    local r = quire.app.request("GET", path, { headers = { accept = "text/html,*/*" } })
    if r.status >= 500 then error(("%s answered %d"):format(path, r.status)) end
  end
  local seconds = os.clock() - t0
  rows[#rows + 1] = { kind = kind, n = #pages[kind], seconds = seconds, statements = db:statements() - statements }
  total = total + seconds
end
for _, r in ipairs(rows) do
  print(("%-8s %6d pages %8.1f us/page %6.2f statements/page %5.1f%% of %.2f s"):format(
    r.kind, r.n, r.seconds / r.n * 1e6, r.statements / r.n, r.seconds / total * 100, total))
end
