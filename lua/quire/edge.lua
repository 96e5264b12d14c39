-- Edge purges (issue 20): every write bumps its tags in cache_tags (in the writer's
-- transaction: the durable outbox, whether the write came from a server or the CLI); a running
-- `quire serve` sends the tags bumped since each purger's `sent` version to that purger, a
-- PURGE with "xkey-purge: tag tag ..." per batch, from its tick and without blocking a request
-- (core.edge_purge runs on the worker's loop). One sender per purger across workers and nodes:
-- a lease in edge_purges, so an edit is one purge, not one per worker; a sender that dies
-- leaves the rest of the log to the next one after the lease. `sent` moves only after the
-- purger answered 2xx, so a restart or a down purger loses nothing (a purge is idempotent, so
-- resending a batch after a crash is harmless).
local core = require "quire.core"

local M = {}

M.BATCH_TAGS = 2000     -- tags read from the log per round (the bounded queue)
M.REQUEST_BYTES = 8000  -- bytes of tags per request (Varnish's default header limit is 8 KiB)
M.TIMEOUT_MS = 2000
M.LEASE_S = 10
M.BACKOFF_MAX_S = 60

-- The site.lua value's error, or nil when it is a list of http://HOST[:PORT][/PATH] URLs.
function M.check_purgers(v)
  if #v > 16 then return "purgers: at most 16 purgers" end
  for k, u in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v then return "purgers must be a list of URLs, e.g. { \"http://127.0.0.1:6081/\" }" end
    if type(u) ~= "string" or not u:match("^http://[%w%.%-]+:?%d*/?[%w%-%._~/]*$") or #u > 300 then
      return ("purgers[%d] must be an http:// URL such as \"http://127.0.0.1:6081/\" (the edge cache's PURGE address), got %s"):format(k, tostring(u))
    end
  end
end

-- Batches of tags as header values of at most REQUEST_BYTES.
local function batches(tags)
  local out, cur, n = {}, {}, 0
  for _, t in ipairs(tags) do
    if n + #t + 1 > M.REQUEST_BYTES and #cur > 0 then out[#out + 1] = table.concat(cur, " "); cur, n = {}, 0 end
    cur[#cur + 1] = t
    n = n + #t + 1
  end
  if #cur > 0 then out[#out + 1] = table.concat(cur, " ") end
  return out
end

-- sender(db, purgers, owner, log) -> a function for the tick: starts a round for each purger
-- whose lease this server holds or takes and whose log has tags past `sent`.
function M.sender(db, purgers, owner, log)
  local busy = {}
  for _, url in ipairs(purgers) do
    db:exec("INSERT INTO edge_purges (purger, sent) SELECT CAST(? AS TEXT), coalesce(max(version), 0) FROM cache_tags WHERE true"
      .. " ON CONFLICT (purger) DO NOTHING", url)
  end
  local function round(url)
    local now = os.time()
    local row = db:row("SELECT sent, failures, lease_owner, lease_until, next_try FROM edge_purges WHERE purger = ?", url)
    if not row or row.next_try > now then return end
    if row.lease_owner ~= owner and row.lease_until > now then return end
    local top = db:value("SELECT max(version) FROM cache_tags WHERE version > ?", row.sent)
    if row.lease_owner == owner and row.lease_until > now + M.LEASE_S // 2 and not top then return end
    -- Take or renew the lease; another server that took it first wins.
    db:exec("UPDATE edge_purges SET lease_owner = ?, lease_until = ? WHERE purger = ? AND (lease_owner = ? OR lease_owner IS NULL OR lease_until <= ?)",
      owner, now + M.LEASE_S, url, owner, now)
    if db:value("SELECT lease_owner FROM edge_purges WHERE purger = ?", url) ~= owner or not top then return end
    local rows = db:rows("SELECT tag, version FROM cache_tags WHERE version > ? ORDER BY version LIMIT ?", row.sent, M.BATCH_TAGS + 1)
    local upto = rows[#rows].version
    if #rows > M.BATCH_TAGS and rows[1].version ~= upto then -- the last version may go on: leave it whole for the next round
      while rows[#rows].version == upto do rows[#rows] = nil end
      upto = rows[#rows].version
    end
    local tags = {}
    for i, r in ipairs(rows) do tags[i] = r.tag end
    local parts = batches(tags)
    busy[url] = true
    local i = 0
    local function done(ok, why)
      busy[url] = nil
      local t = os.time()
      if ok then
        db:exec("UPDATE edge_purges SET sent = ?, failures = 0, next_try = 0 WHERE purger = ? AND lease_owner = ?", upto, url, owner)
        if row.failures > 0 then log(("edge purger %s answers again: purged %d tags"):format(url, #tags)) end
      else
        local f = row.failures + 1
        local wait = math.min(M.BACKOFF_MAX_S, 1 << math.min(f - 1, 10))
        db:exec("UPDATE edge_purges SET failures = ?, next_try = ? WHERE purger = ?", f, t + wait, url)
        log(("edge purger %s is down (%s): %d tags wait, retry in %d s (attempt %d)"):format(url, why, #tags, wait, f))
      end
    end
    local function next_part()
      i = i + 1
      if i > #parts then return done(true) end
      core.edge_purge(url, parts[i], M.TIMEOUT_MS, function(status, err)
        if not status then return done(false, err) end
        if status < 200 or status > 299 then return done(false, "HTTP " .. status) end
        next_part()
      end)
    end
    next_part()
  end
  -- A round that cannot read its log (the database away) is retried every tick: one line when
  -- the rounds start failing and one, with their count, when one goes through again.
  local failing = {}
  local function failed(url, why)
    local f = failing[url]
    if f then f.n = f.n + 1; return end
    failing[url] = { n = 1, since = core.clock() }
    log(("edge purges to %s stopped: %s; they resume by themselves (one line then)"):format(url, why))
  end
  -- up: false while the database cannot be reached (store:ready()); the rounds wait for it.
  return function(up)
    for _, url in ipairs(purgers) do
      if up == false then
        failed(url, "the database cannot be reached")
      elseif not busy[url] then
        local ok, err = pcall(round, url)
        if not ok then
          busy[url] = nil
          failed(url, tostring(err))
        elseif failing[url] then
          local f = failing[url]
          failing[url] = nil
          log(("edge purges to %s resumed after %d failed rounds in %.1f s"):format(url, f.n, core.clock() - f.since))
        end
      end
    end
  end
end

return M
