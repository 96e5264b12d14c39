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

  it("refuses short passwords and bad logins", function()
    assert.has_error(function() q.users.set_password(id, "short") end)
    assert.has_error(function() q.users.create { login = "Bad Login" } end)
    assert.has_error(function() q.users.create { login = "anna" } end)
  end)
end)
