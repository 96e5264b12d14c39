-- The static export's search index (lua/quire/static_export.lua): an entry's summary made from
-- its body when it has no standfirst, settled by the body's first characters when they suffice.
local static_export = require "quire.static_export"

-- The summary as the whole (600 characters) body makes it: what body_summary must equal.
local function whole(body)
  local sf = body:gsub("[%*_`#>%[%]]", ""):gsub("%(https?://[^)]*%)", ""):gsub("%s+", " ")
  if #sf > 240 then sf = (utf8.len(sf) and sf:sub(1, utf8.offset(sf, 200) - 1) or sf:sub(1, 200)):gsub("%s+%S*$", "") .. "…" end
  if not utf8.len(sf) then sf = "" end
  return sf
end

local function words(n, word)
  local t = {}
  for i = 1, n do t[i] = word or ("word" .. i) end
  return table.concat(t, " ")
end

describe("static_export.body_summary", function()
  it("is the whole body's summary on bodies made to try its shortcut", function()
    local link = "(https://example.com/" .. ("a"):rep(300) .. ")"
    for _, body in ipairs({
      "", "short text", "  leading and trailing  ", words(30), words(80), words(200),
      words(60, "é"), words(100, "日本語"), words(300, "x"), ("y"):rep(700),
      -- a link whose target ends past the first 320 characters, one before and one after them
      words(40) .. " see " .. link .. " " .. words(80),
      words(10) .. " (https://a.example/b) " .. words(100),
      words(70) .. " (https://a.example/" .. ("b"):rep(200) .. ") " .. words(50),
      words(5) .. " [a link](https://a.example/" .. ("c"):rep(60) .. ") " .. words(80),
      words(5) .. " [a link](http://a.example/c) " .. words(80),
      -- parentheses: open at the start, an aside, nested, a ")" alone, one just after another's ")"
      "(" .. words(100), words(60) .. " (an aside) " .. words(60), words(60) .. " ) (http://x) " .. words(60),
      words(20) .. " (an aside (https://a.example/d) and more) " .. words(80),
      words(20) .. " (https://a.example/ (nested) e) " .. words(80), words(20) .. " (http) " .. words(80),
      words(55) .. " (https://a.example/f)(https://a.example/g " .. words(80),
      -- 199 characters of more than 240 bytes before a "(" (its cut: all of them)
      ("é"):rep(199) .. "(" .. words(50), ("é"):rep(100) .. " " .. ("é"):rep(98) .. " (x) " .. words(50),
      -- marks and whitespace of every kind
      "# Title\n\n" .. words(30, "**bold** _it_ `code` > [link](https://x.example/y)") .. "\n\n" .. words(40),
      words(50, "a\t\r\n\v\fb"), words(90, "*"), words(120, "a *"),
      -- not UTF-8: a stray byte early, late, and a lead byte cut off at the end
      "\xff" .. words(100), words(100) .. "\xff", words(45) .. "\xc3", ("é"):rep(150) .. "\xe6\x97",
    }) do
      assert.equal(whole(body), static_export.body_summary(body), body)
    end
  end)

  it("is the whole body's summary on random bodies", function()
    local pieces = { "a", "bc", "def", "word", " ", "  ", "\n", "\n\n", "\t", "*", "_", "`", "#", ">", "[", "]",
      "(", ")", "(http://", "(https://", "http://", "://", "é", "日", "😀", "\xff", "\xc3", "s" }
    local links = { "(", ")", "(https://", "(http://", "(http", "a.example/", "*", "[", "]" }
    local seed = 12345
    local function rand(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
    for i = 1, 4000 do
      local t, size = {}, rand(700)
      while #table.concat(t) < size do
        -- (plain words most of the time, as prose; half the bodies with parentheses and links aplenty)
        local r = rand(6)
        t[#t + 1] = r == 1 and pieces[rand(#pieces)] or r == 2 and i % 2 == 0 and links[rand(#links)] or pieces[rand(4)] .. " "
      end
      local body = table.concat(t)
      assert.equal(whole(body), static_export.body_summary(body), body)
    end
  end)
end)
