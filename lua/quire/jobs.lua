-- Scheduled jobs (site:every): rows in the jobs table with leases, so each job runs once per
-- interval however many workers or machines share the database.
local time = require "quire.time"

local M = {}

-- Records each registered job, keeping the schedule of jobs already known.
function M.sync(db, jobs)
  for _, job in ipairs(jobs) do
    db:exec("INSERT INTO jobs (name, run_at, interval_s) VALUES (?, ?, ?)"
      .. " ON CONFLICT (name) DO UPDATE SET interval_s = excluded.interval_s", job.name, time.now(), job.interval)
  end
end

-- Claims and runs the jobs that are due. owner names this process (for the lease). Returns the
-- number run and a list of { name =, error = } failures. A job's lease lasts its interval (at
-- least a minute), so a worker that dies mid-job lets another take it over after that.
function M.run_due(db, jobs, owner)
  local by_name = {}
  for _, job in ipairs(jobs) do by_name[job.name] = job end
  local ran, failures = 0, {}
  local now = time.now()
  local due = db:rows("SELECT name FROM jobs WHERE run_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY run_at", now, now)
  for _, row in ipairs(due) do
    local job = by_name[row.name]
    if job then
      local epoch = os.time()
      -- BEGIN IMMEDIATE serialises the claim: only one process sees the lease free.
      db:begin()
      local claimed = db:exec("UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE name = ? AND run_at <= ?"
        .. " AND (lease_until IS NULL OR lease_until <= ?)", owner, time.format(epoch + math.max(job.interval, 60)), job.name, now, now)
      db:commit()
      if claimed == 1 then
        local ok, err = pcall(job.run)
        db:begin()
        db:exec("UPDATE jobs SET run_at = ?, lease_owner = NULL, lease_until = NULL, attempts = ?, last_error = ? WHERE name = ?",
          time.format(epoch + job.interval), ok and 0 or 1, (not ok) and tostring(err) or nil, job.name)
        db:commit()
        ran = ran + 1
        if not ok then failures[#failures + 1] = { name = job.name, error = tostring(err) } end
      end
    end
  end
  return ran, failures
end

return M
