-- quire.markdown.render: GitHub-flavoured output, heading ids, and the untrusted (comment) mode.
local core = require "quire.core"
local testing = require "quire.testing"

local md = quire.markdown

-- True when every tag in html is closed in order (void elements aside). All text in the
-- renderer's output is escaped, so every '<' starts a tag.
local VOID = { br = true, hr = true, img = true, input = true }
local function balanced(html)
  local stack = {}
  for close, name in html:gmatch("<(/?)(%w+)[^>]*>") do
    name = name:lower()
    if close == "/" then
      if stack[#stack] ~= name then return false, "unexpected </" .. name .. ">" end
      stack[#stack] = nil
    elseif not VOID[name] then
      stack[#stack + 1] = name
    end
  end
  if #stack > 0 then return false, "unclosed <" .. stack[#stack] .. ">" end
  return true
end

local function well_formed(html)
  assert(core.utf8_valid(html), "output is not valid UTF-8")
  assert(balanced(html))
  local n, findings = core.html_audit(html)
  assert(n == 0, findings)
end

describe("quire.markdown.render (trusted)", function()
  it("renders GFM tables with alignment", function()
    local html = md.render("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert.equal(table.concat({
      "<table>", "<thead>", "<tr>", '<th align="left">a</th>', '<th align="center">b</th>',
      '<th align="right">c</th>', "</tr>", "</thead>", "<tbody>", "<tr>", '<td align="left">1</td>',
      '<td align="center">2</td>', '<td align="right">3</td>', "</tr>", "</tbody>", "</table>", "",
    }, "\n"), html)
  end)

  it("renders strikethrough, task lists and autolinks", function()
    assert.equal("<p><del>gone</del> kept</p>\n", md.render("~~gone~~ kept"))
    assert.equal('<ul>\n<li class="task-list-item"><input type="checkbox" disabled checked>done</li>\n'
      .. '<li class="task-list-item"><input type="checkbox" disabled>todo</li>\n</ul>\n',
      md.render("- [x] done\n- [ ] todo\n"))
    assert.equal('<p>see <a href="https://example.com/a?b=1">https://example.com/a?b=1</a> and '
      .. '<a href="http://www.example.com">www.example.com</a> or '
      .. '<a href="mailto:desk@example.com">desk@example.com</a></p>\n',
      md.render("see https://example.com/a?b=1 and www.example.com or desk@example.com"))
  end)

  it("renders the CommonMark basics", function()
    assert.equal("<p><em>a</em> <strong>b</strong> <code>c &lt;d&gt;</code></p>\n", md.render("*a* **b** `c <d>`"))
    assert.equal('<pre><code class="language-lua">print(&quot;&lt;x&gt;&quot;)\n</code></pre>\n',
      md.render('```lua\nprint("<x>")\n```\n'))
    assert.equal('<ol start="3">\n<li>three</li>\n</ol>\n', md.render("3. three\n"))
    assert.equal("<blockquote>\n<p>q</p>\n</blockquote>\n<hr>\n", md.render("> q\n\n---\n"))
    assert.equal('<p><a href="/about" title="About &quot;us&quot;">us</a></p>\n', md.render('[us](/about "About \\"us\\"")'))
    assert.equal('<p><img src="https://example.com/a.png" alt="a b" title="t"></p>\n',
      md.render('![a *b*](https://example.com/a.png "t")'))
    assert.equal("<p>line<br>\nbreak</p>\n", md.render("line  \nbreak"))
  end)

  it("decodes entities and escapes what they produce", function()
    assert.equal("<p>a — b &amp; c &lt; d ö &amp;bogus; �</p>\n", md.render("a &mdash; b &amp; c &lt; d &ouml; &bogus; &#0;"))
    assert.equal('<p><a href="/a?x=1&amp;y=%C3%B6">l</a></p>\n', md.render("[l](/a?x=1&amp;y=&ouml;)"))
  end)

  it("passes raw HTML through for editors", function()
    assert.equal('<div class="aside">\n<p>x</p>\n</div>\n', md.render('<div class="aside">\n<p>x</p>\n</div>\n'))
    assert.equal("<p>a <kbd>Ctrl</kbd></p>\n", md.render("a <kbd>Ctrl</kbd>"))
  end)

  it("gives headings stable, unique ids from their text", function()
    local src = "# Intro\n\n## Intro\n\n### Intro\n\n## Crème *Brûlée* & `code`\n\n## ???\n\n## ???\n"
    local html = md.render(src)
    assert.equal(table.concat({
      '<h1 id="intro">Intro</h1>',
      '<h2 id="intro-1">Intro</h2>',
      '<h3 id="intro-2">Intro</h3>',
      '<h2 id="creme-brulee-code">Crème <em>Brûlée</em> &amp; <code>code</code></h2>',
      '<h2 id="section">???</h2>',
      '<h2 id="section-1">???</h2>', "",
    }, "\n"), html)
    assert.equal(html, md.render(src)) -- stable: same text, same ids
  end)

  it("keeps ids unique even when a heading's own slug looks like a suffixed one", function()
    local html = md.render("# A\n# A\n# A-1\n# A\n")
    local ids, seen = {}, {}
    for id in html:gmatch('id="([^"]+)"') do
      assert.is_nil(seen[id], "duplicate id " .. id)
      seen[id] = true
      ids[#ids + 1] = id
    end
    assert.same({ "a", "a-1", "a-1-1", "a-2" }, ids)
  end)

  it("many identical headings stay fast and unique", function()
    local html = md.render(("## Update\n"):rep(5000))
    local n, seen = 0, {}
    for id in html:gmatch('id="([^"]+)"') do
      assert.is_nil(seen[id])
      seen[id], n = true, n + 1
    end
    assert.equal(5000, n)
  end)

  it("takes heading_ids and id_prefix options", function()
    assert.equal("<h2>X</h2>\n", md.render("## X", { heading_ids = false }))
    assert.equal('<h2 id="user-content-x">X</h2>\n', md.render("## X", { id_prefix = "user-content-" }))
  end)

  it("refuses misuse", function()
    assert.has_error(function() md.render(nil) end)
    assert.has_error(function() md.render("x", { untrusted = "yes" }) end)
    assert.has_error(function() md.render("x", { unknown = true }) end)
    assert.has_error(function() md.render("x", { schemes = { 1 } }) end)
  end)
end)

describe("quire.markdown.render (untrusted)", function()
  local U = { untrusted = true }

  it("adds rel to every link and keeps http, https, mailto and relative links", function()
    assert.equal('<p><a href="https://example.com" rel="nofollow ugc noopener">a</a> '
      .. '<a href="mailto:x@example.com" rel="nofollow ugc noopener">b</a> '
      .. '<a href="/local" rel="nofollow ugc noopener">c</a> '
      .. '<a href="http://www.example.com" rel="nofollow ugc noopener">www.example.com</a></p>\n',
      md.render("[a](https://example.com) [b](mailto:x@example.com) [c](/local) www.example.com", U))
  end)

  it("drops links with other schemes, however they are spelled, and keeps their text", function()
    for _, src in ipairs {
      "[x](javascript:alert(1))", "[x](JavaScript:alert(1))", "[x](jav&#x61;script:alert(1))",
      "[x](javascript&colon;alert(1))", "[x](<java\tscript:alert(1)>)", "[x](vbscript:x)",
      "[x](data:text/html,x)", "[x](javascript%3Aalert(1))", "[x](ftp://example.com)",
      "[x][r]\n\n[r]: javascript:alert(1)",
    } do
      local html = md.render(src, U)
      assert.equal("<p>x</p>\n", html, src)
    end
    assert.equal("<p>javascript:alert(1)</p>\n", md.render("<javascript:alert(1)>", U))
  end)

  it("shows raw HTML as text", function()
    assert.equal("<p>&lt;b onclick=&quot;x&quot;&gt;hi&lt;/b&gt;</p>\n", md.render('<b onclick="x">hi</b>', U))
    assert.equal("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n", md.render("<script>alert(1)</script>", U))
  end)

  it("renders images as their alt text unless images are turned on", function()
    assert.equal("<p>a cat here</p>\n", md.render("![a *cat*](https://example.com/c.png) here", U))
    assert.equal('<p><img src="https://example.com/c.png" alt="a cat"></p>\n',
      md.render("![a *cat*](https://example.com/c.png)", { untrusted = true, images = true }))
    assert.equal("<p>a cat</p>\n", md.render("![a cat](data:image/png;base64,AAAA)", { untrusted = true, images = true }))
    assert.equal("<p>a cat</p>\n", md.render("![a cat](mailto:x@example.com)", { untrusted = true, images = true }))
  end)

  it("has no heading ids by default", function()
    assert.equal("<h1>Hi</h1>\n", md.render("# Hi", U))
  end)

  it("takes its own scheme list and rel", function()
    assert.equal('<p><a href="ftp://example.com/f">f</a></p>\n',
      md.render("[f](ftp://example.com/f)", { untrusted = true, schemes = { "ftp" }, rel = false }))
    assert.equal("<p>f</p>\n", md.render("[f](/rel)", { untrusted = true, relative = false }))
  end)

  it("replaces invalid UTF-8 and NUL with U+FFFD", function()
    assert.equal("<p>a\u{FFFD}b\u{FFFD}(c\u{FFFD}d</p>\n", md.render("a\xffb\xc3\x28c\0d", U))
    assert.equal("<p>\u{FFFD}\u{FFFD}\u{FFFD}</p>\n", md.render("\xed\xa0\x80", U)) -- a surrogate
  end)

  it("always produces well-formed output, even from garbage", function()
    local pieces = { "*", "**", "_", "`", "```", "[", "]", "(", ")", "<", ">", "!", "#", "-", "|",
      "~~", "\n", "\n\n", " ", "    ", "&", "&amp;", "&#", ";", "x", "javascript:", "http://a",
      "<b>", "</i>", "\"", "'", "\\", "\0", "\xff", "\xc3", "é", "[x]: /u", "1.", "> ", "- [ ]" }
    local rand = testing.lcg(12345)
    for _ = 1, 300 do
      local t = {}
      for i = 1, rand(80) do t[i] = pieces[rand(#pieces)] end
      local src = table.concat(t)
      well_formed(md.render(src, U))
      assert.is_string(md.render(src)) -- trusted mode must not crash either
    end
    for _ = 1, 50 do
      local t = {}
      for i = 1, rand(400) do t[i] = string.char(rand(256) - 1) end
      well_formed(md.render(table.concat(t), U))
    end
  end)

  it("stays balanced where md4c's own callbacks are not", function()
    for _, src in ipairs { "[](*)*", "*a [b](*)* c*", "~~[x](~)~~~", "**[a](**)** b**" } do
      well_formed(md.render(src, U))
      assert(balanced(md.render(src)))
    end
  end)

  it("survives deep nesting", function()
    for _, src in ipairs {
      (">"):rep(20000) .. " x", ("["):rep(20000) .. "x" .. ("]"):rep(20000), ("*a "):rep(20000),
      ("- "):rep(5000) .. "x", ("![a"):rep(5000) .. ("](/i)"):rep(5000),
    } do
      well_formed(md.render(src, U))
    end
  end)
end)
