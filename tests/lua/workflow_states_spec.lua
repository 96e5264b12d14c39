-- Custom workflow states: a site's plugin adds states and transitions; only "published" is public.
local testing = require "quire.testing"

local tests_dir = debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or "."
local fixtures = tests_dir .. "/fixtures/plugins"

describe("custom workflow states", function()
  local q, id
  before_each(function()
    q = testing.site { plugins = { "legal" }, plugin_path = { fixtures } }
    q.users.create { login = "amy", role = "author" }
    q.users.create { login = "ed", role = "editor" }
    id = q.content.create { type = "article", title = "Minister sued over harbour deal", author = "amy" }
  end)

  it("lists the built-in states and the plugin's", function()
    assert.same({ "draft", "review", "scheduled", "published", "archived", "legal_review", "embargoed" }, q.workflow.states())
  end)

  it("moves an entry through the plugin's states, recording who did each step", function()
    assert.same({ "send_to_legal" }, q.workflow.available(id, "amy"))
    q.workflow.apply(id, "send_to_legal", "amy")
    assert.equal("legal_review", q.content.get(id).status)
    assert.same({ "clear" }, q.workflow.available(id, "ed"))
    local ok, err = pcall(q.workflow.apply, id, "clear", "ed")
    assert.is_false(ok)
    assert.matches("needs the time its embargo lifts", tostring(err))
    assert.equal("legal_review", q.content.get(id).status)
    q.workflow.apply(id, "clear", "ed", { published_at = "2030-01-01T06:00:00Z" })
    assert.equal("embargoed", q.content.get(id).status)
    q.workflow.apply(id, "lift_embargo", "ed")
    assert.equal("published", q.content.get(id).status)
    local revs = q.content.revisions(id)
    assert.same({ "published", "embargoed", "legal_review", "draft" }, { revs[1].status, revs[2].status, revs[3].status, revs[4].status })
    assert.equal(q.users.get("amy").id, revs[3].saved_by)
  end)

  it("keeps entries in a custom state off the public site", function()
    q = testing.site { plugins = { "theme", "article", "legal" }, plugin_path = { fixtures, tests_dir .. "/../plugins" } }
    id = q.content.create { type = "article", title = "Minister sued over harbour deal", tags = { "Courts" },
      fields = { standfirst = "The deal is in court." } }
    q.content.update(id, { status = "embargoed", published_at = "2020-01-01T00:00:00Z" })
    local e = q.content.get(id)
    assert.equal(404, q:request("GET", q.content.url(e)).status)
    q.content.update(id, { status = "published" })
    assert.equal(200, q:request("GET", q.content.url(e)).status)
  end)

  it("refuses a state no plugin defines, naming the known ones", function()
    local ok, err = pcall(q.content.update, id, { status = "limbo" })
    assert.is_false(ok)
    assert.matches("status: must be one of draft, review, scheduled, published, archived, legal_review, embargoed %(got limbo%)", tostring(err))
    assert.equal("draft", q.content.get(id).status)
  end)

  it("stops a site whose transition goes to an undefined state", function()
    local ok, err = pcall(testing.site, { plugins = { "ghost_state" }, plugin_path = { fixtures } })
    assert.is_false(ok)
    assert.matches("plugin 'ghost_state': transition 'haunt' uses state 'limbo', which no plugin defines", tostring(err))
  end)

  it("refuses a plugin redefining a built-in state", function()
    local registry = q._site.workflow
    local ok, err = pcall(registry.define_state, "other", { name = "published" })
    assert.is_false(ok)
    assert.matches("state 'published' is already defined by quire", tostring(err))
  end)
end)
