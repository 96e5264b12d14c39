-- One set of text rules (quire.types TEXT_RULES): a save, the set-based search-replace and a
-- comment refuse the same text with the same message.
local testing = require "quire.testing"
local replace = require "quire.replace"
local types = require "quire.types"

describe("validation rules", function()
  local q
  before_each(function() q = testing.site { limits = { title_max = 40, body_max = 2000 } } end)

  -- Each fixture puts `new` where MARK is in the field of an entry whose title and body are given.
  local FIXTURES = {
    { what = "an over-long title", field = "title", title = "Harbour MARK", new = ("x"):rep(40) },
    { what = "a blank title", field = "title", title = "MARK", new = " \t " },
    { what = "a title that is not UTF-8", field = "title", title = "Harbour MARK", new = "caf\xe9" },
    { what = "a control character in a title", field = "title", title = "Harbour MARK", new = "bell\7" },
    { what = "a vertical tab in a title", field = "title", title = "Harbour MARK", new = "a\vb" },
    { what = "a noncharacter in a title", field = "title", title = "Harbour MARK", new = "\xef\xbf\xbe" },
    { what = "a body that is not UTF-8", field = "body", body = "Body MARK", new = "\xc3(" },
    { what = "an escape character in a body", field = "body", body = "Body MARK", new = "\27[31m" },
    { what = "a noncharacter in a body", field = "body", body = "Body MARK", new = "\xef\xb7\x90" },
    { what = "an over-long body", field = "body", body = "Body MARK", new = ("y"):rep(2000) },
  }

  for _, f in ipairs(FIXTURES) do
    it("refuses " .. f.what .. " in a save and in search-replace, with the same message", function()
      local id = q.content.create { type = "article", title = f.title or "Harbour report", body = f.body or "Body text" }
      local before = q.content.get(id)
      local changed = before[f.field]:gsub("MARK", function() return f.new end)

      local ok, err = pcall(q.content.update, id, { [f.field] = changed })
      assert.is_false(ok)
      assert.equal("invalid", err.kind)
      assert.equal(1, #err.errors)
      assert.equal(f.field, err.errors[1].field)
      local said = f.field .. ": " .. err.errors[1].message

      local rok, rerr = pcall(replace.run, q, { old = "MARK", new = f.new, fields = { f.field } })
      assert.is_false(rok)
      assert.matches("search-replace refused, nothing written", rerr, 1, true)
      assert.matches(("entry %d (article): %s"):format(id, said), rerr, 1, true)
      assert.equal(before[f.field], q.content.get(id)[f.field]) -- nothing written by either
    end)
  end

  it("lets both write a replacement that keeps the text valid", function()
    local a = q.content.create { type = "article", title = "Harbour MARK", body = "Body MARK" }
    local n, entries = replace.run(q, { old = "MARK", new = "\tquay\r\n", fields = { "body" } })
    assert.equal(1, n)
    assert.equal(1, entries)
    assert.equal("Body \tquay\r\n", q.content.get(a).body)
    assert.is_true(q.content.update(a, { body = "Body \tquay\r\n, again" }))
  end)

  it("gives comments the same text rule", function()
    local id = q.content.create { type = "article", title = "Harbour report" }
    local save_err = select(2, pcall(q.content.update, id, { body = "x\1" }))
    local ok, err = pcall(q.comments.create, { entry = id, author_name = "Bo", author_email = "bo@example.org", body = "x\1" })
    assert.is_false(ok)
    assert.same({ field = "body", message = save_err.errors[1].message }, err.errors[1])
    -- a comment body's limit is named after its setting, as an entry's is
    ok, err = pcall(q.comments.create, { entry = id, author_name = "Bo", author_email = "bo@example.org",
      body = ("z"):rep(q._site.limits.comment_max + 1) })
    assert.is_false(ok)
    assert.matches("the limit is %d+ %(limits.comment_max%)", err.errors[1].message)
  end)

  it("gives term names the same rule in a save and in a rename", function()
    local id = q.content.create { type = "article", title = "Harbour report", tags = { "Gulls" } }
    for _, bad in ipairs({ "bad\1", "caf\xe9", ("t"):rep(q._site.limits.term_max + 1) }) do
      local _, save_err = pcall(q.content.update, id, { tags = { bad } })
      local ok, err = pcall(q.terms.rename, "tag", "Gulls", bad)
      assert.is_false(ok)
      assert.matches("the new name " .. save_err.errors[1].message, tostring(err), 1, true)
    end
    assert.is_true(q.terms.rename("tag", "Gulls", "  Terns "))
    assert.same({ "Terns" }, q.content.get(id).tags)
  end)

  it("keeps every text rule's limits among the site's settings", function()
    for kind, rules in pairs(types.TEXT_RULES) do
      for field, rule in pairs(rules) do
        for _, k in ipairs({ "max_chars", "max_bytes" }) do
          local v = rule[k]
          if type(v) == "string" then
            assert.is_number(q._site.limits[v], ("%s.%s.%s names limits.%s"):format(kind, field, k, v))
          end
        end
      end
    end
  end)
end)
