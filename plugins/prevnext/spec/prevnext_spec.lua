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
