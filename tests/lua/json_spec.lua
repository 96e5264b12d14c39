-- quire.json: the same data gives the same bytes in every process, whatever Lua's table order.
local json = require "quire.json"

describe("quire.json", function()
  it("writes object keys in sorted order, at every depth", function()
    local v = { zeta = 1, alpha = { delta = true, beta = "x" }, mid = { 3, 2, 1 } }
    assert.equal('{"alpha":{"beta":"x","delta":true},"mid":[3,2,1],"zeta":1}', json.encode(v))
  end)

  it("keeps what cjson does for empty tables, arrays, null and escapes", function()
    assert.equal("{}", json.encode {})
    assert.equal("[]", json.encode(setmetatable({}, json.array_mt)))
    assert.equal('{"a":null,"b":"<\\/script>\\"\\u0000"}', json.encode { a = json.null, b = '</script>"\0' })
    assert.same({ a = { 1, 2 } }, json.decode(json.encode { a = { 1, 2 } }))
  end)

  it("writes a table with number and text keys as an object, numbers as text", function()
    assert.equal('{"1":"one","x":"ex"}', json.encode { [1] = "one", x = "ex" })
  end)

  -- Strings are scanned 16 bytes at a time for what they escape (core/lua_content.c jplain_run):
  -- each such byte, and its neighbours that are not, at every place in and across those blocks.
  it("escapes every byte cjson escapes wherever it stands in a run of plain text", function()
    local cjson = require "cjson"
    for _, c in ipairs({ "\0", "\1", "\b", "\t", "\n", "\x1f", " ", '"', "\\", "/", "\x7f", "\x80", "\xff", "a", "~" }) do
      for at = 1, 40 do
        local s = string.rep("x", at - 1) .. c .. string.rep("y", 40 - at)
        assert.equal(cjson.encode(s), json.encode(s))
        assert.equal(cjson.encode(s .. c .. s), json.encode(s .. c .. s))
      end
    end
  end)

  -- The encoder is a C walk (core/lua_content.c) of what the Lua one (its fourth upvalue) wrote:
  -- the same bytes for every kind of value, and the same errors.
  it("writes byte for byte what its Lua walk wrote", function()
    local _, lua_walk = debug.getupvalue(json.encode, 4)
    assert.is_function(lua_walk)
    local bytes = {}
    for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
    local proxy = setmetatable({}, { __index = { shown = "through __index" }, __pairs = function(t)
      return next, { shown = "through __pairs" }, nil
    end })
    local values = {
      "", "plain", table.concat(bytes), string.rep(table.concat(bytes), 40), string.rep("</p>", 3000), "caf\u{e9} \u{1f600} </p>\r\n\t\b\f\\\"", "a\0b",
      0, 1, -1, 42, 99999999999999, -99999999999999, 100000000000000, math.maxinteger, math.mininteger,
      1.5, -0.0, 0.1, 1e300, 3.14159265358979, 2 ^ 53, true, false, json.null,
      {}, setmetatable({}, json.array_mt), { 1, 2, 3 }, { "a", { "b", { "c" } } }, { [1] = "one", [3] = "three" },
      { [1] = "one", x = "ex" }, { [1] = "one", ["1"] = "text one" }, { [2.5] = "half", [-1] = "minus" },
      { [true] = "yes", b = 2, a = 1, ["\0k"] = "nul", ["k\0"] = "nul after", B = 3, ["\xff"] = "high", [""] = "empty" },
      { list = setmetatable({ 1, 2 }, json.array_mt), obj = { z = { y = { x = { 1, json.null, false } } } } },
      { proxy = proxy, n = 1 },
    }
    local deep = {}
    for _ = 1, 200 do deep = { deep } end
    values[#values + 1] = deep
    for i, v in ipairs(values) do
      assert.equal(lua_walk(v), json.encode(v), "value " .. i)
    end
    local wide = {}
    for i = 1, 5000 do wide["key" .. i] = { i, tostring(i), i % 2 == 0 } end
    assert.equal(lua_walk(wide), json.encode(wide))
    for _, bad in ipairs({ 0 / 0, math.huge, print, { f = print }, { n = -math.huge } }) do
      local ok_lua, err_lua = pcall(lua_walk, bad)
      local ok_c, err_c = pcall(json.encode, bad)
      assert.is_false(ok_lua)
      assert.is_false(ok_c)
      assert.equal(tostring(err_lua):gsub("^.-:%d+: ", ""), tostring(err_c):gsub("^.-:%d+: ", ""))
    end
    local cycle = {}
    cycle.self = cycle
    local ok, err = pcall(json.encode, cycle)
    assert.is_false(ok)
    assert.matches("nested deeper than 1000", err)
  end)
end)
