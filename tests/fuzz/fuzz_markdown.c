/* Fuzz target: Markdown (untrusted and trusted) and the HTML sanitizer, with an oracle. Each input
 * is rendered as comment Markdown, as editor Markdown then sanitized, and sanitized as raw HTML.
 * Every output is parsed again the way a browser would (gumbo) and must hold no element, no
 * attribute and no URL outside what it may contain: for comments, the renderer's own vocabulary;
 * for sanitized HTML, the default policy as html.h documents it (written out here independently).
 * Sanitizing is also stable: sanitizing the sanitizer's output changes nothing. */
#include <gumbo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "html.h"
#include "markdown.h"

typedef struct {
  const char *tag;
  const char *attrs; /* space-separated, with spaces around: " href title " */
} rule_t;

/* The default sanitizer policy (html.h, qr_html_policy_default). */
static const rule_t POLICY[] = {{"p", ""}, {"br", ""}, {"hr", ""}, {"a", " href title "}, {"em", ""},
    {"strong", ""}, {"b", ""}, {"i", ""}, {"u", ""}, {"s", ""}, {"del", ""}, {"ins", ""}, {"sub", ""},
    {"sup", ""}, {"small", ""}, {"mark", ""}, {"abbr", " title "}, {"cite", ""}, {"q", " cite "},
    {"blockquote", " cite "}, {"code", ""}, {"pre", ""}, {"kbd", ""}, {"samp", ""}, {"var", ""}, {"ul", ""},
    {"ol", " start reversed "}, {"li", ""}, {"dl", ""}, {"dt", ""}, {"dd", ""}, {"h2", ""}, {"h3", ""},
    {"h4", ""}, {"h5", ""}, {"h6", ""}, {"img", " src alt title width height "}, {"figure", ""},
    {"figcaption", ""}, {"table", ""}, {"caption", ""}, {"thead", ""}, {"tbody", ""}, {"tfoot", ""},
    {"tr", ""}, {"th", " colspan rowspan scope align "}, {"td", " colspan rowspan align "}, {NULL, NULL}};

/* What untrusted (comment) Markdown renders: no raw HTML, no images, no heading ids. */
static const rule_t COMMENT[] = {{"p", ""}, {"br", ""}, {"hr", ""}, {"blockquote", ""}, {"ul", ""},
    {"ol", " start "}, {"li", " class "}, {"input", " type disabled checked "}, {"pre", ""},
    {"code", " class "}, {"h1", ""}, {"h2", ""}, {"h3", ""}, {"h4", ""}, {"h5", ""}, {"h6", ""},
    {"table", ""}, {"thead", ""}, {"tbody", ""}, {"tr", ""}, {"th", " align "}, {"td", " align "},
    {"em", ""}, {"strong", ""}, {"del", ""}, {"u", ""}, {"a", " href title rel "}, {NULL, NULL}};

static const char *const LINK_SCHEMES[] = {"http", "https", "mailto", NULL};
static const char *const IMAGE_SCHEMES[] = {"http", "https", NULL};

static void fail(const char *what, const char *detail, const char *html) {
  fprintf(stderr, "fuzz oracle: %s: %s\n--- output:\n%s\n---\n", what, detail, html);
  abort();
}

static const rule_t *find_rule(const rule_t *rules, const char *tag) {
  for (const rule_t *r = rules; r->tag; r++)
    if (strcmp(r->tag, tag) == 0) return r;
  return NULL;
}

static void check_node(const GumboNode *n, const rule_t *rules, const char *html) {
  if (n->type == GUMBO_NODE_COMMENT) fail("comment in output", "", html);
  if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE) return;
  const GumboElement *el = &n->v.element;
  const char *tag = gumbo_normalized_tagname(el->tag);
  const rule_t *rule = el->tag_namespace == GUMBO_NAMESPACE_HTML ? find_rule(rules, tag) : NULL;
  if (!rule || n->type == GUMBO_NODE_TEMPLATE) fail("element outside the policy", *tag ? tag : "(unknown)", html);
  for (unsigned i = 0; i < el->attributes.length; i++) {
    const GumboAttribute *a = el->attributes.data[i];
    char key[64];
    snprintf(key, sizeof key, " %s ", a->name);
    if (a->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE || !strstr(rule->attrs, key))
      fail("attribute outside the policy", a->name, html);
    if (strcmp(a->name, "href") == 0 || strcmp(a->name, "cite") == 0) {
      if (!qr_url_allowed(a->value, strlen(a->value), LINK_SCHEMES, 1)) fail("unsafe URL", a->value, html);
    } else if (strcmp(a->name, "src") == 0) {
      if (!qr_url_allowed(a->value, strlen(a->value), IMAGE_SCHEMES, 1)) fail("unsafe image URL", a->value, html);
    } else if (strcmp(a->name, "class") == 0) {
      if (strcmp(a->value, "task-list-item") != 0 && strncmp(a->value, "language-", 9) != 0)
        fail("unexpected class", a->value, html);
    } else if (strcmp(a->name, "type") == 0 && strcmp(a->value, "checkbox") != 0) {
      fail("unexpected input type", a->value, html);
    }
  }
  for (unsigned i = 0; i < el->children.length; i++) check_node(el->children.data[i], rules, html);
}

/* Parses html as a browser parses a body fragment and checks every node against rules. */
static void check_html(const qr_buf_t *out, const rule_t *rules) {
  const char *html = out->data ? out->data : "";
  GumboOptions opt = kGumboDefaultOptions;
  opt.fragment_context = GUMBO_TAG_BODY;
  opt.max_errors = 0;
  GumboOutput *g = gumbo_parse_with_options(&opt, html, out->len);
  const GumboVector *kids = &g->root->v.element.children;
  for (unsigned i = 0; i < kids->length; i++) check_node(kids->data[i], rules, html);
  gumbo_destroy_output(&opt, g);
}

/* qr_markdown_render_sanitized gives what sanitizing the rendered HTML gives, byte for byte. */
static void same_as_sanitized(const char *src, size_t size, const qr_markdown_opts_t *o, const qr_html_policy_t *p,
                              const qr_buf_t *want) {
  qr_buf_t got = {0};
  if (qr_markdown_render_sanitized(src, size, o, p, &got) != 0) fail("render_sanitized failed", "", want->data);
  if (got.len != want->len || memcmp(got.data, want->data, want->len) != 0)
    fail("render_sanitized differs from sanitize(render)", got.data ? got.data : "", want->data);
  qr_buf_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static qr_html_policy_t *policy, *comment;
  if (!policy) {
    policy = qr_html_policy_default();
    comment = qr_html_policy_new();
    const char *const tags[] = {"p", "br", "a", "em", "strong", "code", "pre", "blockquote", "ul", "li", NULL};
    for (const char *const *t = tags; *t; t++) qr_html_policy_allow_element(comment, *t);
    qr_html_policy_allow_attr(comment, "a", "href");
    qr_html_policy_allow_scheme(comment, NULL, "https");
    qr_html_policy_set_relative(comment, 0);
    qr_html_policy_set_rel(comment, "nofollow ugc");
  }
  const char *src = (const char *)data;
  qr_buf_t out = {0}, clean = {0}, again = {0};
  qr_markdown_opts_t o;

  qr_markdown_opts_init(&o, 1);
  if (qr_markdown_render(src, size, &o, &out) == 0) check_html(&out, COMMENT);
  qr_buf_free(&out);

  qr_markdown_opts_init(&o, 0);
  if (qr_markdown_render(src, size, &o, &out) == 0 && qr_html_sanitize(out.data, out.len, policy, &clean) == 0) {
    check_html(&clean, POLICY);
    same_as_sanitized(src, size, &o, policy, &clean);
  }
  qr_buf_free(&out);
  qr_buf_free(&clean);

  /* The same for comments under a strict policy with a forced rel (untrusted: never raw HTML). */
  qr_markdown_opts_init(&o, 1);
  if (qr_markdown_render(src, size, &o, &out) == 0 && qr_html_sanitize(out.data, out.len, comment, &clean) == 0)
    same_as_sanitized(src, size, &o, comment, &clean);
  qr_buf_free(&out);
  qr_buf_free(&clean);

  if (qr_html_sanitize(src, size, policy, &clean) == 0) {
    check_html(&clean, POLICY);
    if (qr_html_sanitize(clean.data, clean.len, policy, &again) == 0 &&
        (again.len != clean.len || memcmp(again.data, clean.data, clean.len) != 0))
      fail("sanitizing is not stable", again.data ? again.data : "", clean.data);
  }
  qr_buf_free(&clean);
  qr_buf_free(&again);
  return 0;
}
