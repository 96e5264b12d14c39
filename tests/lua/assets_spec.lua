-- Fingerprinted static copies (quire.assets): which old copies a pass removes and when, the
-- lease a process keeps in the mtime of the copies it names, and static_retention. Real files
-- and mtimes; the clock a pass counts from is given, so days pass at once. (tests/assets_test.py
-- does the same with a real server.)
local testing = require "quire.testing"
local core = require "quire.core"
local assets = require "quire.assets"
local quire_mod = require "quire"

local DAY = 86400
-- How old an unnamed superseded copy must be to go, with the default static_retention.
local GONE_AFTER = 7 * DAY + assets.RENEW + assets.PASS

local function mtime(path) return select(2, core.stat(path)) end

-- A site with a plugin "brand" whose static folder holds brand.css and logo.svg: its API, its
-- folder, the static folder and the copies' folder (SITE/.quire/static/brand).
local function brand_site()
  local plugins = testing.temp_dir("quire-assets")
  local static = plugins .. "/brand/static"
  assert(core.mkdir(plugins .. "/brand"))
  assert(core.mkdir(static))
  testing.write_file(plugins .. "/brand/plugin.lua", 'return quire.plugin { name = "brand", version = "1.0" }\n')
  testing.write_file(static .. "/brand.css", "body { color: #111 }\n")
  testing.write_file(static .. "/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n")
  local q, dir = testing.site { plugins = { "brand" }, plugin_path = { plugins } }
  return q, dir, static, assets.dir(q._site.config) .. "/brand"
end

-- The file of the copy at url.
local function file_of(q, url) return assets.dir(q._site.config) .. url:sub(#"/static" + 1) end

describe("quire.assets old copies", function()
  it("keeps the copies the files make now, however old, and removes a superseded one static_retention after the last process naming it", function()
    local q, dir, static = brand_site()
    local v1 = q.assets.url("brand", "brand.css")
    local logo = q.assets.url("brand", "logo.svg")
    testing.write_file(static .. "/brand.css", "body { color: #222 }\n")
    -- (a server started after the edit: a process of its own, which names the new copy)
    local q2 = assert(quire_mod.open(dir))
    local v2 = q2.assets.url("brand", "brand.css")
    assert.are_not.equal(v1, v2)
    assert.equal(v1, q.assets.url("brand", "brand.css")) -- the first still names v1 (read at its start)
    local now = os.time()
    -- The current copies, untouched for a year, stay: what the files make is never removed.
    core.touch(file_of(q, v2), now - 365 * DAY)
    core.touch(file_of(q, logo), now - 365 * DAY)
    -- v1 is named by a live process: its pass renews the lease, so the other's keeps it.
    core.touch(file_of(q, v1), now - 30 * DAY)
    assert.equal(0, q._assets.pass(now))
    assert.equal(now, mtime(file_of(q, v1)))
    assert.equal(0, q2._assets.pass(now))
    -- The first process ends (a reload): v1 is named by none from now. It stays for
    -- static_retention (plus the lease's slack), then goes; the current copies stay.
    assert.equal(0, q2._assets.pass(now + GONE_AFTER - 1))
    assert.equal("file", core.stat(file_of(q, v1)))
    assert.equal(1, q2._assets.pass(now + GONE_AFTER + 1))
    assert.is_nil(core.stat(file_of(q, v1)))
    assert.equal("file", core.stat(file_of(q, v2)))
    assert.equal("file", core.stat(file_of(q, logo)))
    -- (and the server goes on naming what it named)
    assert.equal(v2, q2.assets.url("brand", "brand.css"))
  end)

  it("makes a copy again that a pass elsewhere removed while this process named it", function()
    local q, dir, static = brand_site()
    local v1 = q.assets.url("brand", "brand.css")
    local path = file_of(q, v1)
    -- (another process's pass removed it just as this one named it: its lease came too late)
    assert(os.remove(path))
    assert.equal(v1, q.assets.url("brand", "brand.css")) -- (named from memory: not looked at)
    -- This process's next pass finds its copy gone, and the next page naming it writes it again.
    assert.equal(0, q._assets.pass(os.time()))
    assert.equal(v1, q.assets.url("brand", "brand.css"))
    assert.equal("body { color: #111 }\n", testing.read_file(path))
  end)

  it("renews a copy when a process names it again: an old copy the files make again is leased anew", function()
    local q, dir, static = brand_site()
    local v1 = q.assets.url("brand", "brand.css")
    testing.write_file(static .. "/brand.css", "body { color: #333 }\n")
    local old = os.time() - 365 * DAY
    core.touch(file_of(q, v1), old)
    -- The edit undone, a new process names v1 again: its mtime is now, not a year ago.
    testing.write_file(static .. "/brand.css", "body { color: #111 }\n")
    local before = os.time()
    local q2 = assert(quire_mod.open(dir))
    assert.equal(v1, q2.assets.url("brand", "brand.css"))
    assert.is_true(mtime(file_of(q, v1)) >= before)
    -- A copy whose mtime is under a day old is left as it is (no write at every naming).
    core.touch(file_of(q, v1), before - 3600)
    local q3 = assert(quire_mod.open(dir))
    q3.assets.url("brand", "brand.css")
    assert.equal(before - 3600, mtime(file_of(q, v1)))
  end)

  it("logs a lease it cannot renew (a copy another user owns), once a process, and still names the copy", function()
    local q, dir = brand_site()
    local v1, logo = q.assets.url("brand", "brand.css"), q.assets.url("brand", "logo.svg")
    core.touch(file_of(q, v1), os.time() - 30 * DAY)
    core.touch(file_of(q, logo), os.time() - 30 * DAY)
    -- (setting an mtime needs the file's owner; the tests run as root, who may: refused here as
    -- utimensat refuses another user's file)
    local touch, stderr, said = core.touch, io.stderr, {}
    core.touch = function(path) return nil, path .. ": Operation not permitted" end
    io.stderr = { write = function(_, text) said[#said + 1] = text end }
    local ok, err = pcall(function()
      local q2 = assert(quire_mod.open(dir))
      assert.equal(v1, q2.assets.url("brand", "brand.css"))
      assert.equal(logo, q2.assets.url("brand", "logo.svg")) -- (a second copy it cannot renew: not said again)
      q2._assets.pass()
      q2._assets.pass()
    end)
    core.touch, io.stderr = touch, stderr
    assert(ok, err)
    assert.equal(1, #said)
    assert.truthy(said[1]:find("cannot renew the lease of the static copy " .. file_of(q, v1), 1, true))
    assert.truthy(said[1]:find("Operation not permitted", 1, true))
    assert.truthy(said[1]:find("chown", 1, true))
  end)

  it("removes an old copy of a plugin no longer loaded and a killed writer's temporary file; leaves folders and links", function()
    local q, _, _, copies = brand_site()
    local root = assets.dir(q._site.config)
    q.assets.url("brand", "brand.css")
    local now = os.time()
    assert(core.mkdir(root .. "/gone"))
    testing.write_file(root .. "/gone/old.0123456789ab.css", "x")
    testing.write_file(copies .. "/brand.0123456789ab.css.4242.tmp", "half")
    testing.write_file(copies .. "/brand.aaaaaaaaaaaa.css", "younger") -- superseded, inside the retention
    assert(core.mkdir(copies .. "/sub"))
    testing.write_file(copies .. "/sub/x.bbbbbbbbbbbb.css", "a folder is not a copy")
    os.execute(("ln -s /etc/hostname '%s/link.cccccccccccc.css'"):format(copies))
    for _, p in ipairs { root .. "/gone/old.0123456789ab.css", copies .. "/brand.0123456789ab.css.4242.tmp", copies .. "/sub/x.bbbbbbbbbbbb.css" } do
      core.touch(p, now - 400 * DAY)
    end
    core.touch(copies .. "/brand.aaaaaaaaaaaa.css", now - 3 * DAY)
    assert.equal(2, q._assets.pass(now))
    assert.is_nil(core.stat(root .. "/gone/old.0123456789ab.css"))
    assert.equal("dir", core.stat(root .. "/gone"))
    assert.is_nil(core.stat(copies .. "/brand.0123456789ab.css.4242.tmp"))
    assert.equal("file", core.stat(copies .. "/brand.aaaaaaaaaaaa.css"))
    assert.equal("file", core.stat(copies .. "/sub/x.bbbbbbbbbbbb.css"))
    assert.equal("link", core.stat_at(root, "brand/link.cccccccccccc.css"))
  end)

  it("keeps every copy with static_retention = 0, and checks the setting", function()
    local q, _, static = brand_site()
    local v1 = q.assets.url("brand", "brand.css")
    testing.write_file(static .. "/brand.css", "body { color: #444 }\n")
    core.touch(file_of(q, v1), os.time() - 400 * DAY)
    local q2 = assert(quire_mod.open(q._site.config.dir))
    q2._site.config.static_retention = 0
    assert.equal(0, q2._assets.pass(os.time() + 400 * DAY))
    assert.equal("file", core.stat(file_of(q, v1)))
    q2._site.config.static_retention = 2
    assert.equal(1, q2._assets.pass(os.time() + 2 * DAY + assets.RENEW + assets.PASS + 1))
    assert.equal(7, (testing.config_with("name = 'x'\n")).static_retention)
    -- (and none so long that days * 86400 wraps round: 10^15 days made a cutoff in the future)
    -- (trash_retention is counted back the same way: 10^15 days would have emptied the trash)
    for _, setting in ipairs { "static_retention", "trash_retention" } do
      for _, bad in ipairs { "-1", "1.5", '"7"', "36501", "1000000000000000" } do
        local cfg, err = testing.config_with(setting .. " = " .. bad .. "\n")
        assert.is_nil(cfg)
        assert.matches(setting .. ".* must be a", err)
      end
      assert.equal(36500, testing.config_with(setting .. " = 36500\n")[setting])
    end
  end)

  it("reads a static file only when an old copy may be its own: none in a pass that finds no old copy", function()
    local q, _, static, copies = brand_site()
    testing.write_file(static .. "/LICENSE", "no extension\n")
    testing.write_file(static .. "/a.b.css", "two dots\n")
    local urls = { q.assets.url("brand", "brand.css"), q.assets.url("brand", "LICENSE"), q.assets.url("brand", "a.b.css") }
    local q2 = assert(quire_mod.open(q._site.config.dir)) -- (a process that named nothing)
    local opened = {}
    local open = io.open
    io.open = function(path, ...)
      if path:sub(1, #static) == static then opened[#opened + 1] = path end
      return open(path, ...)
    end
    local ok, err = pcall(function()
      assert.equal(0, q2._assets.pass(os.time()))
      assert.same({}, opened)
      -- The current copies, a year old: each is read back to its file, which still makes it.
      for _, url in ipairs(urls) do core.touch(file_of(q, url), os.time() - 365 * DAY) end
      testing.write_file(copies .. "/brand.0123456789ab.css", "superseded")
      core.touch(copies .. "/brand.0123456789ab.css", os.time() - 365 * DAY)
      assert.equal(1, q2._assets.pass(os.time()))
      for _, url in ipairs(urls) do assert.equal("file", core.stat(file_of(q, url))) end
      table.sort(opened)
      assert.same({ static .. "/LICENSE", static .. "/a.b.css", static .. "/brand.css" }, opened)
    end)
    io.open = open
    assert(ok, err)
  end)

  it("passes in a worker's tick once per PASS at most", function()
    local q, _, _, copies = brand_site()
    q.assets.url("brand", "brand.css")
    local logged = 0
    q._assets.log = function(n) logged = logged + n end
    testing.write_file(copies .. "/brand.0123456789ab.css", "old")
    core.touch(copies .. "/brand.0123456789ab.css", os.time() - 400 * DAY)
    q._assets.tick(os.time()) -- (the first pass is half a PASS to a PASS after the start)
    assert.equal("file", core.stat(copies .. "/brand.0123456789ab.css"))
    q._assets.tick(os.time() + assets.PASS)
    assert.is_nil(core.stat(copies .. "/brand.0123456789ab.css"))
    assert.equal(1, logged)
  end)
end)
