-- UI strings through gettext catalogues: .mo files (compiled with msgfmt from the .po files in a
-- plugin's po/ folder into its locale/ folder at build time; a site's own in SITE/locale/), read
-- here, plural forms from each catalogue's Plural-Forms header. A site overrides any string with
-- its own SITE/locale/LANG.mo or site.lua's `strings` table.
--
--   i18n.gettext(msgid [, lang])                 the translation, or msgid
--   i18n.ngettext(singular, plural, n [, lang])  the form for n, by the language's plural rule
--   i18n.pgettext(context, msgid [, lang])       msgid in a context ("month", "date format")
--   i18n.dir(lang)                               "rtl" or "ltr"
--   i18n.lambda([lang])                          the template lambda {{#_}}Related Posts{{/_}}
-- lang defaults to the site's language (site.lua `language`).
local M = {}

local MO_MAX = 16 * 1024 * 1024 -- bytes of one catalogue
local MESSAGES_MAX = 100000
local PLURAL_EXPR_MAX = 300     -- bytes of a Plural-Forms expression
local CACHE_MAX = 32            -- languages kept at once

-- The site's settings, set when a site opens (configure); one site per Lua state.
local state = { lang = "en", dirs = {}, strings = {} }
local catalogues, ncatalogues = {}, 0

-- ---- Plural-Forms: a C expression in n ("n==0 ? 0 : n==1 ? 1 : ...") compiled to a function ----

local function plural_compiler(src)
  local pos, tok, val = 1, nil, nil
  local function next_token()
    local s = src:match("^%s*()", pos)
    pos = s
    if pos > #src then tok = "eof" return end
    local num = src:match("^%d+", pos)
    if num then tok, val, pos = "num", tonumber(num), pos + #num return end
    if src:sub(pos, pos) == "n" then tok, pos = "n", pos + 1 return end
    local two = src:sub(pos, pos + 1)
    if two == "==" or two == "!=" or two == "<=" or two == ">=" or two == "&&" or two == "||" then
      tok, pos = two, pos + 2 return
    end
    local one = src:sub(pos, pos)
    if one:match("[%?:<>%+%-%*/%%!%(%)]") then tok, pos = one, pos + 1 return end
    error(("unexpected %q in plural expression"):format(one), 0)
  end
  local function b(v) return v and 1 or 0 end
  local BIN = {
    ["||"] = 1, ["&&"] = 2, ["=="] = 3, ["!="] = 3, ["<"] = 4, [">"] = 4, ["<="] = 4, [">="] = 4,
    ["+"] = 5, ["-"] = 5, ["*"] = 6, ["/"] = 6, ["%"] = 6,
  }
  local OPS = {
    ["||"] = function(x, y) return b(x ~= 0 or y ~= 0) end, ["&&"] = function(x, y) return b(x ~= 0 and y ~= 0) end,
    ["=="] = function(x, y) return b(x == y) end, ["!="] = function(x, y) return b(x ~= y) end,
    ["<"] = function(x, y) return b(x < y) end, [">"] = function(x, y) return b(x > y) end,
    ["<="] = function(x, y) return b(x <= y) end, [">="] = function(x, y) return b(x >= y) end,
    ["+"] = function(x, y) return x + y end, ["-"] = function(x, y) return x - y end,
    ["*"] = function(x, y) return x * y end,
    ["/"] = function(x, y) return y == 0 and 0 or x // y end, ["%"] = function(x, y) return y == 0 and 0 or x % y end,
  }
  local expr
  local function primary()
    if tok == "num" then local v = val; next_token() return function() return v end end
    if tok == "n" then next_token() return function(n) return n end end
    if tok == "!" then next_token(); local f = primary() return function(n) return b(f(n) == 0) end end
    if tok == "-" then next_token(); local f = primary() return function(n) return -f(n) end end
    if tok == "(" then
      next_token()
      local f = expr()
      if tok ~= ")" then error("missing ) in plural expression", 0) end
      next_token()
      return f
    end
    error(("unexpected %s in plural expression"):format(tok), 0)
  end
  local function binary(min)
    local left = primary()
    while BIN[tok] and BIN[tok] >= min do
      local op = tok
      next_token()
      local right = binary(BIN[op] + 1)
      local l, f = left, OPS[op]
      left = function(n) return f(l(n), right(n)) end
    end
    return left
  end
  function expr()
    local cond = binary(1)
    if tok ~= "?" then return cond end
    next_token()
    local yes = expr()
    if tok ~= ":" then error("missing : in plural expression", 0) end
    next_token()
    local no = expr()
    return function(n) if cond(n) ~= 0 then return yes(n) end return no(n) end
  end
  next_token()
  local f = expr()
  if tok ~= "eof" then error("unexpected text after the plural expression", 0) end
  return f
end

-- The plural rule of a Plural-Forms header value: index(n) (0-based), nplurals; or nil, message.
function M.plural_rule(header)
  local nplurals = tonumber(header:match("nplurals%s*=%s*(%d+)"))
  local expr = header:match("plural%s*=%s*([^;]+)")
  if not nplurals or not expr or nplurals < 1 or nplurals > 10 then return nil, "Plural-Forms needs nplurals=N; plural=EXPR;" end
  if #expr > PLURAL_EXPR_MAX then return nil, "plural expression too long" end
  local ok, f = pcall(plural_compiler, expr)
  if not ok then return nil, f end
  return function(n)
    local i = f(math.tointeger(n) or math.floor(n))
    return (i >= 0 and i < nplurals) and i or 0
  end, nplurals
end

local english_rule = function(n) return n == 1 and 0 or 1 end

-- ---- .mo files ----

-- Parses the text of a .mo file: { messages = { [ctx\4msgid] = text | { forms } }, plural =, nplurals = }
-- or nil, message.
function M.parse_mo(data, name)
  name = name or "catalogue"
  if #data < 28 then return nil, name .. ": not a .mo file (too short)" end
  local e
  if string.unpack("<I4", data) == 0x950412de then e = "<" elseif string.unpack(">I4", data) == 0x950412de then e = ">"
  else return nil, name .. ": not a .mo file (compile the .po with msgfmt)" end
  local _, count, orig, trans = string.unpack(e .. "I4I4I4I4", data, 5)
  if count > MESSAGES_MAX then return nil, name .. ": more than " .. MESSAGES_MAX .. " messages" end
  if orig + count * 8 > #data or trans + count * 8 > #data then return nil, name .. ": truncated .mo file" end
  local function str(tbl, i)
    local len, off = string.unpack(e .. "I4I4", data, tbl + i * 8 + 1)
    if off + len > #data then error(name .. ": string outside the file", 0) end
    return data:sub(off + 1, off + len)
  end
  local messages, plural, nplurals = {}, english_rule, 2
  local ok, err = pcall(function()
    for i = 0, count - 1 do
      local id, text = str(orig, i), str(trans, i)
      local key = id:match("^[^%z]*") -- a plural entry's msgid is "singular\0plural"
      if key == "" then
        local pf = text:match("[Pp]lural%-[Ff]orms:%s*([^\n]+)")
        if pf then
          local rule, n = M.plural_rule(pf)
          if not rule then error(name .. ": " .. n, 0) end
          plural, nplurals = rule, n
        end
      elseif id:find("\0", 1, true) then
        local forms = {}
        for form in (text .. "\0"):gmatch("([^%z]*)%z") do forms[#forms + 1] = form end
        messages[key] = forms
      elseif text ~= "" then
        messages[key] = text
      end
    end
  end)
  if not ok then return nil, err end
  return { messages = messages, plural = plural, nplurals = nplurals }
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read(MO_MAX + 1)
  f:close()
  if data and #data > MO_MAX then error(("%s: larger than %d bytes"):format(path, MO_MAX), 0) end
  return data or ""
end

-- "pt-BR" -> { "pt_BR", "pt" }; "nb" -> { "nb" }
local function candidates(lang)
  local out = { (lang:gsub("-", "_")) }
  local primary = lang:match("^(%a+)[-_]")
  if primary then out[2] = primary end
  return out
end

-- The merged catalogue of lang: site strings, then SITE/locale, then each plugin's locale/ (the
-- first to have a message wins), with the plural rule of the first file that has one.
local function load(lang)
  local cat = { messages = {}, plural = nil, nplurals = nil }
  for _, dir in ipairs(state.dirs) do
    for _, code in ipairs(candidates(lang)) do
      local path = dir .. "/" .. code .. ".mo"
      local data = read(path)
      if data then
        local mo, err = M.parse_mo(data, path)
        if not mo then error(err, 0) end
        for k, v in pairs(mo.messages) do if cat.messages[k] == nil then cat.messages[k] = v end end
        if not cat.plural then cat.plural, cat.nplurals = mo.plural, mo.nplurals end
        break
      end
    end
  end
  if not cat.plural then cat.plural, cat.nplurals = english_rule, 2 end
  if lang == state.lang then
    for k, v in pairs(state.strings) do cat.messages[(k:gsub("|", "\4", 1))] = v end
  end
  return cat
end

local function catalogue(lang)
  lang = lang or state.lang
  local cat = catalogues[lang]
  if cat then return cat end
  if ncatalogues >= CACHE_MAX then catalogues, ncatalogues = {}, 0 end
  cat = load(lang)
  catalogues[lang], ncatalogues = cat, ncatalogues + 1
  return cat
end

-- site.lua's strings: true, or nil and what is wrong.
function M.check_strings(t)
  local n = 0
  for k, v in pairs(t) do
    n = n + 1
    if n > 10000 then return nil, "more than 10000 strings" end
    if type(k) ~= "string" then return nil, "keys are the English strings (msgid), e.g. [\"Related Posts\"]" end
    if type(v) == "table" then
      for i, form in ipairs(v) do
        if type(form) ~= "string" then return nil, ("[%q][%d] must be text"):format(k, i) end
      end
      if #v == 0 then return nil, ("[%q] must be text or a list of plural forms"):format(k) end
    elseif type(v) ~= "string" then
      return nil, ("[%q] must be text or a list of plural forms, got %s"):format(k, type(v))
    end
  end
  return true
end

-- Called when a site opens: its language, the folders holding LANG.mo files (most specific
-- first), and site.lua's strings table ({ [msgid] = text | { forms }, ["context|msgid"] = ... }).
function M.configure(opts)
  state = { lang = opts.lang or "en", dirs = opts.dirs or {}, strings = opts.strings or {} }
  catalogues, ncatalogues = {}, 0
end

-- Adds a folder of LANG.mo files after the configured ones (a plugin's locale/).
function M.add_dir(dir)
  state.dirs[#state.dirs + 1] = dir
  catalogues, ncatalogues = {}, 0
end

function M.language() return state.lang end

function M.gettext(msgid, lang)
  local t = catalogue(lang).messages[msgid]
  if type(t) == "table" then t = t[1] end
  return t or msgid
end

function M.pgettext(context, msgid, lang)
  local t = catalogue(lang).messages[context .. "\4" .. msgid]
  if type(t) == "table" then t = t[1] end
  return t or msgid
end

function M.ngettext(singular, plural, n, lang)
  local cat = catalogue(lang)
  local forms = cat.messages[singular]
  if type(forms) == "table" then
    local form = forms[cat.plural(n) + 1]
    if form and form ~= "" then return form end
  end
  return n == 1 and singular or plural
end

-- The scripts written right to left (Arabic, Hebrew, Persian, Urdu, Yiddish, Dhivehi, Pashto, Sindhi, Kurdish Sorani).
local RTL = { ar = true, he = true, fa = true, ur = true, yi = true, dv = true, ps = true, sd = true, ckb = true }
function M.dir(lang)
  lang = lang or state.lang
  return RTL[lang:match("^%a+"):lower()] and "rtl" or "ltr"
end

-- The template lambda: {{#_}}Previous Article{{/_}} prints the translation, HTML-escaped; its
-- Mustache tags (a translation of "Reply to {{name}}" keeps {{name}}) render in the view.
local function escape(s)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end
local lambdas = {}
function M.lambda(lang)
  lang = lang or state.lang
  local f = lambdas[lang]
  if not f then
    f = function(text)
      local msgid = text:match("^%s*(.-)%s*$")
      return escape(M.gettext(msgid, lang))
    end
    lambdas[lang] = f
  end
  return f
end

return M
