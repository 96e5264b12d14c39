-- Sponsor slots: areas, labels, rel attributes, unsafe links, slots filled from Lua.
local testing = require "quire.testing"
local find = testing.find
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]+$")

local SLOTS = {
  { area = "sidebar", name = "Tidewater Books", url = "https://books.example", text = "Charts & maps." },
  { area = "after_article", name = "Harbour Ferries", url = "https://ferries.example", image = "/static/ferry.png", alt = "A ferry" },
  { area = "in_feed", name = "Coastal Rail", url = "https://rail.example" },
  { area = "sidebar", name = "Bad link", url = "javascript:alert(1)" },
}

local function site(extra_plugins, settings)
  local plugins = { "theme", "article", "listings", "sponsor" }
  for _, p in ipairs(extra_plugins or {}) do plugins[#plugins + 1] = p end
  local q = testing.site { plugins = plugins, plugin_path = { here .. "/fixtures", (os.getenv("PWD") or ".") .. "/plugins" },
    settings = { sponsor = settings or { slots = SLOTS, in_feed_position = 2 } } }
  for i = 1, 4 do
    q.content.create { type = "article", title = "Story " .. i, status = "published", published_at = ("2026-01-0%dT08:00:00Z"):format(i), body = "x" }
  end
  return q
end

describe("sponsor plugin", function()
  it("fills the sidebar on every page, labelled Sponsored, with rel=sponsored links", function()
    local q = site()
    local html = q:request("GET", "/2026/01/story-1").body
    local sidebar = find(html, "aside.sidebar")[1].html
    local slot = find(sidebar, "aside.sponsor")
    assert.equal(1, #slot) -- the javascript: link was dropped
    assert.equal("Sponsored", find(slot[1].html, "p.sponsor-label")[1].text)
    local a = find(slot[1].html, "a")[1]
    assert.equal("https://books.example", a.attrs.href)
    assert.equal("sponsored noopener", a.attrs.rel)
    assert.equal("Charts &amp; maps.", find(slot[1].html, "p")[3].html)
    assert.is_nil(html:find("<script", 1, true))
  end)

  it("puts after-article slots on entry pages only", function()
    local q = site()
    local html = q:request("GET", "/2026/01/story-1").body
    local main = find(html, "main")[1].html
    local slot = find(main, "aside.sponsor")[1]
    assert.matches("Harbour Ferries", slot.text)
    assert.equal("A ferry", find(slot.html, "img")[1].attrs.alt)
    assert.is_nil(q:request("GET", "/").body:find("Harbour Ferries", 1, true))
  end)

  it("puts in-feed slots into lists after the configured position", function()
    local q = site()
    local main = find(q:request("GET", "/latest").body, "main")[1].html
    local cards = find(main, "div.card-sponsored")
    assert.equal(1, #cards)
    local pos = main:find("card-sponsored", 1, true)
    assert.truthy(main:find("Story 3", 1, true) < pos) -- newest first: Story 4, Story 3, then the slot
    assert.truthy(main:find("Story 2", 1, true) > pos)
    assert.equal("sponsored noopener", find(cards[1].html, "a")[1].attrs.rel)
  end)

  it("shows nothing without slots", function()
    local q = site(nil, {})
    assert.equal(0, #find(q:request("GET", "/2026/01/story-1").body, "aside.sponsor"))
  end)

  it("takes slots from Lua through the sponsor.slots filter", function()
    local q = site({ "house_ads" }, {})
    local slot = find(find(q:request("GET", "/").body, "aside.sidebar")[1].html, "aside.sponsor")
    assert.equal(1, #slot)
    assert.matches("Subscribe to the Ledger", slot[1].text)
  end)

  it("shows what the sponsor.slots filter gives on each page, not what it gave the first", function()
    local q = site({ "rotating_ads" }, {})
    local function names(path)
      local out = {}
      for _, a in ipairs(find(find(q:request("GET", path).body, "aside.sidebar")[1].html, "aside.sponsor")) do
        out[#out + 1] = a.text:match("Rotation %d+")
      end
      return out
    end
    local first, second = names("/"), names("/latest")
    assert.equal(1, #first)
    assert.equal(1, #second)
    assert.are_not.equal(first[1], second[1])
  end)

  it("gives each page its own slots, which a later filter may change", function()
    local q = site({ "loud_slots" })
    for _, path in ipairs({ "/", "/latest", "/2026/01/story-1", "/" }) do
      local slot = find(find(q:request("GET", path).body, "aside.sidebar")[1].html, "aside.sponsor")
      assert.equal(1, #slot)
      assert.matches("Tidewater Books!", slot[1].text, 1, true)
      assert.is_nil(slot[1].text:find("Tidewater Books!!", 1, true))
    end
  end)

  it("refuses slots in unknown areas when the site starts", function()
    local ok, err = pcall(site, nil, { slots = { { area = "footer", name = "X", url = "https://x.example" } } })
    assert.is_false(ok)
    assert.matches("area must be sidebar, after_article or in_feed", tostring(err))
  end)
end)
