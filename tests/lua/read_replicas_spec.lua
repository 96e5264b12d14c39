-- site.lua's read_replicas: a list of PostgreSQL URLs, refused with the entry named when wrong.
-- (What reads where is shown against a real standby: tests/pg_replica_test.sh.)
local testing = require "quire.testing"

describe("site.lua read_replicas", function()
  local site_with = testing.config_with
  local PG = 'database = "postgresql://quire@db1/news"\n'

  it("takes standbys of a PostgreSQL database, and a lag bound", function()
    local cfg = assert(site_with(PG .. 'read_replicas = { "postgresql://quire@db2/news", "postgres://quire:pw@db3:5433/news" }\n'
      .. "limits = { replica_lag_ms = 2000 }\n"))
    assert.same({ "postgresql://quire@db2/news", "postgres://quire:pw@db3:5433/news" }, cfg.read_replicas)
    assert.equal(2000, cfg.limits.replica_lag_ms)
    cfg = assert(site_with(PG))
    assert.same({}, cfg.read_replicas)
    assert.equal(5000, cfg.limits.replica_lag_ms)
  end)

  it("names the entry that is no PostgreSQL URL", function()
    local cfg, err = site_with(PG .. 'read_replicas = { "postgresql://quire@db2/news", "mysql://db3/news" }\n')
    assert.is_nil(cfg)
    assert.matches('read_replicas%[2%] must be a URL such as "postgresql://user@standby:5432/dbname"', err)
    assert.matches('"mysql://db3/news"', err, 1, true)
    _, err = site_with(PG .. 'read_replicas = { "postgresql://quire@db2/news x" }\n')
    assert.matches("read_replicas%[1%] must be a URL", err)
    _, err = site_with(PG .. "read_replicas = { 42 }\n")
    assert.matches("read_replicas%[1%] must be a URL .* got number", err)
    _, err = site_with(PG .. 'read_replicas = "postgresql://quire@db2/news"\n')
    assert.matches("setting 'read_replicas' must be a table", err)
    _, err = site_with(PG .. 'read_replicas = { main = "postgresql://quire@db2/news" }\n')
    assert.matches("read_replicas must be a list", err)
  end)

  it("needs the database itself on PostgreSQL", function()
    local cfg, err = site_with('read_replicas = { "postgresql://quire@db2/news" }\n')
    assert.is_nil(cfg)
    assert.matches('read_replicas are standbys of a PostgreSQL database: set database = "postgresql://...', err, 1, true)
  end)

  it("bounds each wait on PostgreSQL below the watchdog (limits.db_timeout_ms)", function()
    local cfg = assert(site_with(PG))
    assert.equal(3000, cfg.limits.db_timeout_ms)
    cfg = assert(site_with(PG .. "limits = { db_timeout_ms = 800 }\n"))
    assert.equal(800, cfg.limits.db_timeout_ms)
    -- a watchdog set below the default bound takes the bound down with it
    cfg = assert(site_with(PG .. "limits = { watchdog_timeout_ms = 2000 }\n"))
    assert.equal(1000, cfg.limits.db_timeout_ms)
    local _, err = site_with(PG .. "limits = { db_timeout_ms = 10000 }\n")
    assert.matches("limit 'db_timeout_ms' (10000) must be below 'watchdog_timeout_ms' (10000)", err, 1, true)
    _, err = site_with(PG .. "limits = { db_timeout_ms = 50 }\n")
    assert.matches("limit 'db_timeout_ms' must be at least 100 (ms), got 50", err, 1, true)
    _, err = site_with(PG .. "limits = { db_timeout_ms = 0 }\n")
    assert.matches("limit 'db_timeout_ms' must be a positive integer", err, 1, true)
  end)

  it("refuses more than 16", function()
    local list = {}
    for i = 1, 17 do list[i] = ('"postgresql://quire@db%d/news"'):format(i) end
    local _, err = site_with(PG .. "read_replicas = { " .. table.concat(list, ", ") .. " }\n")
    assert.matches("at most 16 replicas, got 17", err)
  end)
end)
