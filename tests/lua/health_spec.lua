-- GET /healthz, the probe of Varnish or a load balancer (docs/varnish.vcl): 200 while the node's
-- database answers, never kept by a cache, saying nothing else. (503 when the database cannot
-- be reached: tests/pg_blackhole_test.py, against a PostgreSQL that drops packets.)
local testing = require "quire.testing"

describe("the health probe", function()
  it("answers 200 after a round trip to the database, and is never cached", function()
    local q = testing.site { plugins = { "theme" } }
    for _, method in ipairs { "GET", "HEAD" } do
      local r = q:request(method, "/healthz")
      assert.equal(200, r.status)
      assert.equal("ok: the database answers\n", r.body)
      assert.truthy(r.headers["cache-control"]:find("no-store", 1, true))
      assert.equal("", r.tags)
    end
  end)
end)
