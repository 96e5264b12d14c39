-- Importing a WordPress WXR export (tests/fixtures/wxr/export.xml, written for these tests).
local testing = require "quire.testing"
local wxr = require "quire.wxr"
local fixture = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/wxr/export.xml"

describe("quire import --from wordpress", function()
  local q
  setup(function()
    q = testing.site()
    local report = wxr.import(q, fixture)
    assert.same({ 3, 1, 4, 2 }, { report.counts.post.created, report.counts.page.created, report.counts.comment.created,
      report.counts.author.created })
  end)

  it("turns posts into articles with sections, tags, excerpts, GMT dates and authors", function()
    local e = q.content.get { type = "article", slug = "ferry-timetable" }
    assert.equal("published", e.status)
    assert.equal("2024-11-04T08:00:00Z", e.published_at)
    assert.equal("City & Region", e.section)
    assert.same({ "City & Region", "Ferries", "Winter" }, e.tags) -- its categories are tags too (all of them kept)
    assert.equal("Fewer late boats, more early ones.", e.fields.standfirst)
    assert.equal("editor-desk", q.users.get(e.author).login)
    -- [gallery] became a figure of the images the export holds; the missing one is reported
    assert.matches('<figure><a href="https://gazette.example/wp%-content/uploads/2024/11/ferry%-at%-dawn.jpg"><img', e.body)
    assert.is_nil(e.body:find("[gallery", 1, true))
    assert.matches("<strong>winter timetable</strong>", e.body)
  end)

  it("makes ASCII slugs from percent-encoded non-ASCII ones", function()
    local e = q.content.get { type = "article", slug = "praca-do-comercio-reabre" }
    assert.equal("Praça do Comércio reabre após obras", e.title)
    assert.equal("João Brás", q.users.get(e.author).display_name)
  end)

  it("keeps drafts as drafts and pages as pages", function()
    local d = q.content.get { type = "article", slug = "draft-budget-preview" }
    assert.equal("draft", d.status)
    assert.is_nil(d.published_at)
    assert.equal("published", q.content.get { type = "page", slug = "about" }.status)
  end)

  it("imports comments with their approval state and threading", function()
    local e = q.content.get { type = "article", slug = "ferry-timetable" }
    local cs = q.comments.query { entry = e.id, with_email = true }
    assert.equal(4, #cs)
    assert.same({ "approved", "held", "approved", "spam" }, { cs[1].status, cs[2].status, cs[3].status, cs[4].status })
    assert.equal(cs[1].id, cs[2].parent_id)
    assert.equal(cs[2].id, cs[3].parent_id)
    assert.equal("2024-11-04T11:00:00Z", cs[2].created_at)
  end)

  it("records attachments and skips menu items", function()
    local m = q.store.query("SELECT url, entry_id FROM media")
    assert.equal(1, #m)
    assert.matches("ferry%-at%-dawn%.jpg$", m[1].url)
    assert.equal(q.content.get { type = "article", slug = "ferry-timetable" }.id, m[1].entry_id)
    assert.equal(4, q.content.count {})
  end)

  it("updates on a second import instead of adding: a comment moderated since takes its new state", function()
    local before = q.store.query("SELECT (SELECT count(*) FROM entries) AS e, (SELECT count(*) FROM comments) AS c,"
      .. " (SELECT count(*) FROM redirects) AS r")[1]
    local f = assert(io.open(fixture, "rb"))
    local xml = f:read("a"):gsub("<wp:comment_approved><!%[CDATA%[0%]%]></wp:comment_approved>",
      "<wp:comment_approved><![CDATA[1]]></wp:comment_approved>", 1)
    f:close()
    local _, dir = testing.site()
    f = assert(io.open(dir .. "/again.xml", "w"))
    f:write(xml)
    f:close()
    local report = wxr.import(q, dir .. "/again.xml")
    assert.same({ 0, 0, 3 }, { report.counts.post.created, report.counts.post.updated, report.counts.post.unchanged })
    assert.same({ 0, 1, 3 }, { report.counts.comment.created, report.counts.comment.updated, report.counts.comment.unchanged })
    local after = q.store.query("SELECT (SELECT count(*) FROM entries) AS e, (SELECT count(*) FROM comments) AS c,"
      .. " (SELECT count(*) FROM redirects) AS r")[1]
    assert.same(before, after)
    local e = q.content.get { type = "article", slug = "ferry-timetable" }
    assert.equal(0, #q.comments.query { entry = e.id, status = "held" })
  end)

  it("refuses a file that is not a WXR export, writing nothing", function()
    local q2, dir = testing.site()
    local f = assert(io.open(dir .. "/bad.xml", "w"))
    f:write("<rss><channel><item><title>unclosed</channel></rss>")
    f:close()
    assert.has_error(function() wxr.import(q2, dir .. "/bad.xml") end)
    f = assert(io.open(dir .. "/feed.xml", "w"))
    f:write("<rss><channel><title>A feed</title><item><title>Not an export</title></item></channel></rss>")
    f:close()
    local ok, e = pcall(wxr.import, q2, dir .. "/feed.xml")
    assert.is_false(ok)
    assert.matches("feed.xml is an RSS file but not a WordPress export (no wp:wxr_version)", e.text, 1, true)
    assert.equal(0, q2.content.count {})
  end)
end)

describe("quire import --from wordpress: bodies, privacy and terms", function()
  local q, dir, report
  local function item(id, title, body, extra)
    return ([==[<item><title><![CDATA[%s]]></title><link>https://news.example/2023/02/%s/</link>
<dc:creator>desk</dc:creator><guid isPermaLink="false">https://news.example/?p=%s</guid>
<content:encoded><![CDATA[%s]]></content:encoded><wp:post_id>%s</wp:post_id>
<wp:post_date>2023-02-01 10:00:00</wp:post_date><wp:post_date_gmt>2023-02-01 09:00:00</wp:post_date_gmt>
<wp:post_modified_gmt>2023-03-01 09:30:00</wp:post_modified_gmt>
<wp:post_name>p%s</wp:post_name><wp:post_type>post</wp:post_type>%s</item>]==]):format(title, "p" .. id, id, body, id, id,
      extra or "<wp:status>publish</wp:status>")
  end
  setup(function()
    q, dir = testing.site { plugins = { "theme", "article", "comments" } }
    local f = assert(io.open(dir .. "/edge.xml", "w"))
    f:write([==[<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/"><channel>
<title>News</title><link>https://news.example</link><wp:wxr_version>1.2</wp:wxr_version><wp:base_blog_url>https://news.example</wp:base_blog_url>
<wp:author><wp:author_login>desk</wp:author_login><wp:author_display_name>Desk</wp:author_display_name></wp:author>
<wp:tag><wp:tag_slug>tags</wp:tag_slug><wp:tag_name>Tags</wp:tag_name></wp:tag>
<wp:tag><wp:tag_slug>tags-2</wp:tag_slug><wp:tag_name>tags</wp:tag_name></wp:tag>
<item><title>Photo</title><wp:post_id>50</wp:post_id><wp:post_type>attachment</wp:post_type><wp:post_parent>1</wp:post_parent>
<wp:attachment_url>https://cdn.news.example/quay.jpg</wp:attachment_url>
<wp:postmeta><wp:meta_key>_wp_attachment_image_alt</wp:meta_key><wp:meta_value>The quay</wp:meta_value></wp:postmeta></item>
<item><title>Clip</title><wp:post_id>51</wp:post_id><wp:post_type>attachment</wp:post_type><wp:post_parent>1</wp:post_parent>
<wp:attachment_url>https://cdn.news.example/horn.mp3</wp:attachment_url></item>
]==] .. item(1, "Shortcodes &amp; <em>more</em>", [==[Intro [sic] text.
[caption id="attachment_50" width="300"]<img src="https://cdn.news.example/quay.jpg" alt="The quay"> The quay at dawn[/caption]
[gallery]
[audio mp3="https://cdn.news.example/horn.mp3"][/audio]
[video src="https://cdn.news.example/launch.mp4"]
[embed]https://video.example/watch?v=42[/embed]
[playlist ids="51"]
[contact-form id="3"]
[newsletter]Sign up[/newsletter]
[[gallery]] shows how to write one.
<h1>Big heading</h1>
<address>1 Quay Street</address><h2>Next</h2>
<!-- wp:latest-posts /-->
<!-- wp:paragraph --><p>Block paragraph</p><!-- /wp:paragraph -->]==],
      [==[<wp:status>publish</wp:status><wp:comment_status>closed</wp:comment_status><wp:is_sticky>1</wp:is_sticky>
<category domain="post_format" nicename="post-format-gallery">Gallery</category>
<category domain="post_tag" nicename="tags">Tags</category><category domain="post_tag" nicename="tags-2">tags</category>
<wp:postmeta><wp:meta_key>_thumbnail_id</wp:meta_key><wp:meta_value>50</wp:meta_value></wp:postmeta>
<wp:comment><wp:comment_id>7</wp:comment_id><wp:comment_author>Ana</wp:comment_author><wp:comment_content>Nice</wp:comment_content>
<wp:comment_approved>1</wp:comment_approved><wp:comment_type>pingback</wp:comment_type><wp:comment_author_url>https://blog.example/x</wp:comment_author_url></wp:comment>]==])
      .. item(2, "Secret", "Members only.", "<wp:status>publish</wp:status><wp:post_password>hunter2</wp:post_password>")
      .. item(3, "Private", "Staff only.", "<wp:status>private</wp:status>")
      .. "</channel></rss>")
    f:close()
    report = wxr.import(q, dir .. "/edge.xml")
  end)

  local function lines() return require("quire.wxr").format(report) end

  it("turns core shortcodes into HTML the sanitiser keeps, and removes unknown ones", function()
    local e = q.content.get { type = "article", slug = "p1" }
    local html = q:request("GET", "/2023/02/p1").body
    assert.matches('<figure><img src="https://cdn.news.example/quay.jpg" alt="The quay" loading="lazy" decoding="async"><figcaption>The quay at dawn</figcaption></figure>', html, 1, true)
    assert.matches('<figure><a href="https://cdn.news.example/quay.jpg"><img', html, 1, true) -- [gallery]: the post's images
    assert.matches('<a href="https://cdn.news.example/horn.mp3">Listen: horn.mp3</a>', html, 1, true)
    assert.matches('<a href="https://cdn.news.example/launch.mp4">Watch: launch.mp4</a>', html, 1, true)
    assert.matches('<a href="https://video.example/watch?v=42">', html, 1, true)
    assert.matches('<li><a href="https://cdn.news.example/horn.mp3">Clip</a></li>', html, 1, true)
    assert.matches("Intro [sic] text.", html, 1, true) -- bracketed words are not shortcodes
    assert.matches("[gallery] shows how to write one.", html, 1, true) -- [[escaped]]
    assert.matches("Sign up", html, 1, true)
    assert.is_nil(e.body:find("[contact-form", 1, true))
    assert.is_nil(e.body:find("[newsletter", 1, true))
    assert.matches("unknown shortcode [contact-form] removed", lines(), 1, true)
    assert.matches("unknown shortcode [newsletter] removed", lines(), 1, true)
    assert.matches("latest-posts", lines(), 1, true)
  end)

  it("keeps headings and addresses apart from their neighbours", function()
    local html = q:request("GET", "/2023/02/p1").body
    assert.matches("<h2>Big heading</h2>", html, 1, true)
    assert.matches("<p>1 Quay Street</p>", html, 1, true)
    assert.matches("<h2>Next</h2>", html, 1, true)
    assert.matches("<p>Block paragraph</p>", html, 1, true)
  end)

  it("makes the title text, keeps dates, format, sticky, closed comments and the featured image", function()
    local e = q.content.get { type = "article", slug = "p1" }
    assert.equal("Shortcodes & more", e.title)
    assert.same({ "2023-02-01T09:00:00Z", "2023-03-01T09:30:00Z", "2023-02-01T09:00:00Z" }, { e.created_at, e.updated_at, e.published_at })
    assert.same({ "gallery", true, true, "https://cdn.news.example/quay.jpg", "The quay" },
      { e.fields.format, e.fields.sticky, e.fields.comments_closed, e.fields.hero_image, e.fields.hero_alt })
    assert.is_nil(q:request("GET", "/2023/02/p1").body:find("comment-form", 1, true))
  end)

  it("maps Tags and tags to one term and says so", function()
    local e = q.content.get { type = "article", slug = "p1" }
    assert.same({ "Tags" }, e.tags)
    assert.matches('same term as "Tags"', lines(), 1, true)
  end)

  it("never publishes what WordPress kept private, and says so", function()
    for _, slug in ipairs({ "p2", "p3" }) do
      local e = q.content.get { type = "article", slug = slug }
      assert.equal("draft", e.status)
      assert.equal(404, q:request("GET", "/2023/02/" .. slug).status)
    end
    assert.equal(404, q:request("GET", "/?p=2").status)
    assert.matches("password-protected: imported as a draft (not public)", lines(), 1, true)
    assert.matches("private: imported as a draft (not public)", lines(), 1, true)
    assert.equal(1, report.counts.pingback.seen)
    assert.matches("pingback from https://blog.example/x", lines(), 1, true)
  end)

  it("answers the old URLs with the new permalinks", function()
    for _, old in ipairs({ "/?p=1", "/2023/02/p1/", "/2023/02/01/p1/", "/p1/" }) do
      local r = q:request("GET", old)
      assert.same({ 301, "/2023/02/p1" }, { r.status, r.headers.location }, old)
    end
  end)

  it("says which old URL gets no redirect because the server refuses it", function()
    -- (a permalink holding a stray "%": no browser sends it so, and the server answers it 400)
    local q2, dir2 = testing.site { plugins = { "theme", "article" } }
    local f = assert(io.open(dir2 .. "/odd.xml", "w"))
    f:write([==[<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:wp="http://wordpress.org/export/1.2/"><channel><title>News</title><link>https://news.example</link>
<wp:wxr_version>1.2</wp:wxr_version><wp:author><wp:author_login>desk</wp:author_login></wp:author>
]==] .. item(9, "Sale", "Half off.") :gsub("/2023/02/p9/", "/2023/02/50%%-off/") .. "</channel></rss>")
    f:close()
    local r = wxr.import(q2, dir2 .. "/odd.xml")
    assert.matches('redirect /2023/02/50%-off/: not added: "/2023/02/50%-off/": the request path has a malformed %-escape',
      wxr.format(r), 1, true)
    assert.same({ 301, "/2023/02/p9" }, { q2:request("GET", "/?p=9").status, q2:request("GET", "/?p=9").headers.location })
  end)
end)
