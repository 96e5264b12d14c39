-- Request dispatch helpers: cookies, private responses, cache tags, signed tokens.
local testing = require "quire.testing"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

describe("responses", function()
  local q
  setup(function() q = testing.site { plugins = { "appfix" }, plugin_path = { fixtures } } end)

  it("reads cookies and sets HttpOnly SameSite cookies, making the response private", function()
    local r = q:request("GET", "/cookie", { headers = { Cookie = "name=Ana; other=1" } })
    assert.equal("hello Ana", r.body)
    assert.equal("seen=yes; Path=/; Max-Age=60; HttpOnly; SameSite=Lax", r.headers["set-cookie"][1])
    assert.equal("private, no-store", r.headers["cache-control"])
    assert.equal("", r.tags)
  end)

  it("declares how long a page may be kept, never for a private one", function()
    assert.equal("max-age=30", q:request("GET", "/live/30").headers["cache-control"])
    assert.equal("no-cache", q:request("GET", "/live/0").headers["cache-control"])
    assert.equal("private, no-store", q:request("GET", "/live-cookie").headers["cache-control"])
    assert.equal(500, q:request("GET", "/live-bad").status)
  end)

  it("tags pages with what they were built from", function()
    local r = q:request("GET", "/listed")
    -- (list:drafts: entries of any status; a redirect added at a kept page's path drops it)
    assert.equal("list:all list:drafts redirects", r.tags)
    assert.equal('{"ok":true}', q:request("GET", "/json").body)
    assert.equal("redirects sponsors", q:request("GET", "/tagged").tags)
    q.cache.bump { "sponsors" }
    assert.is_number(q.store.query("SELECT version FROM cache_tags WHERE tag = 'sponsors'")[1].version)
  end)
end)

describe("quire.tokens", function()
  local q
  setup(function() q = testing.site() end)

  it("signs and verifies data for one purpose", function()
    local t = q.tokens.sign("share", "entry:42|twitter")
    assert.equal("entry:42|twitter", (q.tokens.verify("share", t)))
    assert.is_nil(q.tokens.verify("csrf", t)) -- another purpose
    local tampered = t:gsub("^..", "AA")
    assert.is_nil(q.tokens.verify("share", tampered))
    assert.is_nil(q.tokens.verify("share", "garbage"))
  end)

  it("signs with HMAC-SHA-256 of purpose and body under the site's secret", function()
    local core = require "quire.core"
    local tokens = require "quire.tokens"
    local t = q.tokens.sign("share", "7:x")
    local body, sig = t:match("^(.*)%.([^.]+)$")
    local secret = q.store.query("SELECT value FROM settings WHERE key = 'secret'")[1].value
    assert.equal(tokens.b64url(core.hmac_sha256(secret, "share\0" .. body)), sig)
  end)

  it("keys HMAC-SHA-256 once as RFC 4231 computes it, for keys of any length", function()
    local core = require "quire.core"
    local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
    -- RFC 4231 test cases 1, 2 and 6 (a key longer than the block: hashed first)
    local key1 = ("\x0b"):rep(20)
    assert.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", hex(core.hmac_sha256_keyed(key1)("Hi There")))
    assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      hex(core.hmac_sha256_keyed("Jefe")("what do ya want for nothing?")))
    assert.equal("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
      hex(core.hmac_sha256_keyed(("\xaa"):rep(131))("Test Using Larger Than Block-Size Key - Hash Key First")))
    -- and as core.hmac_sha256 does, for one key over many messages; a token signed with it
    local tokens = require "quire.tokens"
    for _, klen in ipairs { 0, 1, 32, 63, 64, 65, 200 } do
      local key = ("k"):rep(klen)
      local mac, token = core.hmac_sha256_keyed(key)
      for _, mlen in ipairs { 0, 1, 55, 56, 64, 119, 1000 } do
        local msg = ("m"):rep(mlen)
        assert.equal(core.hmac_sha256(key, msg), mac(msg), klen .. " " .. mlen)
        for _, expires in ipairs { 0, 1765432100, 2.5 } do
          local body = tokens.b64url(msg) .. "." .. expires
          assert.equal(body .. "." .. tokens.b64url(core.hmac_sha256(key, "purpose\0" .. body)), token("purpose", msg, expires))
        end
      end
    end
  end)

  it("keeps no secret made in a transaction that rolled back: its tokens verify elsewhere", function()
    local first, dir = testing.site()
    first._db:exec("DELETE FROM settings WHERE key = 'secret'")
    local q2 = assert(require("quire").open(dir))
    assert.is_false(pcall(q2.store.transaction, function()
      q2.tokens.sign("share", "7:x")
      error("roll back")
    end))
    local t = q2.tokens.sign("share", "7:x")
    local other = assert(require("quire").open(dir))
    assert.equal("7:x", (other.tokens.verify("share", t)))
    other._db:close()
    q2._db:close()
  end)

  it("expires tokens", function()
    local t = q.tokens.sign("csrf", "x", -1)
    local data, why = q.tokens.verify("csrf", t)
    assert.is_nil(data)
    assert.equal("expired", why)
  end)

  it("round-trips any bytes through base64url", function()
    local tokens = require "quire.tokens"
    for _, s in ipairs({ "", "a", "ab", "abc", "\0\255\1", ("é"):rep(10) }) do
      assert.equal(s, tokens.unb64url(tokens.b64url(s)))
    end
  end)

  it("writes base64url as RFC 4648 spells it, unpadded, and reads back only its alphabet", function()
    local tokens = require "quire.tokens"
    -- RFC 4648 section 10's vectors, without their padding
    for plain, coded in pairs { [""] = "", f = "Zg", fo = "Zm8", foo = "Zm9v", foob = "Zm9vYg", fooba = "Zm9vYmE", foobar = "Zm9vYmFy" } do
      assert.equal(coded, tokens.b64url(plain))
      assert.equal(plain, tokens.unb64url(coded))
    end
    assert.equal("-_-_", tokens.b64url("\251\255\191")) -- the URL-safe characters, not + and /
    assert.equal("\251\255\191", tokens.unb64url("-_-_"))
    for _, bad in ipairs { "Zg==", "Zm+v", "Zm/v", "Zm 9v", "Zm9v\n", "Zm\0v" } do
      assert.is_nil(tokens.unb64url(bad), bad)
    end
    -- each of the 64 values as its character
    local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for v = 0, 63 do
      assert.equal(alphabet:sub(v + 1, v + 1) .. "A", tokens.b64url(string.char(v << 2)))
      assert.equal("A" .. alphabet:sub(v + 1, v + 1) .. "A", tokens.b64url(string.char(v >> 4, (v & 15) << 4)))
    end
    -- bits past the last whole byte are dropped: a lone last character adds nothing
    assert.equal("foo", tokens.unb64url("Zm9vY"))
    assert.equal("f", tokens.unb64url("Zh"))
  end)
end)

describe("an unreachable store", function()
  it("is told from other errors by core/pg.c's messages and the SQLSTATEs of a lost or refused connection", function()
    local store_unavailable = require("quire.app").store_unavailable
    for _, msg in ipairs {
      "lua/quire/memo.lua:22: PostgreSQL is unreachable: the connection to PostgreSQL was lost (connection refused)",
      "cannot connect to PostgreSQL (database = \"postgresql://...\" in site.lua): timeout expired",
      "SQL error: terminating connection due to administrator command [SQLSTATE 57P01]",
      "SQL error: the database system is starting up [SQLSTATE 57P03]",
      "SQL error: connection failure [SQLSTATE 08006]",
    } do
      assert.is_true(store_unavailable(msg), msg)
    end
    for _, msg in ipairs { "SQL error: syntax error at or near \"window\" [SQLSTATE 42601]", "kaboom", "" } do
      assert.is_false(store_unavailable(msg), msg)
    end
  end)
end)
