-- WordPress import: a WXR export file becomes Quire content. Posts become articles, pages
-- pages, categories sections, tags tags, authors users, comments keep their approval state and
-- threading, attachments are recorded in the media table. Bodies stay HTML (Markdown allows it);
-- scripts and event handlers are removed when the HTML sanitizer is available.
local lxp = require "lxp"
local core = require "quire.core"
local errors = require "quire.errors"
local time = require "quire.time"

local M = {}

-- Parses XML into nested { name =, attrs =, text =, children = {...} } tables.
local function parse(path)
  local f, err = io.open(path, "rb")
  if not f then error(err, 0) end
  local root = { name = "#root", children = {}, text = {} }
  local stack = { root }
  local parser = lxp.new {
    StartElement = function(_, name, attrs)
      local node = { name = name, attrs = attrs, children = {}, text = {} }
      local top = stack[#stack]
      top.children[#top.children + 1] = node
      stack[#stack + 1] = node
    end,
    EndElement = function()
      local node = table.remove(stack)
      node.text = table.concat(node.text)
    end,
    CharacterData = function(_, data)
      local t = stack[#stack].text
      t[#t + 1] = data
    end,
  }
  for chunk in function() return f:read(65536) end do
    local ok, perr, line = parser:parse(chunk)
    if not ok then f:close() error(("%s:%s: XML error: %s"):format(path, tostring(line), tostring(perr)), 0) end
  end
  local ok, perr, line = parser:parse()
  f:close()
  if not ok then error(("%s:%s: XML error: %s"):format(path, tostring(line), tostring(perr)), 0) end
  parser:close()
  return root
end

local function child(node, name)
  for _, c in ipairs(node.children) do if c.name == name then return c end end
end
local function text(node, name)
  local c = child(node, name)
  return c and c.text or nil
end
local function children(node, name)
  local out = {}
  for _, c in ipairs(node.children) do if c.name == name then out[#out + 1] = c end end
  return out
end

-- "2024-11-04 08:00:00" (GMT) -> "2024-11-04T08:00:00Z"; WordPress writes zeros for "never".
local function gmt(s)
  if not s or s == "" or s:match("^0000") then return nil end
  return time.parse(s:gsub(" ", "T", 1) .. "Z")
end

local function url_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function login_for(wp_login)
  local l = core.slugify(wp_login or "")
  if l == "" then l = "wp-user" end
  return l
end

local STATUS = { publish = "published", draft = "draft", pending = "review", ["auto-draft"] = "draft",
  future = "scheduled", private = "draft", trash = "archived" }
local COMMENT_STATUS = { ["1"] = "approved", ["0"] = "held", spam = "spam", trash = "trash" }

-- Imports the WXR file at path. Returns entries, comments, users created.
function M.import(quire, path)
  local root = parse(path)
  local rss = child(root, "rss")
  local channel = rss and child(rss, "channel")
  if not channel then errors.raise("invalid", path .. " is not a WordPress export (no rss/channel)") end
  local site = quire._site
  local db = site.db
  local sanitize = quire.html and quire.html.sanitize
  local nentries, ncomments, nusers = 0, 0, 0
  quire.store.transaction(function()
    local logins = {}
    for _, a in ipairs(children(channel, "wp:author")) do
      local wp_login = text(a, "wp:author_login")
      local login = login_for(wp_login)
      logins[wp_login] = login
      if not quire.users.get(login) then
        local email = text(a, "wp:author_email")
        quire.users.create { login = login, name = text(a, "wp:author_display_name") ~= "" and text(a, "wp:author_display_name") or wp_login,
          email = email ~= "" and email or nil }
        nusers = nusers + 1
      end
    end
    local by_wp_id, attachments = {}, {}
    for _, item in ipairs(children(channel, "item")) do
      local post_type = text(item, "wp:post_type")
      local wp_id = text(item, "wp:post_id")
      if post_type == "attachment" then
        attachments[#attachments + 1] = item
      elseif post_type == "post" or post_type == "page" then
        local title = text(item, "title") or ""
        if title:match("^%s*$") then title = "Untitled " .. tostring(wp_id) end
        local wp_slug = url_decode(text(item, "wp:post_name") or "")
        local slug = core.slugify(wp_slug ~= "" and wp_slug or title, 190)
        if slug == "" then slug = "post-" .. tostring(wp_id) end
        local taken = db:row("SELECT id FROM entries WHERE type = ? AND slug = ?", post_type == "page" and "page" or "article", slug)
        if taken then slug = slug .. "-" .. tostring(wp_id) end
        local body = text(item, "content:encoded") or ""
        if sanitize then body = sanitize(body) end
        local status = STATUS[text(item, "wp:status") or "draft"] or "draft"
        local published = gmt(text(item, "wp:post_date_gmt"))
        if status == "published" and not published then published = time.now() end
        local tags, section = {}, nil
        for _, c in ipairs(children(item, "category")) do
          if c.attrs.domain == "post_tag" then tags[#tags + 1] = c.text
          elseif c.attrs.domain == "category" and not section then section = c.text end
        end
        local fields = {}
        local excerpt = text(item, "excerpt:encoded")
        if post_type == "post" and excerpt and excerpt:match("%S") then fields.standfirst = excerpt:sub(1, 600) end
        local creator = text(item, "dc:creator")
        local id = quire.content.create {
          type = post_type == "page" and "page" or "article", title = title, slug = slug, body = body, status = status,
          published_at = (status == "published" or status == "scheduled") and published or nil,
          author = creator and logins[creator] and quire.users.get(logins[creator]) and logins[creator] or nil,
          tags = #tags > 0 and tags or nil, section = section, fields = fields,
        }
        by_wp_id[wp_id] = id
        nentries = nentries + 1
        -- Comments, oldest first, parents before replies (WordPress ids grow with time).
        local comments = children(item, "wp:comment")
        table.sort(comments, function(a, b) return (tonumber(text(a, "wp:comment_id")) or 0) < (tonumber(text(b, "wp:comment_id")) or 0) end)
        local comment_ids = {}
        for _, c in ipairs(comments) do
          local ctype = text(c, "wp:comment_type") or ""
          if ctype == "" or ctype == "comment" then
            local email = text(c, "wp:comment_author_email") or ""
            if email == "" then email = "unknown@invalid.example" end
            local url = text(c, "wp:comment_author_url") or ""
            local parent = comment_ids[text(c, "wp:comment_parent") or "0"]
            local cid = quire.comments.create {
              entry = id, parent = parent, author_name = (text(c, "wp:comment_author") or ""):match("%S") and text(c, "wp:comment_author") or "Anonymous",
              author_email = email, author_url = url:match("^https?://") and url or nil,
              body = text(c, "wp:comment_content") or "", status = COMMENT_STATUS[text(c, "wp:comment_approved") or "0"] or "held",
            }
            local when = gmt(text(c, "wp:comment_date_gmt"))
            if when then db:exec("UPDATE comments SET created_at = ? WHERE id = ?", when, cid) end
            comment_ids[text(c, "wp:comment_id")] = cid
            ncomments = ncomments + 1
          end
        end
      end
    end
    for _, a in ipairs(attachments) do
      local url = text(a, "wp:attachment_url") or ""
      if url ~= "" then
        db:exec("INSERT INTO media (url, title, entry_id, source, created_at) VALUES (?, ?, ?, ?, ?)"
          .. " ON CONFLICT (source) DO UPDATE SET url = excluded.url, title = excluded.title, entry_id = excluded.entry_id",
          url, text(a, "title") or "", by_wp_id[text(a, "wp:post_parent") or ""], "wordpress:" .. tostring(text(a, "wp:post_id")),
          gmt(text(a, "wp:post_date_gmt")) or time.now())
      end
    end
  end)
  return nentries, ncomments, nusers
end

return M
