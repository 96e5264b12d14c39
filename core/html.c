/* HTML text: escaping, URL checks, and the allowlist sanitizer (and audit) over gumbo's HTML5 parser. */
#include "html.h"

#include <gumbo.h>
#include <setjmp.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PUTS(b, lit) qr_buf_append((b), (lit), sizeof(lit) - 1)

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---- Escaping ------------------------------------------------------------------------------ */

enum { ESC_SCRUB = -1, ESC_TEXT, ESC_ATTR, ESC_NODE, ESC_NODE_ATTR };

/* What to write for an ASCII byte: NULL keeps it. ESC_TEXT escapes & < > " (safe in text and in
 * double-quoted attributes), ESC_ATTR also ', ESC_NODE only & < > (what the HTML serialization
 * algorithm does for text nodes, so the sanitizer leaves quotes in prose alone). The sanitizer's
 * modes (ESC_NODE, ESC_NODE_ATTR) also write a CR as "&#13;": a raw one would be read back as LF
 * (input preprocessing), so sanitized HTML would change when sanitized again. Controls (C0
 * but tab, LF and CR; DEL; C1, U+0080-U+009F) are not allowed in HTML text, and a parser does
 * not read them back as written: U+FFFD. */
static const char *ascii_escape(unsigned char c, int mode) {
  switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return mode == ESC_NODE ? NULL : "&quot;";
    case '\'': return mode == ESC_ATTR || mode == ESC_NODE_ATTR ? "&#39;" : NULL;
    case '\r': return mode >= ESC_NODE ? "&#13;" : NULL;
    case '\t': case '\n': return NULL;
  }
  return c < 0x20 || c == 0x7f ? REPLACEMENT : NULL;
}

/* The ASCII bytes no mode touches (printable but & < > " ', and tab and LF), as a bitmap:
 * bit c of PLAIN_LO for c < 64, bit c - 64 of PLAIN_HI. */
#define PLAIN_LO UINT64_C(0xafffff3b00000600)
#define PLAIN_HI UINT64_C(0x7fffffffffffffff)

static inline int plain_ascii(unsigned char c) {
  return c < 64 ? (int)((PLAIN_LO >> c) & 1) : c < 128 && ((PLAIN_HI >> (c - 64)) & 1);
}

/* The index of the first byte of s[i..n) that is not plain ASCII, or n. With SSE2, 16 bytes are
 * tested at once. */
static size_t plain_run(const char *s, size_t i, size_t n) {
#ifdef __SSE2__
  const __m128i space = _mm_set1_epi8(0x20), tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n'),
                del = _mm_set1_epi8(0x7f), amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'),
                gt = _mm_set1_epi8('>'), quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\'');
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
    /* Signed: bytes >= 0x80 are negative, so "< 0x20" takes every non-ASCII byte too. */
    __m128i bad = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)), _mm_cmplt_epi8(v, space));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, del), _mm_cmpeq_epi8(v, amp)));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, gt)));
    bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, quot), _mm_cmpeq_epi8(v, apos)));
    unsigned m = (unsigned)_mm_movemask_epi8(bad);
    if (m) return i + (unsigned)__builtin_ctz(m);
  }
#endif
  while (i < n && plain_ascii((unsigned char)s[i])) i++;
  return i;
}

/* Shared loop of the escapers and the scrubber: copies runs of untouched bytes in one append. */
static void escape(qr_buf_t *out, const char *s, size_t n, int mode) {
  size_t run = 0, i = 0;
  while (i < n) {
    i = plain_run(s, i, n); /* most of any text: skipped without the checks below */
    if (i == n) break;
    unsigned char c = (unsigned char)s[i];
    const char *rep = NULL;
    size_t step = 1;
    if (c < 0x80) {
      if (mode >= 0) rep = ascii_escape(c, mode);
    } else {
      uint32_t cp;
      int len = qr_utf8_decode(s + i, n - i, &cp);
      if (len) step = (size_t)len;
      if (!len || (mode >= 0 && cp <= 0x9f)) rep = REPLACEMENT; /* invalid, or a C1 control */
    }
    if (rep) {
      qr_buf_append(out, s + run, i - run);
      qr_buf_puts(out, rep);
      run = i + step;
    }
    i += step;
  }
  qr_buf_append(out, s + run, n - run);
}

void qr_html_escape(qr_buf_t *out, const char *s, size_t n) { escape(out, s, n, ESC_TEXT); }
void qr_html_escape_attr(qr_buf_t *out, const char *s, size_t n) { escape(out, s, n, ESC_ATTR); }
void qr_html_scrub_utf8(qr_buf_t *out, const char *s, size_t n) { escape(out, s, n, ESC_SCRUB); }

/* The bytes a URL keeps as they are: letters, digits and -_.!~*'();/?:@=+$,%# (a bitmap, as PLAIN_*). */
#define URL_SAFE_LO UINT64_C(0xafffffba00000000)
#define URL_SAFE_HI UINT64_C(0x47fffffe87ffffff)

static void url_encode(qr_buf_t *out, const char *s, size_t n, const char *amp) {
  char enc[4];
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 64 ? (URL_SAFE_LO >> c) & 1 : c < 128 && ((URL_SAFE_HI >> (c - 64)) & 1)) continue;
    qr_buf_append(out, s + run, i - run);
    if (c == '&') {
      qr_buf_puts(out, amp);
    } else {
      snprintf(enc, sizeof enc, "%%%02X", c);
      qr_buf_append(out, enc, 3);
    }
    run = i + 1;
  }
  qr_buf_append(out, s + run, n - run);
}

void qr_html_escape_url(qr_buf_t *out, const char *s, size_t n) { url_encode(out, s, n, "&amp;"); }
void qr_html_url_encode(qr_buf_t *out, const char *s, size_t n) { url_encode(out, s, n, "&"); }
void qr_html_escape_node(qr_buf_t *out, const char *s, size_t n) { escape(out, s, n, ESC_NODE); }
void qr_html_escape_node_attr(qr_buf_t *out, const char *s, size_t n) { escape(out, s, n, ESC_NODE_ATTR); }

/* ---- URLs ---------------------------------------------------------------------------------- */

static int scheme_char(unsigned char c, int first) {
  if ((c >= 'a' && c <= 'z')) return 1;
  return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

int qr_url_allowed(const char *url, size_t n, const char *const *schemes, int relative) {
  /* Browsers strip leading/trailing C0 controls and spaces, and drop tab/CR/LF anywhere. */
  while (n && (unsigned char)url[0] <= 0x20) url++, n--;
  while (n && (unsigned char)url[n - 1] <= 0x20) n--;
  char scheme[33];
  size_t len = 0;
  int valid = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c == '\t' || c == '\n' || c == '\r') continue;
    /* A scheme never holds '%', so a percent-decoded ':' can only make us stricter. */
    if (c == '%' && i + 2 < n && qr_hexval(url[i + 1]) >= 0 && qr_hexval(url[i + 2]) >= 0) {
      c = (unsigned char)(qr_hexval(url[i + 1]) * 16 + qr_hexval(url[i + 2]));
      i += 2;
    }
    if (c == '/' || c == '?' || c == '#' || c == '\\') return relative != 0;
    if (c < 0x20 || c == 0x7F) return 0;
    if (c == ':') {
      if (!valid || len == 0 || !schemes) return 0;
      scheme[len] = '\0';
      for (const char *const *s = schemes; *s; s++)
        if (strcmp(*s, scheme) == 0) return 1;
      return 0;
    }
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if (!scheme_char(c, len == 0) || len == sizeof scheme - 1) valid = 0;
    else scheme[len++] = (char)c;
  }
  return relative != 0;
}

/* ---- Sanitizer policy ------------------------------------------------------------------------ */

typedef struct {
  GumboTag tag; /* GUMBO_TAG_LAST: every allowed element */
  char *name;
} attr_rule_t;

typedef struct {
  char *attr; /* NULL: every URL attribute without rules of its own */
  char *scheme;
} scheme_rule_t;

struct qr_html_policy {
  unsigned char elements[GUMBO_TAG_LAST];
  attr_rule_t *attrs;
  size_t nattrs;
  scheme_rule_t *schemes;
  size_t nschemes;
  int relative;
  char *rel;
};

/* Elements dropped together with everything inside them, and never allowed by a policy:
 * script-bearing, raw-text (their "text" is markup to a browser with scripting on: the
 * <noscript> mutation-XSS family), document-level, embedding, form controls, foreign content. */
static int drops_content(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE: case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES: case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_IFRAME: case GUMBO_TAG_FRAME: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED: case GUMBO_TAG_APPLET: case GUMBO_TAG_PARAM: case GUMBO_TAG_TITLE:
    case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_SELECT: case GUMBO_TAG_HEAD: case GUMBO_TAG_META:
    case GUMBO_TAG_LINK: case GUMBO_TAG_BASE: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
      return 1;
    default:
      return 0;
  }
}

/* Elements a policy may not allow even though their content is harmless text. */
static int never_allowed(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_HTML: case GUMBO_TAG_BODY: case GUMBO_TAG_FORM: case GUMBO_TAG_INPUT:
    case GUMBO_TAG_BUTTON: case GUMBO_TAG_OPTION: case GUMBO_TAG_OPTGROUP: case GUMBO_TAG_KEYGEN:
    case GUMBO_TAG_DATALIST: case GUMBO_TAG_OUTPUT: case GUMBO_TAG_ISINDEX: case GUMBO_TAG_IMAGE:
    case GUMBO_TAG_UNKNOWN: case GUMBO_TAG_LAST:
      return 1;
    default:
      return drops_content(t);
  }
}

static int is_void(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_AREA: case GUMBO_TAG_BASE: case GUMBO_TAG_BR: case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED: case GUMBO_TAG_HR: case GUMBO_TAG_IMG: case GUMBO_TAG_INPUT:
    case GUMBO_TAG_LINK: case GUMBO_TAG_META: case GUMBO_TAG_PARAM: case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK: case GUMBO_TAG_WBR: case GUMBO_TAG_KEYGEN:
      return 1;
    default:
      return 0;
  }
}

/* Attributes whose value is a URL a browser navigates to or loads. */
static int is_url_attr(const char *name) {
  static const char *const names[] = {"href", "src", "action", "formaction", "cite", "poster",
      "background", "longdesc", "lowsrc", "dynsrc", "data", "codebase", "classid", "archive",
      "ping", "manifest", "icon", "usemap", "profile", NULL};
  for (const char *const *n = names; *n; n++)
    if (strcmp(*n, name) == 0) return 1;
  return 0;
}

qr_html_policy_t *qr_html_policy_new(void) {
  qr_html_policy_t *p = qr_xcalloc(1, sizeof *p);
  p->relative = 1;
  return p;
}

void qr_html_policy_free(qr_html_policy_t *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nattrs; i++) free(p->attrs[i].name);
  for (size_t i = 0; i < p->nschemes; i++) {
    free(p->schemes[i].attr);
    free(p->schemes[i].scheme);
  }
  free(p->attrs);
  free(p->schemes);
  free(p->rel);
  free(p);
}

int qr_html_policy_allow_element(qr_html_policy_t *p, const char *tag) {
  GumboTag t = gumbo_tag_enum(tag);
  if (never_allowed(t) || strcmp(gumbo_normalized_tagname(t), tag) != 0) return QR_EINVAL;
  p->elements[t] = 1;
  return 0;
}

int qr_html_policy_allow_attr(qr_html_policy_t *p, const char *tag, const char *attr) {
  GumboTag t = GUMBO_TAG_LAST;
  if (strcmp(tag, "*") != 0) {
    t = gumbo_tag_enum(tag);
    if (never_allowed(t) || strcmp(gumbo_normalized_tagname(t), tag) != 0) return QR_EINVAL;
  }
  if (!(attr[0] >= 'a' && attr[0] <= 'z')) return QR_EINVAL;
  for (const char *c = attr; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) return QR_EINVAL;
  if (strncmp(attr, "on", 2) == 0 || strcmp(attr, "style") == 0 || strcmp(attr, "srcdoc") == 0 ||
      strcmp(attr, "srcset") == 0 || strcmp(attr, "is") == 0 || strncmp(attr, "xmlns", 5) == 0)
    return QR_EINVAL;
  p->attrs = qr_xrealloc(p->attrs, (p->nattrs + 1) * sizeof *p->attrs);
  p->attrs[p->nattrs++] = (attr_rule_t){t, qr_xstrdup(attr)};
  return 0;
}

int qr_html_policy_allow_scheme(qr_html_policy_t *p, const char *attr, const char *scheme) {
  size_t n = strlen(scheme);
  if (n == 0 || n > 32) return QR_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!scheme_char((unsigned char)scheme[i], i == 0)) return QR_EINVAL;
  if (attr && !is_url_attr(attr)) return QR_EINVAL;
  p->schemes = qr_xrealloc(p->schemes, (p->nschemes + 1) * sizeof *p->schemes);
  p->schemes[p->nschemes++] = (scheme_rule_t){attr ? qr_xstrdup(attr) : NULL, qr_xstrdup(scheme)};
  return 0;
}

void qr_html_policy_set_relative(qr_html_policy_t *p, int relative) { p->relative = relative != 0; }

void qr_html_policy_set_rel(qr_html_policy_t *p, const char *rel) {
  free(p->rel);
  p->rel = rel ? qr_xstrdup(rel) : NULL;
}

qr_html_policy_t *qr_html_policy_default(void) {
  static const char *const spec[] = {
      "p", "br", "hr", "a href title", "em", "strong", "b", "i", "u", "s", "del", "ins", "sub",
      "sup", "small", "mark", "abbr title", "cite", "q cite", "blockquote cite", "code", "pre",
      "kbd", "samp", "var", "ul", "ol start reversed", "li", "dl", "dt", "dd", "h2", "h3", "h4",
      "h5", "h6", "img src alt title width height", "figure", "figcaption", "table", "caption",
      "thead", "tbody", "tfoot", "tr", "th colspan rowspan scope align", "td colspan rowspan align",
      NULL};
  qr_html_policy_t *p = qr_html_policy_new();
  for (const char *const *s = spec; *s; s++) {
    char buf[64], *save = NULL;
    snprintf(buf, sizeof buf, "%s", *s);
    char *tag = strtok_r(buf, " ", &save);
    qr_html_policy_allow_element(p, tag);
    for (char *a; (a = strtok_r(NULL, " ", &save));) qr_html_policy_allow_attr(p, tag, a);
  }
  qr_html_policy_allow_scheme(p, NULL, "http");
  qr_html_policy_allow_scheme(p, NULL, "https");
  qr_html_policy_allow_scheme(p, NULL, "mailto");
  qr_html_policy_allow_scheme(p, "src", "http");
  qr_html_policy_allow_scheme(p, "src", "https");
  return p;
}

static int attr_allowed(const qr_html_policy_t *p, GumboTag tag, const char *name) {
  for (size_t i = 0; i < p->nattrs; i++)
    if ((p->attrs[i].tag == tag || p->attrs[i].tag == GUMBO_TAG_LAST) && strcmp(p->attrs[i].name, name) == 0)
      return 1;
  return 0;
}

static int url_value_allowed(const qr_html_policy_t *p, const char *attr, const char *value) {
  const char *list[33];
  size_t n = 0;
  int own = 0;
  for (size_t i = 0; i < p->nschemes; i++)
    if (p->schemes[i].attr && strcmp(p->schemes[i].attr, attr) == 0) own = 1;
  for (size_t i = 0; i < p->nschemes && n < 32; i++) {
    const char *a = p->schemes[i].attr;
    if (own ? (a && strcmp(a, attr) == 0) : !a) list[n++] = p->schemes[i].scheme;
  }
  list[n] = NULL;
  return qr_url_allowed(value, strlen(value), list, p->relative);
}

/* What serialize() and open_tag() below decide for an element and its attributes, by name. */
int qr_html_policy_element(const qr_html_policy_t *p, const char *tag) {
  GumboTag t = gumbo_tag_enum(tag);
  return t < GUMBO_TAG_LAST && p->elements[t] && !drops_content(t);
}

int qr_html_policy_attr(const qr_html_policy_t *p, const char *tag, const char *name, const char *value) {
  GumboTag t = gumbo_tag_enum(tag);
  if (!attr_allowed(p, t, name)) return 0;
  if (p->rel && t == GUMBO_TAG_A && strcmp(name, "rel") == 0) return 0;
  return !is_url_attr(name) || url_value_allowed(p, name, value);
}

const char *qr_html_policy_rel(const qr_html_policy_t *p) { return p->rel; }

/* ---- Sanitizer: parsing under a budget -------------------------------------------------------- */

/* gumbo allocates from this arena: freeing is a no-op and the whole arena goes at once, which is
 * fast, makes gumbo's (recursive) tree destructor unnecessary, and lets a budget stop a parse
 * that would take too much memory: the allocator longjmps back to sanitize(). gumbo keeps no
 * state outside its allocations, so abandoning a parse midway is safe. */
#define ARENA_CHUNK (64u << 10)
#define ARENA_BASE_BUDGET (32u << 20)
#define ARENA_BUDGET_PER_BYTE 64

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  alignas(max_align_t) unsigned char data[];
} chunk_t;

typedef struct {
  chunk_t *head;
  size_t total, budget;
  jmp_buf fail;
} arena_t;

static void *arena_alloc(void *ud, size_t n) {
  arena_t *a = ud;
  n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
  if (!a->head || a->head->cap - a->head->used < n) {
    size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
    if (a->total + cap > a->budget) longjmp(a->fail, 1);
    chunk_t *c = qr_xmalloc(sizeof *c + cap);
    c->used = 0;
    c->cap = cap;
    a->total += cap;
    if (cap == n && a->head) { /* a big block gets its own chunk; keep filling the current one */
      c->next = a->head->next;
      a->head->next = c;
      c->used = n;
      return c->data;
    }
    c->next = a->head;
    a->head = c;
  }
  void *p = a->head->data + a->head->used;
  a->head->used += n;
  return p;
}

static void arena_free(void *ud, void *p) { (void)ud, (void)p; }

static void arena_release(arena_t *a) {
  for (chunk_t *c = a->head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  a->head = NULL;
}

/* Parses a body fragment, or a whole document when fragment is 0. */
static GumboOutput *parse_in_arena(arena_t *a, const char *html, size_t len, int fragment) {
  GumboOptions opt = kGumboDefaultOptions;
  opt.allocator = arena_alloc;
  opt.deallocator = arena_free;
  opt.userdata = a;
  opt.fragment_context = fragment ? GUMBO_TAG_BODY : GUMBO_TAG_LAST;
  opt.max_errors = 0; /* each recorded error copies the open-element stack: quadratic memory */
  if (setjmp(a->fail)) return NULL;
  return gumbo_parse_with_options(&opt, html, len);
}

/* Elements that close themselves when a sibling starts, so they do not nest by repetition.
 * Called for every tag of every body: the name is lowercased once and compared only with the
 * names of its length. */
static int counts_for_nesting(const char *name, size_t n) {
  static const char *const flat[] = {"area", "base", "br", "col", "embed", "hr", "img", "input",
      "link", "meta", "param", "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame",
      "image", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "rp", "rt", "rb",
      "rtc", "thead", "tbody", "tfoot", "colgroup", "caption", NULL};
  char low[8];
  if (n > sizeof low) return 1; /* longer than every name above */
  for (size_t i = 0; i < n; i++) low[i] = (char)(name[i] | 0x20); /* letters and digits only */
  for (const char *const *f = flat; *f; f++)
    if ((*f)[0] == low[0] && strncmp(*f, low, n) == 0 && (*f)[n] == '\0') return 0;
  return 1;
}

#define MAX_NESTING 200

/* 1 when name[0..k) is "svg" or "math" (any case) and ends the tag name there: the two elements
 * that switch the parser into foreign content. */
static int foreign_root(const char *name, size_t k, const char *end) {
  const char *after = name + k;
  int delimited = after == end || strchr("\t\n\f\r />", *after);
  return delimited && ((k == 3 && strncasecmp(name, "svg", 3) == 0) || (k == 4 && strncasecmp(name, "math", 4) == 0));
}

/* Copies html into out with malformed UTF-8 replaced, and rewrites two kinds of tags first:
 * - Start tags that would nest past MAX_NESTING (counted roughly: start tags minus end tags)
 *   become text: their '<' is written "&lt;". The HTML5 tree builder does work proportional to
 *   the open-element stack for many tags, so 40,000 nested <div>s take seconds; browsers cap
 *   depth too.
 * - <svg> and <math> (and their end tags) become <object>: the sanitizer drops all three with
 *   their content anyway, and Debian's gumbo 0.10.1 aborts on assertion failures in foreign
 *   content inside tables ("<table><svg><desc><![CDATA[x]]>y"), so it must never see any.
 * Neither rewrite can add markup the sanitizer would keep: "&lt;" is inert wherever it lands, and
 * <object> is dropped with everything in it. */
static void prepare_html(qr_buf_t *out, const char *s, size_t n) {
  size_t depth = 0, run = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] != '<') continue;
    const char *name = s + i + 1;
    int end = name[0] == '/';
    if (end) name++;
    size_t k = 0;
    while (name + k < s + n && (((name[k] | 0x20) >= 'a' && (name[k] | 0x20) <= 'z') || (k && name[k] >= '0' && name[k] <= '9')))
      k++;
    if (!k || !counts_for_nesting(name, k)) continue;
    if (!end && depth >= MAX_NESTING) {
      qr_html_scrub_utf8(out, s + run, i - run);
      PUTS(out, "&lt;");
      run = i + 1;
      continue;
    }
    if (end) {
      if (depth) depth--;
    } else {
      depth++;
    }
    if (foreign_root(name, k, s + n)) {
      qr_html_scrub_utf8(out, s + run, i - run);
      qr_buf_puts(out, end ? "</object" : "<object");
      run = (size_t)(name + k - s);
    }
  }
  qr_html_scrub_utf8(out, s + run, n - run);
}

/* ---- Sanitizer: serializing the allowed part ------------------------------------------------- */

static void open_tag(qr_buf_t *out, const qr_html_policy_t *p, const GumboElement *el) {
  PUTS(out, "<");
  qr_buf_puts(out, gumbo_normalized_tagname(el->tag));
  for (unsigned i = 0; i < el->attributes.length; i++) {
    const GumboAttribute *a = el->attributes.data[i];
    if (a->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE || !attr_allowed(p, el->tag, a->name)) continue;
    if (p->rel && el->tag == GUMBO_TAG_A && strcmp(a->name, "rel") == 0) continue;
    if (is_url_attr(a->name) && !url_value_allowed(p, a->name, a->value)) continue;
    PUTS(out, " ");
    qr_buf_puts(out, a->name);
    PUTS(out, "=\"");
    escape(out, a->value, strlen(a->value), ESC_NODE_ATTR);
    PUTS(out, "\"");
  }
  if (p->rel && el->tag == GUMBO_TAG_A) {
    PUTS(out, " rel=\"");
    qr_html_escape_attr(out, p->rel, strlen(p->rel));
    PUTS(out, "\"");
  }
  PUTS(out, ">");
}

typedef struct {
  const GumboNode *node;
  unsigned next;   /* index of the next child to visit */
  int emitted;     /* its start tag was written, so its end tag is owed */
} frame_t;

/* Walks the tree depth-first without recursion (nesting is bounded, but the stack is explicit
 * anyway) and writes the allowed part. */
static void serialize(qr_buf_t *out, const qr_html_policy_t *p, const GumboNode *root) {
  size_t cap = 64, top = 0;
  frame_t *stack = qr_xmalloc(cap * sizeof *stack);
  stack[0] = (frame_t){root, 0, 0};
  size_t after_pre = SIZE_MAX; /* out->len right after a <pre>/<listing> start tag */
  int open_links = 0;          /* emitted <a> elements still open */
  for (;;) {
    frame_t *f = &stack[top];
    const GumboVector *kids = &f->node->v.element.children;
    if (f->next >= kids->length) {
      if (f->emitted) {
        if (f->node->v.element.tag == GUMBO_TAG_A) open_links--;
        PUTS(out, "</");
        qr_buf_puts(out, gumbo_normalized_tagname(f->node->v.element.tag));
        PUTS(out, ">");
      }
      if (top == 0) break;
      top--;
      continue;
    }
    const GumboNode *c = kids->data[f->next++];
    switch (c->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_WHITESPACE:
      case GUMBO_NODE_CDATA:
        /* The parser drops a newline right after <pre>: double a leading one to keep it. */
        if (out->len == after_pre && c->v.text.text[0] == '\n') PUTS(out, "\n");
        escape(out, c->v.text.text, strlen(c->v.text.text), ESC_NODE);
        break;
      case GUMBO_NODE_ELEMENT: {
        const GumboElement *el = &c->v.element;
        if (el->tag_namespace != GUMBO_NAMESPACE_HTML || drops_content(el->tag)) break;
        int emit = el->tag < GUMBO_TAG_LAST && p->elements[el->tag];
        /* A link inside a link cannot survive a re-parse (the inner <a> closes the outer): unwrap. */
        if (emit && el->tag == GUMBO_TAG_A && open_links) emit = 0;
        if (emit) open_tag(out, p, el);
        if (emit && el->tag == GUMBO_TAG_A) open_links++;
        if (emit && (el->tag == GUMBO_TAG_PRE || el->tag == GUMBO_TAG_LISTING)) after_pre = out->len;
        if (emit && is_void(el->tag)) break;
        if (top + 1 == cap) stack = qr_xrealloc(stack, (cap *= 2) * sizeof *stack);
        stack[++top] = (frame_t){c, 0, emit};
        break;
      }
      default: break; /* comments, doctypes, <template> contents */
    }
  }
  free(stack);
}

int qr_html_sanitize(const char *html, size_t len, const qr_html_policy_t *p, qr_buf_t *out) {
  if (!p || (!html && len)) return QR_EINVAL;
  if (len > QR_HTML_MAX_INPUT) return QR_ELIMIT;
  qr_buf_t input = {0};
  prepare_html(&input, html ? html : "", len);
  arena_t arena = {.budget = ARENA_BASE_BUDGET + (size_t)ARENA_BUDGET_PER_BYTE * len};
  GumboOutput *g = parse_in_arena(&arena, input.data ? input.data : "", input.len, 1);
  if (!out->data) qr_buf_append(out, "", 0);
  if (g) serialize(out, p, g->root);
  arena_release(&arena);
  qr_buf_free(&input);
  return g ? 0 : QR_ELIMIT;
}

/* ---- Audit ------------------------------------------------------------------------------------ */

static int audit_bad_element(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_FORM: case GUMBO_TAG_BUTTON: case GUMBO_TAG_ISINDEX: return 1;
    case GUMBO_TAG_TITLE: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_SELECT: return 0; /* inert */
    case GUMBO_TAG_HEAD: return 0; /* always there: the whole document is parsed */
    default: return drops_content(t);
  }
}

static void audit_node(const GumboNode *n, qr_buf_t *f, int *count) {
  static const char *const ok_schemes[] = {"http", "https", "mailto", NULL};
  if (n->type == GUMBO_NODE_DOCUMENT) {
    for (unsigned i = 0; i < n->v.document.children.length; i++) audit_node(n->v.document.children.data[i], f, count);
    return;
  }
  if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE) return;
  const GumboElement *el = &n->v.element;
  const char *name = gumbo_normalized_tagname(el->tag);
  if (!*name) name = "(unknown)";
  if (n->type == GUMBO_NODE_TEMPLATE || el->tag_namespace != GUMBO_NAMESPACE_HTML || audit_bad_element(el->tag)) {
    qr_buf_puts(f, "element <");
    qr_buf_puts(f, name);
    qr_buf_puts(f, ">\n");
    (*count)++;
  }
  for (unsigned i = 0; i < el->attributes.length; i++) {
    const GumboAttribute *a = el->attributes.data[i];
    const char *local = strrchr(a->name, ':') ? strrchr(a->name, ':') + 1 : a->name; /* xlink:href */
    int bad = strncmp(local, "on", 2) == 0 || strcmp(local, "style") == 0 || strcmp(local, "srcdoc") == 0 ||
              strcmp(local, "srcset") == 0;
    if (!bad && (is_url_attr(local) || a->attr_namespace == GUMBO_ATTR_NAMESPACE_XLINK))
      bad = !qr_url_allowed(a->value, strlen(a->value), ok_schemes, 1);
    if (!bad) continue;
    qr_buf_puts(f, "attribute ");
    qr_buf_puts(f, a->name);
    qr_buf_puts(f, " on <");
    qr_buf_puts(f, name);
    qr_buf_puts(f, ">\n");
    (*count)++;
  }
  for (unsigned i = 0; i < el->children.length; i++) audit_node(el->children.data[i], f, count);
}

int qr_html_audit(const char *html, size_t len, qr_buf_t *findings) {
  if (len > QR_HTML_MAX_INPUT) return QR_ELIMIT;
  qr_buf_t input = {0};
  prepare_html(&input, html ? html : "", len);
  arena_t arena = {.budget = ARENA_BASE_BUDGET + (size_t)ARENA_BUDGET_PER_BYTE * len};
  GumboOutput *g = parse_in_arena(&arena, input.data ? input.data : "", input.len, 0);
  int count = 0;
  if (g) audit_node(g->document, findings, &count); /* recursion: depth is capped by prepare_html */
  arena_release(&arena);
  qr_buf_free(&input);
  return g ? count : QR_ELIMIT;
}
