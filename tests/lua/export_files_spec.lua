-- core.write_file, core.copy_file and core.gzip_file: how a static export
-- (lua/quire/static_export.lua) puts its pages, their .gz and its static files in place, through
-- a temporary file renamed over the old one, inside its folder and nowhere else (no symbolic link
-- below it followed; core.stat_at, core.read_at, core.remove_at and core.remove_stale neither).
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
      assert.is_true(core.copy_file(dir .. "/" .. name, dir, name .. ".out", ".tmp."))
      assert.equal(data, read(dir .. "/" .. name .. ".out"))
      assert.is_nil(core.stat(dir .. "/.tmp." .. name .. ".out"))
    end
  end)

  it("replaces a file that is there", function()
    write(dir .. "/src", "new bytes")
    write(dir .. "/dst", "the old bytes, longer than the new")
    assert.is_true(core.copy_file(dir .. "/src", dir, "dst", ".tmp."))
    assert.equal("new bytes", read(dir .. "/dst"))
  end)

  it("copies from another file system (read and write where the kernel cannot)", function()
    local src = "/dev/shm/quire-copy-spec-" .. core.getpid()
    local f = core.stat("/dev/shm") == "dir" and io.open(src, "wb")
    if not f then return end -- (no tmpfs here)
    f:write(("x"):rep(100000))
    f:close()
    local ok = core.copy_file(src, dir, "dst", ".tmp.")
    os.remove(src)
    assert.is_true(ok)
    assert.equal(("x"):rep(100000), read(dir .. "/dst"))
  end)

  it("fails naming what was wrong, and removes its temporary file", function()
    local ok, err = core.copy_file(dir .. "/missing", dir, "dst", ".tmp.")
    assert.is_nil(ok)
    assert.matches("missing: No such file", err, 1, true)
    -- a folder is no file to copy
    core.mkdir(dir .. "/folder")
    ok, err = core.copy_file(dir .. "/folder", dir, "dst", ".tmp.")
    assert.is_nil(ok)
    assert.matches("folder", err, 1, true)
    assert.is_nil(core.stat(dir .. "/.tmp.dst"))
    assert.is_nil(core.stat(dir .. "/dst"))
    -- a file where a folder should be
    write(dir .. "/src", "x")
    ok, err = core.copy_file(dir .. "/src", dir, "src/dst", ".tmp.")
    assert.is_nil(ok)
    assert.matches(dir .. "/src: Not a directory", err, 1, true)
    -- the rename fails (a folder in the way): the temporary file goes
    core.mkdir(dir .. "/taken")
    write(dir .. "/taken/x", "x")
    ok, err = core.copy_file(dir .. "/src", dir, "taken", ".tmp.")
    assert.is_nil(ok)
    assert.matches("taken", err, 1, true)
    assert.is_nil(core.stat(dir .. "/.tmp.taken"))
  end)
end)

describe("core.write_file", function()
  local dir
  before_each(function() dir = assert(core.mkdtemp("quire-write-spec")) end)
  after_each(function() core.remove_tree(dir) end)

  it("writes the data through the temporary file, renamed over the old", function()
    write(dir .. "/page", "old")
    assert.is_true(core.write_file(dir, "page", "the new page", ".tmp."))
    assert.equal("the new page", read(dir .. "/page"))
    assert.is_nil(core.stat(dir .. "/.tmp.page"))
    -- the folders that are missing are made
    assert.is_true(core.write_file(dir, "a/b/c/index.html", "deep", ".tmp."))
    assert.equal("deep", read(dir .. "/a/b/c/index.html"))
    -- a temporary file left by a process gone with the same name is replaced
    write(dir .. "/a/.tmp.index.html", "half a page")
    assert.is_true(core.write_file(dir, "a/index.html", "whole", ".tmp."))
    assert.equal("whole", read(dir .. "/a/index.html"))
    assert.is_nil(core.stat(dir .. "/a/.tmp.index.html"))
  end)

  it("replaces an empty folder in the file's place, and fails on one that holds anything", function()
    -- (someone's mkdir out/feed.xml.gz: nothing in it to lose, and each writer replaces it)
    write(dir .. "/src", "copied")
    for _, put in ipairs({
      function(name) return core.write_file(dir, name, "written", ".tmp.") end,
      function(name) return core.gzip_file("written", 4, dir, name, ".tmp.") end,
      function(name) return core.copy_file(dir .. "/src", dir, name, ".tmp.") end,
    }) do
      core.remove_tree(dir .. "/f")
      core.mkdir(dir .. "/f")
      assert.is_true(put("f"))
      assert.equal("file", core.stat(dir .. "/f"))
      core.remove_at(dir, "f")
      core.mkdir(dir .. "/f")
      write(dir .. "/f/kept", "x")
      local ok, err = put("f")
      assert.is_nil(ok)
      assert.matches(dir .. "/f: Is a directory", err, 1, true)
      assert.equal("x", read(dir .. "/f/kept"))
      assert.is_nil(core.stat(dir .. "/.tmp.f"))
    end
  end)

  it("fails naming what was wrong", function()
    write(dir .. "/no", "a file")
    local ok, err, link = core.write_file(dir, "no/page", "x", ".tmp.")
    assert.is_nil(ok)
    assert.matches(dir .. "/no: Not a directory", err, 1, true)
    assert.is_nil(link)
    for _, bad in ipairs({ "../x", "a/../x", "a//x", "./x", "" }) do
      ok, err = core.write_file(dir, bad, "x", ".tmp.")
      assert.is_nil(ok, bad)
      assert.matches("Invalid argument", err, 1, true)
    end
  end)

  it("writes nothing through a symbolic link below its folder, and names it", function()
    local outside = dir .. "/outside"
    core.mkdir(outside)
    core.mkdir(dir .. "/out")
    assert.is_true(os.execute(("ln -s %s %s/out/tag"):format(outside, dir)))
    local ok, err, link = core.write_file(dir .. "/out", "tag/arts/index.html", "x", ".tmp.")
    assert.is_nil(ok)
    assert.equal(dir .. "/out/tag", link)
    assert.matches("symbolic link", err, 1, true)
    assert.same({}, core.listdir(outside))
    ok, err, link = core.gzip_file("x", 4, dir .. "/out", "tag/index.html.gz", ".tmp.")
    assert.is_nil(ok)
    assert.equal(dir .. "/out/tag", link)
    write(dir .. "/src", "x")
    ok, err, link = core.copy_file(dir .. "/src", dir .. "/out", "tag/x.css", ".tmp.")
    assert.is_nil(ok)
    assert.equal(dir .. "/out/tag", link)
    assert.same({}, core.listdir(outside))
    -- (the output folder itself may be one: its user named it)
    assert.is_true(os.execute(("ln -s %s/out %s/named"):format(dir, dir)))
    assert.is_true(core.write_file(dir .. "/named", "page", "y", ".tmp."))
    assert.equal("y", read(dir .. "/out/page"))
    -- a file that is a link is replaced, not written through; so is a temporary file's name
    write(outside .. "/target", "kept")
    assert.is_true(os.execute(("ln -s %s/target %s/out/linked"):format(outside, dir)))
    assert.is_true(os.execute(("ln -s %s/target %s/out/.tmp.page"):format(outside, dir)))
    assert.is_true(core.write_file(dir .. "/out", "linked", "new", ".tmp."))
    assert.is_true(core.write_file(dir .. "/out", "page", "newer", ".tmp."))
    assert.equal("kept", read(outside .. "/target"))
    assert.equal("file", core.stat_at(dir .. "/out", "linked"))
    assert.equal("newer", read(dir .. "/out/page"))
  end)
end)

-- A temporary folder holding outside/NAME ("elsewhere"), what a link in its empty out/ may
-- point at.
local function outside_and_out(prefix, name)
  local dir = assert(core.mkdtemp(prefix))
  core.mkdir(dir .. "/outside")
  write(dir .. "/outside/" .. name, "elsewhere")
  core.mkdir(dir .. "/out")
  return dir
end

describe("core.stat_at and core.remove_at", function()
  it("look and remove below the folder without following a symbolic link", function()
    local dir = outside_and_out("quire-at-spec", "index.html")
    assert.is_true(core.write_file(dir .. "/out", "a/index.html", "here", ".tmp."))
    assert.is_true(os.execute(("ln -s %s/outside %s/out/tag"):format(dir, dir)))
    assert.equal("file", core.stat_at(dir .. "/out", "a/index.html"))
    assert.equal("dir", core.stat_at(dir .. "/out", "a"))
    assert.equal("link", core.stat_at(dir .. "/out", "tag"))
    assert.is_nil(core.stat_at(dir .. "/out", "tag/index.html"))
    assert.is_nil(core.stat_at(dir .. "/out", "a/missing"))
    local ok, err, link = core.remove_at(dir .. "/out", "tag/index.html")
    assert.is_nil(ok)
    assert.equal(dir .. "/out/tag", link)
    assert.equal("elsewhere", read(dir .. "/outside/index.html"))
    assert.is_nil(core.remove_at(dir .. "/out", "a", true)) -- (not empty)
    assert.is_true(core.remove_at(dir .. "/out", "a/index.html"))
    assert.is_true(core.remove_at(dir .. "/out", "a", true))
    assert.is_true(core.remove_at(dir .. "/out", "tag")) -- (the link itself)
    assert.equal("elsewhere", read(dir .. "/outside/index.html"))
    assert.same({}, core.listdir(dir .. "/out"))
    core.remove_tree(dir)
  end)
end)

describe("core.read_at", function()
  it("reads a file below the folder, and no symbolic link, neither the file's nor a folder's", function()
    local dir = outside_and_out("quire-read-spec", "secret")
    local big = ("<p>A page of some size.</p>\n"):rep(5000) -- (past one read)
    assert.is_true(core.write_file(dir .. "/out", "a/index.html", big, ".tmp."))
    assert.equal(big, core.read_at(dir .. "/out", "a/index.html"))
    write(dir .. "/out/empty", "")
    assert.equal("", core.read_at(dir .. "/out", "empty"))
    -- a link in the file's place: refused and named, not read through
    assert.is_true(os.execute(("ln -s %s/outside/secret %s/out/a/linked.html"):format(dir, dir)))
    local data, err, link = core.read_at(dir .. "/out", "a/linked.html")
    assert.is_nil(data)
    assert.equal(dir .. "/out/a/linked.html", link)
    assert.matches("a symbolic link (none is followed inside " .. dir .. "/out)", err, 1, true)
    -- a link where a folder should be
    assert.is_true(os.execute(("ln -s %s/outside %s/out/tag"):format(dir, dir)))
    data, err, link = core.read_at(dir .. "/out", "tag/secret")
    assert.is_nil(data)
    assert.equal(dir .. "/out/tag", link)
    -- nothing there, a folder, a FIFO (not waited on)
    data, err, link = core.read_at(dir .. "/out", "a/missing")
    assert.is_nil(data)
    assert.matches(dir .. "/out/a/missing: No such file", err, 1, true)
    assert.is_nil(link)
    data, err = core.read_at(dir .. "/out", "a")
    assert.is_nil(data)
    assert.matches(dir .. "/out/a: not a regular file", err, 1, true)
    assert.is_true(os.execute(("mkfifo %s/out/fifo"):format(dir)))
    data, err = core.read_at(dir .. "/out", "fifo")
    assert.is_nil(data)
    assert.matches("not a regular file", err, 1, true)
    core.remove_tree(dir)
  end)
end)

describe("core.same_at", function()
  it("compares a file below the folder with one elsewhere, block by block, following no link", function()
    local dir = outside_and_out("quire-same-spec", "secret")
    local out = dir .. "/out"
    local big = ("<p>A page of some size.</p>\n"):rep(5000) -- (past one block)
    assert.is_true(core.write_file(out, "a/index.html", big, ".tmp."))
    write(dir .. "/made", big)
    assert.is_true(core.same_at(out, "a/index.html", dir .. "/made"))
    write(dir .. "/made", big:sub(1, -2) .. "!") -- (the last byte, past the first block)
    assert.is_false(core.same_at(out, "a/index.html", dir .. "/made"))
    write(dir .. "/made", big .. "\n")
    assert.is_false(core.same_at(out, "a/index.html", dir .. "/made"))
    write(dir .. "/empty", "")
    write(out .. "/empty", "")
    assert.is_true(core.same_at(out, "empty", dir .. "/empty"))
    -- a link to the same bytes, nothing there, a folder: not the same
    write(dir .. "/outside/same", big)
    write(dir .. "/made", big)
    assert.is_true(os.execute(("ln -s %s/outside/same %s/linked.html"):format(dir, out)))
    assert.is_false(core.same_at(out, "linked.html", dir .. "/made"))
    assert.is_false(core.same_at(out, "missing", dir .. "/made"))
    assert.is_false(core.same_at(out, "a", dir .. "/made"))
    core.remove_tree(dir)
  end)
end)

describe("core.siblings_at", function()
  it("looks at a file and its siblings with one opening of their folder, following no link", function()
    local dir = outside_and_out("quire-siblings-spec", "secret")
    local out = dir .. "/out"
    local page = ("<p>A page.</p>\n"):rep(200)
    assert.is_true(core.write_file(out, "a/index.html", page, ".tmp."))
    assert.is_true(core.gzip_file(page, 4, out, "a/index.html.gz", ".tmp."))
    assert.is_true(os.execute(("ln -s %s/outside/secret %s/a/index.html.br"):format(dir, out)))
    local kind, size, kinds, isize = core.siblings_at(out, "a/index.html", { ".gz", ".br", ".zst" }, ".gz")
    assert.equal("file", kind)
    assert.equal(#page, size)
    assert.same({ [".gz"] = "file", [".br"] = "link" }, kinds)
    assert.equal(#page, isize) -- (the gzip trailer's ISIZE)
    -- cut short: its last 4 bytes are others; under 4 bytes, none
    local gz = read(out .. "/a/index.html.gz")
    write(out .. "/a/index.html.gz", gz:sub(1, #gz // 2))
    assert.are_not.equal(#page, select(4, core.siblings_at(out, "a/index.html", { ".gz" }, ".gz")))
    write(out .. "/a/index.html.gz", "ab")
    assert.is_nil(select(4, core.siblings_at(out, "a/index.html", { ".gz" }, ".gz")))
    -- a link in the tail's place is not read (nor without tail)
    assert.is_true(os.execute(("ln -sf %s/outside/secret %s/a/index.html.gz"):format(dir, out)))
    assert.is_nil(select(4, core.siblings_at(out, "a/index.html", { ".gz" }, ".gz")))
    assert.is_nil(select(4, core.siblings_at(out, "a/index.html", { ".gz" })))
    -- nothing there; a link where a folder should be: nothing either
    kind, size, kinds = core.siblings_at(out, "b/index.html", { ".gz" })
    assert.is_nil(kind)
    assert.is_nil(size)
    assert.same({}, kinds)
    assert.is_true(os.execute(("ln -s %s/outside %s/tag"):format(dir, out)))
    kind, size, kinds = core.siblings_at(out, "tag/secret", { ".gz" })
    assert.is_nil(kind)
    assert.same({}, kinds)
    core.remove_tree(dir)
  end)
end)

describe("core.remove_stale", function()
  it("removes the temporary files of processes gone, below the folder only", function()
    local dir = assert(core.mkdtemp("quire-stale-spec"))
    local gone = 4194305 -- (past any Linux pid_max)
    core.mkdir(dir .. "/outside")
    core.mkdir(dir .. "/out")
    local stale = (".quire-tmp-%d.index.html"):format(gone)
    write(dir .. "/outside/" .. stale, "x")
    assert.is_true(core.write_file(dir .. "/out", "a/b/" .. stale, "x", ".tmp."))
    assert.is_true(core.write_file(dir .. "/out", (".quire-tmp-%d.index.html"):format(1), "x", ".tmp.")) -- (running)
    assert.is_true(core.write_file(dir .. "/out", "a/index.html", "x", ".tmp."))
    assert.is_true(os.execute(("ln -s %s/outside %s/out/tag"):format(dir, dir)))
    assert.equal(1, core.remove_stale(dir .. "/out", ".quire-tmp-"))
    assert.is_nil(core.stat(dir .. "/out/a/b/" .. stale))
    assert.equal("file", core.stat(dir .. "/out/.quire-tmp-1.index.html"))
    assert.equal("file", core.stat(dir .. "/out/a/index.html"))
    assert.equal("file", core.stat(dir .. "/outside/" .. stale))
    core.remove_tree(dir)
  end)

  it("names what it removes, and with dry only names what it would", function()
    local dir = assert(core.mkdtemp("quire-stale-spec"))
    local gone = 4194305
    local names = { (".quire-tmp-%d.index.html"):format(gone), ("a/b/.quire-tmp-%d.feed.xml"):format(gone) }
    for _, name in ipairs(names) do assert.is_true(core.write_file(dir, name, "x", ".tmp.")) end
    assert.is_true(core.write_file(dir, "a/index.html", "x", ".tmp."))
    local n, found = core.remove_stale(dir, ".quire-tmp-", nil, true)
    table.sort(found)
    assert.equal(2, n)
    assert.same({ names[1], names[2] }, found)
    for _, name in ipairs(names) do assert.equal("file", core.stat(dir .. "/" .. name)) end
    n, found = core.remove_stale(dir, ".quire-tmp-")
    table.sort(found)
    assert.equal(2, n)
    assert.same({ names[1], names[2] }, found)
    for _, name in ipairs(names) do assert.is_nil(core.stat(dir .. "/" .. name)) end
    assert.same({}, select(2, core.remove_stale(dir, ".quire-tmp-", nil, true)))
    core.remove_tree(dir)
  end)

  it("removes an older quire's, named NAME.tmp-PID, when asked to", function()
    local dir = assert(core.mkdtemp("quire-stale-spec"))
    local gone = 4194305
    for _, name in ipairs({ "index.html.tmp-" .. gone, "a/feed.xml.tmp-" .. gone, "a/index.html.tmp-1", ".tmp-" .. gone,
      "notes.tmp-", "index.html.tmp-" .. gone .. "x", "index.html" }) do
      assert.is_true(core.write_file(dir, name, "x", ".tmp."))
    end
    assert.equal(0, core.remove_stale(dir, ".quire-tmp-"))
    assert.equal(2, core.remove_stale(dir, ".quire-tmp-", ".tmp-"))
    assert.is_nil(core.stat(dir .. "/index.html.tmp-" .. gone))
    assert.is_nil(core.stat(dir .. "/a/feed.xml.tmp-" .. gone))
    -- (a running process's; no name before the suffix; no PID; not one)
    for _, name in ipairs({ "a/index.html.tmp-1", ".tmp-" .. gone, "notes.tmp-", "index.html.tmp-" .. gone .. "x", "index.html" }) do
      assert.equal("file", core.stat(dir .. "/" .. name), name)
    end
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
      assert.is_true(core.gzip_file(data, 4, dir, "f" .. i .. ".gz", ".tmp."))
      assert.is_nil(core.stat(dir .. "/.tmp.f" .. i .. ".gz"))
      assert.equal(core.gzip(data, 4), read(path))
      assert.equal(data, gunzip(path))
    end
    -- over a file that is there
    write(dir .. "/f1.gz", "old")
    assert.is_true(core.gzip_file("new", 9, dir, "f1.gz", ".tmp."))
    assert.equal("new", gunzip(dir .. "/f1.gz"))
  end)

  it("fails naming what was wrong, and removes its temporary file", function()
    local ok, err = core.gzip_file("x", 4, dir .. "/no", "f.gz", ".tmp.")
    assert.is_nil(ok)
    assert.matches(dir .. "/no: No such file", err, 1, true)
    core.mkdir(dir .. "/taken")
    write(dir .. "/taken/x", "x")
    ok, err = core.gzip_file("x", 4, dir, "taken", ".tmp.")
    assert.is_nil(ok)
    assert.matches("taken", err, 1, true)
    assert.is_nil(core.stat(dir .. "/.tmp.taken"))
    assert.has_error(function() core.gzip_file("x", 13, dir, "f.gz", ".tmp.") end)
  end)
end)

describe("core.spawn, core.wait and core.running", function()
  it("start children writing into one pipe, and tell how each ended", function()
    local pipe, pids = core.spawn({ { "/bin/sh", "-c", "echo one; exit 3" }, { "/bin/sh", "-c", "read x; echo two $x" } })
    assert.equal(2, #pids)
    local lines = {}
    for line in pipe:lines() do lines[#lines + 1] = line end
    pipe:close()
    table.sort(lines)
    assert.same({ "one", "two" }, lines) -- (the second read nothing: stdin is /dev/null)
    assert.equal(3, core.wait(pids[1]))
    assert.equal(0, core.wait(pids[2]))
    local _, bad = core.spawn({ { "/no/such/program" } })
    assert.equal(127, core.wait(bad[1]))
    -- A file this process has open (io.open: not closed on exec) does not reach the children:
    -- only stdin, stdout and stderr do.
    local held = assert(io.open(os.tmpname(), "w"))
    local fds_pipe, fds_pids = core.spawn({ { "/bin/sh", "-c", "ls /proc/self/fd | wc -l" } })
    local count = fds_pipe:read("l")
    fds_pipe:close()
    held:close()
    assert.equal(0, core.wait(fds_pids[1]))
    assert.equal("4", (count:gsub("%s", ""))) -- (0, 1, 2 and the one ls reads /proc/self/fd with)
    assert.has_error(function() core.spawn({ { "/bin/sh", 1 } }) end)
  end)

  it("tells an ended child not yet waited for (a zombie) from a running one", function()
    assert.is_true(core.running(core.getpid()))
    local pipe, pids = core.spawn({ { "/bin/sh", "-c", "exit 0" } })
    assert.is_nil(pipe:read("l")) -- (it ended: the pipe closed)
    pipe:close()
    local t = core.clock()
    while core.running(pids[1]) and core.clock() - t < 5 do end
    assert.is_false(core.running(pids[1]))
    assert.equal(0, core.wait(pids[1]))
    assert.is_false(core.running(pids[1]))
  end)
end)
