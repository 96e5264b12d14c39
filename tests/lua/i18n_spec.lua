-- UI strings through gettext: the theme's catalogues are complete and cover every string the
-- templates and plugins translate; plural rules (Arabic's six forms); .mo files read with their
-- bounds; a site's own strings win; Arabic pages are right to left.
local testing = require "quire.testing"
local i18n = require "quire.i18n"
local core = require "quire.core"
local root = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/tests/lua/[^/]+$") or "..")

local read = testing.read_file

-- msgids of a .po/.pot file: { ["ctx\4id"] = true }
local function po_ids(path)
  local ids, ctx = {}, nil
  for line in read(path):gmatch("[^\n]+") do
    local c = line:match('^msgctxt "(.*)"$')
    if c then ctx = c end
    local id = line:match('^msgid "(.*)"$')
    if id and id ~= "" then
      id = id:gsub('\\"', '"'):gsub("\\\\", "\\")
      ids[(ctx and ctx .. "\4" or "") .. id] = true
      ctx = nil
    end
  end
  return ids
end

describe("the theme's catalogues", function()
  local pot = po_ids(root .. "/plugins/theme/po/quire.pot")

  it("hold every string the bundled templates translate", function()
    local missing = {}
    for _, plugin in ipairs(core.listdir(root .. "/plugins")) do
      local dir = root .. "/plugins/" .. plugin .. "/templates"
      if core.stat(dir) == "dir" then
        for _, name in ipairs(core.listdir(dir)) do
          for msgid in read(dir .. "/" .. name):gmatch("{{#_}}(.-){{/_}}") do
            msgid = msgid:match("^%s*(.-)%s*$")
            if not pot[msgid] then missing[#missing + 1] = name .. ": " .. msgid end
          end
        end
      end
    end
    assert.same({}, missing)
  end)

  it("hold every string the bundled plugins' Lua translates", function()
    local missing, seen = {}, 0
    for _, plugin in ipairs(core.listdir(root .. "/plugins")) do
      local dir = root .. "/plugins/" .. plugin
      for _, name in ipairs(core.listdir(dir)) do
        if name:match("%.lua$") then
          local src = read(dir .. "/" .. name)
          for call, msgid in src:gmatch('([%w_.]*gettext)%("([^"]+)"') do
            if call:match("pgettext$") then msgid = nil end
            if msgid then
              seen = seen + 1
              if not pot[msgid] then missing[#missing + 1] = name .. ": " .. msgid end
            end
          end
          for msgid in src:gmatch('[^%w_]_%("([^"]+)"%)') do
            seen = seen + 1
            if not pot[msgid] then missing[#missing + 1] = name .. ": " .. msgid end
          end
        end
      end
    end
    assert.is_true(seen >= 30, "only " .. seen .. " translated strings found: is the search broken?")
    assert.same({}, missing)
  end)

  it("are complete in Norwegian and Arabic (msgfmt --check --statistics)", function()
    for _, lang in ipairs { "nb", "ar" } do
      local po = root .. "/plugins/theme/po/" .. lang .. ".po"
      local p = assert(io.popen("msgfmt --check --statistics -o /dev/null '" .. po .. "' 2>&1"))
      local out = p:read("a")
      p:close()
      assert.matches("^%d+ translated messages%.\n$", out)
      -- the same messages as the template
      local ids, n, m = po_ids(po), 0, 0
      for k in pairs(pot) do n = n + 1; assert.is_true(ids[k] ~= nil, lang .. " lacks " .. k) end
      for _ in pairs(ids) do m = m + 1 end
      assert.equal(n, m)
    end
  end)
end)

describe("quire.i18n", function()
  it("compiles Plural-Forms: Arabic has six forms, 0, 1, 2, 3-10, 11-99, 100+", function()
    local rule, n = assert(i18n.plural_rule("nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);"))
    assert.equal(6, n)
    local got = {}
    for _, k in ipairs { 0, 1, 2, 3, 10, 11, 99, 100, 101, 102, 103, 111, 1000 } do got[#got + 1] = rule(k) end
    assert.same({ 0, 1, 2, 3, 3, 4, 4, 5, 5, 5, 3, 4, 5 }, got)
    -- Polish, for precedence of && over || and a comparison chain
    local pl = assert(i18n.plural_rule("nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"))
    assert.same({ 0, 1, 2, 2, 1 }, { pl(1), pl(2), pl(5), pl(12), pl(22) })
    -- bad rules are refused with a message, never run
    assert.is_nil(i18n.plural_rule("nplurals=2; plural=n !!! 1;"))
    assert.is_nil(i18n.plural_rule("nplurals=2; plural=os.exit();"))
    assert.is_nil(i18n.plural_rule("nplurals=2; plural=" .. ("(n+"):rep(200) .. "1" .. (")"):rep(200) .. ";"))
    -- an index out of range falls back to the first form
    local odd = assert(i18n.plural_rule("nplurals=2; plural=n+5;"))
    assert.equal(0, odd(1))
  end)

  it("reads the compiled .mo and refuses what is not one", function()
    local mo = assert(i18n.parse_mo(read(root .. "/plugins/theme/locale/ar.mo"), "ar.mo"))
    assert.equal(6, mo.nplurals)
    assert.equal("مقالات ذات صلة", mo.messages["Related Posts"])
    assert.equal("يونيو", mo.messages["month\4June"])
    assert.equal(6, #mo.messages["Total %s Share"])
    local v, err = i18n.parse_mo("not a catalogue at all, no", "x.mo")
    assert.is_nil(v)
    assert.matches("not a .mo file", err)
    -- a count that points past the end
    v, err = i18n.parse_mo(string.pack("<I4I4I4I4I4I4I4", 0x950412de, 0, 1000, 28, 28 + 8000, 0, 0), "y.mo")
    assert.is_nil(v)
    assert.matches("truncated", err)
  end)

  it("gives Arabic share counts their six forms (0, 1, 2, 11, 100 all differ)", function()
    local q = testing.site { plugins = { "theme", "article", "share" }, language = "ar",
      plugin_path = { root .. "/plugins" } }
    local e = q.content.get(q.content.create { type = "article", title = "Harbour", body = "Text.", status = "published" })
    local forms = {}
    for _, n in ipairs { 0, 1, 2, 3, 11, 100 } do
      forms[#forms + 1] = q.i18n.ngettext("Total %s Share", "Total %s Shares", n):format(n)
    end
    assert.same({ "لا مشاركات", "مشاركة واحدة", "مشاركتان", "3 مشاركات", "11 مشاركةً", "100 مشاركة" }, forms)
    -- and on the page, with the number in bold
    for client = 1, 11 do q.shares.record(e.id, "x", "reader-" .. client) end
    local page = q:request("GET", q.content.url(e)).body
    assert.matches('<p class="share-total"><strong>11</strong> مشاركةً</p>', page, 1, true)
    assert.matches('<html lang="ar" dir="rtl">', page, 1, true)
  end)

  it("lets a site override strings: site.lua strings, then SITE/locale/LANG.mo, then the theme's", function()
    local q, dir = testing.site { plugins = { "theme", "article", "related", "prevnext" }, language = "nb",
      plugin_path = { root .. "/plugins" },
      strings = { ["Previous Article"] = "Forrige sak", ["Total %s Share"] = { "%s deling totalt", "%s delinger totalt" } } }
    assert.equal("Forrige sak", q.i18n.gettext("Previous Article"))
    assert.equal("Relaterte saker", q.i18n.gettext("Related Posts"))
    assert.equal("5 delinger totalt", q.i18n.ngettext("Total %s Share", "Total %s Shares", 5):format(5))
    assert.equal("1. juli 2026", q.time.format_local("2026-06-30T23:30:00Z", "date", nil, "Europe/Oslo"))
    assert.equal("onsdag 1. juli 2026 kl. 01:30", q.time.format_local("2026-06-30T23:30:00Z", "%A %-d. %B %Y kl. %H:%M", nil, "Europe/Oslo"))
    -- A site catalogue compiled with msgfmt, as an operator would.
    core.mkdir(dir .. "/locale")
    local f = assert(io.open(dir .. "/site.po", "w"))
    f:write('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\nPlural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
      .. 'msgid "Related Posts"\nmsgstr "Les også"\n')
    f:close()
    assert.is_true(os.execute("msgfmt -o '" .. dir .. "/locale/nb.mo' '" .. dir .. "/site.po'"))
    local q2 = require("quire").open(dir)
    assert.equal("Les også", q2.i18n.gettext("Related Posts"))
    assert.equal("Forrige sak", q2.i18n.gettext("Previous Article")) -- site.lua still wins
    assert.equal("Neste artikkel", q2.i18n.gettext("Next Article"))  -- the theme's for the rest
  end)

  it("says which languages are written right to left", function()
    assert.equal("rtl", i18n.dir("ar"))
    assert.equal("rtl", i18n.dir("ar-LB"))
    assert.equal("rtl", i18n.dir("he"))
    assert.equal("ltr", i18n.dir("nb"))
    assert.equal("ltr", i18n.dir("en-GB"))
  end)
end)
