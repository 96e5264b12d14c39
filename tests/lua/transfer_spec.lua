-- Export and import round trips: export -> import into a fresh site -> export gives identical files.
local testing = require "quire.testing"
local core = require "quire.core"
local transfer = require "quire.transfer"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function tree(dir, prefix, out)
  out = out or {}
  for _, name in ipairs(core.listdir(dir) or {}) do
    local path, rel = dir .. "/" .. name, (prefix and (prefix .. "/") or "") .. name
    if core.stat(path) == "dir" then tree(path, rel, out) else out[rel] = read(path) end
  end
  return out
end

local function fill(q)
  q.users.create { login = "zoe", name = "Zoë Ångström", email = "zoe@example.org", bio = "Writes about \"data\"." }
  local a = q.content.create { type = "article", title = "Ünïcode & <tags> “quoted”", body = "# Head\n\nBody with *markdown*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    status = "published", published_at = "2026-02-03T04:05:06Z", author = "zoe", tags = { "Tag One", "Ölkrise" }, section = "World",
    fields = { dateline = "Zürich", standfirst = "Line one\nline two" } }
  local b = q.content.create { type = "page", title = "About", body = "", status = "draft" }
  q.content.create { type = "article", title = "No terms", body = "plain" }
  q.content.update(a, { title = "Ünïcode & <tags> “quoted” (updated)" })
  local c1 = q.comments.create { entry = a, author_name = "Reader", author_email = "r@example.org", body = "First", status = "approved" }
  local c2 = q.comments.create { entry = a, parent = c1, author_name = "Other", author_email = "o@example.org",
    author_url = "https://o.example", body = "Reply\nwith lines", status = "held" }
  q.comments.create { entry = a, parent = c2, author_name = "Third", author_email = "t@example.org", body = "Deeper", status = "spam" }
  q.comments.create { entry = b, author_name = "P", author_email = "p@example.org", body = "On a page" }
end

for _, format in ipairs({ "jsonl", "markdown" }) do
  describe("export --format " .. format, function()
    it("round-trips losslessly", function()
      local q1, dir1 = testing.site()
      fill(q1)
      local out1, out2 = dir1 .. "/../export1", dir1 .. "/../export2"
      local n, c = transfer.export(q1, out1, format)
      assert.equal(3, n)
      assert.equal(4, c)
      local q2, dir2 = testing.site()
      local e, c2, u = transfer.import(q2, out1)
      assert.same({ 3, 4, 1 }, { e, c2, u })
      transfer.export(q2, dir2 .. "/../export2", format)
      local t1, t2 = tree(out1), tree(dir2 .. "/../export2")
      assert.same(t1, t2)
      assert.is_truthy(next(t1))
      -- importing again updates in place rather than duplicating entries
      transfer.import(q2, out1)
      assert.equal(3, q2.content.count {})
      assert.equal(4, #q2.comments.query {})
    end)
  end)
end
