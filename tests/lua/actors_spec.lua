-- Every change records who made it and when: revisions name their actor, and deletes,
-- moderation and term changes go to the audit log.
local testing = require "quire.testing"

local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

describe("actors", function()
  local q, id
  before_each(function()
    q = testing.site { plugins = { "appfix" }, plugin_path = { fixtures } }
    q.users.create { login = "ann", role = "editor" }
    id = q.content.create { type = "article", title = "Tide tables", tags = { "Sea" } }
  end)

  local function audit() return q.store.query("SELECT actor, action, subject, detail FROM audit_log ORDER BY id") end

  it("records the actor and time of each revision", function()
    q.as("ann", function() q.content.update(id, { title = "Tide tables for May" }) end)
    q.content.update(id, { title = "Tide tables for June" })
    local revs = q.content.revisions(id)
    assert.same({ "system", "ann", "system" }, { revs[1].actor, revs[2].actor, revs[3].actor })
    assert.equal(q.users.get("ann").id, revs[2].saved_by)
    assert.is_nil(revs[1].saved_by)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", revs[2].created_at)
  end)

  it("quire.as checks the user, returns fn's results and restores the actor after an error", function()
    local ok, err = pcall(q.as, "ghost", function() end)
    assert.is_false(ok)
    assert.matches("no user ghost", tostring(err))
    assert.equal(42, q.as("ann", function(x) return x end, 42))
    assert.is_false(pcall(q.as, "ann", function() error("stop") end))
    q.content.update(id, { title = "After" })
    assert.equal("system", q.content.revisions(id)[1].actor)
  end)

  it("is not open to plugins", function()
    assert.is_nil(q.plugin_api.as)
  end)

  it("logs deletes, moderation and term changes with their actor", function()
    local c = q.comments.create { entry = id, author_name = "Bo", author_email = "bo@example.org", body = "Useful" }
    q.as("ann", function()
      q.comments.set_status(c, "approved")
      q.terms.rename("tag", "Sea", "Seas")
    end)
    local other = q.content.create { type = "article", title = "Gales", tags = { "Weather" } }
    q.terms.merge("tag", "Weather", "Seas")
    q.as("ann", function() q.content.delete(other) end)
    assert.same({
      { actor = "ann", action = "comment.approved", subject = "comment:" .. c, detail = "" },
      { actor = "ann", action = "tag.renamed", subject = "tag:seas", detail = "Sea -> Seas" },
      { actor = "system", action = "tag.merged", subject = "tag:seas", detail = "Weather -> Seas (1 entries)" },
      { actor = "ann", action = "entry.trashed", subject = "entry:" .. other, detail = "Gales" },
    }, audit())
  end)

  it("records a signed-in user's HTTP writes as theirs, and anyone else's as web", function()
    local token = q.users.open_session(q.users.get("ann").id)
    local form = { ["content-type"] = "application/x-www-form-urlencoded" }
    local res = q:request("POST", "/retitle", { headers = { ["content-type"] = form["content-type"], cookie = "__Host-quire_session=" .. token },
      body = "id=" .. id .. "&title=Tides" })
    assert.equal("retitled by ann", res.body)
    assert.equal("ann", q.content.revisions(id)[1].actor)
    res = q:request("POST", "/retitle", { headers = form, body = "id=" .. id .. "&title=Tides+again" })
    assert.equal("retitled by nobody", res.body)
    assert.equal("web", q.content.revisions(id)[1].actor)
    res = q:request("POST", "/retitle", { headers = { ["content-type"] = form["content-type"], cookie = "__Host-quire_session=00ff" },
      body = "id=" .. id .. "&title=Forged" })
    assert.equal("web", q.content.revisions(id)[1].actor)
    q.content.update(id, { title = "Back in a script" })
    assert.equal("system", q.content.revisions(id)[1].actor) -- the request's actor ends with it
  end)

  it("records scheduled publishing as the job's", function()
    q.content.update(id, { status = "scheduled", published_at = "2001-01-01T00:00:00Z" })
    assert.equal(1, require("quire.jobs").publish_scheduled(q))
    assert.equal("job:publish", q.content.revisions(id)[1].actor)
  end)
end)
