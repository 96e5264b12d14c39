-- Bulk work for `quire run`: quire.each streams entries in keyset order and commits per batch,
-- with progress, resumable checkpoints, and the run-wide options (--dry-run, --yes, --resume).
local core = require "quire.core"
local writes_mod = require "quire.content.writes"

local M = {}

local function fmt_duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, s % 3600 // 60)
end

-- A progress reporter: a bar redrawn in place on a terminal, a plain line per batch elsewhere.
local function progress(label, total)
  local tty = core.isatty(2)
  local start = core.clock()
  local last_draw = 0
  return function(done, final)
    local now = core.clock()
    if tty and not final and now - last_draw < 0.1 then return end
    last_draw = now
    local rate = done / math.max(now - start, 1e-6)
    local eta = total > done and (total - done) / math.max(rate, 1e-9) or 0
    local pct = total > 0 and done * 100 // total or 100
    if tty then
      local width = 30
      local fill = total > 0 and math.floor(width * done / total) or width
      io.stderr:write(("\r%s [%s%s] %d/%d %.0f/s ETA %s "):format(label, ("="):rep(fill), (" "):rep(width - fill), done, total, rate, fmt_duration(eta)))
      if final then io.stderr:write("\n") end
    else
      io.stderr:write(("%s: %d/%d (%d%%), %.0f/s, ETA %s\n"):format(label, done, total, pct, rate, fmt_duration(eta)))
    end
  end
end

-- Builds quire.each for a site. run = { script =, resume = bool, quiet = bool }.
function M.each_for(quire, site, run)
  local db = site.db
  local writes = writes_mod.of(site)
  local calls = 0
  return function(query, fn, opts)
    if type(query) ~= "table" or type(fn) ~= "function" then error("quire.each(query, fn [, {batch = 1000}])", 2) end
    opts = opts or {}
    local batch = opts.batch or 1000
    if math.type(batch) ~= "integer" or batch < 1 or batch > 10000 then error("quire.each: batch must be 1..10000", 2) end
    calls = calls + 1
    -- One checkpoint per each() call of the script, so --resume finds its place in each loop.
    local key = ("each:%s:%d"):format(run.script or "?", calls)
    local after = 0
    if run.resume then
      after = tonumber(db:value("SELECT value FROM settings WHERE key = ?", key)) or 0
      if after > 0 and not run.quiet then io.stderr:write(("resuming after entry %d\n"):format(after)) end
    end
    local q = {}
    for k, v in pairs(query) do q[k] = v end
    q.order, q.limit, q.after = "id", batch, nil
    local count_q = {}
    for k, v in pairs(query) do if k ~= "order" and k ~= "limit" and k ~= "after" then count_q[k] = v end end
    local total = quire.content.count(count_q) -- on --resume the bar counts the whole set again
    local done = 0
    local show = (not run.quiet) and progress("each", total) or function() end
    local n = 0
    while true do
      local ok, page = pcall(quire.store.transaction, function()
        q.after = after > 0 and after or nil
        local rows = writes.batch_query(q) -- fn's saves then need not read their entry again
        for i = 1, #rows do
          fn(rows[i])
          n = n + 1
        end
        if #rows > 0 then
          after = rows[#rows].id
          db:exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, tostring(after))
        end
        return rows
      end)
      writes.forget_batch()
      if not ok then error(page, 0) end
      done = done + #page
      show(math.min(done, total), #page < batch)
      if #page < batch then break end
    end
    db:exec("DELETE FROM settings WHERE key = ?", key)
    return n
  end
end

-- "N entries changed, N created, N deleted, N trashed": what a run wrote.
function M.totals(stats)
  return ("%d entries changed, %d created, %d deleted, %d trashed"):format(stats.changed, stats.created, stats.deleted, stats.trashed or 0)
end

-- The summary printed after a run: counts, then the first sample changes (quire.content.writes keeps 20)
-- and how many more there were.
function M.summary(stats)
  local lines = { M.totals(stats) }
  local function short(v)
    if v == nil then return "∅" end
    v = tostring(v):gsub("\n", "⏎")
    return #v > 70 and (v:sub(1, 67) .. "...") or v
  end
  for _, s in ipairs(stats.samples) do
    if s.what == "created" then lines[#lines + 1] = ("  + entry %d: %s"):format(s.id, short(s.after))
    elseif s.what == "deleted" then lines[#lines + 1] = ("  - entry %d: %s"):format(s.id, short(s.before))
    elseif s.what == "trashed" then lines[#lines + 1] = ("  - entry %d (to the trash): %s"):format(s.id, short(s.before))
    else lines[#lines + 1] = ("  ~ entry %d %s: %s -> %s"):format(s.id, s.what, short(s.before), short(s.after)) end
  end
  -- Each created, trashed or deleted entry is one sample; a changed entry one per changed column.
  local total = stats.created + (stats.trashed or 0) + stats.deleted + (stats.changes or stats.changed)
  if total > #stats.samples then lines[#lines + 1] = ("  … and %d more"):format(total - #stats.samples) end
  return table.concat(lines, "\n")
end

return M
