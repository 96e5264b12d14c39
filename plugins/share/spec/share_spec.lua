-- Share links: the counter, signed counting redirects, and replays that do not count.
local testing = require "quire.testing"
local find = testing.find

describe("share plugin", function()
  local q, id, url
  before_each(function()
    q = testing.site { plugins = { "theme", "article", "share" } }
    id = q.content.create { type = "article", title = "Ferry fares & timetables", status = "published",
      published_at = "2026-03-02T10:00:00Z", body = "Text." }
    url = q.content.url(q.content.get(id))
  end)

  local function links(html)
    local out = {}
    for _, a in ipairs(find(find(html, "ul.share-links")[1].html, "a")) do out[#out + 1] = a end
    return out
  end

  it("shows Total 0 Shares and a link per network through this site, without scripts", function()
    local html = q:request("GET", url).body
    assert.equal("Total 0 Shares", find(html, "p.share-total")[1].text)
    local list = links(html)
    assert.equal(6, #list)
    for _, a in ipairs(list) do
      assert.matches("^/share/[a-z]+/" .. id .. "%?t=[%w%-_%.]+$", a.attrs.href)
      assert.equal("nofollow noopener", a.attrs.rel)
    end
    assert.is_nil(html:find("<script", 1, true))
  end)

  it("counts a click and redirects to the network with the article's address", function()
    local href = links(q:request("GET", url).body)[1].attrs.href -- facebook
    local r = q:request("GET", href, { remote = "198.51.100.7" })
    assert.equal(303, r.status)
    assert.equal("https://www.facebook.com/sharer/sharer.php?u=http%3A%2F%2Flocalhost%3A8080" .. url:gsub("/", "%%2F"), r.headers.location)
    assert.equal("private, no-store", r.headers["cache-control"])
    assert.equal(1, q.shares.counts(id).total)
    assert.equal("Total 1 Share", find(q:request("GET", url).body, "p.share-total")[1].text)
  end)

  it("does not count one client replaying a link, but counts other clients and networks", function()
    local list = links(q:request("GET", url).body)
    for _ = 1, 5 do q:request("GET", list[2].attrs.href, { remote = "198.51.100.7" }) end
    assert.equal(1, q.shares.counts(id).total)
    q:request("GET", list[2].attrs.href, { remote = "198.51.100.8" })
    q:request("GET", list[3].attrs.href, { remote = "198.51.100.7" })
    local c = q.shares.counts(id)
    assert.equal(3, c.total)
    assert.equal(2, c.networks.x)
    assert.equal(1, c.networks.linkedin)
  end)

  it("refuses forged, altered or misdirected tokens", function()
    local href = links(q:request("GET", url).body)[1].attrs.href
    local token = href:match("%?t=(.*)$")
    local other = q.content.create { type = "article", title = "Other", status = "published", body = "x" }
    assert.equal(404, q:request("GET", "/share/facebook/" .. id .. "?t=nope").status)
    assert.equal(404, q:request("GET", (href:gsub("/" .. id .. "%?", "/" .. other .. "?"))).status) -- another entry
    assert.equal(404, q:request("GET", (href:gsub("facebook", "myspace"))).status)
    -- The signature altered, or the data changed to another entry's (signed for this one).
    local last = token:sub(-2, -2) == "A" and "B" or "A"
    assert.equal(404, q:request("GET", href:sub(1, -3) .. last .. href:sub(-1)).status)
    local forged = require("quire.tokens").b64url(tostring(other)) .. token:match("^[^.]*(%..*)$")
    assert.equal(404, q:request("GET", "/share/facebook/" .. other .. "?t=" .. forged).status)
    -- Signed by the site, but for another purpose.
    assert.equal(404, q:request("GET", "/share/facebook/" .. id .. "?t=" .. q.tokens.sign("comment-form", tostring(id))).status)
    assert.equal(0, q.shares.counts(id).total)
  end)

  it("signs one token an entry, for the networks offered only", function()
    local q2 = testing.site { plugins = { "theme", "article", "share" }, settings = { share = { networks = { "reddit", "email" } } } }
    local e = q2.content.create { type = "article", title = "Two networks", status = "published", body = "x" }
    local list = links(q2:request("GET", q2.content.url(q2.content.get(e))).body)
    local token = list[1].attrs.href:match("%?t=(.*)$")
    assert.equal(token, list[2].attrs.href:match("%?t=(.*)$"))
    assert.equal(303, q2:request("GET", "/share/email/" .. e .. "?t=" .. token).status)
    assert.equal(404, q2:request("GET", "/share/facebook/" .. e .. "?t=" .. token).status) -- known, not offered
    -- (a link made before one token served them all, for a network no longer offered)
    assert.equal(404, q2:request("GET", "/share/facebook/" .. e .. "?t=" .. q2.tokens.sign("share", e .. ":facebook")).status)
    assert.same({ email = 1 }, q2.shares.counts(e).networks)
  end)

  it("still counts links signed for an entry and network (pages made before), for that network only", function()
    local old = q.tokens.sign("share", id .. ":linkedin")
    local r = q:request("GET", "/share/linkedin/" .. id .. "?t=" .. old, { remote = "198.51.100.7" })
    assert.equal(303, r.status)
    assert.matches("^https://www%.linkedin%.com/", r.headers.location)
    assert.equal(404, q:request("GET", "/share/x/" .. id .. "?t=" .. old).status)
    assert.same({ linkedin = 1 }, q.shares.counts(id).networks)
  end)

  it("counts a client again once its window has passed", function()
    -- Windows of 2 s on a clock in whole seconds: two adds a moment apart always share one.
    assert.equal(1, q.hits.add("test:window", 2))
    assert.equal(2, q.hits.add("test:window", 2))
    assert.equal(2, q.hits.count("test:window"))
    os.execute("sleep 2.1")
    assert.equal(0, q.hits.count("test:window"))
    assert.equal(1, q.hits.add("test:window", 2))
    assert.is_true(q.shares.record(id, "x", "client-a", 2))
    assert.is_false(q.shares.record(id, "x", "client-a", 2))
    os.execute("sleep 2.1")
    assert.is_true(q.shares.record(id, "x", "client-a", 2))
    assert.equal(2, q.shares.counts(id).networks.x)
  end)

  it("escapes the title in share addresses and offers email", function()
    local list = links(q:request("GET", url).body)
    local r = q:request("GET", list[6].attrs.href)
    assert.matches("^mailto:%?subject=Ferry%%20fares%%20%%26%%20timetables&body=http", r.headers.location)
  end)

  it("takes the networks from settings and refuses unknown ones", function()
    local q2 = testing.site { plugins = { "theme", "article", "share" }, settings = { share = { networks = { "reddit", "email" } } } }
    local e = q2.content.create { type = "article", title = "Two networks", status = "published", body = "x" }
    local html = q2:request("GET", q2.content.url(q2.content.get(e))).body
    assert.equal(2, #links(html))
    assert.equal("Reddit", find(html, "ul.share-links")[1].text:match("^(%a+)"))
    local ok, err = pcall(testing.site, { plugins = { "theme", "share" }, settings = { share = { networks = { "myspace" } } } })
    assert.is_false(ok)
    assert.matches("unknown network 'myspace'", tostring(err))
  end)
end)
