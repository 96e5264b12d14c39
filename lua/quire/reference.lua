-- The reference for plugin authors: `quire help plugins` prints it and docs/plugins.md holds the
-- same text (`quire help plugins > docs/plugins.md`). The lists come from the code (the field
-- types types.lua accepts, the response methods app.lua defines, the registration calls of
-- plugins.lua); the words for each are here, and tests/lua/reference_spec.lua fails when a
-- public quire.* function, a response method, a field type or a hook or filter the code fires
-- has no entry.
local types = require "quire.types"
local app = require "quire.app"

local M = {}

-- Options every field type takes.
M.FIELD_OPTIONS = {
  { "required = true", "the entry is refused without a value (nil or \"\")" },
  { "default = v", "the value when none is given" },
  { "validate = function(value) return true | false, \"message\" end", "the plugin's own check, run as the plugin's code after the type's" },
}

M.FIELD_TYPES = {
  text = { "UTF-8 text without control characters; a number is taken as its text", "max = N characters" },
  markdown = { "like text; rendered as Markdown where the theme shows it", "max = N characters" },
  number = { "a number (numeric text is converted)", "min = N, max = N" },
  bool = { "true or false", nil },
  datetime = { "a time: epoch seconds or text (\"2026-03-04\", \"2026-03-04 09:30\", ISO 8601 with offset), stored as UTC text", nil },
  enum = { "one of a fixed list", "values = { \"a\", \"b\", ... } (required)" },
  ref = { "the id of an entry or a user that exists", "to = \"entry\" (default) | \"user\"" },
  media = { "the id of an image in the media library (quire media add) that exists; with list = true, several", "alt_field = \"name\" (a text field whose value, when set, is the image's alt text on this entry)" },
  list = { "a list (keys 1..n) of text, numbers or booleans", "max = N items, of = field spec of each item (\"text\" or { \"text\", max = 100 })" },
}

-- Registration calls on the `site` object setup(site) receives (plugins.lua's registrar).
M.SITE = {
  { "site:content_type{ name, label, permalink, layout, fields = { name = spec }, field_sets = { ... } }", "declares a content type; its fields are validated on every save (field types below)" },
  { "site:field_set(name, fields)", "fields several content types share; a type takes them with field_sets = { name }" },
  { "site:filter(name, fn, { before =, after =, priority = })", "adds fn to a filter pipeline (filters below)" },
  { "site:hook(event, fn, { before =, after =, priority = })", "runs fn on an event (hooks below)" },
  { "site:route(method, \"/path/{slug}/{n:int}\", fn(req, res))", "answers requests; fn may return a string (the body) or fill res" },
  { "site:api_route{ path = \"/things/{id:int}\", handler = fn(ctx), summary =, query = { { name =, description = } }, response = schema }", "adds a GET endpoint to the Content API (/api/content/v1 + path) with its keys, parameter checks, cache tags and an entry in /api/openapi.json" },
  { "site:command(name, help, fn(args))", "adds `quire NAME`; fn's integer result is the exit status (default 0)" },
  { "site:every(\"30s\" | \"5m\" | \"1h\" | \"1d\", fn)", "scheduled work, run by one worker at a time (jobs table with leases)" },
  { "site:state{ name, label }", "a workflow state" },
  { "site:transition{ name, from = { ... } | \"*\", to, role, check = fn(entry, user) }", "a workflow transition" },
  { "site:templates(dir) / site:static(dir)", "more template or static folders (templates/ and static/ are added by themselves)" },
  { "site:memo(key, fn, ...) / site:memo({ key =, tags = }, fn, ...)", "a copy of fn(...), kept until a write bumps a cache tag it depends on (below); the cache tags its reads collected go to every page using it" },
  { "site:require(\"name\")", "what name.lua in the plugin's folder returns (\"sub.name\": sub/name.lua), run once, as text, in the plugin's environment" },
  { "site.name, site.version, site.dir, site.settings", "the plugin's own name, version, folder and settings (read-only)" },
}

-- What site:memo keeps, and for how long (plugins.lua reg:memo, quire.memo.view).
M.MEMO = {
  "`site:memo(key, fn, ...)` returns a copy of `fn(...)` (plain data: tables without cycles, strings), computed once and kept by each worker until a write bumps a cache tag it depends on. Each call gets its own copy of a table; a string is shared. It depends on:",
  "",
  "- what `fn`'s reads collected: the cache tags the `quire` API gives a page it reads for (`entry:ID`, `teaser:ID`, lists, `comments:ID`, `media:ID`, ...) and those of the memoised rows they looked up (`user:ID`). The first also go to every page using the value, computed or kept;",
  "- what `fn` was given: every argument is part of the key, so a value made for other arguments is never handed out. `nil`, booleans, numbers and strings as they are; an entry as `quire.content` returns it by its id, its tag going with the value (`entry:ID`; a card, which has no body: `teaser:ID`), and so a list of up to 64 entries; any other table (a view, options, a preview's unsaved entry) by its content: its keys and values, nested tables included, whatever order they were added in (two tables holding the same give the same value; a table changed between two calls is another key). Such a table is keyed when it is plain data of at most 4096 keys and values, nested at most 16 deep, with no metatable, userdata or coroutine in it; else that call runs `fn` and keeps nothing (never an error, never another input's value): pass what `fn` uses of it instead (the entry, an id, the few fields) to have it kept. A long string or a table counts by its SHA-256, so a big body costs one pass over its bytes at every call; a function counts by its identity (the same function, or closure, is the same key; a closure made anew at each call is a new key every time); `quire.json.null` is a value like any other;",
  "- `site:memo({ key = \"k\", tags = { \"front:home\" } }, fn, ...)`: the tags named (bumped by the writes that touch them, or by the plugin with `quire.cache.bump`); they tag the page too. `tags = false`: kept only until the next write.",
  "",
  "What no tag can name makes the value go at every write, as every value did before: reading the clock inside `fn` (`os.time()`, `os.date()` without a time, `os.clock()`, `quire.time.now()`, `quire.time.ago(t)` without `now`, a token signed to expire: `quire.tokens.sign(p, d, ttl)`); a read that found nothing (the entry may be created next); a value that depends on no tag at all.",
  "",
  "Why: the reads already name what they show (the page cache trusts the same tags), so most values need nothing from the plugin, and a value is kept as long as a cached page built from the same reads would be, never longer; where that cannot be known, a wrong guess would serve stale text, so the value falls back to going at every write. The plugin's settings and code do not change while a worker runs (a reload starts fresh workers, with empty memos). State a plugin's module changes at run time does, and no tag names it: keep it out of `fn`. To show the time, put its granularity in the key: `site:memo(\"box\", fn, entry, os.date(\"!%Y-%m-%d %H\"))` keeps one value per hour (the clock is read outside `fn`).",
}

-- Events (site:hook). A handler that returns false, "why" vetoes where that is allowed.
M.HOOKS = {
  ["entry.saving"] = { "draft: { id, type, slug, status, title, body, fields, author, published_at, tags, section }",
    "false, \"why\" refuses the save (an `invalid` error naming the plugin); anything else lets it go on" },
  ["entry.saved"] = { "entry (as quire.content.get returns it)", "nothing; runs inside the save's transaction" },
  ["entry.published"] = { "entry, once, when it first becomes published", "nothing" },
  ["entry.transition"] = { "entry, transition name, user", "nothing; runs inside the transition's transaction" },
  ["comment.posted"] = { "comment: { id, entry_id, parent_id, status, author_name, author_url, body, created_at }", "nothing" },
  ["request.start"] = { "req (below), before the router", "nothing" },
}

-- Filters (site:filter): each handler gets the value and returns the new one, of the same type.
M.FILTERS = {
  ["view.entry"] = { "view { entry, site, type = { name, label } }, entry", "the view an entry page's layout renders" },
  ["view.page"] = { "view", "any page's view (the theme adds the site's head, navigation, widgets)" },
  ["view.cards"] = { "entries (a list), before view.card runs on each", "the same list; a plugin that adds to cards reads what it adds for all of them at once (the comment counts in one statement)" },
  ["view.card"] = { "card {}, entry", "an entry as lists show it (title, url, date, image, comment count)" },
  ["view.list"] = { "items (list of cards)", "a list of cards before it is shown" },
  ["view.body"] = { "body {}, entry", "the entry's body: body.html (sanitised HTML), body.dateline" },
  ["head.entry"] = { "{ meta, jsonld }, entry", "an entry page's head tags and JSON-LD" },
  ["page.error"] = { "page { status, reason, request_id, path, html = false }", "set page.html to answer browsers with the site's own error page" },
  ["site.lang"] = { "\"en\"", "the site's language tag (html lang, feeds)" },
  ["related.entries"] = { "list of entries, entry", "the related entries shown under an entry" },
  ["sponsor.slots"] = { "list of slots", "the sponsor slots a page shows" },
}

-- quire.* as plugins see it: { signature, returns, errors (or false), what it does }.
M.FUNCTIONS = {
  ["quire.version"] = { "quire.version", "the version text", false, "a string, not a function" },
  ["quire.slugify"] = { "quire.slugify(text)", "a URL slug (lowercase ASCII words joined by -)", false, "" },
  ["quire.site"] = { "quire.site.name, .base_url, .dir, .config, .static_export", "the site's settings (read-only)", false,
    "static_export is true while `quire export --format html` renders: its pages are read with no server behind them, so leave out what needs one, a form to send or a link through one of the plugin's routes: the comments plugin shows the approved thread without its form, the share plugin links to the networks themselves" },
  ["quire.cache.bump"] = { "quire.cache.bump(tags)", "nothing", false, "makes every cached page carrying one of tags stale (tags set with res:cache_tags)" },
  ["quire.comments.approved_before"] = { "quire.comments.approved_before(email)", "true if a comment from this address was approved before", false, "for moderation rules" },
  ["quire.comments.count"] = { "quire.comments.count(entry_id [, status])", "the number of comments (approved unless status is given)", false, "tags the page with the entry's comments" },
  ["quire.comments.counts"] = { "quire.comments.counts(ids [, status])", "{ [id] = count } for a list of at most 1000 entry ids, read with their blocks of 64 entries' counts (one statement each), kept until a comment on one of them changes", false, "tags the page with each entry's comments" },
  ["quire.comments.create"] = { "quire.comments.create{ entry, parent, author_name, author_email, author_url, body, status, ip_hash }", "the new comment's id", "an `invalid` error listing every field error (no entry, a parent on another entry, text that is not UTF-8, too long)", "fires comment.posted" },
  ["quire.comments.query"] = { "quire.comments.query{ entry, status, after, limit }", "a list of comments { id, entry_id, parent_id, status, author_name, author_email, author_url, body, ip_hash, created_at }, by id (after: a comment or an id)", "an unknown status; after not a comment or an id; a bad limit", "author_email is for moderation: never put it in a view" },
  ["quire.comments.set_status"] = { "quire.comments.set_status(id, status [, detail])", "nothing", "a status other than held, approved, spam or trash; a `not_found` error for no such comment", "detail: a note for the audit log" },
  ["quire.content.count"] = { "quire.content.count(q)", "the number of entries matching q's filters", "as query", "q as for query (type, status, tag, section, author, since, until)" },
  ["quire.content.cursors"] = { "quire.content.cursors(q)", "{ { published_at =, id = } ... }", "as query", "the places of the entries quire.content.query(q) gives, in its order, and nothing else of them: where a list's pages start and end (keyset links) without reading the entries. Tags the page with the list's tags, no entry" },
  ["quire.content.create"] = { "quire.content.create{ type, title, slug, body, status, fields, tags, section, author, published_at }", "the new entry's id", "an `invalid` error listing every field error at once; a veto by entry.saving", "fires entry.saving, entry.saved, entry.published" },
  ["quire.content.define_type"] = { "quire.content.define_type(def)", "nothing", "a bad definition", "what site:content_type does, for scripts" },
  ["quire.content.delete"] = { "quire.content.delete(id [, { permanent = true }])", "true, or false when there is no such entry", false, "without permanent the entry goes to the trash" },
  ["quire.content.empty_trash"] = { "quire.content.empty_trash([{ before = time }])", "how many entries were deleted for good", false, "" },
  ["quire.content.get"] = { "quire.content.get(id | { type =, slug = })", "the entry { id, type, slug, status, title, body, fields, tags, section, author, revision, created_at, updated_at, published_at }, or nil", false, "memoised until a write to it; tags the page with the entry" },
  ["quire.content.neighbours"] = { "quire.content.neighbours(id [, { within = \"type\" | \"section\", links = true }])", "previous, next (published entries, or nil); with links, { id, title, url } of each", "within is neither", "links: what a link to them shows, without the entries (read for a run of neighbours at a time: an export asks in order), tagging the page as their cards do" },
  ["quire.content.published_block"] = { "quire.content.published_block(n)", "rows { id, type, slug, published_at, created_at, updated_at, fields } of the published entries of id block n", false, "for sitemaps" },
  ["quire.content.published_blocks"] = { "quire.content.published_blocks()", "the numbers of the id blocks holding a published entry, ascending", false, "" },
  ["quire.content.query"] = { "quire.content.query{ type, status, tag, section, author, since, until, order, after, limit }", "a list of entries (limit default 50; order newest (default), oldest, updated or id; after: the last entry of the previous page, or its id)", "limit outside 1..10000, a bad time, an unknown order", "tags the page with the list" },
  ["quire.content.related"] = { "quire.content.related(id [, { limit, types, threshold, weights, date_window_days, keywords_field }])", "a list of related published entries", false, "scored in C" },
  ["quire.content.restore"] = { "quire.content.restore(id, revision_id)", "the restore is itself a new revision", "a `not_found` error for no such revision", "" },
  ["quire.content.revisions"] = { "quire.content.revisions(id)", "the entry's revisions, newest first", false, "" },
  ["quire.content.search"] = { "quire.content.search(text [, { limit, offset, type, status, weights, recency, depth, prefix }])", "hits { id, type, slug, title, status, published_at, score, snippet }, { total, estimated }", "limit outside 1..1000, offset over 10000", "words all required, \"quoted phrases\"; ranked title > standfirst > body, newer first among equals (weights = { title, standfirst, body }, recency = { boost, half_life_days }); snippet is HTML from the body (text escaped, matches in <mark>)" },
  ["quire.content.suggest"] = { "quire.content.suggest(text [, { limit, type, status, weights, recency }])", "search-as-you-type: { id, type, slug, title, published_at } best first, the last word as a prefix", "limit outside 1..20", "" },
  ["quire.content.teaser"] = { "quire.content.teaser(entry)", "nothing", false, "tags the page \"teaser:ID\": it shows the entry as a card or headline (title, link, date, section, author, standfirst, picture) and goes stale when one of those changes, not with the body; view.card does it" },
  ["quire.content.teasers"] = { "quire.content.teasers(fn, ...)", "fn(...)'s results", false, "inside, get() tags \"teaser:ID\" and a list tags only what moves entries in or out of it, not every row it fetched: each entry shown is tagged by its card or quire.content.teaser; for blocks of cards and headlines. Entries read inside have no body and no revision (what a card shows goes stale without them)" },
  ["quire.content.terms"] = { "quire.content.terms(taxonomy)", "{ name, slug, count } of the tags or sections published entries carry, by slug", false, "" },
  ["quire.content.term"] = { "quire.content.term(taxonomy, slug)", "the name of the tag or section with that slug, or nil when no published entry carries it", false, "tags the page as the term's list does: its publishes, renames and merges make the page stale" },
  ["quire.content.trash"] = { "quire.content.trash(id)", "true, or false when there is no such entry", false, "" },
  ["quire.content.trashed"] = { "quire.content.trashed([opts])", "the trash, oldest first: { id, type, slug, title, status, trashed_at, actor }", false, "" },
  ["quire.content.types"] = { "quire.content.types()", "the names of the content types", false, "" },
  ["quire.content.untrash"] = { "quire.content.untrash(id)", "true, or false when there is no such entry", "the entry is not in the trash", "gives the entry back the status it had" },
  ["quire.content.update"] = { "quire.content.update(id, changes [, { base_revision = N }])", "true", "a `not_found` error for no such entry; an `invalid` error listing every field error; a `conflict` error when base_revision is not the current one; a veto by entry.saving", "" },
  ["quire.content.url"] = { "quire.content.url(entry)", "the entry's path from its type's permalink, or nil for an unknown type", false, "" },
  ["quire.content.validate"] = { "quire.content.validate(spec)", "true, or false and the error list { field, message }", false, "checks without writing" },
  ["quire.corrections.list"] = { "quire.corrections.list(entry_id)", "the corrections marked on the entry in the admin, oldest first: { note, date }", false, "tags the page entry:ID" },
  ["quire.errors.invalid"] = { "quire.errors.invalid(what, errors)", "does not return", "raises an `invalid` error listing errors { field, message }", "" },
  ["quire.errors.is"] = { "quire.errors.is(e [, kind])", "true if e is a quire error (of that kind)", false, "kinds: invalid, conflict, plugin, ..." },
  ["quire.errors.new"] = { "quire.errors.new(kind, text [, errors])", "an error object (error(e, 0) raises it)", false, "" },
  ["quire.errors.raise"] = { "quire.errors.raise(kind, text [, errors])", "does not return", "raises the error object", "" },
  ["quire.filters.apply"] = { "quire.filters.apply(name, value, ...)", "value passed through every handler of the filter", "a `plugin` error when a handler returns another type", "" },
  ["quire.filters.has"] = { "quire.filters.has(name)", "true when a plugin filters name", false, "known once every plugin is set up (not inside setup)" },
  ["quire.assets.url"] = { "quire.assets.url(plugin, file)", "the URL of a copy of the plugin's static file named by its content's hash (/static/theme/quire.1a2b3c4d5e6f.css), sent as immutable", "no such plugin folder or file", "a changed file gets a new URL; the old copy is served on until nothing has named it for static_retention days (site.lua)" },
  ["quire.front.resolve"] = { "quire.front.resolve(page, n [, { query = q }])", "the stories of page's first n slots: { entry, slot, curated }; an editor's live assignment, else the newest of quire.content.query(q) not shown already", false, "page: \"home\" or \"section:SLUG\"; tags the page front:PAGE" },
  ["quire.front.most_read"] = { "quire.front.most_read([scope [, limit]])", "the most read published stories of the last 24 hours: { entry, views }, at most limit (default 5, at most 10)", false, "scope \"all\" (default) or \"section:SLUG\"; ranked every five minutes; tags the page most-read:SCOPE" },
  ["quire.front.banner"] = { "quire.front.banner()", "the breaking-news banner in force: { text, link, starts_at, ends_at }, or nil", false, "tags the page front:breaking" },
  ["quire.front.page"] = { "quire.front.page(name)", "the front's key: \"home\" or \"section:SLUG\"", "an `invalid` error for anything else or an unknown section", "" },
  ["quire.front.rank"] = { "quire.front.rank()", "true when a ranking changed", false, "ranks the last 24 hours' views into most read (the listings plugin runs it every five minutes); bumps only the rankings that changed" },
  ["quire.front.view"] = { "quire.front.view(entry_id, client)", "true when counted: a reader's view of a story (once per client and story in 30 minutes)", false, "client: a key for the reader, never a raw address" },
  ["quire.hits.add"] = { "quire.hits.add(key, seconds)", "the count within key's current window (1 for the first)", false, "rate limits" },
  ["quire.hits.count"] = { "quire.hits.count(key)", "the count in key's current window (0 when none)", false, "" },
  ["quire.html.attr"] = { "quire.html.attr(s)", "s escaped for an attribute value", "s is not text", "" },
  ["quire.html.escape"] = { "quire.html.escape(s)", "s escaped for HTML text", "s is not text", "" },
  ["quire.html.policies"] = { "quire.html.policies.default, .comment", "the built-in sanitiser policies", false, "a table, not a function" },
  ["quire.html.policy"] = { "quire.html.policy{ ... }", "a sanitiser policy for quire.html.sanitize", "a bad spec", "" },
  ["quire.html.sanitize"] = { "quire.html.sanitize(html [, policy | \"comment\"])", "the HTML with what the policy does not allow removed (default policy: default)", "html not a string; no policy of that name", "" },
  ["quire.json.array_mt"] = { "quire.json.array_mt", "the metatable quire.json.list sets", false, "" },
  ["quire.json.decode"] = { "quire.json.decode(text)", "the value (JSON null as quire.json.null)", "text that is not JSON", "" },
  ["quire.json.encode"] = { "quire.json.encode(value)", "JSON text", "values JSON cannot carry", "" },
  ["quire.json.list"] = { "quire.json.list([t])", "t marked as a list, so that empty it encodes as []", false, "" },
  ["quire.json.null"] = { "quire.json.null", "JSON's null", false, "" },
  ["quire.media.picture"] = { "quire.media.picture(id [, sizes])", "what a template needs to show the image responsively: src, srcset, webp_srcset, width, height, alt, caption, credit, colour, focal, sizes; nil when there is no such image (the page is tagged media:ID)", false, "" },
  ["quire.media.body_html"] = { "quire.media.body_html(markdown)", "an editor's Markdown body as pages show it: rendered, sanitized with the article policy, each ```gallery fenced block (lines of \"MEDIA-ID-or-/media/URL [caption]\") a responsive gallery from the media library, body images loading=\"lazy\"", false, "" },
  ["quire.media.share"] = { "quire.media.share(id)", "the image for link previews and feeds: the variant of the 1200 px class (the narrowest at least 1200 wide, else the widest) as JPEG when the original is one, else WebP: src, width, height, type, length (bytes), alt, caption, credit; nil when there is no such image (the page is tagged media:ID)", false, "" },
  ["quire.markdown.render"] = { "quire.markdown.render(text [, { untrusted = true, ... }])", "HTML", "opts not a table", "sanitise untrusted output with quire.html.sanitize" },
  ["quire.shares.counts"] = { "quire.shares.counts(entry_id)", "{ total, networks = { name = N } }", false, "tags the page" },
  ["quire.shares.record"] = { "quire.shares.record(entry_id, network, client [, seconds])", "true when counted (once per client, entry and network in seconds, default a day)", false, "" },
  ["quire.store.transaction"] = { "quire.store.transaction(fn, ...)", "fn's results, after the commit", "fn's error, after the rollback", "nested calls join the outer transaction" },
  ["quire.template.compile"] = { "quire.template.compile(source [, name])", "a template: t:render(view [, opts])", "a syntax error naming the line", "" },
  ["quire.template.escape"] = { "quire.template.escape(s)", "s HTML-escaped as {{...}} would", false, "" },
  ["quire.template.render"] = { "quire.template.render(name, view [, opts])", "the HTML of NAME.mustache from the template folders", "no such template", "" },
  ["quire.template.render_string"] = { "quire.template.render_string(source, view [, opts])", "the rendered text", "a syntax error", "compiled once per source text" },
  ["quire.template.stats"] = { "quire.template.stats()", "{ compiles = N }", false, "for tests" },
  ["quire.text.trim"] = { "quire.text.trim(s)", "s without whitespace at either end (linear time)", false, "" },
  ["quire.text.join"] = { "quire.text.join(list [, sep])", "the strings of list joined, with sep between them (table.concat of strings, its size summed first: for a document of some hundred kB made of parts)", "an item that is not a string", "" },
  ["quire.text.xml"] = { "quire.text.xml(s)", "s without the characters XML 1.0 cannot carry", false, "" },
  ["quire.text.of_html"] = { "quire.text.of_html(html)", "the text of HTML for summaries: tags as spaces, &lt; &gt; &quot; &#39; &amp; decoded, whitespace collapsed, ends trimmed (linear time)", false, "" },
  ["quire.i18n.dir"] = { "quire.i18n.dir([lang])", "\"rtl\" or \"ltr\": the direction the language is written in", false, "default: the site's language" },
  ["quire.i18n.gettext"] = { "quire.i18n.gettext(msgid [, lang])", "the translation of a UI string from the catalogues (site.lua strings, SITE/locale/LANG.mo, the plugins' locale/), or msgid", false, "templates use {{#_}}msgid{{/_}}" },
  ["quire.i18n.language"] = { "quire.i18n.language()", "the site's language tag (site.lua language)", false, "" },
  ["quire.i18n.ngettext"] = { "quire.i18n.ngettext(singular, plural, n [, lang])", "the plural form for n by the language's Plural-Forms rule", false, "format n in yourself: (\"%s\"):format(n)" },
  ["quire.i18n.pgettext"] = { "quire.i18n.pgettext(context, msgid [, lang])", "the translation of msgid in a context (\"month\", \"date format\")", false, "" },
  ["quire.time.ago"] = { "quire.time.ago(utc [, now [, lang [, zone]]])", "\"just now\", \"5 minutes ago\", ... in the language; past a week, the date", false, "" },
  ["quire.time.check_zone"] = { "quire.time.check_zone(name)", "true, or nil and a message saying how to find valid IANA names", false, "" },
  ["quire.time.format_local"] = { "quire.time.format_local(utc, pattern [, lang [, zone]])", "the date in words: pattern \"date\", \"datetime\", \"time\", \"short\" (the language's order) or %Y %m %d %-d %H %M %B %b %A %a %p %Z %z", "an unknown directive", "" },
  ["quire.time.from_local"] = { "quire.time.from_local(text [, zone])", "UTC text of a wall-clock reading (\"2026-03-29 09:30\") and \"exact\", \"ambiguous\" (the earlier) or \"gap\" (moved past it); or nil and a message", false, "" },
  ["quire.time.local_parts"] = { "quire.time.local_parts(utc [, zone])", "{ year, month, day, hour, min, sec, wday, offset, isdst, abbr } in the zone", false, "" },
  ["quire.time.rfc822"] = { "quire.time.rfc822(utc [, zone])", "\"Wed, 01 Jul 2026 01:30:00 +0200\" (RSS dates)", false, "" },
  ["quire.time.to_local"] = { "quire.time.to_local(utc [, zone])", "RFC 3339 local time with its offset, \"2026-07-01T01:30:00+02:00\"", false, "" },
  ["quire.time.zone"] = { "quire.time.zone", "the site's time zone (site.lua timezone), the default of the functions above", false, "a value, not a function" },
  ["quire.time.epoch"] = { "quire.time.epoch(text)", "epoch seconds of a stored time text, or nil", false, "" },
  ["quire.time.format"] = { "quire.time.format(epoch)", "UTC text \"YYYY-MM-DDTHH:MM:SSZ\"", false, "" },
  ["quire.time.now"] = { "quire.time.now()", "the current time as UTC text", false, "" },
  ["quire.time.parse"] = { "quire.time.parse(epoch | text)", "normalised UTC text, or nil and a message", false, "" },
  ["quire.tokens.sign"] = { "quire.tokens.sign(purpose, data [, ttl_seconds])", "a signed token carrying data, valid for purpose only", false, "" },
  ["quire.tokens.verify"] = { "quire.tokens.verify(purpose, token)", "data and its expiry (epoch seconds, 0: none), or nil and why (\"malformed token\", \"bad signature\", \"expired\")", false, "" },
  ["quire.url.safe"] = { "quire.url.safe(url [, schemes])", "the URL when its scheme is allowed (default http, https, mailto and relative URLs), else nil", "schemes not a list", "" },
  ["quire.users.authenticate"] = { "quire.users.authenticate(login, password)", "the user, or nil (the same work either way)", false, "" },
  ["quire.users.close_session"] = { "quire.users.close_session(token)", "nothing; that session ends (sign out)", false, "" },
  ["quire.users.close_sessions"] = { "quire.users.close_sessions(user_id)", "how many sessions ended (sign out everywhere)", false, "" },
  ["quire.users.password_hash_of"] = { "quire.users.password_hash_of(login)", "the hash a sign-in checks, and the user id when the account may sign in (an unknown or disabled login gets a dummy hash and no id)", false, "" },
  ["quire.users.rotate_session"] = { "quire.users.rotate_session(token)", "a new token for that session (the old one stops working), or nil", false, "" },
  ["quire.users.session"] = { "quire.users.session(token)", "the live session { user_id, csrf, role, last_seen, expires_at, created_at }, or nil (unknown, expired, idle too long, user disabled)", false, "" },
  ["quire.users.set_disabled"] = { "quire.users.set_disabled(id, disabled)", "nothing; a disabled user cannot sign in and loses every session", "a `not_found` error", "" },
  ["quire.users.set_role"] = { "quire.users.set_role(id, role)", "nothing; the user's sessions get a new token on their next request", "an `invalid` or `not_found` error", "" },
  ["quire.users.touch_session"] = { "quire.users.touch_session(token, session)", "nothing; the session's idle clock restarts (written at most once a minute)", false, "" },
  ["quire.users.author"] = { "quire.users.author(id)", "the author as pages show them { name, bio, url } (no email), or nil", false, "" },
  ["quire.users.create"] = { "quire.users.create{ login, name, email, role }", "the new user's id", "an `invalid` error", "" },
  ["quire.users.get"] = { "quire.users.get(id | login)", "the user { id, login, display_name, email, role, disabled, created_at }, or nil", false, "" },
  ["quire.users.list"] = { "quire.users.list()", "every user", false, "" },
  ["quire.users.open_session"] = { "quire.users.open_session(id [, ttl_seconds])", "a session token (default limits.session_max_seconds)", false, "" },
  ["quire.users.session_csrf"] = { "quire.users.session_csrf(token)", "the CSRF token a form or X-CSRF-Token must send back for that session, or nil when unknown or expired", false, "" },
  ["quire.users.session_user"] = { "quire.users.session_user(token)", "the user, or nil when unknown or expired", false, "" },
  ["quire.users.set_password"] = { "quire.users.set_password(id, password)", "nothing (an argon2id hash is stored; the user's sessions end)", "an `invalid` error unless the password is 10 to 1024 bytes", "" },
  ["quire.workflow.apply"] = { "quire.workflow.apply(id, transition [, user [, changes]])", "nothing; the entry is saved and entry.transition fires", "an `invalid` error saying why it is refused", "" },
  ["quire.workflow.available"] = { "quire.workflow.available(id [, user])", "the transitions open to user for the entry", false, "" },
  ["quire.workflow.states"] = { "quire.workflow.states()", "the workflow states in order", false, "" },
}

-- The request a route handler gets.
M.REQUEST = {
  { "id", "the request id (also in the log and the X-Request-Id header)" },
  { "method, path", "\"GET\", \"/reviews/x\"" },
  { "query, query_invalid", "decoded query parameters; the names whose bytes were not UTF-8" },
  { "params", "the route's {name} parts ({n:int} as integers)" },
  { "headers", "lower-case names" },
  { "cookies", "by name" },
  { "body", "the raw body" },
  { "form, form_invalid", "a decoded application/x-www-form-urlencoded body; the fields that were not UTF-8" },
  { "remote", "the client address" },
  { "secure", "true when it came over HTTPS" },
  { "user, session", "the signed-in staff user (quire.users.get's shape) and their session { csrf, expires_at }, or nil (quire.auth)" },
}

-- Response methods (app.lua's Response): { signature, what }.
M.RESPONSE = {
  write = { "res:write(s)", "appends to the body" },
  render = { "res:render(template, view [, opts])", "appends the rendered template, as text/html" },
  json = { "res:json(value)", "the body as JSON (application/json)" },
  header = { "res:header(name, value)", "sets a header" },
  cookie = { "res:cookie(name, value [, { max_age, path, http_only, same_site, secure }])", "sets a cookie; the page becomes private" },
  redirect = { "res:redirect(url [, status])", "a redirect (303 unless status says otherwise)" },
  cache_tags = { "res:cache_tags{ ... }", "extra tags whose writes make the cached page stale" },
  max_age = { "res:max_age(seconds)", "how long browsers, shared caches and quire's page cache may keep the page (0: nowhere)" },
  error = { "res:error(status)", "the site's error page for status (page.error filter)" },
}
M.RESPONSE_FIELDS = {
  { "res.status", "the status (default 200)" },
  { "res.private", "true: never cached, Cache-Control private" },
}

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- What the code has that the reference does not describe (for the spec): a list of names.
function M.missing(api)
  local out = {}
  local function walk(t, prefix, seen)
    for _, k in ipairs(sorted_keys(t)) do
      local v, name = t[k], prefix .. "." .. tostring(k)
      if type(v) == "table" and not M.FUNCTIONS[name] and not seen[v] then
        seen[v] = true
        walk(v, name, seen)
      elseif type(v) ~= "table" and not M.FUNCTIONS[name] and not (prefix:match("^quire%.site") and M.FUNCTIONS["quire.site"]) then
        out[#out + 1] = name
      end
    end
  end
  if api then walk(api, "quire", {}) end
  for name, fn in pairs(app.Response) do
    if type(fn) == "function" and not M.RESPONSE[name] then out[#out + 1] = "res:" .. name end
  end
  for name in pairs(types.FIELD_TYPES) do
    if not M.FIELD_TYPES[name] then out[#out + 1] = "field type " .. name end
  end
  table.sort(out)
  return out
end

-- The reference as Markdown text.
function M.text()
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  add("# Quire plugin reference")
  add("")
  add("Generated by `quire help plugins` (this file is its output: `quire help plugins > docs/plugins.md`).")
  add("A plugin is `plugins/<name>/plugin.lua` returning `quire.plugin{ name, version, requires, settings, setup = function(site) ... end }`;")
  add("see README.md, \"Writing a plugin\", for a worked example.")
  add("")
  add("## Registration (the `site` object given to setup)")
  add("")
  add("Registration calls work only while the plugin loads (in setup).")
  add("")
  for _, s in ipairs(M.SITE) do add(("- `%s`: %s"):format(s[1], s[2])) end
  add("")
  add("## Memoised views (`site:memo`)")
  add("")
  for _, line in ipairs(M.MEMO) do add(line) end
  add("")
  add("## Field types")
  add("")
  add("A field spec is a type name (`\"text\"`) or a table (`{ \"text\", required = true, max = 200 }`). Every type takes:")
  add("")
  for _, o in ipairs(M.FIELD_OPTIONS) do add(("- `%s`: %s"):format(o[1], o[2])) end
  add("")
  for _, name in ipairs(sorted_keys(types.FIELD_TYPES)) do
    local d = M.FIELD_TYPES[name] or { "(undocumented)" }
    add(("- `%s`: %s%s"):format(name, d[1], d[2] and (". Options: `" .. d[2] .. "`") or ""))
  end
  add("")
  add("## Hooks (`site:hook(event, fn)`)")
  add("")
  add("A handler that returns `false, \"why\"` vetoes the event where that is allowed; later handlers do not run.")
  add("")
  for _, name in ipairs(sorted_keys(M.HOOKS)) do
    local h = M.HOOKS[name]
    add(("- `%s`: arguments %s. Returns: %s"):format(name, h[1], h[2]))
  end
  add("")
  add("## Filters (`site:filter(name, fn)`)")
  add("")
  add("Each handler gets the value (and the extra arguments) and returns the new value, of the same type;")
  add("`quire plugins order NAME` prints the order the handlers run in.")
  add("")
  for _, name in ipairs(sorted_keys(M.FILTERS)) do
    local f = M.FILTERS[name]
    add(("- `%s`: arguments %s. The value: %s"):format(name, f[1], f[2]))
  end
  add("")
  add("## The `quire` API")
  add("")
  add("Read-only tables; a call from plugin code runs under the plugin's instruction budget.")
  add("")
  for _, name in ipairs(sorted_keys(M.FUNCTIONS)) do
    local f = M.FUNCTIONS[name]
    local parts = { ("- `%s` → %s."):format(f[1], f[2]) }
    if f[3] then parts[#parts + 1] = ("Errors: %s."):format(f[3]) end
    if f[4] ~= "" then parts[#parts + 1] = "(" .. f[4] .. ")" end
    add(table.concat(parts, " "))
  end
  add("")
  add("## The request (`req`)")
  add("")
  for _, r in ipairs(M.REQUEST) do add(("- `req.%s`: %s"):format(r[1]:gsub(", ", "`, `req."), r[2])) end
  add("")
  add("## The response (`res`)")
  add("")
  add("A route handler returns a string (the body) or fills `res`; methods return `res`.")
  add("")
  for _, name in ipairs(sorted_keys(M.RESPONSE)) do
    add(("- `%s`: %s"):format(M.RESPONSE[name][1], M.RESPONSE[name][2]))
  end
  for _, r in ipairs(M.RESPONSE_FIELDS) do add(("- `%s`: %s"):format(r[1], r[2])) end
  add("")
  return table.concat(lines, "\n")
end

return M
