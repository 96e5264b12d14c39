-- The admin's media library (/admin/media): every image newest first with its thumbnail and
-- whether it is described, an upload form (a plain multipart form to the Admin API's upload
-- route, which answers it with a redirect back here), and a page per image to describe it (alt
-- text, caption, credit, focal point), see which entries use it and delete it when none does.
-- Uploading and describing go through quire.media, as the CLI and the Admin API do: the same
-- checks, the same audit lines, and cached pages showing the image are refreshed.
local media = require "quire.media"

local M = {}

M.PAGE = 48 -- images per page of the library
M.USED_MAX = 20 -- entries listed as using one image

function M.mount(admin)
  local quire = admin.quire

  -- The smallest variant at least `want` pixels wide (else the widest): a thumbnail's address.
  local function thumb_of(row, want)
    local pick
    for _, v in ipairs(row.variants or {}) do
      pick = v
      if v.width >= want then break end
    end
    return pick and pick.webp or row.url
  end

  local function card_of(row, fresh)
    return { id = row.id, href = "/admin/media/" .. row.id, thumb = thumb_of(row, 320) or false,
      title = row.title ~= "" and row.title or ("Image " .. row.id), alt = row.alt ~= "" and row.alt or false,
      size = row.width and ("%d × %d"):format(row.width, row.height) or false,
      by = row.uploaded_by or false, at = admin.local_human(row.created_at), fresh = fresh[row.id] or false }
  end

  admin.nav { label = "Media", href = "/admin/media", order = 4 }

  admin.route("GET", "/media", function(req, res)
    local user = admin.guard(req, res, "contributor")
    if not user then return end
    local before = math.tointeger(tonumber(req.query.before or ""))
    local rows = quire.media.list { limit = M.PAGE + 1, before = before }
    -- ?media=ID,ID: what the upload just added (the upload route's redirect), shown first.
    local fresh, added = {}, 0
    for id in tostring(req.query.media or ""):gmatch("%d+") do
      if added < 100 then fresh[math.tointeger(tonumber(id))] = true; added = added + 1 end
    end
    local cards = {}
    for i = 1, math.min(#rows, M.PAGE) do cards[i] = card_of(rows[i], fresh) end
    local flash
    local refused = admin.notice_of(req, "upload_error", "Not uploaded: ")
    if refused then
      flash = refused
    elseif added > 0 then
      flash = { kind = "ok", text = ("%d image%s added (or already in the library). Describe %s for readers who cannot see %s.")
        :format(added, added == 1 and "" or "s", added == 1 and "it" or "each", added == 1 and "it" or "them") }
    end
    admin.render(req, res, "media", { title = "Media", cards = cards, flash = flash,
      upload = { action = media.UPLOAD_PATH, csrf = admin.csrf(req), max = math.floor(quire.site.config.limits.upload_file / 1048576) },
      next_href = #rows > M.PAGE and ("/admin/media?before=%d"):format(rows[M.PAGE].id) or false,
      first_href = before and "/admin/media" or false })
  end)

  -- A route on one image (/media/ID...): the user holds role and the image exists (else 404),
  -- then fn(req, res, user, row).
  local function image_route(method, pattern, role, fn)
    admin.route(method, pattern, function(req, res)
      local user = admin.guard(req, res, role)
      if not user then return end
      local row = quire.media.get(req.params.id)
      if not row then return admin.fail(req, res, 404, ("There is no image %d in the library."):format(req.params.id)) end
      fn(req, res, user, row)
    end)
  end
  -- fn(...) done as user (the audit's who), caught: pcall's results.
  local function as_user(user, fn, ...) return pcall(quire._site.acting, { id = user.id, name = user.login }, fn, ...) end

  local function image_page(req, res, user, row, opts)
    opts = opts or {}
    local used = {}
    for i, id in ipairs(quire.media.references(row.id)) do
      if i > M.USED_MAX then break end
      local e = quire.content.get(id)
      if e and admin.can_see(user, e) then used[#used + 1] = { title = e.title, href = "/admin/entries/" .. e.id, status = e.status } end
    end
    local v = opts.values or row
    admin.render(req, res, "media_item", { title = row.title ~= "" and row.title or ("Image " .. row.id), flash = opts.flash,
      image = { id = row.id, src = thumb_of(row, 960) or false, alt = row.alt, size = row.width and ("%d × %d pixels"):format(row.width, row.height) or false,
        format = row.format or false, by = row.uploaded_by or false, at = admin.local_human(row.created_at),
        files = #(row.variants or {}) > 0 and row.variants or false },
      v = { alt = v.alt or "", caption = v.caption or "", credit = v.credit or "",
        focal = v.focal or (row.focal_x and ("%g,%g"):format(row.focal_x, row.focal_y)) or "" },
      error = opts.error or false, used = used, can_edit = admin.is_editor(user) or user.role == "author",
      can_delete = admin.is_editor(user) }, opts.status)
  end

  image_route("GET", "/media/{id:int}", "contributor", image_page)

  -- Describing an image: authors and up, as the Admin API's PATCH.
  image_route("POST", "/media/{id:int}", "author", function(req, res, user, row)
    local f = req.form or {}
    local meta = { alt = f.alt or "", caption = f.caption or "", credit = f.credit or "" }
    if f.focal and f.focal ~= "" then meta.focal = f.focal end
    local ok, updated, err = as_user(user, quire.media.update, row.id, meta)
    if ok and updated then
      return res:redirect(("/admin/media/%d?%s"):format(row.id, admin.notice(req, "ok", "Saved. Pages showing this image are refreshed.")), 303)
    end
    local why = ok and err or admin.error_text(updated)
    image_page(req, res, user, row, { status = 400, error = why, values = meta,
      flash = { kind = "error", text = "Not saved: " .. tostring(why) } })
  end)

  -- Deleting: editors, and only an image no entry uses (quire.media.delete refuses otherwise).
  image_route("POST", "/media/{id:int}/delete", "editor", function(req, res, user, row)
    local ok, done, err = as_user(user, quire.media.delete, row.id, false)
    if ok and done then
      return res:redirect("/admin/media?" .. admin.notice(req, "ok", ("Image %d deleted, with its files."):format(row.id)), 303)
    end
    res:redirect(("/admin/media/%d?%s"):format(row.id, admin.notice(req, "error", "Not deleted: " .. tostring(ok and err or admin.error_text(done)))), 303)
  end)
end

return M
