-- Scheduled work: plugin jobs (site:every) in the jobs table with leases, so each runs once per
-- interval however many workers or machines share the database; failures are retried with
-- back-off, then parked with their error. Also publishes scheduled entries when their time comes.
local time = require "quire.time"

local M = {}

M.MAX_ATTEMPTS = 5
local PARKED_AT = "9999-12-31T00:00:00Z"

-- The jobs of a site: its plugins' (site:every), then the core's own. trash.empty deletes for good
-- the entries trashed more than site.lua trash_retention days ago (hourly; none when it is 0).
function M.all(quire)
  local list = {}
  for i, job in ipairs(quire.plugins.jobs) do list[i] = job end
  local days = quire.site.config.trash_retention
  if days and days > 0 then
    list[#list + 1] = { name = "trash.empty", interval = 3600, delay = 3600, run = function()
      return quire._site.acting({ name = "job:trash.empty" }, quire.content.empty_trash,
        { before = time.format(os.time() - days * 86400) })
    end }
  end
  return list
end

-- Records each registered job, keeping the schedule of jobs already known. A new job is due at
-- once, or job.delay seconds later.
function M.sync(db, jobs)
  for _, job in ipairs(jobs) do
    db:exec("INSERT INTO jobs (name, run_at, interval_s) VALUES (?, ?, ?)"
      .. " ON CONFLICT (name) DO UPDATE SET interval_s = excluded.interval_s", job.name,
      job.delay and time.format(os.time() + job.delay) or time.now(), job.interval)
  end
end

-- Publishes the scheduled entries whose time has come (and fires entry.published). Each entry
-- is published in its own transaction with a status check, so two processes never publish one
-- twice. Returns how many were published.
function M.publish_scheduled(quire)
  local db = quire._db
  local n = 0
  for _, row in ipairs(db:rows("SELECT id FROM entries WHERE status = 'scheduled' AND published_at <= ? ORDER BY published_at LIMIT 1000", time.now())) do
    local ok = quire._site.acting({ name = "job:publish" }, quire.store.transaction, function()
      local e = quire.content.get(row.id)
      if not e or e.status ~= "scheduled" then return false end
      quire.content.update(row.id, { status = "published" })
      return true
    end)
    if ok then n = n + 1 end
  end
  -- Pending versions of published entries scheduled in the admin (quire.newsroom).
  local ok, err = pcall(quire._newsroom.publish_due_staged)
  if not ok then io.stderr:write("quire: ", tostring(err), "\n") end
  -- Front-page slots and banners whose time came make their pages stale too.
  quire.front.due()
  return n
end

-- How long a claim holds a job (seconds). A job run by a worker cannot outlive the master's
-- watchdog (limits.watchdog_timeout_ms), nor, when the master dies mid-job, the drain deadline
-- the worker then keeps (limits.drain_timeout_ms); 5 s more covers clock skew between nodes. So a
-- claim never ends while its run may still be going, and a job whose node died is taken over
-- this long after it started. `quire jobs run` is watched by nothing: it claims for an hour.
function M.lease_seconds(limits)
  if not limits then return 3600 end
  return (limits.watchdog_timeout_ms + limits.drain_timeout_ms + 999) // 1000 + 5
end

-- A name for this process in the leases, unique across machines: host name and pid.
function M.owner(kind)
  local f = io.open("/proc/sys/kernel/hostname")
  local host = f and f:read("l") or "localhost"
  if f then f:close() end
  return ("%s/%s-%d"):format(host, kind, require("quire.core").getpid())
end

-- Claims and runs the jobs that are due. owner names this process (M.owner), lease_s is how
-- long its claim holds (M.lease_seconds). Returns the number run and a list of
-- { name =, error = } failures. The claim is one conditional UPDATE in a write transaction: on
-- SQLite BEGIN IMMEDIATE, on PostgreSQL the site's write lock (and the row lock: a concurrent
-- UPDATE re-reads the row and finds the lease taken) let one process only see the lease free,
-- however many workers on however many nodes tick at once. A job missed while nothing was
-- running is due at once.
function M.run_due(db, jobs, owner, lease_s)
  lease_s = lease_s or 3600
  local by_name = {}
  for _, job in ipairs(jobs) do by_name[job.name] = job end
  local ran, failures = 0, {}
  local now = time.now()
  local due = db:rows("SELECT name, attempts FROM jobs WHERE run_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY run_at", now, now)
  for _, row in ipairs(due) do
    local job = by_name[row.name]
    if job then
      local epoch = os.time()
      db:begin()
      local claimed = db:exec("UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE name = ? AND run_at <= ?"
        .. " AND (lease_until IS NULL OR lease_until <= ?)", owner, time.format(epoch + lease_s), job.name, now, now)
      db:commit()
      if claimed == 1 then
        local ok, err = pcall(job.run)
        local attempts, next_run = 0, time.format(epoch + job.interval)
        if not ok then
          attempts = row.attempts + 1
          -- Back off 30 s, 60 s, 120 s ... (never beyond the interval); park after MAX_ATTEMPTS.
          next_run = attempts >= M.MAX_ATTEMPTS and PARKED_AT
            or time.format(epoch + math.min(job.interval, 30 * 2 ^ (attempts - 1)) // 1)
          failures[#failures + 1] = { name = job.name, error = tostring(err), parked = attempts >= M.MAX_ATTEMPTS }
        end
        -- Only while the claim is still ours: a run that outlived its lease (a clock jump, a
        -- process stopped and resumed) must not release the claim of the one that took over.
        db:begin()
        local released = db:exec("UPDATE jobs SET run_at = ?, lease_owner = NULL, lease_until = NULL, attempts = ?, last_error = ?"
          .. " WHERE name = ? AND lease_owner = ?", next_run, attempts, (not ok) and tostring(err) or nil, job.name, owner)
        db:commit()
        if released ~= 1 then
          failures[#failures + 1] = { name = job.name, error = ("ran past its lease of %d s: another process took it over"):format(lease_s) }
        end
        ran = ran + 1
      end
    end
  end
  return ran, failures
end

-- Every job with its state, for `quire jobs list`.
function M.list(db)
  local rows = db:rows("SELECT name, interval_s, run_at, attempts, lease_owner, last_error FROM jobs ORDER BY name")
  for _, r in ipairs(rows) do
    r.state = r.run_at == PARKED_AT and "parked" or (r.lease_owner and "running") or (r.attempts > 0 and "retrying") or "ok"
    if r.state == "parked" then r.run_at = "-" end
  end
  return rows
end

-- Puts a parked (or failing) job back on schedule now. Returns true when the job exists.
function M.retry(db, name)
  return db:exec("UPDATE jobs SET run_at = ?, attempts = 0, lease_owner = NULL, lease_until = NULL WHERE name = ?", time.now(), name) == 1
end

return M
