-- Bulk scripting and editorial helpers: quire.each, word diffs, restore, term rename and merge.
local testing = require "quire.testing"
local diff = require "quire.diff"
local bulk = require "quire.bulk"

describe("quire.each", function()
  local q
  before_each(function()
    q = testing.site()
    q.store.transaction(function()
      for i = 1, 25 do q.content.create { type = i % 5 == 0 and "page" or "article", title = "Entry " .. i } end
    end)
    q.each = bulk.each_for(q, q._site, { script = "spec", quiet = true })
  end)

  it("visits every matching entry once, in id order, across batches", function()
    local seen = {}
    local n = q.each({ type = "article" }, function(e) seen[#seen + 1] = e.id end, { batch = 7 })
    assert.equal(20, n)
    for i = 2, #seen do assert.is_true(seen[i] > seen[i - 1]) end
  end)

  it("writes made inside it are committed per batch and survive a later failure", function()
    local count = 0
    local ok = pcall(q.each, {}, function(e)
      count = count + 1
      if count == 12 then error("stop here") end
      q.content.update(e.id, { title = e.title .. " (seen)" })
    end, { batch = 5 })
    assert.is_false(ok)
    -- two whole batches (10 entries) committed; the failing batch rolled back entirely
    assert.equal(10, #q.store.query("SELECT id FROM entries WHERE title LIKE '%(seen)'"))
  end)

  it("saves what the entry holds now, not what the batch read, after a change to it or its terms", function()
    q.store.transaction(function()
      for i = 1, 6 do q.content.create { type = "article", title = "Storm " .. i, tags = { "climate" } } end
    end)
    local first = true
    q.each({ type = "article" }, function(e)
      if #e.tags == 0 then return end
      if first then q.terms.rename("tag", "climate", "Climate crisis") first = false end
      q.content.update(e.id, { tags = { "Climate crisis", "Environment" } }) -- slugs of the renamed term
      q.content.update(e.id, { title = e.title .. " (1)" })
      q.content.update(e.id, { body = "twice" })
    end, { batch = 4 })
    for _, e in ipairs(q.content.query { tag = "environment", limit = 100 }) do
      assert.matches("^Storm %d %(1%)$", e.title)
      assert.same({ "Climate crisis", "Environment" }, e.tags)
      assert.equal("twice", e.body)
      local revs = q.content.revisions(e.id)
      assert.equal(4, #revs)
      assert.same({ "Climate crisis", "Environment" }, revs[2].tags)
    end
    assert.equal(6, q.content.count { tag = "environment" })
    assert.same({}, q.store.check())
  end)

  it("resumes after the last committed batch", function()
    local count = 0
    pcall(q.each, {}, function(e)
      count = count + 1
      if count == 12 then error("crash") end
      q.content.update(e.id, { title = e.title .. "!" })
    end, { batch = 5 })
    local resumed = bulk.each_for(q, q._site, { script = "spec", resume = true, quiet = true })
    resumed({}, function(e) q.content.update(e.id, { title = e.title .. "!" }) end, { batch = 5 })
    assert.equal(25, #q.store.query("SELECT id FROM entries WHERE title LIKE '%!'"))
    assert.equal(0, #q.store.query("SELECT id FROM entries WHERE title LIKE '%!!'"))
  end)
end)

describe("word diffs", function()
  it("marks removed and added words", function()
    assert.equal("The [-quick-]{+slow+} fox", diff.words("The quick fox", "The slow fox"))
    assert.equal("a b{+ c+}", diff.words("a b", "a b c"))
    assert.equal("same", diff.words("same", "same"))
    assert.equal("[-x-]{+y+}", diff.words("x", "y"))
  end)
end)

describe("revisions and terms", function()
  local q
  before_each(function() q = testing.site() end)

  it("restores an old revision as a new revision", function()
    local id = q.content.create { type = "article", title = "First", body = "one", tags = { "a" }, fields = { dateline = "Porto" } }
    q.content.update(id, { title = "Second", body = "two", tags = { "b" }, fields = { dateline = false and nil or "Faro", standfirst = "x" } })
    local revs = q.content.revisions(id)
    q.content.restore(id, revs[#revs].id)
    local e = q.content.get(id)
    assert.equal("First", e.title)
    assert.equal("one", e.body)
    assert.same({ "a" }, e.tags)
    assert.equal("Porto", e.fields.dateline)
    assert.is_nil(e.fields.standfirst)
    assert.equal(3, #q.content.revisions(id))
  end)

  it("renames and merges terms", function()
    local a = q.content.create { type = "article", title = "A", tags = { "Climate", "Energy" } }
    local b = q.content.create { type = "article", title = "B", tags = { "climate change" } }
    q.terms.rename("tag", "Climate", "Climate crisis")
    assert.same({ "Climate crisis", "Energy" }, q.content.get(a).tags)
    assert.equal(1, q.terms.merge("tag", "climate change", "climate-crisis"))
    assert.same({ "Climate crisis" }, q.content.get(b).tags)
    assert.equal(2, #q.content.query { tag = "Climate crisis" })
    assert.has_error(function() q.terms.rename("tag", "Energy", "Climate crisis") end)
    assert.same({}, q.store.check())
  end)
end)
