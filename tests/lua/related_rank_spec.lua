-- core.related_profiles' rank (candidates read from profiles kept in C) against core.related_rank
-- (a table per candidate): the same hits and scores, with unpublished, unknown and unwanted
-- candidates left out.
local core = require "quire.core"
local testing = require "quire.testing"

-- The profiles of a table id -> { type =, time =, tags = } or false (not published), kept in C.
local function kept(profiles)
  local p = core.related_profiles()
  for id, v in pairs(profiles) do
    if v then p:put(id, v.type, v.time, v.tags) else p:put(id, false) end
  end
  return p
end

describe("core.related_profiles", function()
  local opts = { weights = { keywords = 100, tags = 80, date = 10, text = 40 }, threshold = 20, rarity = 0.5,
    date_window = 365 * 86400, limit = 8, total = 400 }

  local function with(extra)
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end

  it("scores as related_rank does over the same candidates", function()
    local rand = testing.lcg(12345)
    for round = 1, 20 do
      local df = {}
      for t = 1, 30 do df[t] = rand(300) end
      local target = { id = 1000, tags = { rand(30), rand(30), rand(30) }, keywords = { 1, 2 }, time = 1.7e9 }
      local profiles, text, keywords, ids, list = {}, {}, {}, {}, {}
      for i = 1, 200 do
        local id = i + round
        ids[#ids + 1] = id
        local kind = rand(10)
        if kind == 1 then
          profiles[id] = false -- not published
        elseif kind == 2 then
          profiles[id] = { type = "page", time = 1.7e9, tags = { target.tags[1] } } -- a type not wanted
        elseif kind ~= 3 then -- kind 3: no profile at all
          -- Unsorted, with duplicates: the C side sorts and dedupes as related_rank does.
          local tags = { rand(30), rand(30), rand(30), rand(30) }
          tags[#tags + 1] = tags[1]
          -- Now and then one with very many (more room than the call set aside at first).
          if rand(8) == 1 then for t = 1, 150 do tags[#tags + 1] = 30 + t end end
          profiles[id] = { type = rand(2) == 1 and "article" or "opinion", time = 1.7e9 - rand(400) * 86400, tags = tags }
          local c = { id = id, tags = tags, time = profiles[id].time, text = 0 }
          if rand(3) == 1 then text[id] = rand(5000); c.text = text[id] end
          if rand(4) == 1 then keywords[id] = { rand(4), rand(4) }; c.keywords = keywords[id] end
          list[#list + 1] = c
        end
      end
      ids[#ids + 1] = target.id -- the target itself is never a hit
      local want = core.related_rank(target, list, with { df = df })
      local p = kept(profiles)
      local got = p:rank(target, ids, with { df = df, types = { article = true, opinion = true }, text = text, keywords = keywords })
      assert.are.same(want, got)
      assert.is_true(#got > 0)
    end
  end)

  it("knows which ids it holds, and forgets them all on clear", function()
    local p = kept({ [1] = { type = "article", time = 5, tags = { 3, 1, 3 } }, [2] = false })
    assert.are.same({ 3 }, p:missing({ 1, 2, 3 }))
    assert.are.equal(2, p:count())
    for id = 10, 2000 do p:put(id, id % 2 == 0 and "article" or "page", id, { id % 7 }) end -- grows
    assert.are.same({}, p:missing({ 1, 2, 10, 1999, 2000 }))
    -- what was kept ranks as the same candidates given as tables
    local target = { id = 5000, tags = { 3, 1999 % 7 }, time = 1999 }
    local o = with { df = { [1] = 2, [3] = 2, [1999 % 7] = 3 }, date_window = 10 }
    local want = core.related_rank(target, { { id = 1, tags = { 3, 1 }, time = 5 }, { id = 1999, tags = { 1999 % 7 }, time = 1999 } }, o)
    o.types = { article = true, page = true }
    assert.are.same(want, p:rank(target, { 1, 2, 1999 }, o))
    assert.are.equal(2, #want)
    p:clear()
    assert.are.equal(0, p:count())
    assert.are.same({ 1, 2 }, p:missing({ 1, 2 }))
  end)

  it("replaces a profile put again, its old tags reused or let go", function()
    local p = kept({ [1] = { type = "article", time = 5, tags = { 3, 1 } }, [2] = { type = "article", time = 5, tags = { 9 } } })
    local many = {}
    for t = 1, 150 do many[t] = 100 + t end
    for round = 1, 1000 do p:put(1, "article", 5, round % 2 == 1 and many or { 3 }) end
    local count, pooled = p:count()
    assert.are.equal(2, count)
    assert.is_true(pooled <= 2 * (#many + 1) + 1024, pooled) -- (before: a thousand lists' worth)
    local target = { id = 5000, tags = { 3, 9 }, time = 5 }
    local o = with { df = { [3] = 2, [9] = 2 } }
    local want = core.related_rank(target, { { id = 1, tags = { 3 }, time = 5 }, { id = 2, tags = { 9 }, time = 5 } }, o)
    o.types = { article = true }
    assert.are.same(want, p:rank(target, { 1, 2 }, o)) -- the last put of 1, and 2 as it was
    p:put(2, false)
    assert.are.same({ want[1].id == 1 and want[1] or want[2] }, p:rank(target, { 1, 2 }, o)) -- 2: no candidate now
  end)

  it("reads tags given as text (a group_concat of ids) as it does the list of them", function()
    local listed, texted = core.related_profiles(), core.related_profiles()
    local cases = {
      [1] = { { 12, 7, 30 }, "12,7,30" },
      [2] = { { 7, 7, 3 }, "7,7,3" },         -- duplicates go
      [3] = { {}, "" },
      [4] = { { 5, 9 }, " 5, x9" },           -- anything but digits parts them
      [5] = { { 3 }, "99999999999999999999,3" }, -- (no integer: no id, as math.tointeger says)
    }
    local many, many_text = {}, {}
    for t = 1, 250 do many[t] = 1000 + t; many_text[t] = tostring(1000 + t) end
    cases[6] = { many, table.concat(many_text, ",") } -- the first 200, as from a list
    local ids = {}
    for id, c in pairs(cases) do
      listed:put(id, "article", 100 + id, c[1])
      texted:put(id, "article", 100 + id, c[2])
      ids[#ids + 1] = id
    end
    table.sort(ids)
    local tags = { 3, 5, 7, 9, 12, 30, 1001, 1200, 1201 }
    local o = with { df = {}, types = { article = true }, threshold = 0.5, limit = 64 }
    for _, t in ipairs(tags) do o.df[t] = 3 end
    local target = { id = 99, tags = tags, time = 100 }
    local want = listed:rank(target, ids, o)
    assert.are.same(want, texted:rank(target, ids, o))
    assert.are.equal(6, #want)
    assert.is_true(want[1].score > want[#want].score) -- (tags were read: not all alike)
  end)

  it("sums the weights of the shared tags in the order of their ids, with few tags or many", function()
    local rand = testing.lcg(777)
    local function factor(df, total, rarity) -- (qr_related_tag_factor)
      local idf = math.log(total / df) / math.log(total)
      local f = 1.0 + rarity * (2.0 * idf - 1.0)
      return f < 0 and 0 or f
    end
    for _, ntags in ipairs({ 1, 5, 16, 17, 40, 70 }) do
      local o = { weights = { keywords = 0, tags = 80, date = 0, text = 0 }, threshold = 1e-9, rarity = 0.7,
        date_window = 1, limit = 64, total = 1000, df = {} }
      local tags, have = {}, {}
      while #tags < ntags do
        local t = rand(200)
        if not have[t] then have[t] = true; tags[#tags + 1] = t; o.df[t] = rand(999) end
      end
      local target = { id = 1, tags = tags, time = 0 }
      local cands, want = {}, {}
      for id = 2, 60 do
        local ctags, sum = {}, 0
        for t = 1, 200 do
          if rand(6) == 1 then ctags[#ctags + 1] = t end
        end
        for _, t in ipairs(ctags) do -- (ascending)
          if have[t] then sum = sum + 80 * factor(o.df[t], 1000, 0.7) end
        end
        cands[#cands + 1] = { id = id, tags = ctags, time = 0 }
        if sum > 0 then want[id] = sum end
      end
      local n = 0
      for _, h in ipairs(core.related_rank(target, cands, o)) do
        assert.are.equal(want[h.id], h.score, ("%d tags, candidate %d"):format(ntags, h.id))
        n = n + 1
      end
      local nwant = 0
      for _ in pairs(want) do nwant = nwant + 1 end
      assert.are.equal(math.min(nwant, 64), n)
    end
  end)

  it("refuses options it cannot read candidates from", function()
    local target = { id = 1, tags = {}, time = 0 }
    local p = core.related_profiles()
    assert.has_error(function() p:rank(target, { 2 }, with {}) end,
      "related profiles: opts.types must be a set of type names")
    assert.has_error(function() p:put(3, "article", 0, { "x" }) end, "related_rank: tags[1] must be an integer id")
    assert.are.same({}, p:rank(target, {}, with { types = {} }))
  end)

  it("ranks alike with empty keywords and text tables as without them", function()
    local p = kept({ [1] = { type = "article", time = 5, tags = { 3 } }, [2] = { type = "article", time = 9, tags = { 3, 4 } } })
    local target = { id = 7, tags = { 3, 4 }, time = 6 }
    local o = with { df = { [3] = 2, [4] = 1 }, types = { article = true } }
    local want = p:rank(target, { 1, 2 }, o)
    o.text, o.keywords = {}, {}
    assert.are.same(want, p:rank(target, { 1, 2 }, o))
    o.text = { [1] = 500 } -- a text match moves 1 up
    assert.are_not.same(want, p:rank(target, { 1, 2 }, o))
  end)
end)

-- A walk's window kept in C: add_window adds what a Lua list and its id -> place table did.
describe("core.related_window", function()
  -- The candidates a window of ids adds for id (width each side), the Lua way: nil when it
  -- cannot (id not in it, or too near an end that is not the index's).
  local function by_hand(ids, first, last, id, width)
    local p
    for i, v in ipairs(ids) do if v == id then p = i end end
    if not (p and (p > width or first) and (#ids - p >= width or last)) then return nil end
    local out = {}
    for i = math.max(1, p - width), math.min(#ids, p + width) do if ids[i] ~= id then out[#out + 1] = ids[i] end end
    return out
  end

  it("adds the width ids on each side of an id it holds, as a Lua list did", function()
    local rand = testing.lcg(99)
    local cands = core.related_candidates()
    for round = 1, 200 do
      local ids, seen = {}, {}
      for _ = 1, rand(40) - 1 do
        local v = rand(1000)
        if not seen[v] then seen[v] = true; ids[#ids + 1] = v end
      end
      local first, last, width = rand(2) == 1, rand(2) == 1, rand(6) - 1
      local w = core.related_window(ids, first, last)
      assert.are.equal(#ids, w:count())
      local id = rand(3) == 1 and 5000 or (ids[rand(math.max(#ids, 1))] or 5000)
      cands:reset(id)
      local want = by_hand(ids, first, last, id, width)
      assert.are.equal(want ~= nil, cands:add_window(w, id, width))
      assert.are.same(want or {}, cands:list())
    end
  end)

  -- (A walk reads its next window leaning that way: lua/quire/related.lua, read_sizes.)
  it("tells which end a held id is too near: -1 its start, 1 its end; nothing when it holds none", function()
    local ids = {}
    for i = 1, 20 do ids[i] = 100 + i end
    local cands = core.related_candidates()
    local w = core.related_window(ids, false, false)
    cands:reset(0)
    assert.are.same({ false, -1 }, { cands:add_window(w, 103, 5) })
    assert.are.same({ false, 1 }, { cands:add_window(w, 118, 5) })
    assert.are.same({ false }, { cands:add_window(w, 7, 5) })
    cands:reset(110)
    assert.are.same({ true }, { cands:add_window(w, 110, 5) })
    assert.are.equal(10, cands:count())
    -- The index's own start: short only at the end.
    assert.are.same({ false, 1 }, { cands:add_window(core.related_window(ids, true, false), 103, 18) })
  end)

  it("refuses a list that is not of ids", function()
    assert.has_error(function() core.related_window({ 1, "x" }, true, true) end, "related window: ids[2] must be an integer id")
    assert.are.equal(0, core.related_window({}, false, false):count())
    assert.has_error(function() core.related_candidates():add_window(core.related_window({ 1, 2 }, true, true), 1, -1) end)
  end)
end)

-- The terms of words straight from the tokenizer: those an FTS5 table with that tokenizer indexes.
describe("core.related_terms", function()
  local words = { "strikes", "Running", "café", "naïve", "straße", "ÉCOLE", "東京", "a—b", "x½y", "ﬁsh",
    "İstanbul", "don't", "1,200", "e-mail", "", "the", "Ünïcödé", "déjà vu" }
  local function via_table(db, tokenizer)
    db:exec("DROP TABLE IF EXISTS temp.t")
    db:exec("DROP TABLE IF EXISTS temp.t_i")
    db:exec("CREATE VIRTUAL TABLE temp.t USING fts5(x, tokenize = '" .. tokenizer .. "')")
    db:exec("CREATE VIRTUAL TABLE temp.t_i USING fts5vocab(temp, t, instance)")
    local out = {}
    for i, w in ipairs(words) do
      out[i] = {}
      db:exec("INSERT INTO temp.t (rowid, x) VALUES (?, ?)", i, w)
    end
    for _, r in ipairs(db:rows("SELECT DISTINCT doc, term FROM temp.t_i ORDER BY doc, term")) do
      table.insert(out[r.doc], r.term)
    end
    return out
  end

  it("gives the terms an FTS5 index makes, for each tokenizer the site may use", function()
    local db = assert(core.open_store(":memory:", { migrate = false }))
    for _, tokenizer in ipairs({ "porter unicode61 remove_diacritics 2", "unicode61 remove_diacritics 2", "unicode61" }) do
      local want = via_table(db, tokenizer)
      assert.are.same(want, core.related_terms(db, tokenizer, words))
    end
    assert.are.same({ "strike" }, core.related_terms(db, "porter unicode61", { "strikes" })[1])
  end)

  it("leaves a spec other than plain words, or an unknown tokenizer, to the caller", function()
    local db = assert(core.open_store(":memory:", { migrate = false }))
    assert.is_nil(core.related_terms(db, "unicode61 tokenchars '-'", { "x" }))
    assert.is_nil(core.related_terms(db, "no_such_tokenizer", { "x" }))
    assert.is_nil(core.related_terms(db, "", { "x" }))
    assert.has_error(function() core.related_terms(db, "unicode61", { 1, {} }) end, "related terms: texts must be strings")
  end)
end)

-- The words a text candidate search looks for, split in C: as the Lua they replace splits them.
describe("core.related_words", function()
  local function in_lua(text, out, seen, max, stop)
    for w in text:gmatch("[%w\128-\255]+") do
      if #out >= max then return end
      w = w:lower()
      if #w >= 4 and not stop[w] and not seen[w] and core.utf8_valid(w) then
        seen[w] = true
        out[#out + 1] = w
      end
    end
  end
  local texts = { "", "Harbour VOTE: the council's 2026 plan—approved!", "a an the with with WITH With",
    "Café naïve straße ÉCOLE 東京 déjà-vu x½y ﬁsh İstanbul", "bad \255\254\253\252 bytes \192\128abc and \237\160\128xyz",
    "tabs\tand\nnewlines\0nul inside", ("long" .. ("x"):rep(300) .. " ") .. ("Y"):rep(5000), "1,200 4000 e-mail don't" }
  local stop = { with = true, council = true }

  it("gives the words, the seen set and the bound of the Lua pattern version", function()
    for _, max in ipairs({ 0, 1, 3, 16, 64 }) do -- (64: every text is reached, the 5000-byte word too)
      local want_out, want_seen, got_out, got_seen = { "kept" }, { kept = true, plan = true }, { "kept" }, { kept = true, plan = true }
      for _, t in ipairs(texts) do
        in_lua(t, want_out, want_seen, max, stop)
        core.related_words(t, got_out, got_seen, max, stop)
      end
      assert.are.same(want_out, got_out)
      assert.are.same(want_seen, got_seen)
    end
  end)
end)

-- The related words' document counts (quire.store_sql.word_counts, each phrase walked by the FTS5
-- function quire_related_counts) as a MATCH of each word alone counts them, up to the cap + 1.
describe("store_sql.word_counts", function()
  local store_sql = require "quire.store_sql"
  local function counted(db, words, cap)
    local out = {}
    for i, w in ipairs(words) do
      out[i] = db:value("SELECT count(*) FROM (SELECT 1 FROM entries_fts WHERE entries_fts MATCH ? LIMIT ?)", '"' .. w .. '"', cap + 1)
    end
    return out
  end

  it("counts each word's entries, no further than the cap + 1, in the order of the words", function()
    -- (SQLite's: on a PostgreSQL run the module holds quire.store_sql_pg's, which the related
    -- plugin's spec covers there)
    if store_sql.word_counts == require("quire.store_sql_pg").word_counts then return end
    local db = assert(core.open_store(":memory:", { migrate = false }))
    db:exec("CREATE VIRTUAL TABLE entries_fts USING fts5(title, standfirst, body, tokenize = 'porter unicode61 remove_diacritics 2')")
    local texts = { "strikes at dawn", "a strike, a—b", "dawn dawn dawn", "Café naïve", "striking dawn", "a—b again", "dawn" }
    for i, t in ipairs(texts) do db:exec("INSERT INTO entries_fts (rowid, title, standfirst, body) VALUES (?, ?, '', ?)", i, t, t) end
    -- (past the cap, at it, under it, stemmed, folded, two tokens, no token, in none)
    local words = { "dawn", "strike", "strikes", "cafe", "naïve", "a—b", "——", "zzz", "again" }
    for cap = 0, 5 do
      assert.are.same(counted(db, words, cap), store_sql.word_counts(db, words, cap))
      assert.are.same(counted(db, { "zzz", "——" }, cap), store_sql.word_counts(db, { "zzz", "——" }, cap))
      for _, w in ipairs(words) do assert.are.same(counted(db, { w }, cap), store_sql.word_counts(db, { w }, cap)) end
    end
    assert.are.same({ 4, 3 }, store_sql.word_counts(db, { "dawn", "strike" }, 10))
    assert.are.same({}, store_sql.word_counts(db, {}, 10))
    assert.is_true(core.related_count_function(db))
    -- (the function itself gives them: the probe it falls back to gives the same counts)
    assert.are.equal("4,3,0", db:value("SELECT quire_related_counts(entries_fts, 10) FROM entries_fts"
      .. " WHERE entries_fts MATCH ? LIMIT 1", '"dawn" OR "strike" OR "zzz"'))
  end)
end)
