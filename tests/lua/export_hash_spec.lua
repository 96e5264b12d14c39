-- core.xxh128: the content hash a static export keeps per file (lua/quire/static_export.lua),
-- with byte ranges (the comment form's token) left out without copying the page.
local core = require "quire.core"

describe("core.xxh128", function()
  it("is XXH3-128 in hex (the reference value of the empty string)", function()
    assert.equal("99aa06d3014798d86001c324468d497f", core.xxh128(""))
    assert.equal(32, #core.xxh128(("x"):rep(100000)))
    assert.are_not.equal(core.xxh128("a page"), core.xxh128("a pagf"))
  end)

  it("hashes the data less the ranges given as if they were cut out", function()
    local page = '<form><input name="token" value="T1-123"><p>x</p><input name="token" value="T2"></form>'
    local a1 = page:find("T1-123", 1, true)
    local a2 = page:find("T2", 1, true)
    local cut = page:sub(1, a1 - 1) .. page:sub(a1 + 6, a2 - 1) .. page:sub(a2 + 2)
    assert.equal(core.xxh128(cut), core.xxh128(page, { a1, a1 + 5, a2, a2 + 1 }))
    -- another token value, the same hash
    local other = page:gsub("T1%-123", "T9-999")
    assert.equal(core.xxh128(page, { a1, a1 + 5, a2, a2 + 1 }), core.xxh128(other, { a1, a1 + 5, a2, a2 + 1 }))
    -- an empty range (first = last + 1), and ranges at both ends
    assert.equal(core.xxh128(page), core.xxh128(page, { 5, 4 }))
    assert.equal(core.xxh128(page:sub(2, -2)), core.xxh128(page, { 1, 1, #page, #page }))
    assert.equal(core.xxh128(""), core.xxh128(page, { 1, #page }))
    assert.equal(core.xxh128(page), core.xxh128(page, {}))
  end)

  it("refuses ranges out of the data, out of order, overlapping, odd or too many", function()
    local s = "0123456789"
    for _, bad in ipairs({ { 0, 3 }, { 3, 11 }, { 5, 6, 2, 3 }, { 2, 5, 4, 6 }, { 1 }, { 3, 1 }, { "a", 2 } }) do
      local ok, err = pcall(core.xxh128, s, bad)
      assert.is_false(ok)
      assert.matches("bad argument #2", err)
    end
    local many = {}
    for i = 1, 65 do many[#many + 1] = i; many[#many + 1] = i - 1 end
    local ok, err = pcall(core.xxh128, ("x"):rep(100), many)
    assert.is_false(ok)
    assert.matches("at most 64 ranges", err)
  end)
end)
