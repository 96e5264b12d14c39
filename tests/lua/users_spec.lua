-- Staff accounts: argon2id password hashes and authentication.
local testing = require "quire.testing"

describe("quire.users", function()
  local q, id
  setup(function()
    q = testing.site()
    id = q.users.create { login = "anna", name = "Anna", role = "editor" }
    q.users.set_password(id, "correct horse battery")
  end)

  it("stores an argon2id hash, never the password", function()
    local row = q.store.query("SELECT password_hash FROM users WHERE id = ?", id)[1]
    assert.matches("^%$argon2id%$v=19%$m=65536,t=3,p=1%$", row.password_hash)
    assert.is_nil(row.password_hash:find("correct horse", 1, true))
    assert.is_nil(q.users.get(id).password_hash) -- not part of the public user record
  end)

  it("authenticates the right password only", function()
    assert.equal("anna", q.users.authenticate("anna", "correct horse battery").login)
    assert.is_nil(q.users.authenticate("anna", "correct horse batterY"))
    assert.is_nil(q.users.authenticate("nobody", "correct horse battery"))
    assert.is_nil(q.users.authenticate("anna", nil))
  end)

  it("gives an author as pages show them, and the new name after a write to the user", function()
    local site = q._site
    local a = q.users.author(id)
    assert.same({ name = "Anna", url = "/author/anna" }, a) -- no bio given, and never the email
    a.name = "changed by a caller"
    assert.equal("Anna", q.users.author(id).name) -- each caller gets its own copy
    assert.is_nil(q.users.author(999999))
    -- A value built from it (a list's cards) goes with it.
    local function outer() return site.memo.tagged("spec\0outer", "spec:outer", function() return q.users.author(id).name end) end
    assert.equal("Anna", outer())
    site.transaction(function()
      site.db:exec("UPDATE users SET display_name = ?, bio = ? WHERE id = ?", "Anna Berg", "Desk editor.", id)
      site.bump({ ["user:" .. id] = true })
    end)
    assert.same({ name = "Anna Berg", bio = "Desk editor.", url = "/author/anna" }, q.users.author(id))
    assert.equal("Anna Berg", outer())
    -- A write from outside quire, naming no tag: seen too.
    site.db:exec("UPDATE users SET display_name = ? WHERE id = ?", "Anna C. Berg", id)
    assert.equal("Anna C. Berg", q.users.author(id).name)
    assert.equal("Anna C. Berg", outer())
    site.transaction(function()
      site.db:exec("UPDATE users SET display_name = ?, bio = NULL WHERE id = ?", "Anna", id)
      site.bump({ ["user:" .. id] = true })
    end)
  end)

  it("refuses short passwords and bad logins", function()
    assert.has_error(function() q.users.set_password(id, "short") end)
    assert.has_error(function() q.users.create { login = "Bad Login" } end)
    assert.has_error(function() q.users.create { login = "anna" } end)
  end)
end)
