-- Previous / next by publication time: the first and last entries, drafts, type and section scope.
local testing = require "quire.testing"
local find = testing.find

local function site(settings)
  local q = testing.site { plugins = { "theme", "article", "opinion", "prevnext" }, settings = { prevnext = settings } }
  local ids = {}
  for i, spec in ipairs({
    { "article", "First story", "World", 1 }, { "article", "Second story", "Money", 2 },
    { "opinion", "A view", "World", 3 }, { "article", "Third story", "World", 4 },
  }) do
    ids[i] = q.content.create { type = spec[1], title = spec[2], section = spec[3], status = "published",
      published_at = ("2026-01-0%dT08:00:00Z"):format(spec[4]), body = "x" }
  end
  q.content.create { type = "article", title = "Unpublished", status = "draft", published_at = "2026-01-03T09:00:00Z" }
  return q, ids
end

local function links(q, id)
  local html = q:request("GET", q.content.url(q.content.get(id))).body
  local nav = find(html, "nav.prevnext")[1]
  if not nav then return nil end
  local prev, nxt = find(nav.html, "div.prev")[1], find(nav.html, "div.next")[1]
  return prev and find(prev.html, "a")[1].text or nil, nxt and find(nxt.html, "a")[1].text or nil, nav
end

describe("prevnext plugin", function()
  it("links neighbours within the type, by publication time, skipping drafts", function()
    local q, ids = site()
    local p, n, nav = links(q, ids[2])
    assert.equal("First story", p)
    assert.equal("Third story", n) -- the opinion piece and the draft in between are skipped
    assert.matches("Previous Article", nav.text)
    assert.matches("Next Article", nav.text)
  end)

  it("has no previous link on the first entry and no next link on the last", function()
    local q, ids = site()
    local p, n = links(q, ids[1])
    assert.is_nil(p)
    assert.equal("Second story", n)
    p, n = links(q, ids[4])
    assert.equal("Second story", p)
    assert.is_nil(n)
  end)

  it("shows nothing for an entry alone in its scope", function()
    local q, ids = site()
    assert.is_nil(links(q, ids[3])) -- the only opinion piece
  end)

  it("follows a neighbour's new title and address, its unpublishing and its trashing", function()
    local q, ids = site()
    local _, n = links(q, ids[2]) -- (the page's links are kept while no write bumps their tags)
    assert.equal("Third story", n)
    q.content.update(ids[4], { title = "Third story, retitled", slug = "third-retitled" })
    local html = q:request("GET", q.content.url(q.content.get(ids[2]))).body
    assert.matches('<a href="/2026/01/third%-retitled" rel="next">Third story, retitled</a>', html)
    q.content.update(ids[1], { status = "draft" })
    local p
    p, n = links(q, ids[2])
    assert.is_nil(p)
    assert.equal("Third story, retitled", n)
    q.content.update(ids[1], { status = "published" })
    assert.equal("First story", (links(q, ids[2])))
    q.content.delete(ids[4])
    p, n = links(q, ids[2])
    assert.equal("First story", p)
    assert.is_nil(n)
    -- and the page of the entry that moved: its own date puts it elsewhere
    q.content.update(ids[1], { published_at = "2026-01-05T08:00:00Z" })
    p, n = links(q, ids[1])
    assert.equal("Second story", p)
    assert.is_nil(n)
    assert.equal("First story", select(2, links(q, ids[2])))
  end)

  -- (an export reads the links of a run of entries a window at a time: quire.content.neighbours)
  for _, within in ipairs({ "type", "section" }) do
    it("links the neighbours in a long run of stories, their pages read in any order, within the " .. within, function()
      local q = testing.site { plugins = { "theme", "article", "opinion", "prevnext" }, settings = { prevnext = { within = within } } }
      local ids, dates, group = {}, {}, {}
      for i = 1, 60 do
        -- out of id order, some at the date of others (the id comes next), two types, two sections
        dates[i] = i > 50 and dates[i - 30] or ("2026-02-%02dT%02d:00:00Z"):format((i * 7) % 28 + 1, i % 5)
        local t, section = i % 7 == 0 and "opinion" or "article", i % 3 == 0 and "Money" or "World"
        group[i] = within == "type" and t or section
        ids[i] = q.content.create { type = t, section = section, title = "Story " .. i, status = "published", published_at = dates[i], body = "x" }
      end
      local by_date = {}
      for i = 1, 60 do by_date[i] = i end
      table.sort(by_date, function(a, b) return dates[a] < dates[b] or dates[a] == dates[b] and a < b end)
      local function expected(i) -- the stories before and after i in its group
        local p, n, seen = nil, nil, false
        for _, j in ipairs(by_date) do
          if j == i then seen = true
          elseif group[j] == group[i] then
            if not seen then p = j elseif not n then n = j end
          end
        end
        return p and "Story " .. p, n and "Story " .. n
      end
      local shuffled = {}
      for i = 1, 60 do shuffled[i] = i end
      table.sort(shuffled, function(a, b) return (a * 17) % 61 < (b * 17) % 61 end)
      local backwards = {}
      for k = 60, 1, -1 do backwards[#backwards + 1] = by_date[k] end
      for k, walk in ipairs({ by_date, backwards, shuffled, by_date }) do
        for _, i in ipairs(walk) do
          local p, n = links(q, ids[i])
          local want_p, want_n = expected(i)
          assert.equal(want_p, p)
          assert.equal(want_n, n)
          -- (and straight from the windows: after the first walk the pages come from their memo)
          local lp, ln = q.content.neighbours(ids[i], { within = within, links = true })
          assert.equal(want_p, lp and lp.title)
          assert.equal(want_n, ln and ln.title)
        end
        q.content.update(ids[1], { body = "y" .. k }) -- (a write: the links are read again)
      end
    end)
  end

  it("can stay within the section, with its own labels", function()
    local q, ids = site { within = "section", previous_label = "Earlier", next_label = "Later" }
    local p, n, nav = links(q, ids[3])
    assert.equal("First story", p)
    assert.equal("Third story", n)
    assert.matches("Earlier", nav.text)
    local ok, err = pcall(testing.site, { plugins = { "theme", "prevnext" }, settings = { prevnext = { within = "planet" } } })
    assert.is_false(ok)
    assert.matches("within must be", tostring(err))
  end)
end)
