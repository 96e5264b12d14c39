-- The default workflow: roles, preconditions, refusals that change nothing, who is recorded.
local testing = require "quire.testing"

describe("workflow plugin", function()
  local q, id
  before_each(function()
    q = testing.site { plugins = { "workflow" } }
    q.users.create { login = "cora", role = "contributor" }
    q.users.create { login = "ed", role = "editor" }
    id = q.content.create { type = "article", title = "Harbour fees to rise", author = "cora" }
  end)

  local function refused(fn, pattern)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.matches(pattern, tostring(err))
  end

  it("lets a contributor submit but not publish", function()
    assert.same({ "submit" }, q.workflow.available(id, "cora"))
    q.workflow.apply(id, "submit", "cora")
    assert.equal("review", q.content.get(id).status)
    refused(function() q.workflow.apply(id, "publish", "cora") end, "cora is a contributor; it takes an author")
    assert.equal("review", q.content.get(id).status)
  end)

  it("checks preconditions and says why, changing nothing", function()
    q.workflow.apply(id, "submit", "cora")
    refused(function() q.workflow.apply(id, "publish", "ed") end, "needs a standfirst")
    q.content.update(id, { fields = { standfirst = "By 4% next year." } })
    refused(function() q.workflow.apply(id, "publish", "ed") end, "at least one tag")
    q.content.update(id, { tags = { "Port" } })
    local before = #q.content.revisions(id)
    q.workflow.apply(id, "publish", "ed")
    local e = q.content.get(id)
    assert.equal("published", e.status)
    assert.is_string(e.published_at)
    local rev = q.content.revisions(id)[1]
    assert.equal(before + 1, #q.content.revisions(id))
    assert.equal(q.users.get("ed").id, rev.saved_by) -- who made the change is recorded
  end)

  it("lets an author publish their own entries only", function()
    q.users.create { login = "avi", role = "author" }
    local own = q.content.create { type = "article", title = "Ferry timetable", author = "avi", tags = { "Port" }, fields = { standfirst = "x" } }
    q.content.update(id, { fields = { standfirst = "x" }, tags = { "t" } })
    refused(function() q.workflow.apply(id, "publish", "avi") end, "an author publishes only their own entries")
    assert.equal("draft", q.content.get(id).status)
    q.workflow.apply(own, "publish", "avi")
    assert.equal("published", q.content.get(own).status)
    refused(function() q.workflow.apply(own, "unpublish", "avi") end, "avi is an author; it takes an editor")
  end)

  it("refuses transitions from the wrong state", function()
    refused(function() q.workflow.apply(id, "archive", "ed") end, "it is draft, and archive starts from published")
    refused(function() q.workflow.apply(id, "fly", "ed") end, "no transition 'fly'")
  end)

  it("schedules only into the future, then unpublishes back to draft", function()
    q.content.update(id, { fields = { standfirst = "x" }, tags = { "t" } })
    refused(function() q.workflow.apply(id, "schedule", "ed") end, "publication time in the future")
    q.workflow.apply(id, "schedule", "ed", { published_at = os.time() + 3600 })
    assert.equal("scheduled", q.content.get(id).status)
    q.workflow.apply(id, "unpublish", "ed")
    assert.equal("draft", q.content.get(id).status)
  end)
end)
