-- quire.text.join: what table.concat gives for a list of strings, made in one piece.
local testing = require "quire.testing"
local core = require "quire.core"

describe("quire.text.join", function()
  it("gives table.concat's bytes for lists of strings, with or without a separator", function()
    local q = testing.site {}
    assert.equal(core.join, q.text.join)
    local big = {}
    for i = 1, 300 do big[i] = string.rep(string.char(i % 256), i * 37) end -- (~1.7 MB, grown past any first guess)
    local lists = { {}, { "" }, { "a" }, { "a", "", "b\0c" }, { "<p>", "x", "</p>" }, big }
    for _, list in ipairs(lists) do
      assert.equal(table.concat(list), q.text.join(list))
      assert.equal(table.concat(list, ","), q.text.join(list, ","))
      assert.equal(table.concat(list, "\0--\0"), q.text.join(list, "\0--\0"))
    end
  end)

  it("refuses anything but a list of strings", function()
    local q = testing.site {}
    assert.has_error(function() q.text.join({ "a", 1 }) end, "join: item 2 is not a string")
    assert.has_error(function() q.text.join({ "a", {} }) end)
    assert.has_error(function() q.text.join("a") end)
  end)
end)
