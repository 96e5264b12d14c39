-- core.related_rank_ids (candidates read from kept profiles) against core.related_rank (a table
-- per candidate): the same hits and scores, with unpublished, unknown and unwanted candidates left out.
local core = require "quire.core"

describe("core.related_rank_ids", function()
  local opts = { weights = { keywords = 100, tags = 80, date = 10, text = 40 }, threshold = 20, rarity = 0.5,
    date_window = 365 * 86400, limit = 8, total = 400 }

  local function with(extra)
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end

  it("scores as related_rank does over the same candidates", function()
    local rng = 12345
    local function rand(n) rng = (rng * 1103515245 + 12345) % 2147483648; return rng % n + 1 end
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
      local got = core.related_rank_ids(target, ids, with {
        df = df, profiles = profiles, types = { article = true, opinion = true }, text = text, keywords = keywords })
      assert.are.same(want, got)
      assert.is_true(#got > 0)
    end
  end)

  it("refuses options it cannot read candidates from", function()
    local target = { id = 1, tags = {}, time = 0 }
    assert.has_error(function() core.related_rank_ids(target, { 2 }, with { types = {} }) end,
      "related_rank_ids: opts.profiles must be a table")
    assert.has_error(function() core.related_rank_ids(target, { 2 }, with { profiles = {} }) end,
      "related_rank_ids: opts.types must be a set of type names")
    assert.are.same({}, core.related_rank_ids(target, {}, with { profiles = {}, types = {} }))
  end)
end)
