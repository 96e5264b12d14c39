-- The comment form's defences and checks: the signed form token, the same-site check, the
-- per-address key, and the validation of what a reader typed. Why the token looks the way it
-- does is explained at the top of plugin.lua.
local FORM = "comment-form"
local NOT_TEXT = "This is not valid text (UTF-8). Please type it again."

return function(site)
  local settings = site.settings
  local _ = quire.i18n.gettext
  local M = {}
  M.max_bytes = quire.site.config.limits.comment_max

  -- A keyed hash of the client address: rate limits without storing addresses.
  function M.client_key(req)
    local sig = quire.tokens.sign("client-address", req.remote or "unknown"):match("%.([%w%-_]+)$")
    return sig:sub(1, 22)
  end

  -- A token names the second it was made in, so within one second every form of an entry
  -- carries the same one: signed once per entry and second rather than per page.
  local tokens, tokens_at = {}, nil
  function M.new_token(entry_id)
    local now = os.time()
    if now ~= tokens_at then tokens, tokens_at = {}, now end
    local t = tokens[entry_id]
    if not t then
      t = quire.tokens.sign(FORM, entry_id .. ":" .. now, settings.token_ttl_hours * 3600)
      tokens[entry_id] = t
    end
    return t
  end

  -- The token's entry id and issue time (nil when it is not a valid form token), and why
  -- quire.tokens.verify refused it ("expired", ...).
  function M.check_token(token)
    local data, why = quire.tokens.verify(FORM, token)
    local token_entry, issued = (data or ""):match("^(%d+):(%d+)$")
    return tonumber(token_entry), tonumber(issued), why
  end

  function M.same_site(req)
    if not settings.check_origin then return true end
    local host = (req.headers.host or ""):lower()
    local base = (quire.site.base_url or ""):match("^https?://([^/]+)")
    local function ours(u)
      local h = u:match("^https?://([^/]+)")
      if not h then return false end
      h = h:lower()
      return h == host or (base ~= nil and h == base:lower())
    end
    local origin = req.headers.origin
    if origin then return ours(origin) end -- "null" (sandboxed or privacy-stripped) fails too
    local referer = req.headers.referer
    if referer then return ours(referer) end
    return true -- neither header (not a browser, or a privacy setting): the signed token still applies
  end

  -- quire.text.trim is linear: the pattern "%s+$" is quadratic in a run of inner whitespace
  -- (x, 40,000 spaces and x took a worker for 10 s).
  local function trim(s)
    if type(s) ~= "string" then return "" end
    return quire.text.trim(s)
  end

  local function valid_email(s)
    if #s > 254 then return false end
    local lp, domain = s:match("^([^@%s]+)@([^@%s]+)$")
    return lp ~= nil and #lp <= 64 and domain:match("^[%w%-]+%.[%w%-%.]+$") ~= nil and not domain:find("..", 1, true)
      and not domain:match("%.$")
  end

  -- The posted fields, trimmed.
  function M.values(form)
    return { name = trim(form.name), email = trim(form.email), url = trim(form.url), comment = trim(form.comment) }
  end

  -- Errors by field and their number. not_text: the fields whose bytes were not UTF-8 (they
  -- never reached the form; app.parse_query names them).
  function M.validate(values, not_text)
    local errors, n = {}, 0
    local function err(field, msg) errors[field] = msg; n = n + 1 end
    not_text = not_text or {}
    if not_text.name then err("name", _(NOT_TEXT))
    elseif values.name == "" then err("name", _("Please enter your name."))
    elseif utf8.len(values.name) > 200 then err("name", _("Please use at most 200 characters.")) end
    if not_text.email then err("email", _(NOT_TEXT))
    elseif values.email == "" then err("email", _("Please enter your email address. It will not be published."))
    elseif not valid_email(values.email) then err("email", _("Please enter a valid email address, like name@example.org.")) end
    if not_text.url then err("url", _(NOT_TEXT))
    elseif values.url ~= "" and not (values.url:match("^https?://[^%s%c]+$") and #values.url <= 2000) then
      err("url", _("Please enter a web address starting with http:// or https://, or leave it empty."))
    end
    if not_text.comment then err("comment", _(NOT_TEXT))
    elseif values.comment == "" then err("comment", _("Please write a comment."))
    elseif #values.comment > M.max_bytes then err("comment", _("Please keep your comment under %d characters."):format(M.max_bytes)) end
    return errors, n
  end

  -- The store's own refusals (e.g. invalid UTF-8) by form field, never echoing the values; nil
  -- when none of them is about a form field.
  local STORE_FIELDS = { author_name = "name", author_email = "email", author_url = "url", body = "comment" }
  function M.store_errors(err)
    local errs = {}
    for _, e in ipairs(type(err) == "table" and err.errors or {}) do
      local f = STORE_FIELDS[e.field]
      if f then errs[f] = "This field " .. tostring(e.message) .. "." end
    end
    if next(errs) == nil then return nil end
    return errs
  end

  return M
end
