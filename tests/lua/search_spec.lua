-- The search core (lua/quire/search.lua): the query language (phrases, prefixes, bounds), the
-- standfirst kept in the index by every kind of save, the ranking's knobs, and the index's
-- tokenizer following the site's language (stemming for English only).
local testing = require "quire.testing"
local search = require "quire.content.search"

describe("quire.search", function()
  it("reads words, quoted phrases and a prefix being typed", function()
    assert.equal('"tidal" "barrage"', (search.query("tidal barrage")))
    assert.equal('"tidal barrage" "plan"', (search.query('"tidal  barrage" plan')))
    assert.equal('"tidal barrage"', (search.query('"tidal barrage')))   -- an unclosed quote runs to the end
    assert.equal('"o\'brien"', (search.query("o'brien")))
    assert.equal('"harbour" "OR" "NEAR"', (search.query("harbour OR * NEAR")))
    assert.equal('"tidal" "barr"*', (search.query("tidal barr", true)))
    assert.equal('"tidal" "barr"', (search.query("tidal barr ", true)))  -- a finished word
    assert.equal('"storm su"*', (search.query('"storm su', true)))
    assert.equal('"b"', (search.query("b", true)))                      -- too short to be a prefix
    assert.equal("", (search.query('"" *** ---')))
    local v, err = search.query(("word "):rep(17))
    assert.is_nil(v)
    assert.matches("more than 16 words", err)
    v, err = search.query(("x"):rep(257))
    assert.is_nil(v)
    assert.matches("the limit is 256", err)
    v, err = search.query("a\1b")
    assert.is_nil(v)
    assert.matches("control character", err)
  end)

  it("keeps the standfirst in the index through saves, batches and deletes", function()
    local q = testing.site { plugins = { "theme", "article" } }
    local id = q.content.create { type = "article", title = "Quay", status = "published", fields = { standfirst = "Gulls everywhere." }, body = "Text." }
    assert.equal(id, q.content.search("gulls")[1].id)
    q.content.update(id, { fields = { standfirst = "Terns everywhere." } })
    assert.equal(0, #q.content.search("gulls"))
    assert.equal(id, q.content.search("terns")[1].id)
    local ids = {}
    q.store.transaction(function()
      for i = 1, 3 do ids[i] = q.content.create { type = "article", title = "Batch " .. i, status = "published", fields = { standfirst = "Puffins " .. i }, body = "x" } end
      q.content.update(ids[2], { fields = { standfirst = "Herons" } })
    end)
    assert.equal(2, #q.content.search("puffins"))
    assert.equal(ids[2], q.content.search("herons")[1].id)
    q.content.delete(ids[1])
    assert.equal(1, #q.content.search("puffins", { status = "published" }))
    assert.same({}, q.store.check())
  end)

  it("ranks by the weights and recency a caller gives, and checks them", function()
    local q = testing.site { plugins = { "theme", "article" } }
    local old = q.content.create { type = "article", title = "Kelp harvest", status = "published", published_at = "2020-01-01", body = "x" }
    local new = q.content.create { type = "article", title = "Harbour news", status = "published", published_at = os.date("!%Y-%m-%d"),
      fields = { standfirst = "The kelp harvest was good." }, body = "x" }
    assert.equal(old, q.content.search("kelp")[1].id) -- the title outweighs the standfirst...
    assert.equal(new, q.content.search("kelp", { recency = { boost = 10, half_life_days = 30 } })[1].id) -- ...unless news counts for a lot
    assert.equal(new, q.content.search("kelp", { weights = { title = 1, standfirst = 5 } })[1].id)
    assert.has_error(function() q.content.search("kelp", { weights = { title = -1 } }) end, "search: weights.title must be a number from 0 to 1000")
    assert.has_error(function() q.content.search("kelp", { recency = { half_life_days = 0 } }) end)
    local hits = q.content.suggest("kel")
    assert.equal(old, hits[1].id)
    assert.is_nil(hits[1].snippet)
    assert.same({}, q.content.suggest('"""'))
  end)

  it("stems English and indexes other languages' words as written", function()
    local en = testing.site { plugins = { "theme", "article" } }
    en.content.create { type = "article", title = "Oyster beds return", status = "published", body = "x" }
    assert.equal(1, #en.content.search("oysters"))
    local nb = testing.site { plugins = { "theme", "article" }, language = "nb" }
    nb.content.create { type = "article", title = "Oyster beds return", status = "published", body = "x" }
    assert.equal(0, #nb.content.search("oysters")) -- no English endings taken off Norwegian words
    assert.equal(1, #nb.content.search("oyster"))
    assert.equal("unicode61 remove_diacritics 2", search.tokenizer("nb"))
    assert.equal("porter unicode61 remove_diacritics 2", search.tokenizer("en-GB"))
  end)
end)
