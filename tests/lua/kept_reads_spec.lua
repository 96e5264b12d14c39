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

  -- Whether an entry has comments or shares at all is read for a block of ids at once (most have
  -- none): a neighbour's read answers for it, and a write to it is seen by the next read.
  it("are known to be none from a neighbour's read, until one is written", function() -- (and corrections)
    local block = {}
    for i = 1, 5 do
      block[i] = q.content.create { type = "article", title = "Tide table " .. i, status = "published", body = "Low water." }
    end
    local x = block[5]
    q._site.memo.generation()
    local function none_read(fn)
      local before = q._db:statements()
      local v = fn()
      return q._db:statements() - before, v
    end
    q.comments.count(block[1]) -- the block's presence, read once
    q.shares.counts(block[1])
    q.corrections.list(block[1])
    assert.same({ 0, {} }, { none_read(function() return q.comments.query { entry = x, status = "approved" } end) })
    assert.same({ 0, 0 }, { none_read(function() return q.comments.count(x) end) })
    local n, counts = none_read(function() return q.comments.counts({ block[2], block[3], x }) end)
    assert.equal(0, n)
    assert.same({ [block[2]] = 0, [block[3]] = 0, [x] = 0 }, counts)
    assert.same({ 0, { total = 0, networks = {} } }, { none_read(function() return q.shares.counts(x) end) })
    assert.same({ 0, {} }, { none_read(function() return q.corrections.list(x) end) })

    -- A comment and a share of x, from another connection: seen, as are x's neighbours' none.
    local other = assert(quire_mod.open(dir))
    local cid = other.comments.create { entry = x, author_name = "Ada", author_email = "ada@example.org", body = "Useful.", status = "approved" }
    other.comments.create { entry = x, author_name = "Bo", author_email = "bo@example.org", body = "Held.", status = "held" }
    assert.is_true(other.shares.record(x, "email", "client-1"))
    other._newsroom.correction_add(x, other.content.revisions(x)[1].id, "The tide was higher.", nil)
    assert.equal(1, #q.comments.query { entry = x, status = "approved" })
    assert.equal(2, #q.comments.query { entry = x })
    assert.equal(1, q.comments.count(x))
    assert.equal(1, q.comments.count(x, "held"))
    assert.same({ [block[2]] = 0, [block[3]] = 0, [x] = 1 }, q.comments.counts({ block[2], block[3], x }))
    assert.same({ [block[2]] = 0, [x] = 1 }, q.comments.counts({ block[2], x }))
    assert.equal(0, q.comments.count(block[1]))
    assert.same({ total = 1, networks = { email = 1 } }, q.shares.counts(x))
    assert.equal(0, q.shares.counts(block[4]).total)
    assert.equal("The tide was higher.", q.corrections.list(x)[1].note)
    assert.same({}, q.corrections.list(block[4]))

    -- Moderated away: none approved again.
    other.comments.set_status(cid, "spam")
    assert.equal(0, #q.comments.query { entry = x, status = "approved" })
    assert.equal(0, q.comments.count(x))
    assert.equal(1, q.comments.count(x, "spam"))
    -- From this connection too.
    q.comments.set_status(cid, "approved")
    assert.equal(1, q.comments.count(x))
    assert.is_true(q.shares.record(x, "email", "client-2"))
    assert.equal(2, q.shares.counts(x).total)
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
