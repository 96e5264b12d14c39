-- quire.memo under the content API: memoised reads never outlive a write, whoever made it.
local testing = require "quire.testing"
local quire_mod = require "quire"

describe("memoised reads", function()
  local q, dir, id
  before_each(function()
    q, dir = testing.site()
    id = q.content.create { type = "article", title = "Tide tables", status = "published", fields = { standfirst = "Low water." } }
  end)

  it("hand each caller its own copy", function()
    local e = q.content.get(id)
    e.title, e.fields.standfirst = "changed", "changed"
    e.tags[1] = "changed"
    local again = q.content.get(id)
    assert.equal("Tide tables", again.title)
    assert.equal("Low water.", again.fields.standfirst)
    assert.same({}, again.tags)
  end)

  it("see this connection's writes", function()
    assert.equal("Tide tables", q.content.get(id).title)
    q.content.update(id, { title = "Tide tables for March" })
    assert.equal("Tide tables for March", q.content.get(id).title)
  end)

  it("see other connections' commits, in and out of a request", function()
    assert.equal("Tide tables", q.content.get(id).title)
    local other = assert(quire_mod.open(dir))
    other.content.update(id, { title = "Spring tides" })
    assert.equal("Spring tides", q.content.get(id).title)
    require("quire.core").mkdir(dir .. "/templates")
    local f = assert(io.open(dir .. "/templates/article.mustache", "w"))
    f:write("<h1>{{entry.title}}</h1>")
    f:close()
    local e = q.content.get(id)
    local res = q:request("GET", q.content.url(e))
    assert.equal(200, res.status)
    other.content.update(id, { title = "Neap tides" })
    res = q:request("GET", q.content.url(e))
    assert.truthy(res.body:find("Neap tides", 1, true))
    other._db:close()
  end)

  it("keep nothing read inside a transaction that is rolled back", function()
    assert.is_false(pcall(q.store.transaction, function()
      q.content.update(id, { title = "Never saved" })
      assert.equal("Never saved", q.content.get(id).title)
      error("roll back")
    end))
    assert.equal("Tide tables", q.content.get(id).title)
  end)
end)
