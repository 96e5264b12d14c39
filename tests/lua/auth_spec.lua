-- quire.auth: TOTP against RFC 6238's test vectors, base32, and the in-process parts of the
-- sign-in (sessions, disabling, rotation); the attacks over HTTP are in tests/auth_test.py.
local testing = require "quire.testing"
local auth = require "quire.auth"

describe("quire.auth TOTP (RFC 6238, appendix B)", function()
  -- The RFC's seeds: the ASCII digits 1234567890 repeated to the hash's block-key length.
  local seed = {
    sha1 = ("1234567890"):rep(2),
    sha256 = ("1234567890"):rep(3) .. "12",
    sha512 = ("1234567890"):rep(6) .. "1234",
  }
  local vectors = {
    { 59, "94287082", "46119246", "90693936" },
    { 1111111109, "07081804", "68084774", "25091201" },
    { 1111111111, "14050471", "67062674", "99943326" },
    { 1234567890, "89005924", "91819424", "93441116" },
    { 2000000000, "69279037", "90698825", "38618901" },
    { 20000000000, "65353130", "77737706", "47863826" },
  }
  for _, v in ipairs(vectors) do
    it("gives the RFC's codes at T = " .. v[1], function()
      assert.equal(v[2], auth.totp(seed.sha1, v[1], 8, "sha1"))
      assert.equal(v[3], auth.totp(seed.sha256, v[1], 8, "sha256"))
      assert.equal(v[4], auth.totp(seed.sha512, v[1], 8, "sha512"))
    end)
  end

  it("gives six-digit codes, the last six of the eight", function()
    assert.equal("287082", auth.totp(seed.sha1, 59))
  end)

  it("writes and reads base32 (RFC 4648's vectors)", function()
    local cases = { [""] = "", f = "MY", fo = "MZXQ", foo = "MZXW6", foob = "MZXW6YQ", fooba = "MZXW6YTB", foobar = "MZXW6YTBOI" }
    for plain, b32 in pairs(cases) do
      assert.equal(b32, auth.base32(plain))
      assert.equal(plain, auth.unbase32(b32))
    end
    assert.equal("foobar", auth.unbase32("mzxw 6ytb oi======"))
    assert.is_nil(auth.unbase32("MZ1"))
  end)
end)

describe("quire.auth rate-limit keys", function()
  it("counts IPv6 clients by their /64, whatever the spelling", function()
    assert.equal("addr:2001:db8:0:1::/64", auth.address_key("2001:db8::1:0:0:0:5"))
    assert.equal("addr:2001:db8:0:1::/64", auth.address_key("2001:0db8:0000:0001:ffff:1:2:3"))
    assert.equal("addr:2001:db8:0:0::/64", auth.address_key("2001:db8::1"))
    assert.equal("addr:2001:db8:0:0::/64", auth.address_key("2001:db8::2"))
    assert.equal("addr:0:0:0:0::/64", auth.address_key("::1"))
    assert.equal("addr:192.0.2.7", auth.address_key("192.0.2.7"))
    assert.equal("addr:::ffff:192.0.2.7", auth.address_key("::ffff:192.0.2.7"))
  end)
end)

describe("quire.auth sessions", function()
  local q, id
  before_each(function()
    q = testing.site()
    id = q.users.create { login = "anna", name = "Anna", role = "editor" }
    q.users.set_password(id, "correct horse battery")
  end)

  local function get(path, token)
    return q:request("GET", path, { headers = { cookie = token and (auth.COOKIE .. "=" .. token) or nil, host = "localhost" } })
  end

  it("keeps only a hash of the token", function()
    local token = q.users.open_session(id)
    assert.equal(0, #q.store.query("SELECT 1 FROM sessions WHERE id = ?", token))
    assert.equal(1, #q.store.query("SELECT 1 FROM sessions WHERE user_id = ?", id))
  end)

  it("answers admin pages with no-store, a strict CSP and no framing", function()
    local res = get("/admin/login")
    assert.equal(200, res.status)
    assert.equal("private, no-store", res.headers["cache-control"])
    assert.matches("frame%-ancestors 'none'", res.headers["content-security-policy"])
    assert.is_nil(res.headers["content-security-policy"]:find("unsafe-inline", 1, true))
    assert.equal("DENY", res.headers["x-frame-options"])
    assert.is_truthy(res.private)
    res = get("/admin/account", q.users.open_session(id)) -- the admin shell's own policy, kept
    assert.equal(200, res.status)
    assert.equal("private, no-store", res.headers["cache-control"])
    assert.is_nil(res.headers["content-security-policy"]:find("unsafe-inline", 1, true))
    assert.is_truthy(res.private)
    res = get("/admin/account")
    assert.equal(303, res.status)
    assert.equal("/admin/login?next=/admin/account", res.headers.location)
  end)

  it("ends a disabled user's sessions, and ends them on idle and absolute timeouts", function()
    local token = q.users.open_session(id)
    q.users.set_disabled(id, true)
    assert.is_nil(q.users.session_user(token))
    assert.equal("anna", q.users.get(id).login)
    assert.is_nil(q.users.authenticate("anna", "correct horse battery"))
    q.users.set_disabled(id, false)
    token = q.users.open_session(id)
    q._db:exec("UPDATE sessions SET last_seen = '2001-01-01T00:00:00Z'")
    assert.is_nil(q.users.session_user(token))
    token = q.users.open_session(id)
    q._db:exec("UPDATE sessions SET expires_at = '2001-01-01T00:00:00Z'")
    assert.is_nil(q.users.session_user(token))
  end)

  it("ends a user's sessions when their password is set", function()
    local token = q.users.open_session(id)
    q.users.set_password(id, "another long password")
    assert.is_nil(q.users.session_user(token))
  end)

  it("gives a session a new token after a role change", function()
    local token = q.users.open_session(id)
    q.users.set_role(id, "author")
    local res = get("/admin/account", token)
    assert.equal(200, res.status)
    local fresh = tostring(res.headers["set-cookie"][1]):match("^__Host%-quire_session=(%x+);")
    assert.is_truthy(fresh)
    assert.are_not.equal(token, fresh)
    assert.is_nil(q.users.session_user(token))
    assert.equal("author", q.users.session_user(fresh).role)
  end)

  it("signs in in process too (the hash runs at once), with a new token", function()
    local res = q:request("POST", "/admin/login", { headers = { ["content-type"] = "application/x-www-form-urlencoded", host = "localhost" },
      body = "login=anna&password=correct+horse+battery&next=/admin/account" })
    assert.equal(303, res.status)
    assert.equal("/admin/account", res.headers.location)
    local token = res.headers["set-cookie"][1]:match("^__Host%-quire_session=(%x+);")
    assert.equal("anna", q.users.session_user(token).login)
    assert.matches("; HttpOnly; SameSite=Lax; Secure$", res.headers["set-cookie"][1])
  end)
end)
