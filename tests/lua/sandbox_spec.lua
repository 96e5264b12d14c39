-- Escape and exhaustion attempts by a plugin: each is stopped with a clear error naming the
-- plugin, and none affects the next call or the Lua state.
local testing = require "quire.testing"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

describe("the plugin sandbox", function()
  local q
  setup(function()
    q = testing.site { plugins = { "evil" }, plugin_path = { fixtures },
      limits = { instructions = 200000, lua_memory = 96 * 1024 * 1024 } }
  end)
  teardown(function() require("quire.core").memory(0) end)

  local function attack(name)
    local ok, err = pcall(q.filters.apply, "attack." .. name, {})
    -- the next call is unaffected, and the state still works
    local healthy = q.filters.apply("healthy", {})
    assert.equal(1, healthy.ok)
    assert.equal("OK", healthy.upper)
    return ok, tostring(err)
  end

  local blocked = {
    bytecode_dump = "attempt to call a nil value",
    bytecode_method = "attempt to call a nil value",
    binary_chunk = "attempt to load a binary chunk",
    debug_lib = "attempt to index a nil value %(global 'debug'%)",
    string_metatable = "attempt to index a boolean value",
    string_metatable_set = "bad argument #1 to 'setmetatable'",
    os_exit = "attempt to call a nil value %(field 'exit'%)",
    os_execute = "attempt to call a nil value %(field 'execute'%)",
    os_getenv = "attempt to call a nil value %(field 'getenv'%)",
    io_open = "attempt to index a nil value %(global 'io'%)",
    loadlib = "attempt to index a nil value %(global 'package'%)",
    require_io = "attempt to call a nil value %(global 'require'%)",
    dofile = "attempt to call a nil value %(global 'dofile'%)",
    loadfile = "attempt to call a nil value %(global 'loadfile'%)",
    collectgarbage = "attempt to call a nil value %(global 'collectgarbage'%)",
    rawset_api = "attempt to call a nil value %(global 'rawset'%)",
    write_api = "quire.content is read%-only",
    write_quire = "quire is read%-only",
    api_metatable = "attempt to index a boolean value",
    hidden_db = "attempt to index a nil value %(field '_db'%)",
    raw_sql = "attempt to call a nil value %(field 'query'%)",
    global_escape = "attempt to index a nil value %(field 'io'%)",
    infinite_loop = "plugin 'evil' %(filter 'attack.infinite_loop'%) exceeded its instruction budget of 200000",
    loop_with_pcall = "exceeded its instruction budget",
    loop_catching_errors = "exceeded its instruction budget",
    coroutine_loop = "exceeded its instruction budget",
    coroutine_resume_loop = "exceeded its instruction budget",
    load_text_loop = "exceeded its instruction budget",
    string_rep_huge = "resulting string too large",
    string_rep_cap = "memory cap of 96 MiB",
    table_bomb = "memory cap of 96 MiB",
    memory_in_pcall = "memory cap of 96 MiB",
    deep_recursion = "stack overflow|instruction budget", -- whichever limit comes first
    looping_tostring = "error object is a table value",
    throwing_tostring = "error object is a table value",
    tostring_loop_in_format = "exceeded its instruction budget",
    wrong_type = "plugin 'evil': filter 'attack.wrong_type' returned a string, expected table",
    returns_nothing = "filter 'attack.returns_nothing' returned nothing, expected table",
    yield_out = "attempt to yield from outside a coroutine",
    gc_finalizer = "plugins cannot set __gc metamethods",
  }

  -- err matches one of pattern's "|"-separated alternatives.
  local function assert_one_of(name, err, pattern)
    local matched = false
    for alternative in pattern:gmatch("[^|]+") do matched = matched or err:match(alternative) ~= nil end
    assert.is_true(matched, ("%s: %q does not match %q"):format(name, err, pattern))
  end

  for name, pattern in pairs(blocked) do
    it("blocks " .. name, function()
      local ok, err = attack(name)
      assert.is_false(ok, name .. " was not blocked")
      assert_one_of(name, err, pattern)
      assert.matches("evil", err) -- every error names the plugin
    end)
  end

  it("has at least 30 attempts", function()
    local n = 0
    for _ in pairs(blocked) do n = n + 1 end
    assert.is_true(n >= 30)
  end)

  it("leaves the store usable after a budget trips inside a transaction", function()
    assert.has_error(function()
      q.store.transaction(function()
        q.content.create { type = "article", title = "Rolled back" }
        q.filters.apply("attack.infinite_loop", {})
      end)
    end)
    assert.equal(0, #q.content.query {})
    q.content.create { type = "article", title = "Works" }
    assert.equal(1, #q.content.query {})
  end)

  it("never calls a plugin's metamethods outside its budget", function()
    local ok, err = pcall(q.content.create, { type = "article", title = "veto me" })
    assert.is_false(ok)
    assert.matches("plugin 'evil' refused the save: refused", tostring(err))
    local r = q:request("GET", "/trap")
    assert.equal(500, r.status)
    assert.equal(1, q.filters.apply("healthy", {}).ok)
  end)

  -- Last: it breaks the plugin's own string library on purpose.
  it("keeps a plugin's changes to its libraries away from the core", function()
    q.filters.apply("attack.poison_string_lib", {})
    assert.equal("X", string.upper("x"))
    assert.equal("X", ("x"):upper())
    assert.equal(1, #q.content.query {}) -- the core's own Lua still works
  end)

  -- The same attempts under limits.instructions' default, which is counted only once a call has
  -- run 10 ms of CPU (core/sandbox.c): the hook set late must still reach every one of them.
  describe("with the default budget, counted after its grace", function()
    local big
    setup(function()
      big = testing.site { plugins = { "evil" }, plugin_path = { fixtures },
        limits = { instructions = 10000000, lua_memory = 96 * 1024 * 1024 } }
    end)
    for name, pattern in pairs(blocked) do
      if pattern:find("budget", 1, true) or pattern:find("memory cap", 1, true) then
        it("stops " .. name, function()
          local ok, err = pcall(big.filters.apply, "attack." .. name, {})
          assert.is_false(ok, name .. " was not stopped")
          assert_one_of(name, tostring(err), (pattern:gsub("200000", "10000000")))
          assert.equal(1, big.filters.apply("healthy", {}).ok)
        end)
      end
    end
  end)
end)

