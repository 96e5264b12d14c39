-- quire.html.sanitize, escaping and quire.url.safe, and the XSS corpus in tests/xss/payloads.txt
-- run through the sanitizer (default and comment policies) and untrusted Markdown.
local core = require "quire.core"
local testing = require "quire.testing"

local html = quire.html

local function here()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  return src:match("^(.*)/[^/]*$") or "."
end

-- Reads the corpus: one payload a line, with \n \r \t \0 \xHH \\ escapes; "##" lines are notes.
local function load_corpus()
  local f = assert(io.open(here() .. "/../xss/payloads.txt", "rb"))
  local list = {}
  for line in f:lines() do
    if line ~= "" and not line:match("^##") then
      local payload = line:gsub("\\(x%x%x)", function(h) return string.char(tonumber(h:sub(2), 16)) end)
      payload = payload:gsub("\\([nrt0\\])", { n = "\n", r = "\r", t = "\t", ["0"] = "\0", ["\\"] = "\\" })
      list[#list + 1] = payload
    end
  end
  f:close()
  return list
end

local function findings(out)
  local n, text = core.html_audit(out)
  assert(n, text)
  return n, text
end

describe("the XSS corpus", function()
  local corpus = load_corpus()

  it("has at least 150 payloads, and the audit sees the danger in the raw ones", function()
    assert.is_true(#corpus >= 150, "only " .. #corpus .. " payloads")
    assert.is_true(findings("<script>alert(1)</script>") > 0)
    assert.is_true(findings("<img src=x onerror=alert(1)>") > 0)
    assert.is_true(findings('<a href="jav&#x61;script&colon;alert(1)">x</a>') > 0)
    assert.is_true(findings('<svg><a xlink:href="javascript:alert(1)">x</a></svg>') > 0)
    assert.is_true(findings('<iframe srcdoc="x"></iframe>') > 0)
    assert.is_true(findings('<button formaction="java\tscript:x">') > 0)
    assert.is_true(findings('<p style="x:expression(alert(1))">') > 0)
    assert.equal(0, (findings('<p><a href="https://ok.example" title="t">x</a><img src="/i.png"></p>')))
  end)

  it("none survives sanitize (default and comment policies) or untrusted Markdown", function()
    local comment = html.policies.comment
    local outputs = {
      { "sanitize(default)", function(p) return html.sanitize(p) end },
      { "sanitize(comment)", function(p) return html.sanitize(p, comment) end },
      { "markdown(untrusted)", function(p) return quire.markdown.render(p, { untrusted = true }) end },
      { "markdown(untrusted, images)", function(p) return quire.markdown.render(p, { untrusted = true, images = true }) end },
      -- trusted Markdown through the sanitizer: how an imported body is cleaned
      { "sanitize(markdown)", function(p) return html.sanitize(quire.markdown.render(p)) end },
    }
    local survived, flagged_raw, failures = 0, 0, {}
    for i, payload in ipairs(corpus) do
      if findings(payload) > 0 then flagged_raw = flagged_raw + 1 end
      local bad = false
      for _, o in ipairs(outputs) do
        local out = assert(o[2](payload))
        local n, text = findings(out)
        if n > 0 or not core.utf8_valid(out) then
          bad = true
          failures[#failures + 1] = ("payload %d via %s: %s\n  in:  %q\n  out: %q"):format(i, o[1], n > 0 and text or "invalid UTF-8", payload, out)
        end
        -- Sanitizing twice changes nothing: the output parses back to the tree it came from.
        if o[1]:match("^sanitize") then
          local again = html.sanitize(out, o[1] == "sanitize(comment)" and comment or nil)
          if again ~= out then
            bad = true
            failures[#failures + 1] = ("payload %d via %s is not stable:\n  once:  %q\n  twice: %q"):format(i, o[1], out, again)
          end
        end
      end
      if bad then survived = survived + 1 end
    end
    print(("xss corpus: %d payloads, %d survived (%d flagged by the audit before sanitizing)"):format(#corpus, survived, flagged_raw))
    assert(survived == 0, table.concat(failures, "\n"))
  end)
end)

describe("quire.html.sanitize", function()
  it("keeps the allowed formatting of an article body as it is", function()
    local body = '<h2>Title</h2><p>Some <strong>bold</strong>, <em>em</em> and <a href="https://example.com/x?a=1&amp;b=2" title="t">a link</a>.</p>'
      .. '<blockquote><p>quote</p></blockquote><ul><li>one</li><li>two</li></ul><ol start="2"><li>x</li></ol>'
      .. '<pre><code>a &lt; b</code></pre><figure><img src="https://example.com/i.png" alt="pic" width="10" height="20"><figcaption>cap</figcaption></figure>'
      .. '<table><thead><tr><th align="left">h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table><p>a<br>b</p><hr>'
    assert.equal(body, html.sanitize(body))
  end)

  it("removes script and style with their content, and unwraps unknown elements", function()
    assert.equal("<p>ab</p>", html.sanitize("<p>a<script>alert(1)</script><style>p{}</style>b</p>"))
    assert.equal("<p>x</p>inner", html.sanitize('<p>x</p><div class="c"><span>inner</span></div>'))
    assert.equal("", html.sanitize('<iframe src="https://example.com">fallback</iframe><object data="x">o</object>'))
    assert.equal("<p>kept</p>", html.sanitize("<p>kept</p><!-- comment --><svg><text>svg</text></svg>"))
  end)

  it("removes on* attributes and unsafe URLs but keeps the element", function()
    assert.equal('<img src="https://example.com/a.png">', html.sanitize('<img src="https://example.com/a.png" onerror="x()">'))
    assert.equal("<a>x</a>", html.sanitize('<a href="jav&#x61;script&colon;alert(1)" onclick="x">x</a>'))
    assert.equal("<img>", html.sanitize('<img src="data:image/png;base64,AAAA">'))
    assert.equal("<img>", html.sanitize('<img src="mailto:x@example.com">')) -- src: http(s) only
    assert.equal('<a href="mailto:x@example.com">m</a>', html.sanitize('<a href="mailto:x@example.com">m</a>'))
    assert.equal('<a href="/relative">r</a>', html.sanitize('<a href="/relative">r</a>'))
  end)

  it("balances tags and escapes text and attributes", function()
    assert.equal("<p><b>bold<i>both</i></b></p>", html.sanitize("<p><b>bold<i>both</b></i>"))
    assert.equal("<p>a &lt; b &amp; c &gt; d</p>", html.sanitize("<p>a < b &amp; c > d"))
    local prose = [[<p>"quoted" &amp; 'single' [gallery ids="1,2"]</p>]]
    assert.equal(prose, html.sanitize(prose)) -- quotes in text stay as they are
    assert.equal('<a title="&quot;&lt;x&gt;&#39;">t</a>', html.sanitize([[<a title='"<x>&#39;'>t</a>]]))
    assert.equal("a\u{FFFD}b\u{FFFD}\u{FFFD}c", html.sanitize("a\xffb\xc0\xafc"))
  end)

  it("keeps a leading newline of <pre>", function()
    assert.equal("<pre>\n\nx</pre>", html.sanitize("<pre>\n\nx</pre>"))
  end)

  it("applies the comment policy: fewer elements, rel on links, no relative URLs", function()
    assert.equal('<p><a href="https://example.com" rel="nofollow ugc noopener">x</a> <a rel="nofollow ugc noopener">y</a> pic</p>',
      html.sanitize('<p><a href="https://example.com" rel="author">x</a> <a href="/y">y</a> <img src="https://example.com/i.png">pic</p>', "comment"))
  end)

  it("takes policy tables", function()
    local p = { elements = { a = { "href" }, span = true }, attributes = { "lang" },
      schemes = { "https", "ftp", href = { "https" } }, rel = "nofollow" }
    assert.equal('<span lang="en">x</span> <a href="https://e.example" rel="nofollow">y</a> <a rel="nofollow">z</a> w',
      html.sanitize('<span lang="en" title="t">x</span> <a href="https://e.example">y</a> <a href="ftp://e.example">z</a> <b>w</b>', p))
    local compiled = html.policy(p)
    assert.equal(html.sanitize("<span>x</span>", p), html.sanitize("<span>x</span>", compiled))
  end)

  it("refuses policies that cannot be safe", function()
    assert.has_error(function() html.policy { elements = { script = true } } end)
    assert.has_error(function() html.policy { elements = { svg = true } } end)
    assert.has_error(function() html.policy { elements = { a = { "onclick" } } } end)
    assert.has_error(function() html.policy { elements = { a = { "style" } } } end)
    assert.has_error(function() html.policy { elements = { iframe = { "srcdoc" } } } end)
    assert.has_error(function() html.policy { elements = { blink2 = true } } end)
    assert.has_error(function() html.policy { elements = {}, schemes = { "java script" } } end)
    assert.has_error(function() html.policy { elements = {}, extra = 1 } end)
    assert.has_error(function() html.sanitize("x", "no-such-policy") end)
    assert.has_error(function() html.sanitize(nil) end)
  end)

  it("survives garbage and deep nesting", function()
    local rand = testing.lcg(4242)
    local pieces = { "<", ">", "</", "/>", "<p>", "<b>", "<a href=", "javascript:", "\"", "'", "=",
      "<svg>", "<math>", "<table>", "<td>", "<!--", "-->", "<![CDATA[", "]]>", "&", "&#", ";", "x",
      " ", "\n", "\0", "\xff", "<script>", "<style>", "<noscript>", "<template>", "onerror", "<select>" }
    for _ = 1, 300 do
      local t = {}
      for i = 1, rand(60) do t[i] = pieces[rand(#pieces)] end
      local out = assert(html.sanitize(table.concat(t)))
      assert.equal(0, (findings(out)))
      assert.is_true(core.utf8_valid(out))
    end
    for _, pattern in ipairs { "<div>", "<b>", "<ul><li>", "<table><tr><td>", "<svg>", "<i><b>", "<a>", "<select>" } do
      local t0 = os.clock()
      local out = assert(html.sanitize(pattern:rep(30000)))
      assert.equal(0, (findings(out)))
      assert.is_true(os.clock() - t0 < 5, pattern .. " took too long")
    end
  end)

  it("drops inline SVG and MathML, including shapes that crash gumbo 0.10.1", function()
    assert.equal("<p>ab</p>", html.sanitize('<p>a<SVG viewBox="0 0 1 1"><path d="M0"/><text>t</text></svg>b</p>'))
    assert.equal("<p>ab</p>", html.sanitize("<p>a<math><mi>x</mi></math>b</p>"))
    assert.is_string(html.sanitize("<table><svg><desc><![CDATA[x]]>y"))
    assert.is_string(html.sanitize("<table><svg><select><desc><select><tr>"))
    assert.is_number((core.html_audit("<table><svg><desc><![CDATA[x]]>y")))
  end)

  it("reports input that would take too much memory to parse", function()
    local fmt = {}
    for i = 1, 150 do fmt[i] = ("<b x=%d>"):format(i) end
    local out, err = html.sanitize("<p>" .. table.concat(fmt) .. ("<p>x"):rep(200000))
    assert.is_nil(out)
    assert.matches("too large", err)
  end)
end)

describe("quire.html.escape and quire.html.attr", function()
  it("escape text and attribute values", function()
    assert.equal("&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry's&lt;/a&gt;", html.escape([[<a href="x">Tom & Jerry's</a>]]))
    assert.equal("Tom &amp; Jerry&#39;s &quot;x&quot; &lt;&gt;", html.attr([[Tom & Jerry's "x" <>]]))
    assert.equal("plain", html.escape("plain"))
    assert.equal("42", html.escape(42))
    assert.equal("a\u{FFFD}b\u{FFFD}", html.escape("a\xffb\0"))
    assert.has_error(function() html.escape(nil) end)
  end)
end)

describe("quire.url.safe", function()
  it("passes http, https, mailto and relative URLs", function()
    for _, u in ipairs { "https://example.com/a", "HTTP://example.com", "mailto:a@example.com", "/a/b", "a/b.html",
      "?q=1", "#top", "//example.com/x", "" } do
      assert.equal(u, quire.url.safe(u), u)
    end
  end)

  it("refuses other schemes, obfuscated or not", function()
    for _, u in ipairs { "javascript:alert(1)", " JavaScript:alert(1)", "java\tscript:x", "java\nscript:x",
      "\1javascript:x", "javascript%3Ax", "%6Aavascript:x", "vbscript:x", "data:text/html,x", "ftp://x",
      "java script:x", "javascript\0:x", "a\0b", "\xef\xbc\x9ajavascript:x" } do
      assert.is_nil(quire.url.safe(u), u)
    end
  end)

  it("takes a scheme list, with relative = false to refuse relative URLs", function()
    assert.equal("ftp://x", quire.url.safe("ftp://x", { "ftp" }))
    assert.is_nil(quire.url.safe("https://x", { "ftp" }))
    assert.is_nil(quire.url.safe("/x", { "https", relative = false }))
    assert.is_nil(quire.url.safe(nil))
  end)
end)
