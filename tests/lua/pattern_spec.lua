-- Lua patterns under a step budget (core/pattern.c): the standard library's results for normal
-- use, checked against it on fixed and generated cases, and a clear error, quickly, for
-- patterns that backtrack without end, in plugins, in scripts and in the core.
local core = require "quire.core"
local testing = require "quire.testing"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"
local stock = core.stock_patterns

-- Everything a call gives back, as one comparable string; gmatch is run to its end.
local function outcome(lib, fname, ...)
  local function pack(ok, ...)
    local t = { tostring(ok) }
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      t[#t + 1] = math.type(v) and ("#" .. tostring(v)) or tostring(v)
    end
    -- How Lua names the function in "bad argument" depends on where it was found, not on us.
    return (table.concat(t, "\0"):gsub("bad argument (#%d+) to '[^']*'", "bad argument %1"))
  end
  if fname == "gmatch" then
    local args = table.pack(...)
    return pack(pcall(function()
      local out = {}
      for a, b, c in lib.gmatch(table.unpack(args, 1, args.n)) do
        out[#out + 1] = tostring(a) .. "," .. tostring(b) .. "," .. tostring(c)
        if #out > 100 then break end
      end
      return table.concat(out, ";")
    end))
  end
  return pack(pcall(lib[fname], ...))
end

local function same(fname, ...)
  local want, got = outcome(stock, fname, ...), outcome(string, fname, ...)
  if want ~= got then
    local args = {}
    for i = 1, select("#", ...) do args[i] = ("%q"):format(tostring((select(i, ...)))) end
    error(("%s(%s):\n  standard: %s\n  ours:     %s"):format(fname, table.concat(args, ", "),
      want:gsub("%z", " | "), got:gsub("%z", " | ")), 2)
  end
end

local function repl_fn(...)
  local t = {}
  for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
  return #t % 3 == 0 and false or "<" .. table.concat(t, "|") .. ">"
end
local repl_table = { a = "A", ab = 1, b = false, ["("] = "[" }

describe("bounded Lua patterns", function()
  it("replaced the string library's matching functions (methods too)", function()
    assert.is_table(stock)
    for _, f in ipairs { "find", "match", "gmatch", "gsub" } do
      assert.are_not.equal(stock[f], string[f])
      assert.equal(string[f], ("")[f])
    end
  end)

  it("answers as the standard library on fixed cases", function()
    local cases = {
      { "hello world", "o w" }, { "hello world", "(o)%s(w)" }, { "key=val; a=b", "(%w+)=(%w+)" },
      { "abc", "" }, { "", "" }, { "abc", "^" }, { "abc", "$" }, { "a$b", "$b" }, { "a^b", "a^" },
      { "  trim me  ", "^%s*(.-)%s*$" }, { "f(a(b)c)d", "%b()" }, { "f(a(b)c", "%b()" },
      { "THE (quick) fox", "%f[%a]%a+" }, { "hello", "()ll()" }, { "abcabc", "(abc)%1" },
      { "x = [[a]] y", "%[(=*)%[(.-)%]%1%]" }, { "a]b", "[]]" }, { "a-b", "[a-]" }, { "a-b", "[%-]" },
      { "abc123", "[^%d]+" }, { "2024-01-31", "(%d+)-(%d+)-(%d+)" }, { "a.b", "%." }, { "a+b", "a+b" },
      { "aaa", "a-" }, { "aaa", "a-$" }, { "aaab", "a*b" }, { "b", "a?b" }, { "ab", "a?b" }, { "\0a\0", "%z" },
      { "\0a\0", "[%z]" }, { "a\0b", "a%zb" }, { "ÄÖü", "[\128-\255]+" }, { "x", "[a-" }, { "x", "%" },
      { "x", "(x" }, { "x", "x)" }, { "x", "%1" }, { "x", "%b" }, { "x", "%bx" }, { "x", "%f" }, { "x", "%fx" },
      { "a,b,,c", "([^,]*)" }, { "one two  three", "%S+" }, { "CamelCaseWord", "%u%l+" }, { "tab\there", "%c" },
      { "/path/to/file.lua", "([^/]+)%.(%w+)$" }, { "a", "((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))" },
      { "a", "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))" },
    }
    for _, c in ipairs(cases) do
      for _, init in ipairs { 1, 2, 0, -1, -3, 100 } do
        same("find", c[1], c[2], init)
        same("match", c[1], c[2], init)
        same("gmatch", c[1], c[2], init)
      end
      same("find", c[1], c[2], 1, true)
      same("gmatch", c[1], c[2])
      for _, r in ipairs { "%0", "[%1]", "%%", "%2", "%", "x%y", 7 } do same("gsub", c[1], c[2], r) end
      same("gsub", c[1], c[2], repl_fn)
      same("gsub", c[1], c[2], repl_table)
      same("gsub", c[1], c[2], "-", 1)
      same("gsub", c[1], c[2], "-", 0)
    end
    same("gsub", "abc", "%w", true)
    same("gsub", "abc", "%w", { a = true })
    same("find", 12345, 3)
    same("gsub", 12345, 3, 9)
  end)

  it("answers as the standard library on 20,000 generated patterns", function()
    local pieces = { "a", "b", "(", ")", "()", ".", "%a", "%d", "%s", "%W", "[ab]", "[^a]", "[%d)]", "*", "+", "-",
      "?", "^", "$", "%1", "%2", "%b()", "%f[%w]", "%f[%W]", "%", "[", "]", "%(", "x" }
    local letters = { "a", "b", "a", "(", ")", " ", "1", "x", "aa", "ab" }
    local rnd = testing.lcg(20261204)
    for _ = 1, 20000 do
      local p, s = {}, {}
      for i = 1, rnd(6) do p[i] = pieces[rnd(#pieces)] end
      for i = 1, rnd(8) - 1 do s[i] = letters[rnd(#letters)] end
      p, s = table.concat(p), table.concat(s)
      local f = rnd(4)
      if f == 1 then same("find", s, p, rnd(4) - 2)
      elseif f == 2 then same("match", s, p)
      elseif f == 3 then same("gmatch", s, p)
      else same("gsub", s, p, rnd(2) == 1 and "<%0>" or repl_fn) end
    end
  end)

  -- A search skips the bytes that cannot start a match (its first item's): longer subjects, where
  -- most places are skipped, and patterns whose start is zero-width, optional or malformed.
  it("answers as the standard library where a search skips to the places a match can start", function()
    local pieces = { "a", "b", "(", ")", "()", ".", "%a", "%d", "%s", "%W", "[ab]", "[^a]", "[%d)]", "*", "+", "-",
      "?", "^", "$", "%1", "%b()", "%f[%w]", "%", "[", "]", "%(", "x", "%bab", "[x-z]" }
    local letters = { "a", "b", "(", ")", " ", "1", "x", "y", "q", "qq", "\0", "\n", "ab" }
    local rnd = testing.lcg(20261207)
    for _ = 1, 8000 do
      local p, s = {}, {}
      for i = 1, rnd(4) do p[i] = pieces[rnd(#pieces)] end
      for i = 1, 20 + rnd(80) do s[i] = letters[rnd(#letters)] end
      p, s = table.concat(p), table.concat(s)
      local f = rnd(4)
      if f == 1 then same("find", s, p, rnd(30) - 5)
      elseif f == 2 then same("match", s, p, rnd(30))
      elseif f == 3 then same("gmatch", s, p)
      else same("gsub", s, p, rnd(2) == 1 and "<%0>" or repl_fn, rnd(3) == 1 and rnd(3) or nil) end
    end
  end)

  it("answers as the standard library on long subjects (where sets are kept as bitmaps)", function()
    local alphabet = "ab<>&\"' _-]^%0129Zz\n\t\0\200\255"
    local rnd, chars = testing.lcg(7), {}
    for i = 1, 3000 do
      local k = rnd(#alphabet)
      chars[i] = alphabet:sub(k, k)
    end
    local s = table.concat(chars)
    for _, p in ipairs { "[<>&\"']", "[^%w%s]", "[%a_][%w_]*", "[]%-a]", "[^]]+", "[a-c%d]+", "%f[%w]%w+",
        "[%z\200-\255]", "[^%c]-[%p]", "([ab])[^ab]*%1" } do
      same("gsub", s, p, "<%0>")
      same("gsub", s, p, repl_fn)
      same("gmatch", s, p)
      same("find", s, p, 1500)
    end
  end)

  it("finds plain text as the standard library, and in linear time whatever the needle", function()
    local letters = { "a", "b", "`", "]", ":", "\0", "ab", "``" }
    local rnd = testing.lcg(20261205)
    for _ = 1, 20000 do
      local p, s = {}, {}
      for i = 1, rnd(4) do p[i] = letters[rnd(#letters)] end
      for i = 1, rnd(40) - 1 do s[i] = letters[rnd(#letters)] end
      same("find", table.concat(s), table.concat(p), rnd(6) - 3, true)
    end
    -- A needle whose first byte is everywhere and which is never found: memmem takes over.
    local t = os.clock()
    assert.is_nil(("a"):rep(1000000):find(("a"):rep(5000) .. "b", 1, true))
    assert.equal(995001, (("a"):rep(1000000) .. "b"):find(("a"):rep(5000) .. "b", 1, true))
    assert.is_true(os.clock() - t < 1)
  end)

  it("stops a pattern that backtracks without end with an error naming the limit", function()
    local ok, err = pcall(string.find, string.rep("a", 2000), ".-.-.-.-b")
    assert.is_false(ok)
    assert.matches("string.find: the pattern '.-.-.-.-b' exceeded the pattern step limit", err, 1, true)
    assert.matches("limits.pattern_steps", err, 1, true)
    -- A script's own code gets it with its line.
    ok, err = pcall(function() return ("x" .. (" "):rep(100000) .. "x"):match("^%s*(.-)%s*$") end)
    assert.is_false(ok)
    assert.matches("pattern_spec.lua:%d+: string.match: the pattern '%^%%s%*%(%.%-%)%%s%*%$' exceeded", err)
  end)

  it("takes its limit from limits.pattern_steps, plus 100 steps per byte of the subject", function()
    local s = ("a"):rep(300) -- ".-.-b" on it takes about 4.5 million steps
    assert.has_error(function() s:find(".-.-b") end)
    core.pattern_steps(100000000)
    assert.is_nil(s:find(".-.-b"))
    core.pattern_steps(1000000)
    assert.has_error(function() s:find(".-.-b") end)
    assert.is_nil(("a"):rep(100000):find("[xyz]")) -- linear work on a long subject is fine
    assert.is_nil(("a"):rep(100000):find("^a*b"))
    assert.equal(50000, #(("a "):rep(50000):gsub("%s+", "")))
  end)

  describe("in a plugin", function()
    local q
    setup(function()
      q = testing.site { plugins = { "hostile" }, plugin_path = { fixtures }, limits = { instructions = 20000000 } }
    end)

    local function attack(name)
      local ok, err = pcall(q.filters.apply, "hostile." .. name, {})
      assert.equal("ok", q:request("GET", "/ok").body) -- the state still serves
      return ok, tostring(err)
    end

    for _, name in ipairs { "pattern", "trim", "gsub", "gmatch" } do
      it("stops " .. name .. " with the pattern limit", function()
        local ok, err = attack(name)
        assert.is_false(ok)
        assert.matches("plugin 'hostile' (filter 'hostile." .. name .. "')", err, 1, true)
        assert.matches("exceeded the pattern step limit", err, 1, true)
      end)
    end

    it("counts pattern steps against the instruction budget (many matches each under the limit)", function()
      local ok, err = attack("many")
      assert.is_false(ok)
      assert.matches("exceeded its instruction budget of 20000000 instructions", err, 1, true)
    end)

    it("counts the bytes a search skips against the instruction budget", function()
      local ok, err = attack("skip")
      assert.is_false(ok)
      assert.matches("exceeded its instruction budget of 20000000 instructions", err, 1, true)
      local done = tonumber(q.filters.apply("hostile.searches", {}).result)
      assert.is_true(done < 1000, ("%d searches of 100,000 bytes ran within the budget"):format(done))
    end)

    for _, name in ipairs { "handler", "budget_handler", "nested_handler" } do
      it("ends a call whose message handler loops (" .. name .. ")", function()
        local ok, err = attack(name)
        assert.is_false(ok)
        assert.matches("plugin 'hostile' (filter 'hostile." .. name .. "') exceeded its instruction budget", err, 1, true)
      end)
    end

    it("answers 500 to a request that attacks, and the next one normally", function()
      assert.equal(500, q:request("GET", "/attack/pattern").status)
      assert.equal(500, q:request("GET", "/attack/handler").status)
      assert.equal(200, q:request("GET", "/ok").status)
    end)

    it("keeps a message handler working when the error is the plugin's own", function()
      local env = require("quire.sandbox").env("probe", {}, {})
      local ok, msg = env.xpcall(function() error("mine", 0) end, function(m) return "handled " .. m end)
      assert.is_false(ok)
      assert.equal("handled mine", msg)
    end)
  end)
end)
