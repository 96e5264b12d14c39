-- The search core (lua/quire/content/search.lua) on either store (tests/pg_test.sh runs this on
-- PostgreSQL too): the query language as a reader meets it (words all required, quoted phrases,
-- a prefix being typed, no operators, the limits and what they say), ranking, escaped snippets,
-- the standfirst kept in the index by every kind of save, the ranking's knobs, and the index
-- following the site's language (stemming for English only). The match text each store is
-- given is pinned per store at the end.
local testing = require "quire.testing"
local search = require "quire.content.search"

-- The error quire.content.search raised for text, or nil.
local function refusal(q, text, opts)
  local ok, err = pcall(q.content.search, text, opts)
  if ok then return nil end
  return err
end

local function ids(hits)
  local out = {}
  for i, h in ipairs(hits) do out[i] = h.id end
  table.sort(out)
  return out
end

describe("quire.search", function()
  local q, tidal, wave, fish, cafe
  setup(function()
    q = testing.site { plugins = { "theme", "article" } }
    tidal = q.content.create { type = "article", title = "Tidal barrage approved", status = "published",
      body = "The council approved the barrage on Tuesday." }
    wave = q.content.create { type = "article", title = "Barrage of questions", status = "published",
      body = "A tidal wave of questions met the mayor." }
    fish = q.content.create { type = "article", title = "Harbour market", status = "published",
      body = "Fish or chips near the harbour, and a story or two." }
    cafe = q.content.create { type = "article", title = "Café reopens", status = "published",
      body = "O'Brien's café on the quay reopened." }
  end)

  it("requires every word, anywhere, in any case", function()
    assert.same({ tidal, wave }, ids(q.content.search("tidal barrage")))
    assert.same({ tidal, wave }, ids(q.content.search("BARRAGE, Tidal!")))
    assert.same({}, ids(q.content.search("tidal harbour")))
  end)

  it("matches a quoted phrase as its words next to each other, an unclosed quote to the end", function()
    assert.same({ tidal }, ids(q.content.search('"tidal barrage"')))
    assert.same({ tidal }, ids(q.content.search('"tidal   barrage')))
    assert.same({ wave }, ids(q.content.search('"tidal wave" questions')))
    assert.same({}, ids(q.content.search('"barrage tidal"')))
  end)

  it("matches the last word as a prefix only while it is being typed", function()
    assert.same({ tidal, wave }, ids(q.content.search("tidal barr", { prefix = true })))
    assert.same({}, ids(q.content.search("tidal barr"))) -- (no prefix asked for)
    assert.same({}, ids(q.content.search("tidal barr ", { prefix = true }))) -- a finished word
    assert.same({ tidal }, ids(q.content.search('"tidal barr', { prefix = true })))
    assert.same({}, ids(q.content.search("tidal b", { prefix = true }))) -- too short to be a prefix
    assert.equal(tidal, q.content.suggest("tidal ba")[1].id)
    -- A hyphenated word as it is typed: its parts, next to each other.
    local dam = q.content.create { type = "article", title = "Storm-surge barrier", status = "published", body = "x" }
    assert.same({ dam }, ids(q.content.search("storm-su", { prefix = true })))
    assert.same({ dam }, ids(q.content.search("storm-surge barr", { prefix = true })))
    assert.same({ dam }, ids(q.content.search("storm-surge")))
    assert.same({}, ids(q.content.search("surge-storm")))
    q.content.delete(dam)
  end)

  it("has no operators: OR, NEAR, -, * and parentheses are words or nothing", function()
    assert.same({ fish }, ids(q.content.search("harbour OR")))            -- the word "or"
    assert.same({ fish }, ids(q.content.search("harbour -story")))        -- "-story" is the word story
    assert.same({}, ids(q.content.search("harbour -tuesday")))            -- no negation: tuesday is required
    assert.same({ fish }, ids(q.content.search("(harbour) * fish NEAR")))
    assert.same({}, ids(q.content.search("harbour NOT")))                 -- the word "not", absent
    assert.same({ cafe }, ids(q.content.search("o'brien's")))
  end)

  it("folds case and accents", function()
    assert.same({ cafe }, ids(q.content.search("cafe")))
    assert.same({ cafe }, ids(q.content.search("CAFÉ")))
  end)

  -- (tests/pg_test.sh runs this on a PostgreSQL database whose LC_CTYPE is C as well, where the
  -- server's own word splitting and case folding see only ASCII.)
  it("takes typographic punctuation for the space between words", function()
    local id = q.content.create { type = "article", title = "“Zqxquoted” words", status = "published",
      body = "Gulls’ cries — zqxdashed… «zqxguillemet» ¿zqxinverted? 🎉zqxparty Zqxfirst–zqxlast, "
        .. "« Zqxspaced » zqxnbsp\u{A0}zqxnext zqxsoft\u{AD}zqxhyphen" }
    for _, word in ipairs { "zqxquoted", "gulls", "zqxdashed", "zqxguillemet", "zqxinverted", "zqxparty", "zqxfirst",
      "zqxlast", "zqxspaced", "zqxnbsp", "zqxnext", "zqxsoft", "zqxhyphen", "“zqxquoted”", "zqxdashed…" } do
      assert.same({ id }, ids(q.content.search(word)), word)
    end
    assert.same({}, ids(q.content.search("—"))) -- no words at all
    assert.same({}, ids(q.content.search("“—”")))
    assert.same({ id }, ids(q.content.search("zqxdashed — « zqxguillemet »"))) -- (words of punctuation alone left out)
    assert.same({ id }, ids(q.content.search("“zqxquoted” — zqxfi", { prefix = true })))
    q.content.delete(id)
  end)

  it("finds words beside apostrophes as a reader types them", function()
    local id = q.content.create { type = "article", title = "Zqxmahon’s view", status = "published",
      body = "Mr O’Brien said they don’t know; the rock ’n’ roll band’s van." }
    for _, text in ipairs { "O'Brien", "O’Brien", "o'brien", "brien" } do
      assert.same({ cafe, id }, ids(q.content.search(text)), text) -- (the café's O'Brien too)
    end
    for _, text in ipairs { "O’Brien said", "don't", "don’t", "zqxmahon's", "Zqxmahon’s", "zqxmahon", "band's",
      "\"said they don't\"" } do
      assert.same({ id }, ids(q.content.search(text)), text)
    end
    assert.same({}, ids(q.content.search("obrien")))
    assert.same({}, ids(q.content.search('"they don\'t say"')))
    local snippet = q.content.search("o’brien said")[1].snippet -- (the text as written)
    assert.matches("Brien</mark> <mark>said</mark> they don’t know; the rock ’n’ roll band", snippet, 1, true)
    q.content.delete(id)
  end)

  it("folds the case of letters outside ASCII", function()
    local id = q.content.create { type = "article", title = "ЗQXМОСКВА and ΖQXΑΘΗΝΑ", status = "published",
      body = "L’ÉCOLE ZQXÉTÉ" }
    for _, text in ipairs { "зqxмосква", "ЗQXМОСКВА", "Зqxмосква", "ζqxαθηνα", "école", "ecole", "zqxete", "ZQXÉTÉ" } do
      assert.same({ id }, ids(q.content.search(text)), text)
    end
    q.content.delete(id)
  end)

  it("answers no words and no matches with nothing, and says what is wrong with a bad query", function()
    local hits, info = q.content.search("zzzzqx")
    assert.same({}, hits)
    assert.same({ total = 0, estimated = false }, info)
    hits, info = q.content.search('"" *** ---')
    assert.same({}, hits)
    assert.equal(0, info.total)
    for text, says in pairs {
      [("word "):rep(17)] = "more than 16 words",
      [("x"):rep(257)] = "is 257 characters long, the limit is 256",
      ["a\1b"] = "contains the control character U%+0001",
      ["caf\233"] = "is not valid UTF%-8",
    } do
      local err = refusal(q, text)
      assert.is_not_nil(err, text)
      assert.equal("invalid", err.kind)
      assert.equal("text", err.errors[1].field)
      assert.matches(says, err.errors[1].message)
    end
    assert.same({}, q.content.suggest(("word "):rep(17))) -- search-as-you-type: no suggestions, no error
  end)

  it("ranks a title match above a mention in the body", function()
    local hits = q.content.search("barrage")
    assert.equal(2, #hits)
    assert.is_true(hits[1].id == tidal or hits[1].id == wave) -- both have it in the title
    local mention = q.content.create { type = "article", title = "Council notes", status = "published",
      body = "Questions, questions: the mayor took questions all day." }
    hits = q.content.search("questions")
    assert.equal(wave, hits[1].id)
    assert.equal(mention, hits[2].id)
    assert.is_true(hits[1].score > hits[2].score)
    q.content.delete(mention)
  end)

  it("quotes the body in snippets, escaped, the matches marked", function()
    local id = q.content.create { type = "article", title = "Markup", status = "published",
      body = 'Type <b>bold</b> & "quoted" words near the zqxmark flats <script>x</script>.' }
    local hit = q.content.search("zqxmark")[1]
    assert.equal(id, hit.id)
    assert.matches("<mark>zqxmark</mark>", hit.snippet, 1, true)
    assert.matches("bold&lt;/b&gt; &amp; &quot;quoted&quot; words", hit.snippet, 1, true)
    assert.is_nil(hit.snippet:find("<b>", 1, true))
    assert.is_nil(hit.snippet:find("<script", 1, true))
    -- A title match quotes the body's opening.
    hit = q.content.search("markup")[1]
    assert.equal(id, hit.id)
    assert.matches("^Type &lt;b&gt;bold", hit.snippet)
    q.content.delete(id)
  end)

  it("starts and ends snippets in the body's text, never inside a tag", function()
    local words = { "alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo",
      "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor" }
    local parts = {}
    for i, w in ipairs(words) do
      parts[i] = ('<a href="/x/%d" class="k">Zqt%s</a> and <b>more</b> of it,'):format(i, w)
    end
    local id = q.content.create { type = "article", title = "Tags", status = "published", body = table.concat(parts, " ") }
    for _, w in ipairs(words) do
      local snippet = q.content.search("zqt" .. w)[1].snippet
      assert.matches("<mark>Zqt" .. w .. "</mark>", snippet, 1, true)
      local text = snippet:gsub("</?mark>", ""):gsub("&lt;", "<"):gsub("&gt;", ">")
      local gt, lt = text:find(">", 1, true), text:find("<", 1, true)
      assert.is_false(gt ~= nil and (lt == nil or gt < lt), snippet) -- (it began after a tag's <)
      local last_lt = text:match(".*()<")
      assert.is_false(last_lt ~= nil and text:find(">", last_lt, true) == nil, snippet) -- (it stopped before a tag's >)
    end
    q.content.delete(id)
  end)

  it("reads the body back past a long attribute to see that a snippet began inside a tag", function()
    local filler = {}
    for i = 1, 90 do filler[i] = "wörd" .. i end -- (characters of two bytes: the body is read by characters)
    local id = q.content.create { type = "article", title = "Long", status = "published",
      body = 'Ça <a title="' .. table.concat(filler, " ") .. '">Zqlong</a> end.' }
    local snippet = q.content.search("zqlong")[1].snippet
    assert.equal("…<mark>Zqlong</mark>&lt;/a&gt; end.", snippet) -- (not the title's words, cut from their tag)
    q.content.delete(id)
  end)

  it("keeps the standfirst in the index through saves, batches and deletes", function()
    local s = testing.site { plugins = { "theme", "article" } }
    local id = s.content.create { type = "article", title = "Quay", status = "published", fields = { standfirst = "Gulls everywhere." }, body = "Text." }
    assert.equal(id, s.content.search("gulls")[1].id)
    s.content.update(id, { fields = { standfirst = "Terns everywhere." } })
    assert.equal(0, #s.content.search("gulls"))
    assert.equal(id, s.content.search("terns")[1].id)
    local made = {}
    s.store.transaction(function()
      for i = 1, 3 do made[i] = s.content.create { type = "article", title = "Batch " .. i, status = "published", fields = { standfirst = "Puffins " .. i }, body = "x" } end
      s.content.update(made[2], { fields = { standfirst = "Herons" } })
    end)
    assert.equal(2, #s.content.search("puffins"))
    assert.equal(made[2], s.content.search("herons")[1].id)
    s.content.delete(made[1])
    assert.equal(1, #s.content.search("puffins", { status = "published" }))
    assert.same({}, s.store.check())
  end)

  -- Every MATCH pays for each segment of the FTS5 index: a commit that writes entries merges them
  -- (store_sql's merge_search; FTS5 alone left 3 a level, 18 after 2,000 saves).
  it("keeps the index in few segments through saves one by one, a batch, edits and deletes", function()
    local s = testing.site { plugins = { "theme", "article" } }
    if s.store.kind() ~= "sqlite" then return end -- (PostgreSQL's GIN index has no segments)
    local function segments() return s.store.query("SELECT count(DISTINCT segid) AS n FROM entries_fts_idx")[1].n end
    local word = {} -- entry id -> the word only it has
    local function save(i)
      local id = s.content.create { type = "article", title = "Dispatch " .. i, status = "published",
        body = ("Harbour report. zq%dx closes it."):format(i) }
      word[id] = ("zq%dx"):format(i)
    end
    for i = 1, 200 do save(i) end
    assert.is_true(segments() <= 4, "segments after 200 saves: " .. segments())
    s.store.transaction(function() for i = 201, 400 do save(i) end end)
    local made = {}
    for id in pairs(word) do made[#made + 1] = id end
    table.sort(made)
    for i = 1, 400, 7 do -- edits and deletes, one by one
      local id = made[i]
      if i % 2 == 0 then
        word[id] = ("zr%dx"):format(i)
        s.content.update(id, { body = "Edited: " .. word[id] .. "." })
      else
        s.content.delete(id) -- (to the trash: out of search)
        word[id] = nil
      end
    end
    assert.is_true(segments() <= 4, "segments after a batch, edits and deletes: " .. segments())
    local unedited = 0
    for id, w in pairs(word) do
      assert.same({ id }, ids(s.content.search(w)))
      if w:match("^zq") then unedited = unedited + 1 end
    end
    assert.equal(0, #s.content.search("zq1x")) -- (deleted)
    assert.equal(unedited, #s.content.search("harbour", { limit = 1000 }))
    s._db:exec("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')") -- the index agrees with the entries
  end)

  it("ranks by the weights and recency a caller gives, and checks them", function()
    local s = testing.site { plugins = { "theme", "article" } }
    local old = s.content.create { type = "article", title = "Kelp harvest", status = "published", published_at = "2020-01-01", body = "x" }
    local new = s.content.create { type = "article", title = "Harbour news", status = "published", published_at = os.date("!%Y-%m-%d"),
      fields = { standfirst = "The kelp harvest was good." }, body = "x" }
    assert.equal(old, s.content.search("kelp")[1].id) -- the title outweighs the standfirst...
    assert.equal(new, s.content.search("kelp", { recency = { boost = 10, half_life_days = 30 } })[1].id) -- ...unless news counts for a lot
    assert.equal(new, s.content.search("kelp", { weights = { title = 1, standfirst = 5 } })[1].id)
    assert.has_error(function() s.content.search("kelp", { weights = { title = -1 } }) end, "search: weights.title must be a number from 0 to 1000")
    assert.has_error(function() s.content.search("kelp", { recency = { half_life_days = 0 } }) end)
    local hits = s.content.suggest("kel")
    assert.equal(old, hits[1].id)
    assert.is_nil(hits[1].snippet)
    assert.same({}, s.content.suggest('"""'))
  end)

  it("stems English and indexes other languages' words as written", function()
    local en = testing.site { plugins = { "theme", "article" } }
    en.content.create { type = "article", title = "Oyster beds return", status = "published", body = "x" }
    assert.equal(1, #en.content.search("oysters"))
    local nb = testing.site { plugins = { "theme", "article" }, language = "nb" }
    nb.content.create { type = "article", title = "Oyster beds return", status = "published", body = "x" }
    assert.equal(0, #nb.content.search("oysters")) -- no English endings taken off Norwegian words
    assert.equal(1, #nb.content.search("oyster"))
    if nb.store.kind() == "sqlite" then -- FTS5 tokenizers
      assert.equal("unicode61 remove_diacritics 2", search.tokenizer("nb"))
      assert.equal("porter unicode61 remove_diacritics 2", search.tokenizer("en-GB"))
      -- The index made again for the language keeps the migrations' settings (db/migrations/0031).
      assert.equal(2, nb._db:value("SELECT v FROM entries_fts_config WHERE k = 'usermerge'"))
    else -- PostgreSQL text search configurations (db/pg/0016)
      assert.equal("quire", search.tokenizer("nb"))
      assert.equal("quire_english", search.tokenizer("en-GB"))
    end
  end)

  -- What each store is handed: reader text never becomes query syntax of its own.
  it("gives the store a match of plain words and phrases", function()
    local v, err = search.query(("word "):rep(17))
    assert.is_nil(v)
    assert.matches("more than 16 words", err)
    assert.equal("", (search.query('"" *** ---')))
    if q.store.kind() == "sqlite" then -- FTS5 MATCH text: each word a quoted string
      assert.equal('"tidal" "barrage"', (search.query("tidal barrage")))
      assert.equal('"tidal barrage" "plan"', (search.query('"tidal  barrage" plan')))
      assert.equal('"tidal barrage"', (search.query('"tidal barrage')))
      assert.equal('"o\'brien"', (search.query("o'brien")))
      assert.equal('"harbour" "OR" "NEAR"', (search.query("harbour OR * NEAR")))
      assert.equal('"tidal" "barr"*', (search.query("tidal barr", true)))
      assert.equal('"tidal" "barr"', (search.query("tidal barr ", true)))
      assert.equal('"storm su"*', (search.query('"storm su', true)))
      assert.equal('"b"', (search.query("b", true)))
    else -- the tsquery quire_match() makes on the server of the words, each phrase of its tokens
      local function tsquery(text, prefix)
        return q.store.query("SELECT quire_match(?)::text AS t", (search.query(text, prefix)))[1].t
      end
      assert.equal("'tidal' & 'barrag'", tsquery("tidal barrage"))
      assert.equal("'tidal' <-> 'barrag' & 'plan'", tsquery('"tidal  barrage" plan'))
      assert.equal("'tidal' <-> 'barrag'", tsquery('"tidal barrage'))
      assert.equal("'o' <-> 'brien'", tsquery("o'brien"))
      assert.equal("'harbour' & 'or' & 'near'", tsquery("harbour OR * NEAR"))
      assert.equal("'tidal' & 'barr':*", tsquery("tidal barr", true))
      assert.equal("'tidal' & 'barr'", tsquery("tidal barr ", true))
      assert.equal("'storm' <-> 'su':*", tsquery('"storm su', true))
      assert.equal("'b'", tsquery("b", true))
      assert.equal("'jack' <-> 'o' <-> 'lan':*", tsquery("jack-o-lan", true)) -- (a hyphenated word being typed)
    end
  end)
end)
