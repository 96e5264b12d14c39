-- Counters in time windows (table hits): rate limits and "once per client" rules that hold across
-- workers and restarts. quire.hits.add(key, seconds) -> how many times key was added in its window.
local errors = require "quire.errors"

local M = {}

function M.new(site)
  local db = site.db
  local api = {}

  local function check_key(key)
    if type(key) ~= "string" or key == "" or #key > 300 then errors.raise("invalid", "a hits key is text of 1..300 bytes") end
  end

  -- Counts one more for key; a window of `seconds` starts with the first hit after the last one
  -- ended. Returns the count within the current window (1 for the first).
  function api.add(key, seconds)
    check_key(key)
    if math.type(seconds) ~= "integer" or seconds < 1 then errors.raise("invalid", "quire.hits.add: seconds must be a positive integer") end
    local now = os.time()
    return site.transaction(function()
      -- A few expired rows go with every write, so the table stays the size of its live windows.
      db:exec("DELETE FROM hits WHERE key IN (SELECT key FROM hits WHERE expires_at <= ? LIMIT 20)", now)
      db:exec("INSERT INTO hits (key, count, expires_at) VALUES (?, 1, ?)"
        .. " ON CONFLICT (key) DO UPDATE SET count = CASE WHEN hits.expires_at <= ? THEN 1 ELSE hits.count + 1 END,"
        .. " expires_at = CASE WHEN hits.expires_at <= ? THEN excluded.expires_at ELSE hits.expires_at END", key, now + seconds, now, now)
      return db:value("SELECT count FROM hits WHERE key = ?", key)
    end)
  end

  -- The count of key in its current window (0 when none).
  function api.count(key)
    check_key(key)
    return db:value("SELECT count FROM hits WHERE key = ? AND expires_at > ?", key, os.time()) or 0
  end

  return api
end

return M
