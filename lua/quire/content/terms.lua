-- An entry's terms (tags and its section) as the content model stores them: term slugs and the
-- cache tags of their lists, term ids remembered while one outermost transaction lasts, writing
-- an entry's terms as the difference from what it had (reads: store_sql.TERM_IDS_OF_E).
--
-- Pure functions: slug_of(name), has_slug(list, slug), same(a, b), list_tag(kind, name).
-- terms = require("quire.content.terms").of(site):
--   terms.set(entry_id, taxonomy, names, old)   write the difference (old: stored rows)
--   terms.attach(by_id, rows)                   stored rows onto entries read for a write
--   terms.forget()                              drop the remembered ids (a rename or merge)
local core = require "quire.core"
local per_site = require "quire.per_site"

local M = {}

-- core.slugify of term names, memoised: a bulk retag slugifies the same few names on every save.
local slug_memo, slug_memo_n = {}, 0
local function slug_of(name)
  local slug = slug_memo[name]
  if slug then return slug end
  slug = core.slugify(name)
  if slug_memo_n >= 10000 then slug_memo, slug_memo_n = {}, 0 end
  slug_memo[name], slug_memo_n = slug, slug_memo_n + 1
  return slug
end
M.slug_of = slug_of

-- Whether a name in list has this slug.
function M.has_slug(list, slug)
  for j = 1, #list do
    if slug_of(list[j]) == slug then return true end
  end
  return false
end

-- Whether two lists of term names name the same terms in the same order.
function M.same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if slug_of(a[i]) ~= slug_of(b[i]) then return false end
  end
  return true
end

-- The cache tag of a list: "list:tag:SLUG" and the like by kind and name, memoised (bounded).
local list_tags, list_tags_n = { tag = {}, section = {}, type = {} }, 0
function M.list_tag(kind, name)
  local tag = list_tags[kind][name]
  if not tag then
    tag = "list:" .. kind .. ":" .. (kind == "type" and name or slug_of(name))
    if list_tags_n >= 10000 then list_tags, list_tags_n = { tag = {}, section = {}, type = {} }, 0 end
    list_tags[kind][name], list_tags_n = tag, list_tags_n + 1
  end
  return tag
end

-- The stored term rows of entries: SELECT this .. " WHERE ...".
M.TERM_ROWS = "SELECT et.entry_id, t.id, t.taxonomy, t.slug, t.name, et.position FROM entry_terms et JOIN terms t ON t.id = et.term_id"

M.of = per_site(function(site)
  local db = site.db
  local terms = {}

  -- Term ids by taxonomy and slug, remembered while one outermost transaction lasts (a retag of
  -- 1000 entries looks its tags up once); any rollback, and a rename or merge, forgets them.
  local term_ids = { tag = {}, section = {} }
  function terms.forget() term_ids = { tag = {}, section = {} } end
  site.tx:on_begin(terms.forget)
  site.tx:on_rollback(terms.forget)

  local function term_id(taxonomy, name, slug)
    local id = term_ids[taxonomy][slug]
    if id then return id end
    local row = db:row("SELECT id FROM terms WHERE taxonomy = ? AND slug = ?", taxonomy, slug)
    if row then
      id = row.id
    else
      local _
      _, id = db:exec("INSERT INTO terms (taxonomy, slug, name) VALUES (?, ?, ?)", taxonomy, slug, name)
    end
    term_ids[taxonomy][slug] = id
    return id
  end

  -- Gives the entry the terms names (in this order) of taxonomy, writing only the difference
  -- from old ({ id =, slug =, position = } as stored): adding one tag inserts one row.
  function terms.set(entry_id, taxonomy, names, old)
    local was, new, marks = {}, {}, {}
    for i = 1, #old do was[old[i].slug] = old[i] end
    for i = 1, #names do
      local name = names[i]
      local slug = slug_of(name)
      local t = was[slug]
      if not t then
        local n = #new
        new[n + 1], new[n + 2], new[n + 3] = entry_id, term_id(taxonomy, name, slug), i
        marks[#marks + 1] = "(?, ?, ?)"
      else
        was[slug] = nil
        if t.position ~= i then db:exec("UPDATE entry_terms SET position = ? WHERE entry_id = ? AND term_id = ?", i, entry_id, t.id) end
      end
    end
    for _, t in pairs(was) do db:exec("DELETE FROM entry_terms WHERE entry_id = ? AND term_id = ?", entry_id, t.id) end
    -- The new rows in one statement (one round trip to a server store, whatever the count; at
    -- most limits.tags_max rows).
    if #marks > 0 then
      db:exec("INSERT INTO entry_terms (entry_id, term_id, position) VALUES " .. table.concat(marks, ", "), table.unpack(new, 1, #new))
    end
  end

  -- Entries read for writes get tags and section by name, and the stored term rows of each
  -- taxonomy (for set).
  function terms.attach(by_id, term_rows)
    for _, cur in pairs(by_id) do cur.tags, cur.stored = {}, { tag = {}, section = {} } end
    for _, r in ipairs(term_rows) do
      local cur = by_id[r.entry_id]
      local stored = cur.stored[r.taxonomy]
      stored[#stored + 1] = r
      if r.taxonomy == "tag" then cur.tags[#cur.tags + 1] = r.name else cur.section = r.name end
    end
  end

  return terms
end)

return M
