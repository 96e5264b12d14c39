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

  -- A budget of a million instructions or more is counted once the call has run as many
  -- nanoseconds of CPU (core/sandbox.c): calls that end sooner run without the hook.
  describe("of a million instructions or more", function()
    local BIG = 10000000 -- limits.instructions' default: counted after 10 ms
    local function run(src) return core.budget_call("probe", BIG, load(src, "=probe", "t", env)) end

    it("runs a short call without the hook, and a small budget's with it from the start", function()
      assert.same({ true, nil }, { core.budget_call("probe", BIG, debug.gethook) })
      assert.equal("external hook", (select(2, core.budget_call("probe", 100000, debug.gethook))))
      -- inside a big one, a small one is counted from its start, and the big one goes on without
      local ok, inner, after = core.budget_call("probe", BIG, function()
        local _, h = core.budget_call("inner", 100000, debug.gethook)
        return h, debug.gethook()
      end)
      assert.is_true(ok)
      assert.equal("external hook", inner)
      assert.is_nil(after)
      -- a small budget still stops what passes it, however fast
      local ok2, _, kind = core.budget_call("probe", 10000, function() for _ = 1, 50000 do end end)
      assert.is_false(ok2)
      assert.equal("instructions", kind)
    end)

    it("stops a loop", function()
      local ok, msg, kind = run("local n = 0 while true do n = n + 1 end")
      assert.is_false(ok)
      assert.equal("instructions", kind)
      assert.matches("probe exceeded its instruction budget of 10000000 instructions", msg, 1, true)
      assert.is_nil(debug.gethook()) -- and leaves no hook behind
    end)

    it("stops a loop in a coroutine made before the hook was set", function()
      local ok, msg, kind = run([[
        local co = coroutine.create(function() while true do end end)
        local resumed, err = coroutine.resume(co)
        return resumed, err, coroutine.status(co)
      ]])
      assert.is_false(ok)
      assert.equal("instructions", kind)
      assert.matches("instruction budget", msg, 1, true)
    end)

    it("stops a loop in a wrapped coroutine, and in a __close handler run by coroutine.close", function()
      local ok, _, kind = run([[
        local f = coroutine.wrap(function() coroutine.yield(1) while true do end end)
        f()
        return f()
      ]])
      assert.is_false(ok)
      assert.equal("instructions", kind)
      local ok2, _, kind2 = run([[
        local co = coroutine.create(function()
          local guard <close> = setmetatable({}, { __close = function() while true do end end })
          coroutine.yield()
        end)
        coroutine.resume(co)
        return coroutine.close(co)
      ]])
      assert.is_false(ok2)
      assert.equal("instructions", kind2)
    end)

    it("counts a nested call after its own grace, not the (longer) one of the call around it", function()
      -- the request's call has ten times a plugin's budget; the plugin's is counted after 5 ms
      local ok, hooked = core.budget_call("request", 50000000, function()
        local _, h = core.budget_call("plugin", 5000000, function()
          local t0 = os.clock()
          while os.clock() - t0 < 0.02 do end
          return debug.gethook()
        end)
        return h
      end)
      assert.is_true(ok)
      assert.equal("external hook", hooked)
    end)

    it("counts a coroutine made before the hook was set when a small budget resumes it", function()
      local _, co = core.budget_call("probe", BIG, function() return env.coroutine.create(function() while true do end end) end)
      local ok, msg, kind = core.budget_call("probe", 500000, function() return env.coroutine.resume(co) end)
      assert.is_false(ok)
      assert.equal("instructions", kind)
      assert.matches("instruction budget of 500000", msg, 1, true)
    end)

    it("stops a coroutine swallowing memory errors at once, before the hook was set", function()
      local used = core.memory()
      core.memory(used + 32 * 1024 * 1024)
      local tries = 0
      local ok, _, kind = core.budget_call("probe", BIG, function()
        local co = env.coroutine.create(function()
          while true do
            tries = tries + 1
            pcall(string.rep, "x", 64 * 1024 * 1024)
          end
        end)
        return env.coroutine.resume(co)
      end)
      core.memory(0)
      assert.is_false(ok)
      assert.equal("memory", kind)
      assert.is_true(tries <= 2, tries .. " memory errors swallowed")
    end)

    it("gives plugins coroutine.resume, wrap and close as the standard ones", function()
      local ok, a, b, c, d, e, f, g = run([[
        local co = coroutine.create(function(x, y) local z = coroutine.yield(x + y) return z * 2, "done" end)
        local r1 = { coroutine.resume(co, 1, 2) }
        local r2 = { coroutine.resume(co, 10) }
        local r3 = { coroutine.resume(co) }
        local w = coroutine.wrap(function() error("inside") end)
        local werr_ok, werr = pcall(w)
        local w2 = coroutine.wrap(function() error({ code = 7 }) end)
        local _, werr2 = pcall(w2)
        local c2 = coroutine.create(function() coroutine.yield() end)
        coroutine.resume(c2)
        return r1[1] and r1[2], r2[2] .. r2[3], r3[1], r3[2], werr_ok, werr, werr2.code, coroutine.close(c2)
      ]])
      assert.is_true(ok)
      assert.equal(3, a)
      assert.equal("20done", b)
      assert.is_false(c)
      assert.equal("cannot resume dead coroutine", d)
      assert.is_false(e)
      assert.matches("probe:%d+: inside$", f)
      assert.equal(7, g)
    end)
  end)

  -- A filter's pipeline runs in one call into C (core.budget_filter), each handler as
  -- core.budget_call would run it: under its own budget, its failure its own.
  describe("of each handler of a filter's pipeline", function()
    local function spin(n) return function(t) for _ = 1, n do end t.n = (t.n or 0) + 1 return t end end

    it("is its own: two handlers of most of a budget each pass, one past it stops", function()
      local ok, v = core.budget_filter({ "a", spin(60000), "b", spin(60000) }, 100000, {})
      assert.is_true(ok)
      assert.equal(2, v.n)
      local ok2, i, kind, msg = core.budget_filter({ "a", spin(60000), "b", spin(300000), "c", spin(1) }, 100000, {})
      assert.is_false(ok2)
      assert.equal(2, i)
      assert.equal("instructions", kind)
      assert.matches("^b exceeded its instruction budget of 100000 instructions", msg)
      assert.is_nil(debug.gethook())
      -- under a budget counted after its grace, a loop is stopped too, naming its handler
      local ok3, i3, kind3, msg3 = core.budget_filter({ "a", spin(1), "loops", function() while true do end end }, 10000000, {})
      assert.is_false(ok3)
      assert.same({ 2, "instructions" }, { i3, kind3 })
      assert.matches("^loops exceeded its instruction budget of 10000000", msg3)
    end)

    it("passes the value on, with the extra arguments to each, and stops at an error or another type", function()
      local seen = {}
      local function add(label) return function(s, x, y) seen[#seen + 1] = label .. x .. y return s .. label end end
      assert.same({ true, "vab" }, { core.budget_filter({ "a", add("a"), "b", add("b") }, 100000, "v", 1, 2) })
      assert.same({ "a12", "b12" }, seen)
      assert.same({ true, 7 }, { core.budget_filter({}, 100000, 7) })
      local ok, i, kind, msg, err = core.budget_filter({ "a", add("a"), "b", function() error("boom") end }, 100000, "v", 1, 2)
      assert.same({ false, 2, "error" }, { ok, i, kind })
      assert.matches("boom$", msg)
      assert.equal(msg, err)
      local object = { message = "refused" }
      assert.same({ false, 1, "error", object, object }, { core.budget_filter({ "a", function() error(object) end }, 100000, {}) })
      local typed = { core.budget_filter({ "a", function(t) return t end, "b", function() return "text" end }, 100000, {}) }
      assert.same({ false, 2, "type", "string" }, typed)
      assert.same({ false, 1, "type", "nothing" }, { core.budget_filter({ "a", function() end }, 100000, {}) })
      assert.same({ true, 2.5 }, { core.budget_filter({ "a", function(n) return n + 1.5 end }, 100000, 1) }) -- (both numbers)
    end)
  end)
end)
