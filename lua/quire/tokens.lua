-- Signed tokens (HMAC-SHA-256 with the site's secret): for CSRF fields, share links and
-- anything else a client hands back that must not be forged or altered.
local core = require "quire.core"

local M = {}

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- Every 12-bit group as its two characters: a page signs several tokens, so encoding is hot.
local PAIRS = {}
for n = 0, 4095 do
  PAIRS[n] = B64:sub((n >> 6) + 1, (n >> 6) + 1) .. B64:sub((n & 63) + 1, (n & 63) + 1)
end

function M.b64url(s)
  local out, len = {}, #s
  local whole = len - len % 3
  for i = 1, whole, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | (b << 8) | c
    out[#out + 1] = PAIRS[n >> 12] .. PAIRS[n & 4095]
  end
  if len > whole then -- 1 or 2 bytes left: 2 or 3 characters
    local a, b = s:byte(whole + 1, len)
    local n = (a << 16) | ((b or 0) << 8)
    out[#out + 1] = (PAIRS[n >> 12] .. PAIRS[n & 4095]):sub(1, b and 3 or 2)
  end
  return table.concat(out)
end

function M.unb64url(s)
  if s:find("[^%w%-_]") then return nil end
  local out, bits, nbits = {}, 0, 0
  for i = 1, #s do
    bits = (bits << 6) | (B64:find(s:sub(i, i), 1, true) - 1)
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((bits >> nbits) & 255)
    end
  end
  return table.concat(out)
end

function M.new(site)
  local db = site.db
  local secret
  -- The site's secret: 32 random bytes made on first use and kept in settings.
  local function key()
    if secret then return secret end
    local hex = db:value("SELECT value FROM settings WHERE key = 'secret'")
    if not hex then
      hex = core.random_bytes(32):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
      db:exec("INSERT INTO settings (key, value) VALUES ('secret', ?) ON CONFLICT DO NOTHING", hex)
      hex = db:value("SELECT value FROM settings WHERE key = 'secret'")
    end
    secret = hex
    return secret
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
    local expires = ttl and (os.time() + ttl) or 0
    local body = M.b64url(tostring(data)) .. "." .. expires
    token = body .. "." .. M.b64url(core.hmac_sha256(key(), purpose .. "\0" .. body))
    if memo_key then
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
    local want = M.b64url(core.hmac_sha256(key(), purpose .. "\0" .. data64 .. "." .. expires))
    if not core.equal(want, sig) then return nil, "bad signature" end
    if tonumber(expires) ~= 0 and tonumber(expires) < os.time() then return nil, "expired" end
    return M.unb64url(data64), tonumber(expires)
  end
  return api
end

return M
