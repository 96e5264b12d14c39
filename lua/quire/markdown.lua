-- quire.markdown, quire.html, quire.url: Markdown to HTML, the sanitizer for outside HTML, escaping.
--
-- quire.markdown.render(src [, opts]) -> html | nil, err
--   Markdown (GitHub dialect: tables, ~~strikethrough~~, - [x] task lists, autolinks) via md4c.
--   Trusted (default, for editors): raw HTML passes through, images render, headings get ids
--   that are slugs of their text, unique in the document ("intro", "intro-1", ...).
--   opts.untrusted = true (for comments): raw HTML is shown as text, links only http/https/mailto
--   or relative, every link gets rel="nofollow ugc noopener", images render as their alt text,
--   no heading ids. A link whose URL is refused renders as its text. Invalid UTF-8 becomes U+FFFD.
--   Other opts override those defaults: images (bool), heading_ids (bool), id_prefix (string
--   before each id, e.g. "user-content-"), rel (string, or false), schemes (link schemes, list),
--   image_schemes (list), relative (bool: relative URLs allowed, default true).
--   err only for input over the size cap (64 MiB).
--
-- quire.html.sanitize(html [, policy]) -> html | nil, err
--   Parses html as an HTML5 body fragment (gumbo) and keeps only what the policy allows,
--   re-serialized: balanced tags, escaped text, valid UTF-8. Disallowed elements are unwrapped
--   (their text stays); script, style, iframe, object, embed, template, noscript, textarea,
--   select, svg, math ... go with their content; comments go. URL attributes (href, src, cite,
--   action, ...) stay only when their scheme is allowed, judged on the decoded value after
--   stripping whitespace/controls, percent-decoding and lowercasing. err only for input over
--   16 MiB or a parse past its memory budget.
--   policy: nil or "default" (article bodies), "comment" (strict, for reader comments), a
--   compiled policy from quire.html.policy, or a spec table (compiled on each call):
--     {
--       elements = { a = { "href", "title" }, p = true, img = { "src", "alt" }, ... },
--                                       -- element -> its allowed attributes (true: none)
--       attributes = { "lang" },        -- allowed on every allowed element (optional)
--       schemes = { "http", "https", "mailto", src = { "http", "https" } },
--                                       -- URL schemes: the list applies to every URL attribute
--                                       -- without a list of its own (here src)
--       relative = true,                -- relative URLs ("/a", "b.html", "#x"); default true
--       rel = "nofollow ugc noopener",  -- forced onto every <a> (optional)
--     }
--   Some things can never be allowed, and asking raises an error: script, style, iframe,
--   object, embed, form controls, svg, math...; on* attributes, style, srcdoc, srcset,
--   namespaced attributes (xlink:href).
-- quire.html.policy(spec) -> compiled policy (reuse it for many calls)
-- quire.html.policies.default / .comment -> the built-in compiled policies
-- quire.html.escape(s) -> s escaped for HTML text; quire.html.attr(s) -> escaped for a quoted
--   attribute value. Both replace invalid UTF-8 with U+FFFD; numbers are accepted.
-- quire.url.safe(url [, schemes]) -> url | nil: url when its scheme is in schemes (a list,
--   default { "http", "https", "mailto" }) or it is relative (unless schemes.relative == false).
local core = require "quire.core"

local M = {}

local RENDER_OPTS = {
  untrusted = "boolean", images = "boolean", heading_ids = "boolean", relative = "boolean",
  id_prefix = "string", rel = { string = true, boolean = true }, schemes = "table",
  image_schemes = "table",
}

local POLICY_KEYS = { elements = true, attributes = true, schemes = true, relative = true, rel = true }

-- The strict policy for reader comments: formatting and links, nothing that loads anything.
local COMMENT_POLICY = {
  elements = {
    p = true, br = true, a = { "href" }, em = true, strong = true, del = true, code = true,
    pre = true, blockquote = true, ul = true, ol = true, li = true,
  },
  schemes = { "http", "https", "mailto" },
  relative = false,
  rel = "nofollow ugc noopener",
}

local function check_list(v, what, level)
  for i, s in ipairs(v) do
    if type(s) ~= "string" then error(("%s[%d] must be a string"):format(what, i), level + 1) end
  end
end

local function compile(spec, level)
  for k in pairs(spec) do
    if not POLICY_KEYS[k] then error(("html policy: unknown key '%s'"):format(tostring(k)), level + 1) end
  end
  local ok, res = pcall(core.html_policy, spec)
  if not ok then error(res, level + 1) end
  return res
end

local function text_arg(s, fname)
  local t = type(s)
  if t == "number" then return tostring(s) end
  if t ~= "string" then error(("%s takes a string, got %s"):format(fname, t), 3) end
  return s
end

-- Rendered and sanitized HTML, keyed by the source text itself, so an entry page rendered on
-- every request (no page cache) converts each body and comment once per revision. Being keyed by
-- content, it never goes stale; it only starts over when it holds too many bytes.
local MEMO_BYTES = 8 * 1024 * 1024 -- per memo: sources and results together
local MEMO_ITEM_MAX = 256 * 1024   -- larger texts are converted every time

local function new_memo()
  local memo = { values = {}, bytes = 0 }
  function memo.get(src, fn, ...)
    local out = memo.values[src]
    if out then return out end
    local res, err = fn(src, ...)
    if type(res) == "string" and #src <= MEMO_ITEM_MAX then
      if memo.bytes + #src + #res > MEMO_BYTES then memo.values, memo.bytes = {}, 0 end
      memo.values[src], memo.bytes = res, memo.bytes + #src + #res
    end
    return res, err
  end
  return memo
end

function M.new(site)
  local _ = site
  local policies = { default = core.html_default_policy(), comment = compile(COMMENT_POLICY, 1) }
  local rendered = { trusted = new_memo(), untrusted = new_memo() }
  local sanitized = setmetatable({}, { __mode = "k" }) -- compiled policy -> memo

  local markdown = {}

  function markdown.render(src, opts)
    if type(src) ~= "string" then error("quire.markdown.render takes a Markdown string", 2) end
    if opts ~= nil then
      if type(opts) ~= "table" then error("quire.markdown.render: opts must be a table", 2) end
      for k, v in pairs(opts) do
        local want = RENDER_OPTS[k]
        if not want then error(("quire.markdown.render: unknown option '%s'"):format(tostring(k)), 2) end
        local ok = type(want) == "table" and want[type(v)] or type(v) == want
        if not ok or v == true and k == "rel" then
          error(("quire.markdown.render: option '%s' has the wrong type"):format(k), 2)
        end
        if type(v) == "table" then check_list(v, "quire.markdown.render: " .. k, 2) end
      end
    end
    -- The two ways the bundled plugins render (entry bodies, comments) are memoised.
    if opts == nil then return rendered.trusted.get(src, core.markdown_render) end
    if opts.untrusted == true and next(opts, next(opts)) == nil then
      return rendered.untrusted.get(src, core.markdown_render, opts)
    end
    return core.markdown_render(src, opts)
  end

  local html = { policies = policies }

  function html.policy(spec)
    if type(spec) ~= "table" then error("quire.html.policy takes a table", 2) end
    return compile(spec, 2)
  end

  function html.sanitize(s, policy)
    if type(s) ~= "string" then error("quire.html.sanitize takes an HTML string", 2) end
    local p
    if policy == nil then
      p = policies.default
    elseif type(policy) == "string" then
      p = policies[policy]
      if not p then error(("quire.html.sanitize: no policy named '%s'"):format(policy), 2) end
    elseif core.html_is_policy(policy) then
      p = policy
    elseif type(policy) == "table" then
      return core.html_sanitize(s, compile(policy, 2)) -- compiled for this call: nothing to memoise by
    else
      error("quire.html.sanitize: policy must be a name, a table or a compiled policy", 2)
    end
    local memo = sanitized[p]
    if not memo then
      memo = new_memo()
      sanitized[p] = memo
    end
    return memo.get(s, core.html_sanitize, p)
  end

  function html.escape(s) return core.html_escape(text_arg(s, "quire.html.escape")) end
  function html.attr(s) return core.html_attr(text_arg(s, "quire.html.attr")) end

  local url = {}

  function url.safe(u, schemes)
    if type(u) ~= "string" then return nil end
    if schemes ~= nil then
      if type(schemes) ~= "table" then error("quire.url.safe: schemes must be a list", 2) end
      check_list(schemes, "quire.url.safe: schemes", 2)
    end
    if core.url_safe(u, schemes) then return u end
    return nil
  end

  return { markdown = markdown, html = html, url = url }
end

return M
