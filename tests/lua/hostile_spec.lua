-- Hostile input at the data level (issue 14): text XML cannot carry is refused at input for
-- every text field, and dropped from XML output; request parsers and trims are linear; an
-- update can name the revision it was based on.
local testing = require "quire.testing"
local core = require "quire.core"
local app = require "quire.app"

local function refused(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected the write to be refused")
  return err, tostring(err)
end

-- Seconds fn takes (best of 3), for ratios between a small and a big input.
local function seconds(fn)
  local best = math.huge
  for _ = 1, 3 do
    local t = os.clock()
    fn()
    best = math.min(best, os.clock() - t)
  end
  return math.max(best, 1e-6)
end

-- Each character XML 1.0 cannot carry, as UTF-8, with its code point.
local BAD = {
  { "\0", 0x0 }, { "\1", 0x1 }, { "\11", 0xB }, { "\12", 0xC }, { "\27", 0x1B }, { "\31", 0x1F },
  { utf8.char(0xFFFE), 0xFFFE }, { utf8.char(0xFFFF), 0xFFFF }, { utf8.char(0xFDD0), 0xFDD0 },
  { utf8.char(0xFDEF), 0xFDEF }, { utf8.char(0x1FFFE), 0x1FFFE }, { utf8.char(0x10FFFF), 0x10FFFF },
}

describe("text XML cannot carry", function()
  it("is found by core.text_check with its code point and character number", function()
    for _, b in ipairs(BAD) do
      local problem, cp, pos = core.text_check("ab" .. b[1] .. "c", true)
      assert.equal("char", problem)
      assert.equal(b[2], cp)
      assert.equal(3, pos)
    end
    assert.equal(5, select(3, core.text_check("Café" .. "\1", true))) -- characters, not bytes
    for _, ok in ipairs({ "tab\there", "lines\r\n", "é€😀", utf8.char(0xFFFD), utf8.char(0xFDCF), utf8.char(0xFDF0),
      utf8.char(0x1FFFD), "\127", utf8.char(0x85) }) do
      assert.is_nil(core.text_check(ok, true), ("%q is XML text"):format(ok))
    end
  end)

  it("is refused in every text field of an entry, naming the field and the character", function()
    local q = testing.site()
    for _, b in ipairs(BAD) do
      local err, msg = refused(function()
        q.content.create { type = "article", title = "Bad" .. b[1], body = "x" .. b[1], tags = { "t" .. b[1] },
          section = "s" .. b[1], fields = { standfirst = "y" .. b[1], dateline = "z" .. b[1] } }
      end)
      local fields = {}
      for _, e in ipairs(err.errors) do fields[#fields + 1] = e.field end
      assert.same({ "body", "fields.dateline", "fields.standfirst", "section[1]", "tags[1]", "title" }, fields)
      assert.matches(("title: contains U+%04X"):format(b[2]), msg, 1, true)
      assert.matches("feeds and sitemaps (XML) cannot carry", msg, 1, true)
    end
    local id = q.content.create { type = "article", title = "Fine" }
    local _, msg = refused(function() q.content.update(id, { title = "Fine\1" }) end)
    assert.matches("title: contains U+0001 (a control character) at character 5", msg, 1, true)
    assert.equal("Fine", q.content.get(id).title)
  end)

  it("is refused in comments, users and term renames", function()
    local q = testing.site()
    local id = q.content.create { type = "article", title = "Story", status = "published", tags = { "Port" } }
    local err = refused(function()
      q.comments.create { entry = id, author_name = "A\0B", author_email = "a@b.example", author_url = "https://x.example/\0",
        body = "hi\11" }
    end)
    local fields = {}
    for _, e in ipairs(err.errors) do fields[e.field] = e.message end
    assert.matches("U+0000", fields.author_name, 1, true)
    assert.is_string(fields.author_url)
    assert.matches("U+000B", fields.body, 1, true)
    assert.equal(0, #q.comments.query { entry = id })
    local _, umsg = refused(function() q.users.create { login = "ana", name = "Ana" .. utf8.char(0xFFFE) } end)
    assert.matches("name: contains U+FFFE (a Unicode noncharacter)", umsg, 1, true)
    refused(function() q.users.create { login = "bo", name = "Bo", bio = "\1" } end)
    local _, tmsg = refused(function() q.terms.rename("tag", "port", "Port\31") end)
    assert.matches("U+001F", tmsg, 1, true)
  end)

  it("is dropped by core.xml_text (with bytes that are not UTF-8), and text without it is not copied", function()
    assert.equal("abc", core.xml_text("a\1b\0" .. utf8.char(0xFFFE) .. "c"))
    assert.equal("ab", core.xml_text("a\255b"))
    assert.equal("tab\t é " .. utf8.char(0x1F600), core.xml_text("tab\t é " .. utf8.char(0x1F600)))
    -- After a start of plain ASCII (which is not looked at character by character).
    local ascii = "<p>Plain\ttext,\r\nlines\127 ~</p>\n"
    assert.equal(ascii, core.xml_text(ascii))
    assert.equal(ascii .. "xy", core.xml_text(ascii .. "x\11y"))
    assert.equal(ascii .. "é", core.xml_text(ascii .. "\255é\192"))
    assert.equal(ascii .. "z", core.xml_text(ascii .. utf8.char(0xFDD0) .. "z"))
    -- Generated text, starts of every length: as the walk of every character gives it (a
    -- control first makes xml_text walk all of it).
    local pieces = { "a", " ", "\t", "\n", "\r", "\127", "\1", "\31", "é", "\255", "\192", "\226\130",
      utf8.char(0xFFFE), utf8.char(0xFDD0), utf8.char(0x1F600), ("x"):rep(7), ("y"):rep(9) }
    local rnd = testing.lcg(5)
    for _ = 1, 5000 do
      local parts = {}
      for j = 1, rnd(30) - 1 do parts[j] = pieces[rnd(#pieces)] end
      local text = table.concat(parts)
      assert.equal(core.xml_text("\1" .. text), core.xml_text(text), text)
    end
  end)
end)

describe("request parsers and trims", function()
  it("trim in linear time: a run of inner whitespace costs no more than its length", function()
    assert.equal("x y", core.trim(" \t\n x y \r\n"))
    assert.equal("", core.trim("   "))
    local small, big = "x" .. (" "):rep(1000) .. "x", "x" .. (" "):rep(200000) .. "x"
    local ratio = seconds(function() for _ = 1, 20 do core.trim(big) end end)
      / seconds(function() for _ = 1, 20 do core.trim(small) end end)
    -- 200 times the input: linear work is well under 1000 times the time; quadratic is 40,000.
    assert.is_true(ratio < 1000, "trim time ratio " .. ratio)
  end)

  it("parse cookies in linear time and trim their values", function()
    assert.same({ a = "1", b = "x y", c = "q" }, app.parse_cookies(' a = 1 ;b=  x y  ; c="q"'))
    local function header(n) return "a=x" .. (" "):rep(n) .. "x; b=2" end
    local small, big = header(1000), header(200000)
    local ratio = seconds(function() app.parse_cookies(big) end) / seconds(function() app.parse_cookies(small) end)
    assert.is_true(ratio < 1000, "cookie parse time ratio " .. ratio)
    assert.equal("2", app.parse_cookies(big).b)
  end)

  it("names form fields whose value is not UTF-8 instead of dropping them silently", function()
    local form, invalid = app.parse_query("name=%FF%FE&email=a%40b.example")
    assert.is_nil(form.name)
    assert.equal("a@b.example", form.email)
    assert.same({ name = true }, invalid)
  end)
end)

describe("updates based on a revision", function()
  it("get shows the revision; an update naming an older one is refused with the current one", function()
    local q = testing.site()
    local id = q.content.create { type = "article", title = "One" }
    local r1 = q.content.get(id).revision
    assert.is_number(r1)
    q.content.update(id, { title = "Two" }, { base_revision = r1 })
    local r2 = q.content.get(id).revision
    assert.is_true(r2 > r1)
    local err, msg = refused(function() q.content.update(id, { title = "Three" }, { base_revision = r1 }) end)
    assert.is_true(q.errors.is(err, "conflict"))
    assert.matches(("entry %d was changed since revision %d (title): its current revision is %d"):format(id, r1, r2), msg, 1, true)
    local _, other = refused(function() q.content.update(id, { title = "x" }, { base_revision = 1 + r2 * 1000 }) end)
    assert.matches(("revision %d is not one of entry %d's"):format(1 + r2 * 1000, id), other, 1, true)
    assert.equal("Two", q.content.get(id).title)
    assert.has_error(function() q.content.update(id, { title = "x" }, { base_revision = "7" }) end)
    assert.has_error(function() q.content.update(id, { title = "x" }, { base = r2 }) end)
  end)
end)
