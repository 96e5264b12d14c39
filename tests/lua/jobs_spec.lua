-- Scheduled work: retries with back-off, parking, and publishing scheduled entries exactly once.
local testing = require "quire.testing"
local jobs = require "quire.jobs"
local time = require "quire.time"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

describe("scheduled jobs", function()
  it("retries a failing job with growing back-off, then parks it with its error", function()
    local q = testing.site { plugins = { "flaky" }, plugin_path = { fixtures } }
    local db = q._db
    jobs.sync(db, q.plugins.jobs)
    local delays = {}
    for attempt = 1, jobs.MAX_ATTEMPTS do
      local before = os.time()
      local ran, failures = jobs.run_due(db, q.plugins.jobs, "spec")
      assert.equal(1, ran)
      assert.matches("the feed server is down", failures[1].error)
      local row = db:row("SELECT run_at, attempts FROM jobs")
      assert.equal(attempt, row.attempts)
      if attempt < jobs.MAX_ATTEMPTS then
        delays[#delays + 1] = time.epoch(row.run_at) - before
        db:exec("UPDATE jobs SET run_at = ?", time.format(os.time() - 1)) -- pretend the wait is over
      end
    end
    assert.is_true(delays[1] >= 29 and delays[1] <= 31)
    assert.is_true(delays[2] >= 59 and delays[3] >= 119 and delays[4] >= 239)
    local list = jobs.list(db)
    assert.equal("parked", list[1].state)
    assert.matches("the feed server is down", list[1].last_error)
    assert.equal(0, (jobs.run_due(db, q.plugins.jobs, "spec"))) -- parked jobs do not run
    assert.is_true(jobs.retry(db, list[1].name))
    assert.equal(1, (jobs.run_due(db, q.plugins.jobs, "spec")))
  end)

  it("publishes scheduled entries when their time comes, once", function()
    local q = testing.site()
    local due = q.content.create { type = "article", title = "Embargoed", status = "scheduled", published_at = os.time() - 5 }
    local later = q.content.create { type = "article", title = "Tomorrow", status = "scheduled", published_at = os.time() + 86400 }
    assert.equal(1, jobs.publish_scheduled(q))
    assert.equal("published", q.content.get(due).status)
    assert.equal("scheduled", q.content.get(later).status)
    assert.equal(0, jobs.publish_scheduled(q))
  end)
  it("holds a claim for its lease: a dead owner's job is taken over after it, and a late finisher keeps its hands off", function()
    local q = testing.site { plugins = { "flaky" }, plugin_path = { fixtures } }
    local db = q._db
    jobs.sync(db, q.plugins.jobs)
    local name = q.plugins.jobs[1].name
    -- A worker's claim outlasts anything that may still run it: the watchdog, then the drain.
    assert.equal(45, jobs.lease_seconds { watchdog_timeout_ms = 10000, drain_timeout_ms = 30000 })
    assert.equal(3600, jobs.lease_seconds(nil))
    assert.matches("^[^/]+/worker%-%d+$", jobs.owner("worker"))
    -- Another process holds it (claimed, then died): not run while the lease lasts.
    db:exec("UPDATE jobs SET lease_owner = 'node-b/worker-1', lease_until = ? WHERE name = ?", time.format(os.time() + 30), name)
    assert.equal(0, (jobs.run_due(db, q.plugins.jobs, "node-a/worker-2", 45)))
    -- The lease ran out: taken over.
    db:exec("UPDATE jobs SET lease_until = ? WHERE name = ?", time.format(os.time() - 1), name)
    local ran = jobs.run_due(db, q.plugins.jobs, "node-a/worker-2", 45)
    assert.equal(1, ran)
    assert.is_nil(db:row("SELECT lease_owner FROM jobs WHERE name = ?", name).lease_owner)
    -- A run that outlived its lease finds another owner on the row: it leaves that claim alone
    -- and says so. (The job's own run re-labels the row as a takeover would.)
    local jobs_list = { { name = name, interval = 3600, run = function()
      db:exec("UPDATE jobs SET lease_owner = 'node-c/worker-3' WHERE name = ?", name)
    end } }
    db:exec("UPDATE jobs SET run_at = ?, attempts = 0 WHERE name = ?", time.format(os.time() - 1), name)
    local _, failures = jobs.run_due(db, jobs_list, "node-a/worker-2", 45)
    assert.matches("ran past its lease of 45 s: another process took it over", failures[1].error)
    assert.equal("node-c/worker-3", db:row("SELECT lease_owner FROM jobs WHERE name = ?", name).lease_owner)
  end)
end)
