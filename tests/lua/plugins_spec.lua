-- The plugin loader, registration API, hook and filter order, and the command line for plugins.
local testing = require "quire.testing"
local fixtures = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/lua/[^/]+$") or ".") .. "/fixtures/plugins"

local function site(plugins, extra)
  local opts = { plugins = plugins, plugin_path = { fixtures } }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return testing.site(opts)
end

local function load_error(plugins, extra)
  local ok, err = pcall(site, plugins, extra)
  assert.is_false(ok, "expected the site to refuse to start")
  return tostring(err)
end

describe("plugin loading", function()
  it("loads a plugin and its registrations", function()
    local q = site { "notes" }
    local p = q.plugins.by_name.notes
    assert.equal("1.4.2", p.version)
    assert.same({ "note" }, p.registered.content_types)
    assert.same({ "GET /notes/{slug}/raw", "POST /notes/{slug}/raw", "GET /boom", "GET /spin" }, p.registered.routes)
    assert.same({ "notes-count" }, p.registered.commands)
    assert.equal(300, q.plugins.jobs[1].interval)
    assert.is_true(q.plugins.frozen)
  end)

  it("refuses a missing plugin, naming it", function()
    assert.matches("plugin 'nowhere' not found", load_error { "nowhere" })
  end)

  it("refuses a plugin whose requirement is not installed or not enabled", function()
    assert.matches("plugin 'needs_ghost' requires 'ghost', which is not installed", load_error { "needs_ghost" })
    assert.matches("requires 'notes', which is not enabled", load_error { "needs_new_notes" })
  end)

  it("refuses a dependency cycle and names it", function()
    assert.matches("plugin dependency cycle: cyc_a %-> cyc_b %-> cyc_a", load_error { "cyc_a", "cyc_b" })
  end)

  it("refuses a version mismatch", function()
    assert.matches("requires notes >= 2.0, but version 1.4.2 is installed", load_error { "notes", "needs_new_notes" })
  end)

  it("names the file and line of a plugin that throws in setup, and starts nothing", function()
    local msg = load_error { "notes", "throws" }
    assert.matches("throws/plugin.lua:6: attempt to index a nil value", msg)
    assert.matches("plugin 'throws'", msg)
  end)

  it("refuses a plugin whose manifest name differs from its folder", function()
    assert.matches("declares name 'something_else' but its folder is 'wrong_name'", load_error { "wrong_name" })
  end)

  it("refuses a plugin command named like any built-in command, with the names from the CLI's own table", function()
    local builtin = require("quire.cli").builtin_commands()
    for _, name in ipairs { "audit", "cache", "user", "import", "export", "help", "version", "serve" } do
      assert.is_true(require("quire.cli").is_builtin(name), name)
    end
    for _, name in ipairs(builtin) do
      if name:match("^[%w][%w_-]*$") then
        assert.matches("plugin 'command_named': cannot register command '" .. name:gsub("%-", "%%-")
          .. "': it is a built%-in quire command", load_error({ "command_named" }, { settings = { command_named = { command = name } } }))
      end
    end
    local q = site({ "command_named" })
    assert.same({ "harmless" }, q.plugins.by_name.command_named.registered.commands)
  end)

  it("validates settings against the manifest's defaults", function()
    local q = site({ "notes" }, { settings = { notes = { prefix = ">> " } } })
    assert.equal(">> Hi", q.filters.apply("title", "Hi"))
    assert.matches("setting 'threshold' of plugin 'bad_setting' must be a number, got string",
      load_error({ "bad_setting" }, { settings = { bad_setting = { threshold = "high" } } }))
    assert.matches("plugin 'bad_setting' has no setting 'treshold' %(it has: threshold%)",
      load_error({ "bad_setting" }, { settings = { bad_setting = { treshold = 1 } } }))
  end)

  it("refuses registration after loading", function()
    local q = site { "notes" }
    local ok, err = pcall(function()
      q.plugins.by_name.notes.manifest.setup({}) -- a stray call outside the loader has no registrar
    end)
    assert.is_false(ok)
    assert.is_string(tostring(err))
  end)
end)

describe("site:require", function()
  it("loads the plugin's other files once, as text, in the plugin's environment", function()
    local q = site { "modular" }
    assert.equal("Hello, SHOUT", q.filters.apply("title", "shout"))
    local r = q:request("GET", "/modular")
    assert.equal(200, r.status)
    assert.equal("greet from modular/greet.lua loads=1 same=true env=true", r.body)
    -- a module that returns nothing is cached as true, like Lua's require
    assert.is_not_nil(site({ "modular" }, { settings = { modular = { extra = "nothing" } } }))
  end)

  it("names the file and line of a missing or broken module", function()
    local function refusal(extra)
      return load_error({ "modular" }, { settings = { modular = { extra = extra } } })
    end
    local msg = refusal("missing")
    assert.matches("modular/plugin.lua:22: plugin 'modular': no module 'missing' %(looked for .*/modular/missing.lua%)", msg)
    assert.matches("modular/broken.lua:2: unexpected symbol near '='", refusal("broken"))
    assert.matches("modular/fails.lua:3: attempt to index a nil value", refusal("fails"))
  end)

  it("refuses names that would reach outside the plugin's folder", function()
    for _, bad in ipairs { "../notes/plugin", "/etc/passwd", "lib/util", "a.b.c", "..", ".hidden", "lib.", "con fig" } do
      assert.matches("plugin 'modular': require takes a module name like \"forms\"",
        load_error({ "modular" }, { settings = { modular = { extra = bad } } }), 1, true)
    end
  end)

  it("never loads bytecode", function()
    local core = require "quire.core"
    local dir = assert(core.mkdtemp("quire-modbin"))
    os.execute(("cp -r %q %q"):format(fixtures .. "/modular", dir .. "/modular"))
    local f = assert(io.open(dir .. "/modular/compiled.lua", "wb"))
    f:write("\27Lua\x54\0\x19\x93\r\n\x1a\n")
    f:close()
    local msg = load_error({ "modular" }, { plugin_path = { dir }, settings = { modular = { extra = "compiled" } } })
    core.remove_tree(dir)
    assert.matches("attempt to load a binary chunk", msg)
  end)
end)

describe("content types from plugins", function()
  it("names the valid field types when a field has an unknown one", function()
    local types = require("quire.types").new()
    local ok, err = pcall(types.define, types, { name = "gig", fields = { venue = "txt" } })
    assert.is_false(ok)
    assert.equal("type 'gig': field 'venue' has unknown field type 'txt' (field types: bool, datetime, enum, list, markdown, media, number, ref, text)", err)
  end)

  it("validates fields with plugin validators, returning every error at once", function()
    local q = site { "notes" }
    local ok, err = pcall(q.content.create, { type = "note", title = "T", fields = { mood = "angry", words = 80 } })
    assert.is_false(ok)
    assert.matches("fields.mood: must be one of calm, busy", tostring(err))
    assert.matches("fields.words: too many words", tostring(err))
    local id = q.content.create { type = "note", title = "T", fields = { words = 10 } }
    assert.equal("calm", q.content.get(id).fields.mood) -- default applied
  end)

  it("lets entry.saving veto a save, writing nothing", function()
    local q = site { "notes" }
    local ok, err = pcall(q.content.create, { type = "article", title = "A forbidden story" })
    assert.is_false(ok)
    assert.matches("plugin 'notes' refused the save: forbidden titles are not allowed", tostring(err))
    assert.equal(0, #q.content.query {})
  end)

  it("fires entry.published once, when an entry becomes published", function()
    local q = site { "notes" }
    local id = q.content.create { type = "article", title = "Draft" }
    assert.equal(0, q.filters.apply("published.count", 0))
    q.content.update(id, { status = "published" })
    q.content.update(id, { title = "Still published" })
    assert.equal(1, q.filters.apply("published.count", 0))
  end)
end)

describe("field sets", function()
  it("give a content type the fields another plugin defined, validated as that plugin's code", function()
    local q = site({ "theme", "field_sets_probe" }, { plugin_path = { fixtures, (os.getenv("PWD") or ".") .. "/plugins" } })
    local refused = {}
    for line in q:request("GET", "/probe").body:gmatch("[^\n]+") do refused[#refused + 1] = line end
    assert.equal(3, #refused)
    assert.matches("no field set 'nope' (defined: hero, seo;", refused[1], 1, true)
    assert.matches("field 'hero_alt' of type 'gallery' is also in field set 'hero' (plugin 'theme')", refused[2], 1, true)
    assert.matches("field set 'hero' is already defined by plugin 'theme'", refused[3], 1, true)
    local ok, err = pcall(q.content.create, { type = "gallery", title = "Dunes", fields = { hero_image = "javascript:alert(1)" } })
    assert.is_false(ok)
    assert.equal("fields.hero_image", err.errors[1].field)
    assert.matches("must be an http(s) or relative URL", err.errors[1].message, 1, true)
    local id = q.content.create { type = "gallery", title = "Dunes", fields = { hero_image = "/media/dunes.jpg", hero_alt = "Dunes at dusk", photographer = "Ada" } }
    local e = q.content.get(id)
    assert.equal("/media/dunes.jpg", e.fields.hero_image)
    assert.equal("Ada", e.fields.photographer)
  end)
end)

describe("requests through the router without sockets", function()
  local q
  setup(function() q = site({ "notes" }, { limits = { instructions = 100000 } }) end)

  it("routes to plugin handlers with decoded parameters", function()
    local r = q:request("GET", "/notes/caf%C3%A9/raw?x=1")
    assert.equal(200, r.status)
    assert.equal("note café", r.body)
    assert.matches("text/html", r.headers["content-type"])
    r = q:request("POST", "/notes/a/raw", { headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }, body = "text=hello+there%21" })
    assert.equal(201, r.status)
    assert.equal("posted hello there!", r.body)
  end)

  it("answers 404 and 405 with Allow", function()
    assert.equal(404, q:request("GET", "/nowhere").status)
    local r = q:request("DELETE", "/notes/a/raw")
    assert.equal(405, r.status)
    assert.equal("GET, HEAD, POST", r.headers.allow)
    assert.equal(400, q:request("GET", "/notes/%FF/raw").status)
  end)

  it("turns a failing or runaway handler into a 500 with a request id, and keeps serving", function()
    local r = q:request("GET", "/boom")
    assert.equal(500, r.status)
    assert.is_truthy(r.body:find("request id " .. r.headers["x-request-id"], 1, true))
    assert.not_matches("kaboom", r.body) -- details go to the log, not to the reader
    r = q:request("GET", "/spin")
    assert.equal(500, r.status)
    assert.equal(200, q:request("GET", "/notes/x/raw").status)
  end)
end)

describe("filter and hook order", function()
  it("sorts by before/after, then priority, then load order", function()
    local q = site { "order_a", "order_b", "order_c" }
    assert.same({ "b", "b2", "c", "a" }, q.filters.apply("trail", {}))
  end)

  it("runs the handlers registered after the filter was first applied (a setup applying it)", function()
    local q = site { "chain_early", "order_a", "order_b", "order_c" }
    assert.same({ "b", "early", "b2", "c", "a" }, q.filters.apply("trail", {}))
    assert.same({ "b", "early", "b2", "c", "a" }, q.filters.apply("trail", {})) -- (the kept chain)
  end)

  it("names the handler that fails in a pipeline, and runs the next apply whole", function()
    local q = site { "order_a", "order_b", "order_c" }
    local ok, err = pcall(q.filters.apply, "trail", "not a table")
    assert.is_false(ok)
    assert.matches("plugin 'order_b' %(filter 'trail'%): .*order_b/plugin.lua:4: attempt to index a string value", tostring(err))
    assert.same({ "b", "b2", "c", "a" }, q.filters.apply("trail", {}))
  end)

  it("keeps no more than a bound of names without a handler (names made from request data)", function()
    local q = site { "order_a", "order_b", "order_c" }
    for i = 1, 2000 do assert.equal(i, q.filters.apply("page." .. i, i)) end
    local kept = 0
    for _ in pairs(q._site.hooks.chains) do kept = kept + 1 end
    assert.is_true(kept <= 256, tostring(kept))
    assert.same({ "b", "b2", "c", "a" }, q.filters.apply("trail", {}))
  end)
end)

describe("quire commands for plugins", function()
  local quire_bin = arg and arg[-1]
  local function sh(cmd)
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("a")
    local ok, _, code = p:close()
    return out, ok and 0 or code
  end
  local function bin()
    -- the running quire binary: /proc/self/exe
    return "/proc/" .. require("quire.core").getpid() .. "/exe"
  end

  it("q:command runs a command of the site and captures its output and exit status", function()
    local q = site { "notes" }
    q.content.create { type = "note", title = "one" }
    local r = q:command("notes-count", "it's \"quoted\"")
    assert.same({ status = 0, stdout = "1 notes it's \"quoted\"\n", stderr = "" }, r)
    r = q:command("no-such-command")
    assert.equal(2, r.status)
    assert.equal("", r.stdout)
    assert.matches("unknown command 'no%-such%-command'", r.stderr)
    -- a command that fails exits 1 naming the plugin; what a command writes the spec reads
    r = q:command("entries", "create", "--type", "nope", "--title", "x")
    assert.equal(1, r.status)
    assert.matches("nope", r.stderr)
    r = q:command("jobs", "run")
    assert.equal(0, r.status)
    assert.equal(2, #q.content.query { type = "note" })
  end)

  it("runs a plugin command, lists it in --help, and prints hook order", function()
    local _, dir = site { "notes", "order_a", "order_b", "order_c" }
    local exe = io.popen("readlink " .. bin()):read("l")
    local out, code = sh(("%q notes-count --site %q extra"):format(exe, dir))
    assert.equal(0, code)
    assert.equal("0 notes extra\n", out)
    out = sh(("%q --help --site %q"):format(exe, dir))
    assert.matches("notes%-count%s+Count the notes %(notes%)", out)
    out = sh(("%q plugins order trail --site %q"):format(exe, dir))
    assert.matches("1%. order_b %(priority %-10%)", out)
    assert.matches("4%. order_a %(priority 0, after order_c%)", out)
    out = sh(("%q plugins list --site %q"):format(exe, dir))
    assert.matches("notes 1%.4%.2", out)
    -- scheduled jobs: two runs in a row run the job once (the next run is 5 minutes away)
    out, code = sh(("%q jobs run --site %q"):format(exe, dir))
    assert.equal(0, code)
    assert.equal("1 job(s) run, 0 failed, 0 scheduled entries published\n", out)
    out = sh(("%q jobs run --site %q"):format(exe, dir))
    assert.equal("0 job(s) run, 0 failed, 0 scheduled entries published\n", out)
    out = sh(("%q notes-count --site %q"):format(exe, dir))
    assert.equal("1 notes\n", out)
    out, code = sh(("%q no-such-command --site %q"):format(exe, dir))
    assert.equal(2, code)
    assert.is_nil(quire_bin and nil)
  end)
end)
