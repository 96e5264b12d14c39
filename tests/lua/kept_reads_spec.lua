-- A story's comments, share counts and corrections are kept by the memo under their own tags
-- (comments:ID, shares:ID, corrections:ID): a write elsewhere (another story, this story's
-- text) reads none of them again, and a write to them, from this connection or another, is seen
-- at once.
local testing = require "quire.testing"
local quire_mod = require "quire"

describe("a story's comments, shares and corrections", function()
  local q, dir, id, other_id
  before_each(function()
    q, dir = testing.site()
    id = q.content.create { type = "article", title = "Harbour survey", status = "published", body = "Soundings." }
    other_id = q.content.create { type = "article", title = "Ferry timetable", status = "published", body = "Winter." }
  end)

  local function reads()
    return {
      comments = q.comments.query { entry = id, status = "approved" },
      shares = q.shares.counts(id),
      corrections = q.corrections.list(id),
    }
  end

  -- Statements a read of all three runs (after the memo's own look at what changed, as at the
  -- start of a request).
  local function cost()
    q._site.memo.generation()
    local before = q._db:statements()
    local got = reads()
    return q._db:statements() - before, got
  end

  it("are not read again after a write that changes none of them", function()
    cost()
    assert.equal(0, (cost()))
    q.content.update(other_id, { body = "Winter service." })
    assert.equal(0, (cost()))
    q.content.update(id, { title = "Harbour survey, revised" })
    assert.equal(0, (cost()))
  end)

  it("are read again after a write to them, from any connection", function()
    cost()
    local other = assert(quire_mod.open(dir))
    other.comments.create { entry = id, author_name = "Ada", author_email = "ada@example.org", body = "Good.", status = "approved" }
    local n, got = cost()
    assert.is_true(n > 0)
    assert.equal(1, #got.comments)
    assert.equal("Good.", got.comments[1].body)
    other.comments.set_status(got.comments[1].id, "spam")
    assert.equal(0, #reads().comments)
    assert.is_true(other.shares.record(id, "mastodon", "client-1"))
    assert.equal(1, reads().shares.total)
    local revision = other.content.revisions(id)[1].id
    other._newsroom.correction_add(id, revision, "The survey date was wrong.", nil)
    got = reads()
    assert.equal(1, #got.corrections)
    assert.equal("The survey date was wrong.", got.corrections[1].note)
    other._db:close()
  end)

  it("hand each caller its own copy", function()
    q.comments.create { entry = id, author_name = "Ada", author_email = "ada@example.org", body = "Good.", status = "approved" }
    local first = reads()
    first.comments[1].body = "changed"
    first.comments[2] = "added"
    local again = reads()
    assert.equal(1, #again.comments)
    assert.equal("Good.", again.comments[1].body)
  end)
end)
