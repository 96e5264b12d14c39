/* Markdown to HTML over md4c's parser callbacks: balanced output, checked URLs, heading ids. */
#include "markdown.h"

#include <gumbo.h>
#include <md4c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "html.h"

#define PUTS(b, lit) qr_buf_append((b), (lit), sizeof(lit) - 1)

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---- Character references ------------------------------------------------------------------ */

static void put_codepoint(qr_buf_t *out, uint32_t cp) {
  char u[4];
  int n;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')) {
    qr_buf_puts(out, REPLACEMENT);
    return;
  }
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
  }
  qr_buf_append(out, u, (size_t)n);
}

/* Appends the decoded (unescaped) text of an entity md4c reported: "&#123;", "&#x7B;" or "&name;".
 * Named entities are resolved by gumbo, which carries the full HTML5 table; a name it does not
 * know in full stays literal text, as CommonMark requires. */
static void decode_entity(qr_buf_t *out, const char *e, size_t n) {
  if (n >= 4 && e[1] == '#') {
    uint32_t cp = 0;
    int hex = e[2] == 'x' || e[2] == 'X';
    for (size_t i = hex ? 3 : 2; i + 1 < n; i++) {
      int d = hex ? qr_hexval(e[i]) : (e[i] >= '0' && e[i] <= '9' ? e[i] - '0' : -1);
      cp = d < 0 ? 0x110000 : cp * (hex ? 16 : 10) + (uint32_t)d;
      if (cp > 0x10FFFF) cp = 0x110000; /* out of range either way; keeps it from wrapping */
    }
    put_codepoint(out, cp);
    return;
  }
  GumboOptions opt = kGumboDefaultOptions;
  opt.fragment_context = GUMBO_TAG_DIV;
  opt.max_errors = 0;
  GumboOutput *g = gumbo_parse_with_options(&opt, e, n);
  const char *text = NULL;
  GumboVector *kids = &g->root->v.element.children;
  const GumboNode *only = kids->length == 1 ? kids->data[0] : NULL;
  if (only && (only->type == GUMBO_NODE_TEXT || only->type == GUMBO_NODE_WHITESPACE)) text = only->v.text.text;
  /* Every entity decodes to one or two code points; "&notit;" matching the legacy "&not" gives
   * "¬it;", and an unknown name stays as it is: both are longer. */
  size_t cps = 0;
  for (const char *t = text; t && *t; t++) cps += ((unsigned char)*t & 0xC0) != 0x80;
  if (text && cps <= 2) qr_buf_puts(out, text);
  else qr_buf_append(out, e, n);
  gumbo_destroy_output(&opt, g);
}

/* Appends the plain value of an md4c attribute (link destination, title): entities decoded. */
static void decode_attr(qr_buf_t *out, const MD_ATTRIBUTE *a) {
  out->len = 0;
  if (out->data) out->data[0] = '\0';
  for (int i = 0; a->substr_offsets[i] < a->size; i++) {
    const char *s = a->text + a->substr_offsets[i];
    size_t n = a->substr_offsets[i + 1] - a->substr_offsets[i];
    switch (a->substr_types[i]) {
      case MD_TEXT_ENTITY: decode_entity(out, s, n); break;
      case MD_TEXT_NULLCHAR: qr_buf_puts(out, REPLACEMENT); break;
      default: qr_buf_append(out, s, n);
    }
  }
  if (!out->data) qr_buf_append(out, "", 0);
}

/* ---- Heading ids ----------------------------------------------------------------------------- */

/* The ids used so far in one document, with the next suffix to try for each base slug, so a
 * thousand headings named "Update" cost a thousand probes, not half a million. */
typedef struct {
  char **keys;
  unsigned *next;
  size_t cap, count;
} slugset_t;

static size_t slug_slot(const slugset_t *s, const char *key) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 16777619u;
  size_t i = h & (s->cap - 1);
  while (s->keys[i] && strcmp(s->keys[i], key) != 0) i = (i + 1) & (s->cap - 1);
  return i;
}

static void slug_add(slugset_t *s, const char *key) {
  if ((s->count + 1) * 2 > s->cap) {
    slugset_t bigger = {NULL, NULL, s->cap ? s->cap * 2 : 32, s->count};
    bigger.keys = qr_xcalloc(bigger.cap, sizeof *bigger.keys);
    bigger.next = qr_xcalloc(bigger.cap, sizeof *bigger.next);
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->keys[i]) continue;
      size_t j = slug_slot(&bigger, s->keys[i]);
      bigger.keys[j] = s->keys[i];
      bigger.next[j] = s->next[i];
    }
    free(s->keys);
    free(s->next);
    *s = bigger;
  }
  size_t i = slug_slot(s, key);
  s->keys[i] = qr_xstrdup(key);
  s->next[i] = 1;
  s->count++;
}

static void slug_free(slugset_t *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
  free(s->keys);
  free(s->next);
}

/* Writes into id (cap >= 80) a slug of text not used before in this document, and records it. */
static void unique_slug(slugset_t *s, const char *text, size_t len, char *id) {
  char base[65];
  if (!qr_content_slugify(text, len, base, sizeof base)) strcpy(base, "section");
  if (s->cap == 0 || !s->keys[slug_slot(s, base)]) {
    strcpy(id, base);
  } else {
    unsigned k = s->next[slug_slot(s, base)];
    do snprintf(id, 80, "%s-%u", base, k++);
    while (s->keys[slug_slot(s, id)]);
    s->next[slug_slot(s, base)] = k;
  }
  slug_add(s, id);
}

/* ---- Markdown renderer ------------------------------------------------------------------------ */

static const char *const LINK_SCHEMES[] = {"http", "https", "mailto", NULL};
static const char *const IMAGE_SCHEMES[] = {"http", "https", NULL};

void qr_markdown_opts_init(qr_markdown_opts_t *o, int untrusted) {
  memset(o, 0, sizeof *o);
  o->untrusted = untrusted != 0;
  o->images = !untrusted;
  o->heading_ids = !untrusted;
  o->relative = 1;
  if (untrusted) {
    o->rel = "nofollow ugc noopener";
    o->link_schemes = LINK_SCHEMES;
    o->image_schemes = IMAGE_SCHEMES;
  }
}

/* md4c 0.4.8 does not always pair its span callbacks ("[](*)*" leaves an emphasis it never
 * entered; mity/md4c#294), and md4c-html just prints what it is told. This renderer keeps its own
 * stacks of open blocks and spans, writes closing tags only from them, ignores a leave that does
 * not match the innermost open element, and closes spans at block boundaries (they never cross
 * one) and everything at the end. So the output is balanced whatever md4c reports. */
enum { CLOSE_NOTHING, CLOSE_TAG, CLOSE_A, CLOSE_IMG };
#define HEADING_TEXT_MAX 512 /* enough text to make a 64-byte slug */

typedef struct {
  unsigned char type;  /* MD_SPANTYPE */
  unsigned char close; /* CLOSE_*: what leaving it writes */
  unsigned char kept;  /* its tags are written (the policy keeps the element; always without one) */
} span_t;

typedef struct {
  const qr_markdown_opts_t *o;
  qr_buf_t *doc;       /* the caller's output */
  qr_buf_t *out;       /* where writes go now: doc, or heading while inside one */
  qr_buf_t heading;    /* inner HTML of the open heading (its id is known only at its end) */
  qr_buf_t heading_text; /* its plain text, for the slug */
  unsigned heading_level;
  int in_heading;
  qr_buf_t tmp;        /* a decoded link destination, title or entity */
  qr_buf_t blocks;     /* open blocks: one MD_BLOCKTYPE byte each */
  qr_buf_t spans;      /* open spans: span_t each */
  int image_depth;     /* open image spans; inside one, text is alt text and spans are not tags */
  int alt_in_attr;     /* the outermost open image was written as <img ... alt=" */
  slugset_t slugs;
  size_t p_at, p_body; /* where the open paragraph's <p> and its content start in out */
  int p_unwrapped;     /* the open paragraph is an HTML heading md4c missed: no <p> around it */
  /* Writing sanitized HTML directly (qr_markdown_render_sanitized): what the policy keeps of what
   * the plain renderer writes, as qr_html_sanitize would write it after parsing that output. */
  const qr_html_policy_t *policy;
  int bail;            /* this input needs the parser after all: stop, render it the long way */
  int open_links;      /* links open (a link in a link would be restructured by the parser) */
  qr_buf_t *img_out;   /* where writes went before the open image (its alt text goes to alt) */
  qr_buf_t alt, img_src, value; /* the open image's alt text and src; an attribute value */
} render_t;

/* Nesting past this many open elements makes the sanitized path bail (the sanitizer turns tags
 * nested past its own cap of 200 into text, so below it its output follows the tags). */
#define CLEAN_DEPTH_MAX 150

/* ---- Tags, through the policy when there is one ----------------------------------------------- */

static int keeps(const render_t *r, const char *tag) { return !r->policy || qr_html_policy_element(r->policy, tag); }

/* "<tag" when the element is kept; returns whether it is. */
static int tag_open(render_t *r, qr_buf_t *out, const char *tag) {
  if (!keeps(r, tag)) return 0;
  PUTS(out, "<");
  qr_buf_puts(out, tag);
  return 1;
}

/* A parser reads a CR back as LF, and a noncharacter (U+FDD0, U+FFFE, ...) as U+FFFD: text
 * holding one is left to the sanitizer (with controls, which are rare too). */
static void check_text(render_t *r, const char *s, size_t n) {
  size_t at;
  if (r->policy && n && (memchr(s, '\r', n) || qr_content_xml_bad(s, n, &at) >= 0)) r->bail = 1;
}

/* An attribute of an element opened by tag_open (kept: its result). The value is plain text (NULL:
 * an attribute without one), or a URL when url is set. The plain renderer writes it escaped (a URL
 * percent-encoded). With a policy it is written only when the policy keeps it, as the sanitizer
 * writes the value it parsed: a URL is read back percent-encoded with "&amp;" as '&', which
 * decides whether it stays; text is read back with controls and bad UTF-8 as U+FFFD, which the
 * escaping below writes the same way. */
static void tag_attr(render_t *r, qr_buf_t *out, int kept, const char *tag, const char *name, const char *v, size_t n, int url) {
  if (!kept) return;
  if (!r->policy) {
    PUTS(out, " ");
    qr_buf_puts(out, name);
    if (!v) return;
    PUTS(out, "=\"");
    if (url) qr_html_escape_url(out, v, n);
    else qr_html_escape_attr(out, v, n);
    PUTS(out, "\"");
    return;
  }
  check_text(r, v, n);
  r->value.len = 0;
  if (url) qr_html_url_encode(&r->value, v, n);
  qr_buf_append(&r->value, "", 0);
  if (!qr_html_policy_attr(r->policy, tag, name, r->value.data)) return;
  PUTS(out, " ");
  qr_buf_puts(out, name);
  PUTS(out, "=\"");
  if (url) qr_html_escape_node_attr(out, r->value.data, r->value.len);
  else if (v) qr_html_escape_attr(out, v, n);
  PUTS(out, "\"");
}

/* The forced rel of the policy, last on a kept link (as the sanitizer writes it). */
static void tag_rel(render_t *r, qr_buf_t *out, int kept) {
  const char *rel = r->policy && kept ? qr_html_policy_rel(r->policy) : NULL;
  if (!rel) return;
  PUTS(out, " rel=\"");
  qr_html_escape_attr(out, rel, strlen(rel));
  PUTS(out, "\"");
}

/* ">" after a kept start tag. */
static void tag_end(qr_buf_t *out, int kept) {
  if (kept) PUTS(out, ">");
}

/* "</tag>" when the element is kept. */
static void tag_close(render_t *r, qr_buf_t *out, const char *tag) {
  if (!keeps(r, tag)) return;
  PUTS(out, "</");
  qr_buf_puts(out, tag);
  PUTS(out, ">");
}

/* A whole start tag without attributes, then text after it ("\n" or ""). */
static void start_tag(render_t *r, qr_buf_t *out, const char *tag, const char *after) {
  tag_end(out, tag_open(r, out, tag));
  qr_buf_puts(out, after);
}

/* An end tag, then text after it. */
static void end_tag(render_t *r, qr_buf_t *out, const char *tag, const char *after) {
  tag_close(r, out, tag);
  qr_buf_puts(out, after);
}


/* Normalizes a decoded link destination the way browsers do before they parse it (drop tab/CR/LF,
 * trim leading and trailing spaces and controls), so the URL that is checked is the one written. */
static void normalize_url(qr_buf_t *url) {
  size_t n = 0, start = 0, end = url->len;
  while (start < end && (unsigned char)url->data[start] <= 0x20) start++;
  while (end > start && (unsigned char)url->data[end - 1] <= 0x20) end--;
  for (size_t i = start; i < end; i++)
    if (url->data[i] != '\t' && url->data[i] != '\n' && url->data[i] != '\r') url->data[n++] = url->data[i];
  url->len = n;
  url->data[n] = '\0';
}

static int url_ok(const render_t *r, qr_buf_t *url, const char *const *schemes) {
  normalize_url(url);
  return !schemes || qr_url_allowed(url->data, url->len, schemes, r->o->relative);
}

static void put_text(render_t *r, const char *s, size_t n) {
  check_text(r, s, n);
  if (r->image_depth && r->alt_in_attr) qr_html_escape_attr(r->out, s, n);
  else if (r->policy) qr_html_escape_node(r->out, s, n); /* the sanitizer leaves quotes in text */
  else qr_html_escape(r->out, s, n);
  if (r->in_heading && r->heading_text.len < HEADING_TEXT_MAX) qr_buf_append(&r->heading_text, s, n);
}

static void put_title(render_t *r, qr_buf_t *out, int kept, const char *tag, const MD_ATTRIBUTE *title) {
  if (!title->size) return;
  decode_attr(&r->tmp, title);
  tag_attr(r, out, kept, tag, "title", r->tmp.data, r->tmp.len, 0);
}

/* The tags of the simple spans; NULL for those this renderer leaves as plain text. */
static const char *span_tag(MD_SPANTYPE type) {
  switch (type) {
    case MD_SPAN_EM: return "em";
    case MD_SPAN_STRONG: return "strong";
    case MD_SPAN_CODE: return "code";
    case MD_SPAN_DEL: return "del";
    case MD_SPAN_U: return "u";
    default: return NULL;
  }
}

/* Pops the innermost span and writes its end; img_detail (may be NULL) supplies an image title. */
static void close_span(render_t *r, const MD_SPAN_IMG_DETAIL *img_detail) {
  span_t sp;
  r->spans.len -= sizeof sp;
  memcpy(&sp, r->spans.data + r->spans.len, sizeof sp);
  if (sp.type == MD_SPAN_IMG) r->image_depth--;
  switch (sp.close) {
    case CLOSE_TAG:
      if (sp.kept) end_tag(r, r->out, span_tag(sp.type), "");
      break;
    case CLOSE_A:
      r->open_links--;
      if (sp.kept) PUTS(r->out, "</a>");
      break;
    case CLOSE_IMG:
      r->alt_in_attr = 0;
      if (!r->policy) {
        PUTS(r->out, "\"");
        if (img_detail) put_title(r, r->out, 1, "img", &img_detail->title);
        PUTS(r->out, ">");
        break;
      }
      /* Sanitized: the tag is written now, from the src and alt text kept while it was open. */
      r->out = r->img_out;
      if (!sp.kept) break;
      PUTS(r->out, "<img");
      tag_attr(r, r->out, 1, "img", "src", r->img_src.data, r->img_src.len, 1);
      if (qr_html_policy_attr(r->policy, "img", "alt", "")) { /* alt: escaped as it was written */
        PUTS(r->out, " alt=\"");
        qr_buf_append(r->out, r->alt.data ? r->alt.data : "", r->alt.len);
        PUTS(r->out, "\"");
      }
      if (img_detail) put_title(r, r->out, 1, "img", &img_detail->title);
      PUTS(r->out, ">");
      break;
  }
}

static void close_all_spans(render_t *r) {
  while (r->spans.len) close_span(r, NULL);
}

/* The element of a table cell block. */
static const char *cell_tag(MD_BLOCKTYPE type) { return type == MD_BLOCK_TH ? "th" : "td"; }

/* Too deep for the sanitized path (see CLEAN_DEPTH_MAX). */
static void check_depth(render_t *r) {
  if (r->policy && r->blocks.len + r->spans.len / sizeof(span_t) >= CLEAN_DEPTH_MAX) r->bail = 1;
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *ud) {
  render_t *r = ud;
  close_all_spans(r);
  check_depth(r);
  char b = (char)type;
  qr_buf_append(&r->blocks, &b, 1);
  qr_buf_t *out = r->out;
  char tmp[64];
  switch (type) {
    case MD_BLOCK_DOC: break;
    case MD_BLOCK_QUOTE: start_tag(r, out, "blockquote", "\n"); break;
    case MD_BLOCK_UL: start_tag(r, out, "ul", "\n"); break;
    case MD_BLOCK_OL: {
      unsigned start = ((MD_BLOCK_OL_DETAIL *)detail)->start;
      int kept = tag_open(r, out, "ol");
      if (start != 1) tag_attr(r, out, kept, "ol", "start", tmp, (size_t)snprintf(tmp, sizeof tmp, "%u", start), 0);
      tag_end(out, kept);
      PUTS(out, "\n");
      break;
    }
    case MD_BLOCK_LI: {
      MD_BLOCK_LI_DETAIL *li = detail;
      int kept = tag_open(r, out, "li");
      if (li->is_task) tag_attr(r, out, kept, "li", "class", "task-list-item", 14, 0);
      tag_end(out, kept);
      if (li->is_task) {
        kept = tag_open(r, out, "input");
        tag_attr(r, out, kept, "input", "type", "checkbox", 8, 0);
        tag_attr(r, out, kept, "input", "disabled", NULL, 0, 0);
        if (li->task_mark != ' ') tag_attr(r, out, kept, "input", "checked", NULL, 0, 0);
        tag_end(out, kept);
      }
      break;
    }
    case MD_BLOCK_HR: start_tag(r, out, "hr", "\n"); break;
    case MD_BLOCK_H:
      if (r->in_heading) break; /* never nested; ignore rather than lose the open one */
      r->in_heading = 1;
      r->heading_level = ((MD_BLOCK_H_DETAIL *)detail)->level;
      r->heading.len = r->heading_text.len = 0;
      r->out = &r->heading;
      break;
    case MD_BLOCK_CODE: {
      MD_BLOCK_CODE_DETAIL *code = detail;
      start_tag(r, out, "pre", "");
      int kept = tag_open(r, out, "code");
      if (code->lang.size) {
        decode_attr(&r->tmp, &code->lang);
        qr_buf_t *cls = &r->heading_text; /* free outside headings (a code block is never in one) */
        cls->len = 0;
        PUTS(cls, "language-");
        qr_buf_append(cls, r->tmp.data, r->tmp.len);
        tag_attr(r, out, kept, "code", "class", cls->data, cls->len, 0);
        cls->len = 0;
      }
      tag_end(out, kept);
      break;
    }
    case MD_BLOCK_HTML: break;
    case MD_BLOCK_P:
      r->p_at = out->len;
      start_tag(r, out, "p", "");
      r->p_body = out->len;
      break;
    case MD_BLOCK_TABLE: start_tag(r, out, "table", "\n"); break;
    case MD_BLOCK_THEAD: start_tag(r, out, "thead", "\n"); break;
    case MD_BLOCK_TBODY: start_tag(r, out, "tbody", "\n"); break;
    case MD_BLOCK_TR: start_tag(r, out, "tr", "\n"); break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD: {
      static const char *const align[] = {NULL, "left", "center", "right"};
      MD_ALIGN a = ((MD_BLOCK_TD_DETAIL *)detail)->align;
      const char *tag = cell_tag(type);
      int kept = tag_open(r, out, tag);
      if (a <= MD_ALIGN_RIGHT && align[a]) tag_attr(r, out, kept, tag, "align", align[a], strlen(align[a]), 0);
      tag_end(out, kept);
      break;
    }
  }
  return r->bail;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *ud) {
  render_t *r = ud;
  (void)detail;
  close_all_spans(r);
  if (!r->blocks.len || (unsigned char)r->blocks.data[r->blocks.len - 1] != type) return r->bail;
  r->blocks.len--;
  qr_buf_t *out = r->out;
  switch (type) {
    case MD_BLOCK_DOC: break;
    case MD_BLOCK_QUOTE: end_tag(r, out, "blockquote", "\n"); break;
    case MD_BLOCK_UL: end_tag(r, out, "ul", "\n"); break;
    case MD_BLOCK_OL: end_tag(r, out, "ol", "\n"); break;
    case MD_BLOCK_LI: end_tag(r, out, "li", "\n"); break;
    case MD_BLOCK_HR: break;
    case MD_BLOCK_H: {
      if (!r->in_heading) break;
      char tag[4] = {'h', (char)('0' + (r->heading_level >= 1 && r->heading_level <= 6 ? r->heading_level : 6)), '\0', '\0'};
      r->out = r->doc;
      r->in_heading = 0;
      int kept = tag_open(r, r->doc, tag);
      if (r->o->heading_ids) {
        char id[80];
        unique_slug(&r->slugs, r->heading_text.data ? r->heading_text.data : "", r->heading_text.len, id);
        qr_buf_t *v = &r->tmp;
        v->len = 0;
        if (r->o->id_prefix) qr_buf_puts(v, r->o->id_prefix);
        qr_buf_puts(v, id); /* a slug: nothing in it to escape */
        tag_attr(r, r->doc, kept, tag, "id", v->data, v->len, 0);
      }
      tag_end(r->doc, kept);
      if (r->heading.len) qr_buf_append(r->doc, r->heading.data, r->heading.len);
      end_tag(r, r->doc, tag, "\n");
      break;
    }
    case MD_BLOCK_CODE: end_tag(r, out, "code", ""); end_tag(r, out, "pre", "\n"); break;
    case MD_BLOCK_HTML: break;
    case MD_BLOCK_P:
      if (r->p_unwrapped) PUTS(out, "\n");
      else end_tag(r, out, "p", "\n");
      r->p_unwrapped = 0;
      break;
    case MD_BLOCK_TABLE: end_tag(r, out, "table", "\n"); break;
    case MD_BLOCK_THEAD: end_tag(r, out, "thead", "\n"); break;
    case MD_BLOCK_TBODY: end_tag(r, out, "tbody", "\n"); break;
    case MD_BLOCK_TR: end_tag(r, out, "tr", "\n"); break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD: end_tag(r, out, cell_tag(type), "\n"); break;
  }
  return r->bail;
}

static int enter_span(MD_SPANTYPE type, void *detail, void *ud) {
  render_t *r = ud;
  qr_buf_t *out = r->out;
  span_t sp = {(unsigned char)type, CLOSE_NOTHING, 0};
  check_depth(r);
  if (type == MD_SPAN_A) {
    MD_SPAN_A_DETAIL *a = detail;
    if (!r->image_depth) {
      decode_attr(&r->tmp, &a->href);
      if (url_ok(r, &r->tmp, r->o->link_schemes)) {
        if (r->policy && r->open_links) r->bail = 1;
        int kept = tag_open(r, out, "a");
        tag_attr(r, out, kept, "a", "href", r->tmp.data, r->tmp.len, 1);
        put_title(r, out, kept, "a", &a->title);
        if (r->o->rel) tag_attr(r, out, kept, "a", "rel", r->o->rel, strlen(r->o->rel), 0);
        tag_rel(r, out, kept);
        tag_end(out, kept);
        sp.close = CLOSE_A;
        sp.kept = (unsigned char)kept;
        r->open_links++;
      }
    }
  } else if (type == MD_SPAN_IMG) {
    if (r->image_depth++ == 0) {
      r->alt_in_attr = 0;
      decode_attr(&r->tmp, &((MD_SPAN_IMG_DETAIL *)detail)->src);
      if (r->o->images && url_ok(r, &r->tmp, r->o->image_schemes)) {
        if (r->policy) { /* the tag waits for its alt text (close_span) */
          sp.kept = (unsigned char)keeps(r, "img");
          r->img_src.len = 0;
          qr_buf_append(&r->img_src, r->tmp.data, r->tmp.len);
          r->alt.len = 0;
          r->img_out = r->out;
          r->out = &r->alt;
        } else {
          PUTS(out, "<img src=\"");
          qr_html_escape_url(out, r->tmp.data, r->tmp.len);
          PUTS(out, "\" alt=\"");
        }
        r->alt_in_attr = 1;
        sp.close = CLOSE_IMG;
      }
    }
  } else if (!r->image_depth && span_tag(type)) {
    sp.kept = (unsigned char)keeps(r, span_tag(type));
    if (sp.kept) start_tag(r, out, span_tag(type), "");
    sp.close = CLOSE_TAG;
  }
  qr_buf_append(&r->spans, (const char *)&sp, sizeof sp);
  return r->bail;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *ud) {
  render_t *r = ud;
  span_t top;
  if (r->spans.len < sizeof top) return r->bail;
  memcpy(&top, r->spans.data + r->spans.len - sizeof top, sizeof top);
  if (top.type != type) return r->bail; /* a leave md4c never entered (or out of order): ignore it */
  close_span(r, type == MD_SPAN_IMG ? detail : NULL);
  return r->bail;
}

/* "<h2".."<h6" or "</h2".."</h6" ending the tag name: a start of a type-6 HTML block. */
static int html_heading_tag(const char *s, size_t n) {
  size_t i = n > 1 && s[1] == '/' ? 2 : 1;
  return n > i + 2 && (s[i] == 'h' || s[i] == 'H') && s[i + 1] >= '2' && s[i + 1] <= '6' &&
         s[i + 2] != '\0' && strchr(" \t\n/>", s[i + 2]) != NULL;
}

static int text(MD_TEXTTYPE type, const MD_CHAR *s, MD_SIZE n, void *ud) {
  render_t *r = ud;
  switch (type) {
    case MD_TEXT_NULLCHAR: put_text(r, REPLACEMENT, sizeof REPLACEMENT - 1); break;
    case MD_TEXT_BR:
      if (r->image_depth) put_text(r, " ", 1);
      else start_tag(r, r->out, "br", "\n");
      break;
    case MD_TEXT_SOFTBR: put_text(r, r->image_depth ? " " : "\n", 1); break;
    case MD_TEXT_ENTITY:
      r->tmp.len = 0;
      decode_entity(&r->tmp, s, n);
      put_text(r, r->tmp.data, r->tmp.len);
      break;
    case MD_TEXT_HTML:
      /* Only reached for trusted input (untrusted parses with MD_FLAG_NOHTML). Raw HTML is for
       * the sanitizer's parser to judge: the sanitized path bails. */
      if (r->o->untrusted || r->image_depth) put_text(r, s, n);
      else if (r->policy) r->bail = 1;
      else {
        /* md4c 0.4.8 misses <h2>..<h6> as the start of an HTML block (mity/md4c#214) and makes
         * the line a paragraph: one that opens with such a tag is written without its <p>, as
         * <h1> and the other block tags are. */
        if (r->blocks.len && r->blocks.data[r->blocks.len - 1] == MD_BLOCK_P && r->out->len == r->p_body &&
            html_heading_tag(s, n)) {
          r->out->len = r->p_at;
          r->p_unwrapped = 1;
        }
        qr_buf_append(r->out, s, n);
      }
      break;
    default: put_text(r, s, n); break;
  }
  return r->bail;
}

/* Renders src with r set up; returns md4c's result (non-zero also when a callback bailed). */
static int run(render_t *r, const char *src, size_t len) {
  /* md4c gets a private copy, NUL-terminated: md4c 0.4.8 reads one byte past the end of its
   * input and crashes when that byte is ')' after an open link ("[x](y" then ")"). The copy also
   * replaces malformed UTF-8. */
  qr_buf_t clean = {0};
  qr_html_scrub_utf8(&clean, src ? src : "", len);
  MD_PARSER parser = {
      .flags = MD_DIALECT_GITHUB | (r->o->untrusted ? MD_FLAG_NOHTML : 0),
      .enter_block = enter_block,
      .leave_block = leave_block,
      .enter_span = enter_span,
      .leave_span = leave_span,
      .text = text,
  };
  if (!r->doc->data) qr_buf_append(r->doc, "", 0);
  int rc = md_parse(clean.data, (MD_SIZE)clean.len, &parser, r);
  if (!r->bail) {
    close_all_spans(r);
    while (r->blocks.len) leave_block((MD_BLOCKTYPE)(unsigned char)r->blocks.data[r->blocks.len - 1], NULL, r);
  }
  qr_buf_free(&clean);
  qr_buf_free(&r->heading);
  qr_buf_free(&r->heading_text);
  qr_buf_free(&r->tmp);
  qr_buf_free(&r->blocks);
  qr_buf_free(&r->spans);
  qr_buf_free(&r->alt);
  qr_buf_free(&r->img_src);
  qr_buf_free(&r->value);
  slug_free(&r->slugs);
  return rc;
}

int qr_markdown_render(const char *src, size_t len, const qr_markdown_opts_t *o, qr_buf_t *out) {
  if (!o || (!src && len)) return QR_EINVAL;
  if (len > QR_MARKDOWN_MAX_INPUT) return QR_ELIMIT;
  render_t r = {.o = o, .doc = out, .out = out};
  return run(&r, src, len) == 0 ? 0 : QR_ELIMIT; /* md4c fails only when its own allocation fails */
}

int qr_markdown_render_sanitized(const char *src, size_t len, const qr_markdown_opts_t *o, const qr_html_policy_t *p,
                                 qr_buf_t *out) {
  if (!o || !p || (!src && len)) return QR_EINVAL;
  if (len > QR_MARKDOWN_MAX_INPUT) return QR_ELIMIT;
  size_t start = out->len;
  /* Direct when the policy writes what it keeps of <pre><code> the same way with or without
   * the parser (it doubles a newline that follows a kept <pre> directly), for bodies (larger
   * input goes the long way, where the sanitizer's size and memory limits apply). */
  if (len <= QR_MARKDOWN_DIRECT_MAX && (qr_html_policy_element(p, "code") || !qr_html_policy_element(p, "pre"))) {
    render_t r = {.o = o, .doc = out, .out = out, .policy = p};
    int rc = run(&r, src, len);
    if (!r.bail) return rc == 0 ? 0 : QR_ELIMIT;
    out->len = start;
    if (out->data) out->data[start] = '\0';
  }
  qr_buf_t html = {0};
  int rc = qr_markdown_render(src, len, o, &html);
  if (rc == 0) rc = qr_html_sanitize(html.data ? html.data : "", html.len, p, out);
  qr_buf_free(&html);
  return rc;
}
