-- Related posts: Hugo-like weights, text similarity, rarity, settings, edge cases, replacement.
local testing = require "quire.testing"
local find = testing.find
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]+$")

local function site(settings, extra)
  local plugins = { "theme", "article", "opinion", "related" }
  for _, p in ipairs(extra or {}) do plugins[#plugins + 1] = p end
  return testing.site { plugins = plugins, settings = { related = settings },
    plugin_path = { here .. "/fixtures", (os.getenv("PWD") or ".") .. "/plugins" } }
end

local function story(q, title, tags, date, fields, body, type_)
  return q.content.create { type = type_ or "article", title = title, tags = tags, status = "published",
    published_at = date or "2026-01-10T08:00:00Z", fields = fields, body = body or title }
end

local function related_titles(q, id)
  local html = q:request("GET", q.content.url(q.content.get(id))).body
  local block = find(html, "section.related")[1]
  if not block then return {} end
  local out = {}
  for _, a in ipairs(find(block.html, "a")) do out[#out + 1] = a.text end
  return out, block
end

describe("related plugin", function()
  local q, ids
  before_each(function()
    q = site()
    ids = {
      target = story(q, "Port strike halts shipping", { "Ports", "Strikes", "Lisbon" }),
      two_tags = story(q, "Dockers vote on new contract", { "Ports", "Strikes" }, "2025-06-01T08:00:00Z"),
      one_tag = story(q, "Cruise season opens", { "Ports" }, "2026-01-09T08:00:00Z"),
      unrelated = story(q, "Museum reopens", { "Culture" }, "2026-01-10T09:00:00Z"),
      draft = q.content.create { type = "article", title = "Draft on ports", tags = { "Ports", "Strikes" }, status = "draft" },
      opinion = story(q, "Why the strike matters", { "Strikes", "Lisbon" }, "2026-01-11T08:00:00Z", nil, "Shipping halts.", "opinion"),
    }
    for i = 1, 6 do story(q, "Filler " .. i, { "Filler" }) end
  end)

  it("lists the best matches across types, excluding the entry itself and drafts", function()
    local titles, block = related_titles(q, ids.target)
    assert.equal("Related Posts", find(block.html, "h2")[1].text)
    assert.same({ "Why the strike matters", "Dockers vote on new contract", "Cruise season opens" }, titles)
  end)

  it("scores like Hugo with rarity and text: shared tags 80 each, keywords 100, threshold 80", function()
    local list = q.content.related(ids.target, { rarity = 0, weights = { text = 0, date = 0 } })
    assert.equal(3, #list)
    assert.equal(160, list[1].score)
    assert.equal(160, list[2].score)
    assert.equal(80, list[3].score)
    local kw = story(q, "Keyword only", { "Unique" }, nil, { keywords = { "Shipping" } })
    q.content.update(ids.target, { fields = { keywords = { "shipping" } } })
    list = q.content.related(ids.target, { rarity = 0, weights = { text = 0, date = 0 }, limit = 10 })
    local scores = {}
    for _, e in ipairs(list) do scores[e.id] = e.score end
    assert.equal(100, scores[kw])
  end)

  it("counts shared tags only, not a shared section, whether the entry's terms were read with it or apart", function()
    local function sectioned(title, tags, section)
      return q.content.create { type = "article", title = title, tags = tags, section = section, status = "published",
        published_at = "2026-01-10T08:00:00Z", body = title }
    end
    local a = sectioned("Harbour dues rise", { "Harbour" }, "Metro")
    local b = sectioned("Tram line extended", { "Trams" }, "Metro")
    local c = sectioned("Harbour pilots strike", { "Harbour" }, "Metro")
    -- (All on one day: each is a candidate of the others' date walks, 10 each: below the threshold
    -- but for a shared tag's 80.)
    local opts = { rarity = 0, weights = { text = 0, date = 10 }, limit = 10 }
    -- First a as nobody's candidate (its tags read apart), then b and c, whose lists hold a (its
    -- terms, the section's too, read with its profile), then a again from that profile.
    for _, round in ipairs({ { a }, { b, c, a } }) do
      q.content.create { type = "article", title = "Memo dropped", status = "draft" }
      for _, id in ipairs(round) do
        local scores = {}
        for _, e in ipairs(q.content.related(id, opts)) do scores[e.id] = e.score end
        if id == b then
          assert.is_nil(scores[a])
          assert.is_nil(scores[c])
        else
          assert.is_nil(scores[b])
          assert.equal(90, scores[id == a and c or a])
        end
      end
    end
  end)

  it("shows nothing for an entry with no tags, and nothing below the threshold", function()
    local lone = story(q, "Zebra crossing repainted", {})
    assert.same({}, related_titles(q, lone))
    assert.same({}, q.content.related(lone))
    local strict = site { threshold = 1000 }
    local a = story(strict, "Alpha", { "Shared" })
    story(strict, "Beta", { "Shared" })
    assert.same({}, related_titles(strict, a))
  end)

  it("follows the weights and the limit in settings", function()
    local q2 = site { tags = 0, text = 0, keywords = 0, date = 100, threshold = 50, limit = 1 }
    local a = story(q2, "Alpha", { "X" }, "2026-01-10T08:00:00Z")
    story(q2, "Close in time", {}, "2026-01-11T08:00:00Z")
    story(q2, "Far in time", { "X" }, "2020-01-01T08:00:00Z")
    assert.same({ "Close in time" }, related_titles(q2, a))
  end)

  it("follows an options table changed between calls, and the site's types", function()
    local function titles(list)
      local out = {}
      for i, e in ipairs(list) do out[i] = e.title end
      return out
    end
    local opts = { rarity = 0, weights = { text = 0, date = 0 }, limit = 3 }
    assert.same({ "Why the strike matters", "Dockers vote on new contract", "Cruise season opens" }, titles(q.content.related(ids.target, opts)))
    opts.limit = 1
    assert.same({ "Why the strike matters" }, titles(q.content.related(ids.target, opts)))
    opts.weights.tags = 40 -- one shared tag no longer reaches the threshold
    opts.limit = 3
    assert.same({ "Why the strike matters", "Dockers vote on new contract" }, titles(q.content.related(ids.target, opts)))
    opts.types = { "article" }
    assert.same({ "Dockers vote on new contract" }, titles(q.content.related(ids.target, opts)))
    opts.types[1] = "opinion"
    assert.same({ "Why the strike matters" }, titles(q.content.related(ids.target, opts)))
    opts.types, opts.threshold = nil, 100
    assert.same({}, titles(q.content.related(ids.target, opts)))
    opts.limit = 3.0
    assert.has_error(function() q.content.related(ids.target, opts) end, "quire.content.related: limit must be 1..64")
    opts.limit, opts.threshold = 3, nil
    -- Without types: every type but page, as the site has them now.
    q._site.types:define { name = "brief", label = "Brief", permalink = "/brief/{slug}" }
    local brief = story(q, "Strike brief", { "Ports", "Strikes", "Lisbon" }, "2026-01-10T07:00:00Z", nil, nil, "brief")
    assert.same({ "Strike brief", "Why the strike matters", "Dockers vote on new contract" }, titles(q.content.related(ids.target, opts)))
    assert.is_true(brief > 0)
  end)

  it("finds text-similar entries through FTS5 when tags do not match", function()
    local q2 = site { text = 90, tags = 80, date = 0 }
    local a = story(q2, "Lighthouse keepers strike", { "Coast" }, nil, nil, "The lighthouse keepers walked out.")
    story(q2, "Lighthouse keepers return", { "Other" }, nil, nil, "Lighthouse keepers are back.")
    story(q2, "Bakery opens", { "Other" }, nil, nil, "Bread.")
    assert.same({ "Lighthouse keepers return" }, related_titles(q2, a))
  end)

  it("weighs shared words by rarity, found stemmed anywhere, with a bonus for a title's words as written", function()
    local q2 = site()
    local a = story(q2, "Lighthouse keepers strike", {}, nil, nil, "Walkout.")
    local in_title = story(q2, "Lighthouse keepers return", {}, nil, nil, "Nothing else.")
    local in_body = story(q2, "Coast news", {}, nil, nil, "The lighthouse keepers met.")
    local stemmed = story(q2, "Harbour notes", {}, nil, nil, "A lighthouse keeper spoke.")
    local singular = story(q2, "Lighthouse keeper honoured", {}, nil, nil, "Medal.")
    story(q2, "Bakery opens", {}, nil, nil, "Bread.")
    local list = q2.content.related(a, { limit = 10, threshold = 1, weights = { tags = 0, keywords = 0, date = 0, text = 100 } })
    -- "lighthouse" and "keepers" (stemmed: "keeper") are in 5 of 6 stories; the title bonus is twice
    -- a word's weight: both words (3x), one as written ("keeper" is not "keepers": 2x), none (1x).
    local got = {}
    for i, e in ipairs(list) do got[i] = { e.id, math.floor(e.score * 1000 + 0.5) / 1000 } end
    assert.same({ { in_title, 100 }, { singular, 66.667 }, { stemmed, 33.333 }, { in_body, 33.333 } }, got)
  end)

  it("forgets what it knew of other entries on every write: an unpublished or retagged one leaves", function()
    assert.equal(ids.opinion, q.content.related(ids.target)[1].id)
    q.content.update(ids.opinion, { status = "draft" })
    local list = q.content.related(ids.target)
    for _, e in ipairs(list) do assert.not_equal(ids.opinion, e.id) end
    assert.equal(ids.two_tags, list[1].id)
    q.content.update(ids.two_tags, { tags = { "Culture" } })
    for _, e in ipairs(q.content.related(ids.target)) do assert.not_equal(ids.two_tags, e.id) end
  end)

  it("forgets them on another connection's commit, and keeps nothing read in a rolled-back transaction", function()
    local q2, dir = site()
    local a = story(q2, "Alpha", { "Shared", "Rare" })
    local b = story(q2, "Beta", { "Shared", "Rare" })
    local c = story(q2, "Gamma", { "Shared" })
    for i = 1, 4 do story(q2, "Filler " .. i, { "Filler" }) end
    assert.equal(b, q2.content.related(a)[1].id)
    local inside
    assert.is_false(pcall(q2.store.transaction, function()
      q2.content.update(b, { tags = { "Shared" } }) -- Beta now ties with Gamma, the newer id first
      inside = q2.content.related(a)[1].id
      error("roll back")
    end))
    assert.equal(c, inside)
    assert.equal(b, q2.content.related(a)[1].id)
    local other = assert(require("quire").open(dir))
    other.content.update(b, { tags = { "Shared" } })
    assert.equal(c, q2.content.related(a)[1].id)
    other._db:close()
  end)

  it("notices new entries (the memo is dropped on every write)", function()
    assert.equal(3, #q.content.related(ids.target))
    story(q, "Strike spreads to Lisbon ports", { "Ports", "Strikes", "Lisbon" }, "2026-01-10T07:00:00Z")
    assert.equal("Strike spreads to Lisbon ports", q.content.related(ids.target)[1].title)
  end)

  it("reads the entries it shows together, and shows their edits (memoised or not, cards or whole)", function()
    local statements = q._db:statements()
    local list = q.content.related(ids.target)
    assert.same({ ids.opinion, ids.two_tags, ids.one_tag }, { list[1].id, list[2].id, list[3].id })
    assert.equal("Shipping halts.", list[1].body)
    local again = q._db:statements()
    q.content.related(ids.target)
    assert.equal(0, q._db:statements() - again) -- (all memoised: no statement)
    assert.is_true(again - statements > 0)
    -- One of them memoised as a card, the others not: the block's cards.
    q.content.teasers(q.content.get, ids.two_tags)
    assert.same({ "Why the strike matters", "Dockers vote on new contract", "Cruise season opens" }, related_titles(q, ids.target))
    q.content.update(ids.two_tags, { title = "Dockers vote again" })
    q.content.update(ids.opinion, { body = "Shipping stops." })
    assert.same({ "Why the strike matters", "Dockers vote again", "Cruise season opens" }, related_titles(q, ids.target))
    list = q.content.related(ids.target)
    assert.equal("Shipping stops.", list[1].body)
    assert.equal("Dockers vote again", list[2].title)
    -- Read inside a transaction that rolls back: not kept.
    assert.is_false(pcall(q.store.transaction, function()
      q.content.update(ids.one_tag, { title = "Cruise season cancelled" })
      assert.equal("Cruise season cancelled", q.content.related(ids.target)[3].title)
      error("roll back")
    end))
    assert.equal("Cruise season opens", q.content.related(ids.target)[3].title)
    assert.same({ "Why the strike matters", "Dockers vote again", "Cruise season opens" }, related_titles(q, ids.target))
    -- One id asked twice where the memo keeps nothing (inside a transaction): the entry each time.
    q.store.transaction(function()
      local both = require("quire.content.reads").of(q._site).get_each({ ids.opinion, ids.opinion })
      assert.same({ "Shipping stops.", "Shipping stops." }, { both[1].body, both[2].body })
    end)
  end)

  it("keeps a tag's walk past writes that leave the tag alone, and walks it again when one moves it", function()
    -- The tag walks the store is asked for while fn runs (quire.related keeps them per tag).
    local function walks(fn)
      local methods = debug.getmetatable(q._db).__index
      local rows, n = methods.rows, 0
      methods.rows = function(db, sql, ...)
        if sql:find("AS side FROM entry_terms", 1, true) then n = n + 1 end
        return rows(db, sql, ...)
      end
      local ok, v = pcall(fn)
      methods.rows = rows
      assert(ok, v)
      return n, v
    end
    local function ids_of(list)
      local out = {}
      for i, e in ipairs(list) do out[i] = e.id end
      return out
    end
    local n, first = walks(function() return ids_of(q.content.related(ids.target)) end)
    assert.equal(1, n)
    -- Another story (its own tag) and an edit to one the list shows: the walks are kept.
    story(q, "Museum extends hours", { "Culture" })
    q.content.update(ids.one_tag, { title = "Cruise season opens early" })
    n = walks(function() assert.same(first, ids_of(q.content.related(ids.target))) end)
    assert.equal(0, n)
    -- A story joins "Ports": that walk is read again, and the newcomer leads the list.
    local new = story(q, "Ports and strikes in Lisbon", { "Ports", "Strikes", "Lisbon" }, "2026-01-10T07:00:00Z")
    local list
    n, list = walks(function() return ids_of(q.content.related(ids.target)) end)
    assert.equal(1, n)
    assert.equal(new, list[1])
  end)

  it("can be replaced by a site's own related.entries filter", function()
    local q2 = site(nil, { "related_editors_pick" })
    local a = story(q2, "Alpha", { "Shared" })
    story(q2, "Beta", { "Shared" })
    story(q2, "Editors choice", { "Picked" })
    assert.same({ "Editors choice" }, related_titles(q2, a))
  end)
end)
