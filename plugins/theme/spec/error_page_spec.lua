-- Error pages: browsers get the site's layout with a helpful message; other clients plain text;
-- a 500 never shows what went wrong.
local testing = require "quire.testing"
local find = testing.find

local HTML = { headers = { accept = "text/html,application/xhtml+xml,*/*;q=0.8" } }

-- A folder with a plugin whose routes fail, to see the 500 page.
local function boom_plugins()
  local dir = testing.temp_dir("quire-boom")
  os.execute(("mkdir -p %q"):format(dir .. "/boom"))
  local f = assert(io.open(dir .. "/boom/plugin.lua", "w"))
  f:write([[return quire.plugin { name = "boom", version = "1.0", setup = function(site)
    site:route("GET", "/boom", function() error("secret-db-password in /srv/quire/boom.lua") end)
    site:route("POST", "/only/post", function() return "ok" end)
  end }]])
  f:close()
  return dir
end

describe("error pages", function()
  local q
  setup(function()
    q = testing.site { name = "The Ledger", plugins = { "theme", "search", "boom" },
      plugin_path = { boom_plugins(), (os.getenv("PWD") or ".") .. "/plugins" },
      settings = { theme = { sections = { "World" } } } }
  end)

  it("answers an unknown URL with a 404 in the site's layout for browsers", function()
    local r = q:request("GET", "/no/such/page", HTML)
    assert.equal(404, r.status)
    assert.equal("text/html; charset=utf-8", r.headers["content-type"])
    assert.equal("Accept", r.headers["vary"])
    assert.equal("Page not found", find(r.body, "h1")[1].text)
    assert.equal(1, #find(r.body, "header.site-header"))
    assert.equal(1, #find(r.body, "nav.site-nav"))
    assert.equal(1, #find(r.body, "form.site-search"))
    assert.equal("noindex", find(r.body, "meta[name=robots]")[1].attrs.content)
    assert.equal(0, #find(r.body, ".error-ref")) -- a 404 needs no reference
    r = q:request("GET", "/2026/03/harbour-toll-vote", HTML)
    assert.equal("harbour toll vote", find(r.body, "input[name=q]")[1].attrs.value)
  end)

  it("answers plain text to clients that do not ask for HTML", function()
    for _, opts in ipairs { {}, { headers = { accept = "application/json" } }, { headers = { accept = "*/*" } } } do
      local r = q:request("GET", "/no/such/page", opts)
      assert.equal(404, r.status)
      assert.equal("text/plain; charset=utf-8", r.headers["content-type"])
      assert.equal("Not Found", r.body)
    end
  end)

  it("styles a 405 and keeps its Allow header", function()
    local r = q:request("GET", "/only/post", HTML)
    assert.equal(405, r.status)
    assert.equal("POST", r.headers["allow"])
    assert.equal(1, #find(r.body, "header.site-header"))
  end)

  it("shows a 500 with the request id and never the error", function()
    local r = q:request("GET", "/boom", HTML)
    assert.equal(500, r.status)
    assert.equal("text/html; charset=utf-8", r.headers["content-type"])
    assert.equal(r.headers["x-request-id"], find(find(r.body, ".error-ref")[1].html, "code")[1].text)
    assert.is_nil(r.body:find("secret", 1, true))
    assert.is_nil(r.body:find("boom.lua", 1, true))
    local plain = q:request("GET", "/boom")
    assert.equal(("Internal Server Error (request id %s)"):format(plain.headers["x-request-id"]), plain.body)
  end)

  it("falls back to plain text when the error page itself fails", function()
    local boom = boom_plugins()
    local f = assert(io.open(boom .. "/boom/plugin.lua", "w"))
    f:write([[return quire.plugin { name = "boom", version = "1.0", setup = function(site)
      site:filter("page.error", function() error("the theme is broken") end, { before = "theme" })
    end }]])
    f:close()
    local site = testing.site { name = "Broken", plugins = { "theme", "boom" }, plugin_path = { boom, (os.getenv("PWD") or ".") .. "/plugins" } }
    local r = site:request("GET", "/nothing", HTML)
    assert.equal(404, r.status)
    assert.equal("text/plain; charset=utf-8", r.headers["content-type"])
    assert.equal("Not Found", r.body)
  end)
end)
