-- "Total N Shares" and share links for the usual networks, without third-party scripts. Each link
-- goes through this site's counting redirect, /share/NETWORK/ID?t=TOKEN: the token is signed for
-- that entry (so nobody can count shares of arbitrary entries) and counts for the networks the
-- site offers, each named by the path; and a click counts once per entry, network and client
-- address a day (quire.shares.record), so replaying one link endlessly from one client does not
-- inflate the count. Links are rel="nofollow" and robots.txt keeps crawlers out of /share/.
-- A static export (quire.site.static_export) has no server to count: its links go to the
-- networks themselves.
return quire.plugin {
  name = "share", version = "1.0", requires = { "theme" },
  settings = {
    networks = { "facebook", "x", "linkedin", "reddit", "whatsapp", "email" },
    count_window_hours = 24, -- a client counts once per entry and network in this window
    skip_types = { "page" },
  },
  setup = function(site)
    local settings = site.settings
    local PURPOSE = "share"
    local enc = function(s)
      return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
    end
    -- Where each network takes a reader who shares url with title.
    local NETWORKS = {
      facebook = { label = "Facebook", url = function(u) return "https://www.facebook.com/sharer/sharer.php?u=" .. enc(u) end },
      x = { label = "X", url = function(u, t) return "https://twitter.com/intent/tweet?url=" .. enc(u) .. "&text=" .. enc(t) end },
      linkedin = { label = "LinkedIn", url = function(u) return "https://www.linkedin.com/sharing/share-offsite/?url=" .. enc(u) end },
      reddit = { label = "Reddit", url = function(u, t) return "https://www.reddit.com/submit?url=" .. enc(u) .. "&title=" .. enc(t) end },
      whatsapp = { label = "WhatsApp", url = function(u, t) return "https://wa.me/?text=" .. enc(t .. " " .. u) end },
      email = { label = "Email", url = function(u, t) return "mailto:?subject=" .. enc(t) .. "&body=" .. enc(u) end },
    }
    local offered = {}
    for _, n in ipairs(settings.networks) do
      if not NETWORKS[n] then error(("share: unknown network '%s' (known: facebook, x, linkedin, reddit, whatsapp, email)"):format(n)) end
      offered[n] = true
    end
    local skip = {}
    for _, t in ipairs(settings.skip_types) do skip[t] = true end

    local function absolute(path)
      return (quire.site.base_url or ""):gsub("/+$", "") .. path
    end

    -- The counts and signed links of an entry, rendered (templates/share.mustache): database
    -- values only (the signing key included), so kept until the next write (site:memo) rather
    -- than signed and rendered again for every reader. One token serves all of its links (one
    -- HMAC an entry, not one per network): it names the entry, the path the network. What all
    -- blocks share is made once (an export renders each entry once): the links' paths up to the
    -- id, and the total's text by count (a process has one language). (Not the links' tables,
    -- given each block's hrefs: new strings in those old tables outlive the GC's young
    -- collections, and an export's peak heap grew by 6 MB.)
    local paths = {}
    for i, n in ipairs(settings.networks) do paths[i] = "/share/" .. n .. "/" end
    local totals, ntotals = {}, 0
    local function total_html(n)
      local html = totals[n]
      if not html then
        -- "Total 5 Shares" with the number in <strong>, in the language's plural form for the count.
        local text = quire.template.escape(quire.i18n.ngettext("Total %s Share", "Total %s Shares", n))
        html = text:gsub("%%s", "<strong>" .. n .. "</strong>", 1)
        if ntotals >= 256 then totals, ntotals = {}, 0 end
        totals[n], ntotals = html, ntotals + 1
      end
      return html
    end
    local function block(id)
      local n = quire.shares.counts(id).total
      local tail = id .. "?t=" .. quire.tokens.sign(PURPOSE, id)
      local links = {}
      for i, net in ipairs(settings.networks) do
        links[i] = { network = net, label = NETWORKS[net].label, href = paths[i] .. tail }
      end
      return quire.template.render("share", { total = n, total_html = total_html(n), links = links })
    end

    -- A static export's page (no server behind it to count a click): the networks' own links,
    -- and no total, which nothing there would move.
    local function static_block(entry)
      local url, links = absolute(quire.content.url(entry)), {}
      for i, net in ipairs(settings.networks) do
        links[i] = { network = net, label = NETWORKS[net].label, href = NETWORKS[net].url(url, entry.title) }
      end
      -- (no total: nil, which a site's own template without the section also shows as nothing)
      return quire.template.render("share", { links = links })
    end

    site:filter("view.entry", function(view, entry)
      if skip[entry.type] then return view end
      if quire.site.static_export then
        view.share = static_block(entry)
        return view
      end
      view.share = site:memo("block\0" .. entry.id, block, entry.id)
      return view
    end)

    site:route("GET", "/share/{network}/{id:int}", function(req, res)
      res.private = true -- every click must reach this handler, never the page cache
      local network, id = req.params.network, math.tointeger(tonumber(req.params.id))
      if not id then return res:error(404) end
      -- An entry's token counts for the networks offered; one signed for an entry and network
      -- (links made before one token served them all, still in caches and exports) for that one,
      -- while it is offered.
      local data = quire.tokens.verify(PURPOSE, req.query.t)
      local valid = offered[network] and (data == tostring(id) or data == id .. ":" .. network)
      local entry = valid and quire.content.get(id)
      if not entry or entry.status ~= "published" then
        return res:error(404)
      end
      local client = quire.tokens.sign("client-address", req.remote or "unknown"):match("%.([%w%-_]+)$"):sub(1, 22)
      quire.shares.record(id, network, client, settings.count_window_hours * 3600)
      local url = absolute(quire.content.url(entry))
      res:header("referrer-policy", "no-referrer")
      return res:redirect(NETWORKS[network].url(url, entry.title), 303)
    end)
  end,
}
