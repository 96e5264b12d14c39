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
end)
