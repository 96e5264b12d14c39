-- core.write_file, core.copy_file and core.gzip_file: how a static export
-- (lua/quire/static_export.lua) puts its pages, their .gz and its static files in place, through
-- a temporary file renamed over the old one.
local core = require "quire.core"
local testing = require "quire.testing"

local read = testing.read_file

local write = testing.write_file

describe("core.copy_file", function()
  local dir
  before_each(function() dir = assert(core.mkdtemp("quire-copy-spec")) end)
  after_each(function() core.remove_tree(dir) end)

  it("copies the bytes, of any size, and leaves no temporary file", function()
    -- (past one chunk of a read/write copy, with every byte value)
    local parts = {}
    for i = 0, 300000 do parts[#parts + 1] = string.char(i % 256) end
    local big = table.concat(parts)
    for name, data in pairs({ big = big, empty = "", small = "a static file\n" }) do
      write(dir .. "/" .. name, data)
      assert.is_true(core.copy_file(dir .. "/" .. name, dir .. "/" .. name .. ".out", dir .. "/tmp"))
      assert.equal(data, read(dir .. "/" .. name .. ".out"))
      assert.is_nil(core.stat(dir .. "/tmp"))
    end
  end)

  it("replaces a file that is there", function()
    write(dir .. "/src", "new bytes")
    write(dir .. "/dst", "the old bytes, longer than the new")
    assert.is_true(core.copy_file(dir .. "/src", dir .. "/dst", dir .. "/dst.tmp"))
    assert.equal("new bytes", read(dir .. "/dst"))
  end)

  it("copies from another file system (read and write where the kernel cannot)", function()
    local src = "/dev/shm/quire-copy-spec-" .. core.getpid()
    local f = core.stat("/dev/shm") == "dir" and io.open(src, "wb")
    if not f then return end -- (no tmpfs here)
    f:write(("x"):rep(100000))
    f:close()
    local ok = core.copy_file(src, dir .. "/dst", dir .. "/dst.tmp")
    os.remove(src)
    assert.is_true(ok)
    assert.equal(("x"):rep(100000), read(dir .. "/dst"))
  end)

  it("fails naming what was wrong, and removes its temporary file", function()
    local ok, err = core.copy_file(dir .. "/missing", dir .. "/dst", dir .. "/tmp")
    assert.is_nil(ok)
    assert.matches("missing: No such file", err, 1, true)
    -- a folder is no file to copy
    core.mkdir(dir .. "/folder")
    ok, err = core.copy_file(dir .. "/folder", dir .. "/dst", dir .. "/tmp")
    assert.is_nil(ok)
    assert.matches("folder", err, 1, true)
    assert.is_nil(core.stat(dir .. "/tmp"))
    assert.is_nil(core.stat(dir .. "/dst"))
    -- no folder to write into
    write(dir .. "/src", "x")
    ok, err = core.copy_file(dir .. "/src", dir .. "/no/dst", dir .. "/no/tmp")
    assert.is_nil(ok)
    assert.matches("no/tmp", err, 1, true)
    -- the rename fails (a folder in the way): the temporary file goes
    core.mkdir(dir .. "/taken")
    write(dir .. "/taken/x", "x")
    ok, err = core.copy_file(dir .. "/src", dir .. "/taken", dir .. "/tmp")
    assert.is_nil(ok)
    assert.matches("taken", err, 1, true)
    assert.is_nil(core.stat(dir .. "/tmp"))
  end)
end)

describe("core.write_file", function()
  it("writes the data through the temporary file, renamed over the old", function()
    local dir = assert(core.mkdtemp("quire-write-spec"))
    write(dir .. "/page", "old")
    assert.is_true(core.write_file(dir .. "/page", "the new page", dir .. "/page.tmp"))
    assert.equal("the new page", read(dir .. "/page"))
    assert.is_nil(core.stat(dir .. "/page.tmp"))
    local ok, err = core.write_file(dir .. "/no/page", "x", dir .. "/no/page.tmp")
    assert.is_nil(ok)
    assert.matches("no/page.tmp", err, 1, true)
    core.remove_tree(dir)
  end)
end)

describe("core.gzip_file", function()
  local dir
  before_each(function() dir = assert(core.mkdtemp("quire-gzip-spec")) end)
  after_each(function() core.remove_tree(dir) end)

  -- The file's bytes as gzip(1) decompresses them.
  local function gunzip(path)
    local p = assert(io.popen("gzip -dc " .. path, "r"))
    local s = p:read("a")
    assert.is_true(p:close())
    return s
  end

  it("writes data gzipped (the same bytes as core.gzip), through its temporary file", function()
    -- a page, one past the output buffer kept between calls (1 MiB), then a small one again
    local page = ("<p>The story of the day, told again.</p>\n"):rep(600)
    local parts = {}
    for i = 1, 300000 do parts[i] = string.char((i * 7919) % 251) end
    local big = table.concat(parts) .. page
    for i, data in ipairs({ page, big, "x", "" }) do
      local path = dir .. "/f" .. i .. ".gz"
      assert.is_true(core.gzip_file(data, 4, path, path .. ".tmp"))
      assert.is_nil(core.stat(path .. ".tmp"))
      assert.equal(core.gzip(data, 4), read(path))
      assert.equal(data, gunzip(path))
    end
    -- over a file that is there
    write(dir .. "/f1.gz", "old")
    assert.is_true(core.gzip_file("new", 9, dir .. "/f1.gz", dir .. "/tmp"))
    assert.equal("new", gunzip(dir .. "/f1.gz"))
  end)

  it("fails naming what was wrong, and removes its temporary file", function()
    local ok, err = core.gzip_file("x", 4, dir .. "/no/f.gz", dir .. "/no/f.gz.tmp")
    assert.is_nil(ok)
    assert.matches("no/f.gz.tmp: No such file", err, 1, true)
    core.mkdir(dir .. "/taken")
    write(dir .. "/taken/x", "x")
    ok, err = core.gzip_file("x", 4, dir .. "/taken", dir .. "/tmp")
    assert.is_nil(ok)
    assert.matches("taken", err, 1, true)
    assert.is_nil(core.stat(dir .. "/tmp"))
    assert.has_error(function() core.gzip_file("x", 13, dir .. "/f.gz", dir .. "/tmp") end)
  end)
end)
