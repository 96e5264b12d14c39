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

end)
