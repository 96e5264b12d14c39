-- quire.template beyond the Mustache spec: escaping, template folders and their order, caching and
-- dev-mode recompiles, error messages with line:col, missing partials, recursion limits, lambdas.
local core = require "quire.core"
local template_mod = require "quire.template"
local testing = require "quire.testing"

local tmpdirs = {}
local function tmpdir()
  local d = assert(core.mkdtemp("quire-tpl"))
  tmpdirs[#tmpdirs + 1] = d
  return d
end

local write = testing.write_file

local function mkdirs(path)
  local cur = ""
  for part in path:gmatch("[^/]+") do
    cur = cur .. "/" .. part
    if not core.stat(cur) then assert(core.mkdir(cur)) end
  end
end

-- A template API over two folders: the site's theme first, then a plugin's.
local function two_folders(dev)
  local root = tmpdir()
  local theme, plugin = root .. "/theme", root .. "/plugin"
  mkdirs(theme)
  mkdirs(plugin)
  local site = { template_dirs = { theme, plugin }, config = { dev = dev } }
  return template_mod.new(site), theme, plugin, site
end

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("quire.template", function()
  teardown(function()
    for _, d in ipairs(tmpdirs) do core.remove_tree(d) end
  end)

  describe("values", function()
    local t = quire.template

    it("HTML-escapes {{x}} and leaves {{{x}}} and {{&x}} raw", function()
      local view = { x = [[<a href="/?q=1&r=2">it's</a>]] }
      assert.equal("&lt;a href=&quot;/?q=1&amp;r=2&quot;&gt;it&#39;s&lt;/a&gt;", t.render_string("{{x}}", view))
      assert.equal(view.x, t.render_string("{{{x}}}", view))
      assert.equal(view.x, t.render_string("{{&x}}", view))
      assert.equal("&lt;b&gt;", t.escape("<b>"))
    end)

    it("prints integers without a decimal point and floats shortest", function()
      assert.equal("42 3 1.21 -7 1e+20", t.render_string("{{a}} {{b}} {{c}} {{d}} {{e}}",
        { a = 42, b = 3.0, c = 1.21, d = -7, e = 1e20 }))
    end)

    it("treats nil, false, empty strings and empty tables as false in sections", function()
      local src = "{{#v}}yes{{/v}}{{^v}}no{{/v}}"
      for _, v in ipairs({ false, "", {} }) do assert.equal("no", t.render_string(src, { v = v })) end
      assert.equal("no", t.render_string(src, {}))
      for _, v in ipairs({ true, 0, "x", { a = 1 } }) do assert.equal("yes", t.render_string(src, { v = v })) end
      assert.equal("abc", t.render_string("{{#v}}{{.}}{{/v}}", { v = { "a", "b", "c" } }))
    end)

    it("reads values through __index, without treating strings as tables", function()
      local obj = setmetatable({}, { __index = function(_, k) return "<" .. k .. ">" end })
      assert.equal("&lt;title&gt;", t.render_string("{{title}}", obj))
      assert.equal("[]", t.render_string("[{{#s}}{{len}}{{/s}}]", { s = "abc" }))
    end)

    it("calls Lua functions as lambdas", function()
      local view = {
        name = "Ana",
        bold = function(text) return "<b>" .. text .. "</b>" end,
        now = function() return "{{name}} & co" end,
      }
      assert.equal("<b>hi Ana</b>", t.render_string("{{#bold}}hi {{name}}{{/bold}}", view))
      assert.equal("Ana &amp; co", t.render_string("{{now}}", view))
      -- a lambda may render another template while the outer render is running
      view.nested = function() return t.render_string("[{{x}}]", { x = "<in>" }) end
      assert.equal("a [&lt;in&gt;] b", t.render_string("a {{{nested}}} b", view))
    end)

    it("compiles once and renders many times with :render", function()
      local before = t.stats().compiles
      local c = t.compile("Hello {{>who}}!", "greeting")
      assert.equal("greeting", c:name())
      for i = 1, 5 do assert.equal("Hello n" .. i .. "!", c:render({ i = i }, { partials = { who = "n{{i}}" } })) end
      assert.equal(before + 2, t.stats().compiles) -- the template and its partial, once each
      for _ = 1, 3 do t.render_string("{{x}} again", {}) end
      assert.equal(before + 3, t.stats().compiles)
    end)

    it("handles deep nesting with many values at each level", function()
      local depth, per_level = 99, 40
      local vars = ("{{v}}"):rep(per_level)
      local src = ("{{^no}}" .. vars):rep(depth) .. ("{{/no}}"):rep(depth)
      assert.equal(("x"):rep(depth * per_level), t.render_string(src, { v = "x" }))
      local list = ("{{#l}}" .. vars):rep(depth) .. ("{{/l}}"):rep(depth)
      assert.equal(("y"):rep(depth * per_level), t.render_string(list, { l = { { v = "y" } } }))
      assert.matches("nested deeper than 100", err_of(t.render_string, ("{{#a}}"):rep(101), {}))
    end)

    it("keeps working after a Lua error in the middle of a render", function()
      local bad = setmetatable({}, { __index = function() error("view exploded") end })
      assert.matches("view exploded", err_of(t.render_string, "a {{x}} {{y.z}} b", { x = "1", y = bad }))
      assert.equal("a 1 b", t.render_string("a {{x}} b", { x = "1" }))
    end)
  end)

  describe("errors", function()
    local t = quire.template

    it("name the template, line and column", function()
      assert.equal("<string>:2:3: unclosed section 'items': no {{/items}} before the end of the template",
        err_of(t.render_string, "ok\n  {{#items}}x\n", {}))
      assert.equal("<string>:2:15: closing tag 'b' does not match section 'a' opened at 1:1",
        err_of(t.render_string, "{{#a}}\n  {{#b}}{{/b}}{{/b}}", {}))
      assert.matches("^<string>:1:7: bad delimiters", err_of(t.render_string, "hello {{=<%>=}} x", {}))
      assert.equal("<string>:3:5: unclosed tag: '{{' without a matching '}}'",
        err_of(t.render_string, "a\nb\nc   {{name\n", {}))
      assert.matches("^news:1:1: closing tag 'x' without an open section", err_of(t.compile, "{{/x}}", "news"))
      assert.matches("^<string>:1:3: empty tag name", err_of(t.render_string, "a {{ }}", {}))
    end)

    it("name the template file when it comes from a folder", function()
      local api, theme = two_folders(false)
      write(theme .. "/broken.mustache", "<h1>{{title}}</h1>\n{{#list}}\n")
      local msg = err_of(api.render, "broken", {})
      assert.equal(theme .. "/broken.mustache:2:1: unclosed section 'list': no {{/list}} before the end of the template", msg)
    end)

    it("name the opts.partials entry a syntax error is in", function()
      assert.equal("<partial card>:2:1: unclosed section 'x': no {{/x}} before the end of the template",
        err_of(quire.template.render_string, "{{>card}}", {}, { partials = { card = "ok\n{{#x}}" } }))
    end)

    it("stop partials that include themselves", function()
      local msg = err_of(quire.template.render_string, "{{>loop}}", {}, { partials = { loop = "x{{>loop}}" } })
      assert.matches("^<partial loop>:1:2: partials nested more than %d+ deep", msg)
    end)
  end)

  describe("missing partials", function()
    it("render empty in production and raise in dev mode, naming the template and tag", function()
      local prod = two_folders(false)
      assert.equal("[]", prod.render_string("[{{>nowhere}}]", {}))
      local dev, theme, plugin = two_folders(true)
      local msg = err_of(dev.render_string, "a\n [{{>nowhere}}]", {})
      assert.equal(("<string>:2:3: partial 'nowhere' not found (looked in the template folders: %s, %s)"):format(theme, plugin), msg)
      -- opts.strict overrides the mode either way
      assert.equal("[]", dev.render_string("[{{>nowhere}}]", {}, { strict = false }))
      assert.matches("partial 'nowhere' not found", err_of(prod.render_string, "{{>nowhere}}", {}, { strict = true }))
    end)

    it("is an error for a named template in any mode", function()
      local prod = two_folders(false)
      assert.matches("template 'nope' not found", err_of(prod.render, "nope", {}))
      assert.matches("bad template name", err_of(prod.render, "../etc/passwd", {}))
    end)
  end)

  describe("template folders", function()
    it("take the first folder that has the template, so the site overrides plugins", function()
      local api, theme, plugin = two_folders(false)
      write(plugin .. "/card.mustache", "plugin card {{x}}")
      write(plugin .. "/page.mustache", "<main>{{>card}}</main>")
      assert.equal("<main>plugin card 1</main>", api.render("page", { x = 1 }))
      local api2, theme2, plugin2 = two_folders(false)
      write(plugin2 .. "/card.mustache", "plugin card {{x}}")
      write(plugin2 .. "/page.mustache", "<main>{{>card}}</main>")
      write(theme2 .. "/card.mustache", "theme card {{x}}")
      assert.equal("<main>theme card 1</main>", api2.render("page", { x = 1 }))
    end)

    it("find templates in sub-folders and opts.partials before the folders", function()
      local api, theme = two_folders(false)
      mkdirs(theme .. "/partials")
      write(theme .. "/partials/byline.mustache", "by {{author}}")
      write(theme .. "/post.mustache", "{{title}} {{>partials/byline}}")
      assert.equal("T by Ana", api.render("post", { title = "T", author = "Ana" }))
      assert.equal("T BY Ana", api.render("post", { title = "T", author = "Ana" },
        { partials = { ["partials/byline"] = "BY {{author}}" } }))
    end)

    it("see folders appended later, as plugins load", function()
      local api, _, _, site = two_folders(false)
      local extra = tmpdir()
      assert.matches("not found", err_of(api.render, "late", {}))
      write(extra .. "/late.mustache", "late {{x}}")
      site.template_dirs[#site.template_dirs + 1] = extra
      assert.equal("late 2", api.render("late", { x = 2 }))
    end)

    it("lay out pages through inheritance, re-indenting block content", function()
      local api, theme = two_folders(false)
      -- A block tag alone on its line: its content is indented like the line after it.
      write(theme .. "/layout.mustache", "<title>{{$title}}Site{{/title}}</title>\n<body>\n  {{$body}}\n  {{/body}}\n</body>\n")
      write(theme .. "/article.mustache", "{{<layout}}\n{{$title}}{{headline}}{{/title}}\n{{$body}}\n<h1>{{headline}}</h1>\n<p>{{text}}</p>\n{{/body}}\n{{/layout}}\n")
      assert.equal("<title>Big &amp; bold</title>\n<body>\n  <h1>Big &amp; bold</h1>\n  <p>Words.</p>\n</body>\n",
        api.render("article", { headline = "Big & bold", text = "Words." }))
    end)
  end)

  describe("caching", function()
    it("compiles a named template once in production, even when the file changes", function()
      local api, theme = two_folders(false)
      write(theme .. "/a.mustache", "one {{x}}")
      local before = api.stats().compiles
      for _ = 1, 10 do assert.equal("one 1", api.render("a", { x = 1 })) end
      assert.equal(before + 1, api.stats().compiles)
      write(theme .. "/a.mustache", "two {{x}}")
      assert.equal("one 1", api.render("a", { x = 1 }))
    end)

    it("recompiles a changed file in dev mode, and only then", function()
      local api, theme = two_folders(true)
      write(theme .. "/a.mustache", "one {{x}}")
      write(theme .. "/p.mustache", "[p1]")
      assert.equal("one 1", api.render("a", { x = 1 }))
      assert.equal("[p1]", api.render_string("{{>p}}", {}))
      local before = api.stats().compiles
      assert.equal("one 1", api.render("a", { x = 1 }))
      assert.equal(before, api.stats().compiles)
      write(theme .. "/a.mustache", "two {{x}}") -- same size, same second: the nanoseconds differ
      write(theme .. "/p.mustache", "[p2]")
      assert.equal("two 1", api.render("a", { x = 1 }))
      assert.equal("[p2]", api.render_string("{{>p}}", {}))
      assert.equal(before + 2, api.stats().compiles)
    end)
  end)

  describe("the site API", function()
    it("reads templates from the site's templates folder", function()
      local q, dir = testing.site()
      mkdirs(dir .. "/templates")
      write(dir .. "/templates/hello.mustache", "Hello, {{name}}!")
      assert.equal("Hello, &lt;you&gt;!", q.template.render("hello", { name = "<you>" }))
    end)
  end)
end)
