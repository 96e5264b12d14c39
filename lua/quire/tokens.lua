-- Signed tokens (HMAC-SHA-256 with the site's secret): for CSRF fields, share links and
-- anything else a client hands back that must not be forged or altered.
local core = require "quire.core"

local M = {}

-- base64url without padding, made in C (a page signs several tokens: encoding is hot);
-- unb64url gives nil for text outside the alphabet.
M.b64url, M.unb64url = core.b64url, core.unb64url

function M.new(site)
  local db = site.db
  local mac, token_of
  -- HMAC-SHA-256 keyed with the site's secret (its pads hashed once: a page signs several
  -- tokens), and the token signed with it (core.hmac_sha256_keyed). The secret: 32 random bytes
  -- made on first use and kept in settings, as hex.
  -- A secret made inside a transaction is used but not kept (a rollback takes it back out of
  -- settings; kept, it would sign tokens no other process can verify): keyed() also says whether
  -- what it gives is kept.
  local function keyed()
    if mac then return mac, token_of, true end
    local hex = db:value("SELECT value FROM settings WHERE key = 'secret'")
    local made = false
    if not hex then
      hex = core.random_bytes(32):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
      db:exec("INSERT INTO settings (key, value) VALUES ('secret', ?) ON CONFLICT DO NOTHING", hex)
      hex = db:value("SELECT value FROM settings WHERE key = 'secret'")
      made = db:depth() > 0
    end
    local m, t = core.hmac_sha256_keyed(hex)
    if made then return m, t, false end
    mac, token_of = m, t
    return mac, token_of, true
  end

  -- Tokens without an expiry never change (share links on every page): signed once each.
  local lasting, nlasting = {}, 0

  local api = {}
  -- sign(purpose, data [, ttl_seconds]) -> token carrying data (text), valid for purpose only.
  function api.sign(purpose, data, ttl)
    local memo_key = not ttl and purpose .. "\0" .. tostring(data)
    local token = memo_key and lasting[memo_key]
    if token then return token end
    if ttl then site.memo.volatile() end -- (a memoised value holding it would outlive its expiry)
    -- body = b64url(data) .. "." .. expires; token = body .. "." .. b64url(mac(purpose .. "\0" .. body))
    local _, signed, kept = keyed()
    token = signed(purpose, tostring(data), ttl and (os.time() + ttl) or 0)
    if memo_key and kept then
      if nlasting >= 4096 then lasting, nlasting = {}, 0 end
      lasting[memo_key], nlasting = token, nlasting + 1
    end
    return token
  end
  -- verify(purpose, token) -> data, issued-by-expiry | nil, why
  function api.verify(purpose, token)
    if type(token) ~= "string" or #token > 4096 then return nil, "malformed token" end
    local data64, expires, sig = token:match("^([%w%-_]*)%.(%d+)%.([%w%-_]+)$")
    if not data64 then return nil, "malformed token" end
    local mac = keyed()
    local want = M.b64url(mac(purpose .. "\0" .. data64 .. "." .. expires))
    if not core.equal(want, sig) then return nil, "bad signature" end
    if tonumber(expires) ~= 0 and tonumber(expires) < os.time() then return nil, "expired" end
    return M.unb64url(data64), tonumber(expires)
  end
  return api
end

return M
