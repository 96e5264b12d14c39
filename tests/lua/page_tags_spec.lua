-- core.tag_string (a page's cache tags as one string, made in C) against what the Lua made it
-- with, and core.fnv1a (which export worker takes an address) against the Lua FNV-1a.
local testing = require "quire.testing"
local core = require "quire.core"

-- What app.request made the tags with before core.tag_string.
local function lua_tags(set, extra)
  local tags = {}
  for t in pairs(set) do tags[#tags + 1] = t end
  if extra and tags[1] then tags[#tags + 1] = extra end
  table.sort(tags)
  return table.concat(tags, " ")
end

local function lua_fnv(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

describe("core.tag_string", function()
  it("gives the keys sorted in Lua's string order and joined, with extra when there is any", function()
    local sets = { {}, { a = true }, { ["entry:10"] = true, ["entry:9"] = true, ["teaser:1"] = true, ["list:all"] = true },
      { ["b\0a"] = true, b = true, ["b\0"] = true, ["a\0b"] = true, [""] = true }, { redirects = true, x = true } }
    local many = {}
    for i = 1, 3000 do many[(i % 3 == 0 and "entry:" or "teaser:") .. (i * 7919 % 10007)] = true end
    sets[#sets + 1] = many
    for _, set in ipairs(sets) do
      assert.equal(lua_tags(set), core.tag_string(set))
      assert.equal(lua_tags(set, "redirects"), core.tag_string(set, "redirects"))
    end
    assert.equal("", core.tag_string({}, "redirects"))
  end)

  it("gives nil for a key that is not a string (the Lua then raises as before)", function()
    assert.is_nil(core.tag_string({ a = true, [1] = true }))
    assert.is_nil(core.tag_string({ [2.5] = true }, "redirects"))
  end)

  it("gives a page's tags as the request returns them", function()
    local q = testing.site { plugins = { "theme", "article", "listings", "feeds" } }
    local id = q.content.create { type = "article", title = "Tagged", body = "x", status = "published", tags = { "b", "a" } }
    local e = q.content.get(id)
    local r = q:request("GET", q.content.url(e))
    assert.equal(200, r.status)
    local set = {}
    for t in r.tags:gmatch("%S+") do set[t] = true end
    assert.is_true(set.redirects and set["entry:" .. id])
    assert.equal(lua_tags(set), r.tags)
  end)
end)

describe("core.fnv1a", function()
  it("gives the 32-bit FNV-1a of any bytes", function()
    local samples = { "", "/", "/2026/11/harbour-bridge", "\0\255\128", ("x"):rep(5000), "/tag/ünï/feed.xml" }
    for i = 1, 500 do
      local t = {}
      for j = 1, i % 64 do t[j] = string.char((i * 31 + j * 17) % 256) end
      samples[#samples + 1] = table.concat(t)
    end
    for _, s in ipairs(samples) do assert.equal(lua_fnv(s), core.fnv1a(s)) end
  end)
end)
