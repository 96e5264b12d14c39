-- Feeds and metadata: RSS 2.0, Atom and JSON Feed for the site, each section and each tag
-- (syndication.lua); sitemaps of the whole archive, a Google News sitemap and robots.txt
-- (sitemaps.lua); and in every page's head (head.lua) the canonical link, OpenGraph and Twitter
-- card meta, feed discovery links and, on entries, JSON-LD (NewsArticle, or OpinionNewsArticle
-- for opinion pieces). An entry's tags pass through the "head.entry" filter ({ meta = { {attr,
-- key, content}, ... }, jsonld = table }, entry) before they are rendered once and kept until
-- the next write. common.lua holds what they share.
return quire.plugin {
  name = "feeds", version = "1.0", requires = { "theme" },
  settings = {
    items = 20,                -- entries per feed
    description = "",          -- the site's description for feeds and meta (default: its name)
    news_days = 2,             -- sitemap news fields for entries published this recently
    twitter_site = "",         -- "@handle" for twitter:site
    skip_types = { "page" },   -- types left out of feeds (pages still go into the sitemap)
    jsonld_types = { opinion = "OpinionNewsArticle", article = "NewsArticle", page = "WebPage" },
  },
  setup = function(site)
    local skip = {}
    for _, t in ipairs(site.settings.skip_types) do skip[t] = true end
    local common = site:require("common")(site)
    site:require("syndication")(site, common, skip) -- the feeds
    site:require("sitemaps")(site, common, skip)    -- sitemaps and robots.txt
    site:require("head")(site, common)              -- what every page's head says
  end,
}
