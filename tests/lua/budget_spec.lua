-- The instruction budget reaches code the hook used to miss: a message handler run for a budget
-- error (it ran with hooks off), and a coroutine that was once resumed outside any budget.
local core = require "quire.core"
local sandbox = require "quire.sandbox"

describe("the instruction budget", function()
  local env = sandbox.env("probe", {}, {})

  it("is not outlived by a looping message handler", function()
    local ok, msg, kind = core.budget_call("probe", 100000, function()
      return env.xpcall(function() while true do end end, function() while true do end end)
    end)
    assert.is_false(ok)
    assert.equal("instructions", kind)
    assert.matches("probe exceeded its instruction budget of 100000", msg, 1, true)
  end)

  it("runs a handler for the plugin's own errors, under the budget", function()
    local ok, msg, kind = core.budget_call("probe", 100000, function()
      return env.xpcall(function() error("x", 0) end, function() while true do end end)
    end)
    assert.is_false(ok)
    assert.equal("instructions", kind)
    local ok2, a, b = core.budget_call("probe", 100000, function()
      return env.xpcall(function() error("x", 0) end, function(m) return "handled " .. m end)
    end)
    assert.is_true(ok2)
    assert.is_false(a)
    assert.equal("handled x", b)
  end)

  it("counts a coroutine resumed outside a budget and then inside one again", function()
    local _, co = core.budget_call("probe", 100000, function()
      return coroutine.create(function()
        coroutine.yield("first")
        while true do end
      end)
    end)
    assert.equal("first", select(2, coroutine.resume(co))) -- outside any budget
    local ok, msg, kind = core.budget_call("probe", 100000, function() return coroutine.resume(co) end)
    -- resume returns false and the budget error inside; the call itself then trips again
    assert.is_false(ok)
    assert.equal("instructions", kind)
    assert.matches("instruction budget", msg, 1, true)
  end)
end)
