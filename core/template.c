/* Mustache engine: compiles template source to an instruction list and renders it over Lua values. */
#include "template.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define TEMPLATE_MT "quire.template"
#define OUTBUF_MT "quire.template.buffer"
#define CACHE_MT "quire.template.cache"
#define BOX_MT "quire.template.box"
#define MAX_DELIM 32                             /* bytes in a custom delimiter */
#define MAX_KEYS 65000                           /* names looked up in one template (user values) */
#define MAX_OUTPUT ((size_t)512 * 1024 * 1024)   /* bytes one render may produce */
#define SHARED_KEEP ((size_t)1024 * 1024)        /* the reusable buffer keeps up to this much */

/* ---------------------------------------------------------------------------------------------
 * Instructions
 * ------------------------------------------------------------------------------------------- */

enum {
  OP_TEXT,     /* literal text (pool str/len) */
  OP_VAR,      /* {{name}}: HTML-escaped */
  OP_RAW,      /* {{{name}}} and {{&name}} */
  OP_SECTION,  /* {{#name}} body {{/name}} */
  OP_INVERTED, /* {{^name}} body {{/name}} */
  OP_PARTIAL,  /* {{>name}}, {{>*name}} */
  OP_PARENT,   /* {{<name}} ... {{/name}}: the body holds only the OP_BLOCK arguments */
  OP_BLOCK,    /* {{$name}} default {{/name}} */
};

enum {
  F_NL = 1,         /* TEXT: ends with a newline */
  F_STANDALONE = 2, /* PARTIAL, PARENT: alone on its line; str/len is the indentation */
  F_DYNAMIC = 4,    /* PARTIAL, PARENT: the name is looked up in the context */
};

typedef struct {
  uint8_t kind, flags;
  uint16_t nseg;      /* segments of a looked-up name; 0 is the implicit iterator "." */
  uint32_t name;      /* pool: the name as written, NUL-terminated */
  uint32_t seg;       /* pool: the dotted segments, each NUL-terminated, one after the other */
  uint32_t end;       /* SECTION, INVERTED, PARENT, BLOCK: index just past the body */
  uint32_t str, len;  /* TEXT: text; VAR, RAW: text printed before the value; PARTIAL, PARENT, BLOCK:
                       * indentation; SECTION: "otag\0ctag\0" (len = otag length) */
  uint32_t body, body_len; /* SECTION: the body's raw source, for lambdas; TEXT, VAR, RAW: lines, see nl */
  uint32_t key;       /* user value of the template's userdata holding the first segment (lookups) or
                       * the name (partials), interned */
  uint32_t line, col;
} op_t;

struct qr_template {
  char *name;
  char *src; /* a copy of the source: section lambdas receive their raw body */
  op_t *ops;
  uint32_t nops;
  uint32_t nkeys; /* strings the renderer looks up, interned once as user values of the userdata */
  char *pool;     /* text, names and indentation the instructions point into */
  uint32_t *nl;   /* pool offsets just past each newline of text; TEXT op: body = first, body_len = count */
};

void qr_template_free(qr_template_t *t) {
  if (!t) return;
  free(t->name);
  free(t->src);
  free(t->ops);
  free(t->pool);
  free(t->nl);
  free(t);
}

const char *qr_template_name(const qr_template_t *t) { return t->name; }
size_t qr_template_size(const qr_template_t *t) { return t->nops; }

/* ---------------------------------------------------------------------------------------------
 * Compiler. Three passes over the source: tokenize (tags, delimiters, matching open and close),
 * find standalone lines, then emit instructions.
 * ------------------------------------------------------------------------------------------- */

enum { MODE_NONE, MODE_NEXT_LINE, MODE_PREFIX }; /* how a block's indentation is found */

typedef struct {
  char type;              /* 0: text; else the sigil: v & # ^ / ! = > < $ */
  uint8_t dyn;            /* {{>*name}}, {{<*name}} */
  uint8_t drop;           /* text removed because its line is standalone */
  uint8_t standalone;     /* partial or parent alone on its line */
  uint8_t mode;           /* blocks: MODE_* */
  uint32_t start, end;    /* source span: the text, or the whole tag with delimiters */
  uint32_t name, name_len; /* the trimmed tag content */
  uint32_t line, col;
  uint32_t match;         /* open tags: their close; close tags: their open */
  uint32_t ind, ind_len;  /* indentation (source span): partials, parents, blocks */
  const char *otag, *ctag; /* delimiters in force at the tag (sections keep them for lambdas) */
  uint8_t olen, clen;
} tok_t;

typedef struct {
  const char *src;
  size_t len;
  const char *name;
  tok_t *toks;
  size_t ntoks, tokcap;
  op_t *ops;
  size_t nops, opcap;
  qr_buf_t pool;
  size_t text_floor; /* text may merge into the previous instruction only from this index on */
  uint32_t nkeys;
  uint32_t *nl;
  size_t nnl, nlcap;
  char *err;
  size_t errlen;
} compiler_t;

static int fail(compiler_t *c, int code, uint32_t line, uint32_t col, const char *fmt, ...) {
  if (!c->errlen) return code;
  int n = snprintf(c->err, c->errlen, "%s:%u:%u: ", c->name, line, col);
  if (n >= 0 && (size_t)n < c->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }
static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

static tok_t *new_tok(compiler_t *c) {
  if (c->ntoks == c->tokcap) {
    c->tokcap = c->tokcap ? c->tokcap * 2 : 64;
    c->toks = qr_xrealloc(c->toks, c->tokcap * sizeof *c->toks);
  }
  tok_t *k = &c->toks[c->ntoks++];
  memset(k, 0, sizeof *k);
  return k;
}

/* Finds [pre]ctag in s[from..n); returns its offset or (size_t)-1. */
static size_t find_close(const char *s, size_t from, size_t n, char pre, const char *ctag, size_t clen) {
  char needle[MAX_DELIM + 2];
  size_t nl = 0;
  if (pre) needle[nl++] = pre;
  memcpy(needle + nl, ctag, clen);
  nl += clen;
  if (from > n) return (size_t)-1;
  const char *p = memmem(s + from, n - from, needle, nl);
  return p ? (size_t)(p - s) : (size_t)-1;
}

static const char *tag_word(char type) {
  switch (type) {
    case '#': return "section";
    case '^': return "inverted section";
    case '<': return "parent";
    case '$': return "block";
    default: return "tag";
  }
}

/* Pass 1: splits the source into text tokens (each ending at a newline at the latest) and tags,
 * applies delimiter changes and pairs every open tag with its close. */
static int tokenize(compiler_t *c, const char *otag, size_t olen, const char *ctag, size_t clen) {
  const char *s = c->src;
  size_t n = c->len, pos = 0, line_start = 0;
  uint32_t line = 1;
  uint32_t stack[QR_TEMPLATE_MAX_NESTING];
  int depth = 0;
  while (pos < n) {
    const char *hit = memmem(s + pos, n - pos, otag, olen);
    size_t tpos = hit ? (size_t)(hit - s) : n;
    while (pos < tpos) {
      const char *nl = memchr(s + pos, '\n', tpos - pos);
      size_t e = nl ? (size_t)(nl - s) + 1 : tpos;
      tok_t *k = new_tok(c);
      k->start = (uint32_t)pos;
      k->end = (uint32_t)e;
      k->line = line;
      k->col = (uint32_t)(pos - line_start + 1);
      if (nl) {
        line++;
        line_start = e;
      }
      pos = e;
    }
    if (!hit) break;

    uint32_t tline = line, tcol = (uint32_t)(tpos - line_start + 1);
    size_t p = tpos + olen, cs, ce, end, close;
    char sigil = p < n ? s[p] : 0, type = sigil;
    switch (sigil) {
      case '{':
        close = find_close(s, p + 1, n, '}', ctag, clen);
        cs = p + 1, ce = close, end = close + 1 + clen, type = '&';
        break;
      case '=':
        close = find_close(s, p + 1, n, '=', ctag, clen);
        cs = p + 1, ce = close, end = close + 1 + clen;
        break;
      case '&': case '#': case '^': case '/': case '!': case '>': case '<': case '$':
        close = find_close(s, p + 1, n, 0, ctag, clen);
        cs = p + 1, ce = close, end = close + clen;
        break;
      default:
        close = find_close(s, p, n, 0, ctag, clen);
        cs = p, ce = close, end = close + clen, type = 'v';
    }
    if (close == (size_t)-1)
      return fail(c, QR_EINVAL, tline, tcol, "unclosed tag: '%.*s' without a matching '%s%.*s'", (int)olen, otag,
                  sigil == '{' ? "}" : sigil == '=' ? "=" : "", (int)clen, ctag);
    while (cs < ce && is_space(s[cs])) cs++;
    while (ce > cs && is_space(s[ce - 1])) ce--;

    tok_t *k = new_tok(c);
    k->type = type;
    k->start = (uint32_t)tpos;
    k->end = (uint32_t)end;
    k->line = tline;
    k->col = tcol;
    k->otag = otag, k->olen = (uint8_t)olen, k->ctag = ctag, k->clen = (uint8_t)clen;
    if ((type == '>' || type == '<' || type == '/') && cs < ce && s[cs] == '*') {
      k->dyn = 1;
      for (cs++; cs < ce && is_space(s[cs]); cs++) {}
    }
    k->name = (uint32_t)cs;
    k->name_len = (uint32_t)(ce - cs);

    if (type == '=') {
      size_t a = cs, b = cs;
      while (b < ce && !is_space(s[b])) b++;
      size_t d = b;
      while (d < ce && is_space(s[d])) d++;
      size_t e2 = d;
      while (e2 < ce && !is_space(s[e2])) e2++;
      if (b == a || d == ce || e2 != ce || b - a > MAX_DELIM || ce - d > MAX_DELIM)
        return fail(c, QR_EINVAL, tline, tcol,
                    "bad delimiters '%.*s': expected two delimiters of 1 to %d characters without spaces, "
                    "as in {{=<%% %%>=}}", (int)(ce - cs), s + cs, MAX_DELIM);
      otag = s + a, olen = b - a, ctag = s + d, clen = ce - d;
    } else if (type != '!') {
      if (cs == ce) return fail(c, QR_EINVAL, tline, tcol, "empty tag name");
      for (size_t i = cs; i < ce; i++)
        if (is_space(s[i]))
          return fail(c, QR_EINVAL, tline, tcol, "bad tag name '%.*s': names contain no spaces", (int)(ce - cs),
                      s + cs);
    }

    uint32_t me = (uint32_t)(c->ntoks - 1);
    if (type == '#' || type == '^' || type == '<' || type == '$') {
      if (depth == QR_TEMPLATE_MAX_NESTING)
        return fail(c, QR_ELIMIT, tline, tcol, "sections nested deeper than %d", QR_TEMPLATE_MAX_NESTING);
      stack[depth++] = me;
    } else if (type == '/') {
      if (depth == 0)
        return fail(c, QR_EINVAL, tline, tcol, "closing tag '%.*s' without an open section", (int)k->name_len,
                    s + k->name);
      tok_t *o = &c->toks[stack[depth - 1]];
      if (o->name_len != k->name_len || o->dyn != k->dyn || memcmp(s + o->name, s + k->name, k->name_len) != 0)
        return fail(c, QR_EINVAL, tline, tcol, "closing tag '%s%.*s' does not match %s '%s%.*s' opened at %u:%u",
                    k->dyn ? "*" : "", (int)k->name_len, s + k->name, tag_word(o->type), o->dyn ? "*" : "",
                    (int)o->name_len, s + o->name, o->line, o->col);
      o->match = me;
      k->match = stack[--depth];
    }
    for (size_t i = tpos; i < end; i++)
      if (s[i] == '\n') {
        line++;
        line_start = i + 1;
      }
    pos = end;
  }
  if (depth > 0) {
    tok_t *o = &c->toks[stack[depth - 1]];
    return fail(c, QR_EINVAL, o->line, o->col, "unclosed %s '%s%.*s': no {{/%.*s}} before the end of the template",
                tag_word(o->type), o->dyn ? "*" : "", (int)o->name_len, c->src + o->name, (int)o->name_len,
                c->src + o->name);
  }
  return 0;
}

/* 1 when the text token holds only spaces and tabs, with or without a closing \n or \r\n. */
static int blank_tok(const compiler_t *c, const tok_t *k) {
  size_t e = k->end;
  if (e > k->start && c->src[e - 1] == '\n') {
    e--;
    if (e > k->start && c->src[e - 1] == '\r') e--;
  }
  for (size_t i = k->start; i < e; i++)
    if (!is_blank(c->src[i])) return 0;
  return 1;
}

static int ends_line(const compiler_t *c, const tok_t *k) { return k->type == 0 && c->src[k->end - 1] == '\n'; }

/* Tags that may stand alone on a line: they print nothing where they stand. */
static int may_stand_alone(char type) { return type && strchr("#^/!=><$", type) != NULL; }

/* Pass 2: the spec's standalone lines. A line holding only whitespace and one non-printing tag loses
 * its whitespace and newline; a standalone partial or parent takes the whitespace as indentation.
 * For inheritance, several parent and block tags may share a standalone line ({{<page}}{{$body}}),
 * and a block whose tag starts its line records the indentation its content is re-indented by. */
static void mark_standalone(compiler_t *c) {
  size_t a = 0;
  while (a < c->ntoks) {
    size_t b = a;
    while (b < c->ntoks && !ends_line(c, &c->toks[b])) b++;
    if (b < c->ntoks) b++; /* [a, b) is one line, its newline included */

    int blank = 1, ntags = 0, ok = 1, whole_parent = 0, whole_block = 0;
    size_t first = b, last = b;
    for (size_t i = a; i < b; i++) {
      tok_t *k = &c->toks[i];
      if (k->type == 0) {
        blank &= blank_tok(c, k);
        continue;
      }
      ntags++;
      if (first == b) first = i;
      last = i;
      char t = k->type;
      if (t == '/') t = c->toks[k->match].type == '<' || c->toks[k->match].type == '$' ? '/' : '#';
      if (t != '<' && t != '$' && t != '!' && t != '/') ok = 0;
      if (k->type == '<' && k->match < b) whole_parent = 1;
      if (k->type == '$' && k->match < b) whole_block = 1;
    }
    int standalone = 0;
    if (blank && ntags == 1) standalone = may_stand_alone(c->toks[first].type);
    else if (blank && ntags > 1) standalone = ok && (whole_parent || !whole_block);

    if (standalone) {
      tok_t *lead = c->toks[a].type == 0 && a < first ? &c->toks[a] : NULL;
      for (size_t i = a; i < b; i++) {
        tok_t *k = &c->toks[i];
        if (k->type == 0) {
          k->drop = 1;
        } else if ((k->type == '>' || k->type == '<') && i == first) {
          k->standalone = 1;
          k->ind = lead ? lead->start : k->start;
          k->ind_len = lead ? lead->end - lead->start : 0;
        } else if (k->type == '$' && i == last) {
          /* The block's content starts on the next line: its indentation is the block's. */
          size_t p = c->toks[b - 1].end, q = p;
          if (!ends_line(c, &c->toks[b - 1])) p = q = c->len;
          while (q < c->len && is_blank(c->src[q])) q++;
          k->mode = MODE_NEXT_LINE;
          k->ind = (uint32_t)p;
          k->ind_len = (uint32_t)(q - p);
        }
      }
    } else if (first < b && c->toks[first].type == '$' &&
               (first == a || (first == a + 1 && c->toks[a].type == 0 && blank_tok(c, &c->toks[a]) &&
                               !ends_line(c, &c->toks[a])))) {
      /* "  {{$block}}..." : the whitespace before the block becomes its indentation. */
      tok_t *k = &c->toks[first];
      k->mode = MODE_PREFIX;
      if (first == a) {
        k->ind = k->start;
        k->ind_len = 0;
      } else {
        c->toks[a].drop = 1;
        k->ind = c->toks[a].start;
        k->ind_len = c->toks[a].end - c->toks[a].start;
      }
    }
    a = b;
  }
}

static uint32_t pool_add(compiler_t *c, const char *s, size_t n) {
  uint32_t off = (uint32_t)c->pool.len;
  qr_buf_append(&c->pool, s, n);
  qr_buf_append(&c->pool, "", 1); /* keep the NUL: names are read as C strings */
  return off;
}

static op_t *new_op(compiler_t *c, uint8_t kind, const tok_t *k) {
  if (c->nops == c->opcap) {
    c->opcap = c->opcap ? c->opcap * 2 : 32;
    c->ops = qr_xrealloc(c->ops, c->opcap * sizeof *c->ops);
  }
  op_t *op = &c->ops[c->nops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->line = k->line;
  op->col = k->col;
  return op;
}

/* Stores the tag's name; when it is looked up in the context, also its dotted segments. */
static int set_name(compiler_t *c, op_t *op, const tok_t *k, int lookup) {
  const char *s = c->src + k->name;
  size_t n = k->name_len;
  op->name = pool_add(c, s, n);
  if (!lookup) {
    if (op->kind == OP_PARTIAL || op->kind == OP_PARENT) op->key = ++c->nkeys;
    return 0;
  }
  if (n == 1 && s[0] == '.') {
    op->nseg = 0;
    return 0;
  }
  op->seg = (uint32_t)c->pool.len;
  op->key = c->nkeys + 1;
  size_t i = 0;
  while (1) {
    size_t j = i;
    while (j < n && s[j] != '.') j++;
    if (j == i || op->nseg == UINT16_MAX)
      return fail(c, QR_EINVAL, k->line, k->col, "bad name '%.*s': empty part between dots", (int)n, s);
    pool_add(c, s + i, j - i);
    op->nseg++;
    c->nkeys++;
    if (j == n) break;
    i = j + 1;
  }
  return 0;
}

static void emit_text(compiler_t *c, const tok_t *k, size_t strip) {
  size_t s = k->start, e = k->end;
  if (strip && (s == 0 || c->src[s - 1] == '\n'))
    for (size_t m = 0; m < strip && s < e && is_blank(c->src[s]); m++) s++;
  if (s == e) return;
  op_t *prev = c->nops ? &c->ops[c->nops - 1] : NULL;
  if (prev && c->nops - 1 >= c->text_floor && prev->kind == OP_TEXT && prev->str + prev->len + 1 == c->pool.len) {
    /* Extend the previous text (drop its NUL, add ours). */
    c->pool.len--;
    qr_buf_append(&c->pool, c->src + s, e - s);
    qr_buf_append(&c->pool, "", 1);
    prev->len += (uint32_t)(e - s);
  } else {
    prev = new_op(c, OP_TEXT, k);
    prev->str = pool_add(c, c->src + s, e - s);
    prev->len = (uint32_t)(e - s);
    prev->body = (uint32_t)c->nnl;
  }
  prev->flags = c->src[e - 1] == '\n' ? F_NL : 0;
  if (prev->flags & F_NL) { /* tokens end at their first newline: one entry at most */
    if (c->nnl == c->nlcap) {
      c->nlcap = c->nlcap ? c->nlcap * 2 : 64;
      c->nl = qr_xrealloc(c->nl, c->nlcap * sizeof *c->nl);
    }
    c->nl[c->nnl++] = (uint32_t)c->pool.len - 1; /* the NUL after the newline */
    prev->body_len++;
  }
}

/* Pass 3: instructions. Inside a parent only its block arguments are kept. Block content loses the
 * block's indentation at the start of each line; the block's instruction keeps the indentation to
 * add back where the block is expanded, relative to the enclosing block. */
static int emit(compiler_t *c) {
  struct {
    uint32_t op;
    size_t strip;
    char type;
  } open[QR_TEMPLATE_MAX_NESTING];
  int depth = 0;
  size_t strip = 0;
  int rc;
  for (size_t i = 0; i < c->ntoks; i++) {
    const tok_t *k = &c->toks[i];
    if (depth > 0 && open[depth - 1].type == '<' && k->type != '$' && k->type != '/') {
      if (k->type == '#' || k->type == '^' || k->type == '<') i = k->match; /* skip it with its body */
      continue;
    }
    op_t *op;
    switch (k->type) {
      case 0:
        if (!k->drop) emit_text(c, k, strip);
        break;
      case 'v':
      case '&': {
        op_t *prev = c->nops ? &c->ops[c->nops - 1] : NULL;
        if (prev && c->nops - 1 >= c->text_floor && prev->kind == OP_TEXT) {
          /* The text before the tag becomes the variable's prefix: one instruction instead of two. */
          op = prev;
          op->kind = k->type == 'v' ? OP_VAR : OP_RAW;
          op->line = k->line, op->col = k->col;
        } else {
          op = new_op(c, k->type == 'v' ? OP_VAR : OP_RAW, k);
        }
        if ((rc = set_name(c, op, k, 1))) return rc;
        break;
      }
      case '#':
      case '^':
        op = new_op(c, k->type == '#' ? OP_SECTION : OP_INVERTED, k);
        if ((rc = set_name(c, op, k, 1))) return rc;
        op->body = k->end;
        op->body_len = c->toks[k->match].start - k->end;
        op->str = pool_add(c, k->otag, k->olen);
        op->len = k->olen;
        pool_add(c, k->ctag, k->clen);
        open[depth].op = (uint32_t)(c->nops - 1), open[depth].strip = strip, open[depth++].type = k->type;
        break;
      case '>':
      case '<':
        op = new_op(c, k->type == '>' ? OP_PARTIAL : OP_PARENT, k);
        if ((rc = set_name(c, op, k, k->dyn))) return rc;
        if (k->dyn) op->flags |= F_DYNAMIC;
        if (k->standalone) {
          op->flags |= F_STANDALONE;
          op->str = pool_add(c, c->src + k->ind, k->ind_len);
          op->len = k->ind_len;
        }
        if (k->type == '<') open[depth].op = (uint32_t)(c->nops - 1), open[depth].strip = strip, open[depth++].type = '<';
        break;
      case '$': {
        op = new_op(c, OP_BLOCK, k);
        set_name(c, op, k, 0);
        size_t abs = k->ind_len, keep = abs > strip ? abs - strip : 0;
        op->str = pool_add(c, c->src + k->ind + (abs - keep), keep);
        op->len = (uint32_t)keep;
        open[depth].op = (uint32_t)(c->nops - 1), open[depth].strip = strip, open[depth++].type = '$';
        if (k->mode != MODE_NONE) strip = abs;
        break;
      }
      case '/':
        depth--;
        c->ops[open[depth].op].end = (uint32_t)c->nops;
        c->text_floor = c->nops; /* text after the close must not join the body's last text */
        strip = open[depth].strip;
        break;
      default: /* comments and delimiter changes print nothing */
        break;
    }
  }
  return 0;
}

static int compile(const char *src, size_t len, const char *name, const char *otag, size_t olen, const char *ctag,
                   size_t clen, qr_template_t **out, char *err, size_t errlen) {
  compiler_t c = {.src = src, .len = len, .name = name ? name : "<string>", .err = err, .errlen = errlen};
  *out = NULL;
  if (errlen) err[0] = '\0';
  if (len > QR_TEMPLATE_MAX_SOURCE)
    return fail(&c, QR_ELIMIT, 1, 1, "template larger than %u bytes", QR_TEMPLATE_MAX_SOURCE);
  int rc = tokenize(&c, otag, olen, ctag, clen);
  if (rc == 0) {
    mark_standalone(&c);
    rc = emit(&c);
  }
  if (rc == 0 && c.nkeys > MAX_KEYS) rc = fail(&c, QR_ELIMIT, 1, 1, "more than %d names in one template", MAX_KEYS);
  free(c.toks);
  if (rc != 0) {
    free(c.nl);
    free(c.ops);
    qr_buf_free(&c.pool);
    return rc;
  }
  qr_template_t *t = qr_xcalloc(1, sizeof *t);
  t->name = qr_xstrdup(c.name);
  t->src = qr_xmalloc(len + 1);
  memcpy(t->src, src, len);
  t->src[len] = '\0';
  t->ops = c.ops;
  t->nops = (uint32_t)c.nops;
  t->nkeys = c.nkeys;
  t->nl = c.nl;
  qr_buf_append(&c.pool, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16); /* copy16 may read past the last text */
  t->pool = c.pool.data;
  *out = t;
  return 0;
}

int qr_template_compile(const char *src, size_t len, const char *name, qr_template_t **out, char *err,
                        size_t errlen) {
  return compile(src, len, name, "{{", 2, "}}", 2, out, err, errlen);
}

/* ---------------------------------------------------------------------------------------------
 * Lua values: compiled templates and output buffers as userdata.
 * ------------------------------------------------------------------------------------------- */

/* The template userdata: its user values 1..nkeys are the interned names, user value nkeys + 1 is
 * the box that owns the compiled template. */
typedef struct {
  qr_template_t *t; /* borrowed from the box */
} tpl_ud;

/* Owns a compiled template; made before compiling, so no allocation can fail while it is unowned. */
typedef struct {
  qr_template_t *t;
} box_t;

static int box_gc(lua_State *L) {
  box_t *b = luaL_checkudata(L, 1, BOX_MT);
  qr_template_free(b->t);
  b->t = NULL;
  return 0;
}

static int tpl_tostring(lua_State *L) {
  tpl_ud *u = luaL_checkudata(L, 1, TEMPLATE_MT);
  lua_pushfstring(L, "template (%s)", u->t->name);
  return 1;
}

static const qr_template_t *load(lua_State *L, const char *src, size_t len, const char *name, const char *otag,
                                 size_t olen, const char *ctag, size_t clen) {
  box_t *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->t = NULL;
  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  char err[512];
  qr_template_t *t;
  if (compile(src, len, name, otag, olen, ctag, clen, &t, err, sizeof err) != 0) {
    lua_pushstring(L, err); /* nothing to free: compile cleaned up */
    lua_error(L);
  }
  box->t = t; /* owned from here: if anything below raises, the collector frees it */
  tpl_ud *u = lua_newuserdatauv(L, sizeof *u, (int)t->nkeys + 1);
  u->t = t;
  if (luaL_newmetatable(L, TEMPLATE_MT)) {
    lua_pushcfunction(L, tpl_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, (int)t->nkeys + 1);
  /* The names the renderer looks up, made Lua strings once, as user values (the cheapest way to
   * push one): a lookup then hashes nothing. */
  for (uint32_t i = 0; i < t->nops; i++) {
    const op_t *op = &t->ops[i];
    if ((op->kind == OP_PARTIAL || op->kind == OP_PARENT) && !(op->flags & F_DYNAMIC)) {
      lua_pushstring(L, t->pool + op->name);
      lua_setiuservalue(L, -2, (int)op->key);
    } else if (op->nseg) {
      const char *k = t->pool + op->seg;
      for (uint32_t j = 0; j < op->nseg; j++, k += strlen(k) + 1) {
        lua_pushstring(L, k);
        lua_setiuservalue(L, -2, (int)(op->key + j));
      }
    }
  }
  lua_remove(L, -2); /* the box, now reachable through the template */
  return t;
}

const qr_template_t *qr_template_load(lua_State *L, const char *src, size_t len, const char *name) {
  return load(L, src, len, name, "{{", 2, "}}", 2);
}

const qr_template_t *qr_template_to(lua_State *L, int idx) {
  tpl_ud *u = luaL_testudata(L, idx, TEMPLATE_MT);
  return u ? u->t : NULL;
}

typedef struct {
  qr_buf_t b;
  int busy; /* the per-state buffer is in use by a render */
} outbuf_t;

static int outbuf_gc(lua_State *L) {
  outbuf_t *o = luaL_checkudata(L, 1, OUTBUF_MT);
  qr_buf_free(&o->b);
  return 0;
}

/* __close of the per-state buffer: the render that held it is over (returned or raised). */
static int outbuf_release(lua_State *L) {
  outbuf_t *o = luaL_checkudata(L, 1, OUTBUF_MT);
  o->busy = 0;
  if (o->b.cap > SHARED_KEEP) qr_buf_free(&o->b);
  o->b.len = 0;
  return 0;
}

static outbuf_t *push_outbuf(lua_State *L) {
  outbuf_t *o = lua_newuserdatauv(L, sizeof *o, 0);
  memset(o, 0, sizeof *o);
  if (luaL_newmetatable(L, OUTBUF_MT)) {
    lua_pushcfunction(L, outbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, outbuf_release);
    lua_setfield(L, -2, "__close");
  }
  lua_setmetatable(L, -2);
  return o;
}

static const char shared_key = 0; /* registry key of each state's reusable output buffer */

/* ---------------------------------------------------------------------------------------------
 * Renderer. Context values live on the Lua stack; the context stack, the parents whose block
 * arguments are in force and the indentation are C structures on the C stack, so a Lua error
 * (longjmp) leaves nothing to free.
 * ------------------------------------------------------------------------------------------- */

#define MAX_INDENT 1024     /* bytes of indentation in force at once */
#define POP_BATCH 16        /* values of {{name}} left on the Lua stack before they are popped at once */
#define STACK_PER_LEVEL 32  /* Lua stack slots one level of nesting may use: POP_BATCH and a few more */

typedef struct ctx {
  int idx;  /* stack slot of a context value */
  int type; /* its lua_type */
  const struct ctx *prev;
} ctx_t;

typedef struct frame {
  const qr_template_t *t; /* a parent tag whose block arguments are in force */
  int keys;               /* stack slot of t's userdata (its user values are the interned names) */
  uint32_t op;
  const struct frame *prev;
} frame_t;

typedef struct {
  lua_State *L;
  qr_buf_t *out;
  const ctx_t *ctx;
  const frame_t *frames;
  const char *indent; /* added before each line of template text (standalone partials, blocks) */
  size_t indent_len, itop;
  int pending; /* at the start of a line: the indentation is owed */
  int depth;
  int resolver, partials, strict;
  int cache_slot, cache; /* stack slot for the table of resolved partials; cache is 0 until it exists */
  int shared;            /* the cache is the caller's and outlives the render: no negative entries */
  char ibuf[MAX_INDENT + 16]; /* indentation strings, pushed and popped like a stack (+ copy16 slack) */
} render_t;

typedef struct {
  const char *indent;
  size_t len, itop;
} indent_t;

static void render_range(render_t *r, const qr_template_t *t, int keys, uint32_t i, uint32_t end);

/* Raises a Lua error with exactly this message: the template position is the useful one, not the
 * Lua caller's that luaL_error would prepend. */
static void render_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_error(L);
}

static void grow(render_t *r, size_t n) {
  qr_buf_t *b = r->out;
  if (b->len + n >= MAX_OUTPUT) render_error(r->L, "template output larger than %d MB", (int)(MAX_OUTPUT >> 20));
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len <= n) cap *= 2;
  b->data = qr_xrealloc(b->data, cap);
  b->cap = cap;
}

/* Room for n more bytes and the NUL. */
static inline void reserve(render_t *r, size_t n) {
  if (r->out->cap - r->out->len <= n) grow(r, n);
}

/* Copies exactly n bytes without a libc call, for the short strings values mostly are: blocks and
 * overlapping head/tail moves that read and write only inside s[0..n) and d[0..n). */
static inline void copy_exact(char *d, const char *s, size_t n) {
  if (n >= 16) {
#ifdef __SSE2__
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
      _mm_storeu_si128((__m128i *)(void *)(d + i), _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
    if (i < n)
      _mm_storeu_si128((__m128i *)(void *)(d + n - 16),
                       _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16)));
#else
    memcpy(d, s, n);
#endif
  } else if (n >= 8) {
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; i++) d[i] = s[i];
  }
}

static inline void put(render_t *r, const char *s, size_t n) {
  reserve(r, n);
  char *d = r->out->data + r->out->len;
  if (n <= 256) copy_exact(d, s, n); else memcpy(d, s, n);
  r->out->len += n;
  d[n] = '\0';
}

static const uint8_t esc_class[256] = {['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5};
static const char *const esc_text[] = {"", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
static const uint8_t esc_len[] = {0, 5, 4, 4, 6, 5};

size_t qr_template_escape(char *dst, const char *s, size_t n) {
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t e = esc_class[(unsigned char)s[i]];
    if (!e) {
      if (dst) dst[out] = s[i];
      out++;
    } else {
      if (dst) memcpy(dst + out, esc_text[e], esc_len[e]);
      out += esc_len[e];
    }
  }
  return out;
}

#ifdef __SSE2__
/* Bit i set when byte i of v needs an entity. */
static inline unsigned special_mask(__m128i v) {
  __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('&')), _mm_cmpeq_epi8(v, _mm_set1_epi8('<'))),
                           _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('>')),
                                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))),
                                        _mm_cmpeq_epi8(v, _mm_set1_epi8('\''))));
  return (unsigned)_mm_movemask_epi8(m);
}

static inline __m128i load8(const char *s) {
  int64_t w;
  memcpy(&w, s, 8);
  return _mm_cvtsi64_si128(w); /* the upper 8 bytes are zero: never special */
}
#endif

/* The index of the first byte of s[0..n) that needs an entity, or n. With SSE2 the bytes are
 * tested 16 (or 8) at a time; the last, partial block is tested by a window ending at s + n that
 * overlaps bytes already tested, so nothing past the string is read. */
static size_t first_special(const char *s, size_t n) {
  size_t i = 0;
#ifdef __SSE2__
  if (n >= 16) {
    for (; i + 16 <= n; i += 16) {
      unsigned m = special_mask(_mm_loadu_si128((const __m128i *)(const void *)(s + i)));
      if (m) return i + (unsigned)__builtin_ctz(m);
    }
    if (i == n) return n;
    unsigned m = special_mask(_mm_loadu_si128((const __m128i *)(const void *)(s + n - 16))) >> (i - (n - 16));
    return m ? i + (unsigned)__builtin_ctz(m) : n;
  }
  if (n >= 8) {
    unsigned m = special_mask(load8(s));
    if (m) return (unsigned)__builtin_ctz(m);
    m = special_mask(load8(s + n - 8)) >> (16 - n);
    return m ? 8 + (unsigned)__builtin_ctz(m) : n;
  }
#endif
  for (; i < n; i++)
    if (esc_class[(unsigned char)s[i]]) return i;
  return n;
}

/* Entities padded to 8 bytes so one fixed-size store writes any of them. */
static const char esc_text8[6][8] = {"", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};

/* Escaped output: clean runs are copied whole, each special byte becomes its entity. Long strings
 * go in chunks so the worst-case reservation (6 bytes out per byte in, and 16 of slack for block
 * stores) stays small. */
static void put_escaped(render_t *r, const char *s, size_t n) {
  while (n) {
    size_t chunk = n < 4096 ? n : 4096;
    reserve(r, chunk * 6 + 16);
    char *d = r->out->data + r->out->len;
    const char *p = s, *end = s + chunk;
#ifdef __SSE2__
    /* Whole 16-byte blocks: one load, one store, and the output advances by the clean prefix. */
    while (end - p >= 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
      unsigned m = special_mask(v);
      _mm_storeu_si128((__m128i *)(void *)d, v);
      if (!m) {
        p += 16, d += 16;
        continue;
      }
      unsigned k = (unsigned)__builtin_ctz(m);
      p += k, d += k;
      uint8_t e = esc_class[(unsigned char)*p++];
      memcpy(d, esc_text8[e], 8);
      d += esc_len[e];
    }
#endif
    for (;;) {
      size_t k = first_special(p, (size_t)(end - p));
      copy_exact(d, p, k);
      d += k, p += k;
      if (p == end) break;
      uint8_t e = esc_class[(unsigned char)*p++];
      memcpy(d, esc_text8[e], 8);
      d += esc_len[e];
    }
    *d = '\0';
    r->out->len = (size_t)(d - r->out->data);
    s += chunk, n -= chunk;
  }
}

static inline void flush_indent(render_t *r) {
  if (r->pending) {
    if (r->indent_len) put(r, r->indent, r->indent_len);
    r->pending = 0;
  }
}

/* Copies n bytes in 16-byte steps: may read up to 15 bytes past s + n and write up to 15 past
 * d + n. Only for the template pool and the indentation buffer, which have that slack; the output
 * always has it reserved. Cheaper than a libc call for the short lines of template text. */
static inline void copy16(char *d, const char *s, size_t n) {
#ifdef __SSE2__
  for (size_t i = 0; i < n; i += 16)
    _mm_storeu_si128((__m128i *)(void *)(d + i), _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
#else
  memcpy(d, s, n);
#endif
}

/* Template text over several lines: each line after a newline gets the indentation in force. */
static void put_lines(render_t *r, const qr_template_t *t, const op_t *op) {
  const char *s = t->pool + op->str;
  size_t n = op->len, ind = r->indent_len;
  reserve(r, n + ((size_t)op->body_len + 1) * ind + 16);
  char *d = r->out->data + r->out->len;
  if (ind == 0) {
    copy16(d, s, n);
    d[n] = '\0';
    r->out->len += n;
    r->pending = op->flags & F_NL;
    return;
  }
  const uint32_t *nl = t->nl + op->body, *nl_end = nl + op->body_len;
  const char *end = s + n;
  while (s < end) {
    if (r->pending) {
      copy16(d, r->indent, ind);
      d += ind;
      r->pending = 0;
    }
    const char *line_end = nl < nl_end ? t->pool + *nl++ : end;
    copy16(d, s, (size_t)(line_end - s));
    d += line_end - s;
    s = line_end;
    if (line_end < end || (op->flags & F_NL)) r->pending = 1;
  }
  *d = '\0';
  r->out->len = (size_t)(d - r->out->data);
}

/* Makes the indentation in force longer by add[0..n) until indent_pop. */
/* Template text; the common case, text within one line, inline. */
static inline void put_text(render_t *r, const qr_template_t *t, const op_t *op) {
  if (op->body_len) {
    put_lines(r, t, op);
    return;
  }
  size_t n = op->len, ind = r->pending ? r->indent_len : 0;
  reserve(r, n + ind + 16);
  char *d = r->out->data + r->out->len;
  if (ind) {
    copy16(d, r->indent, ind);
    d += ind;
  }
  r->pending = 0;
  copy16(d, t->pool + op->str, n);
  d[n] = '\0';
  r->out->len += ind + n;
}

static void indent_push(render_t *r, const char *add, size_t n, indent_t *saved) {
  saved->indent = r->indent, saved->len = r->indent_len, saved->itop = r->itop;
  if (!n) return;
  char *top = r->ibuf + r->itop;
  int at_top = r->indent_len && r->indent + r->indent_len == top; /* extend in place */
  size_t need = (at_top ? 0 : r->indent_len) + n;
  if (r->itop + need > MAX_INDENT) render_error(r->L, "indentation deeper than %d characters", MAX_INDENT);
  char *start = at_top ? (char *)r->indent : top;
  if (!at_top) memcpy(top, r->indent, r->indent_len);
  memcpy(start + r->indent_len, add, n);
  r->indent = start;
  r->indent_len += n;
  r->itop += need;
}

static void indent_pop(render_t *r, const indent_t *saved) {
  r->indent = saved->indent, r->indent_len = saved->len, r->itop = saved->itop;
}

/* Pushes the field named by user value key of the template userdata at keys, of the value at idx, whose type
 * is type, and returns the field's type when it is there (not nil or null); else pushes nothing
 * and returns LUA_TNIL. Only tables and userdata with __index have fields: a string's methods are
 * not template data. */
static int get_key(lua_State *L, int idx, int type, int keys, uint32_t key) {
  if (type != LUA_TTABLE) {
    if (type != LUA_TUSERDATA || luaL_getmetafield(L, idx, "__index") == LUA_TNIL) return LUA_TNIL;
    lua_pop(L, 1);
  }
  lua_getiuservalue(L, keys, (int)key);
  int tt = lua_gettable(L, idx);
  if (tt == LUA_TNIL || (tt == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL)) { /* cjson.null */
    lua_pop(L, 1);
    return LUA_TNIL;
  }
  return tt;
}

/* lookup from context c outwards. */
static int lookup_from(render_t *r, int keys, const op_t *op, const ctx_t *c) {
  lua_State *L = r->L;
  if (op->nseg == 0) {
    lua_pushvalue(L, r->ctx->idx);
    return r->ctx->type;
  }
  for (; c; c = c->prev) {
    int tt = get_key(L, c->idx, c->type, keys, op->key);
    if (tt == LUA_TNIL) continue;
    for (uint32_t i = 1; i < op->nseg; i++) {
      tt = get_key(L, lua_gettop(L), tt, keys, op->key + i);
      if (tt == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushnil(L);
        return LUA_TNIL;
      }
      lua_replace(L, -2);
    }
    return tt;
  }
  lua_pushnil(L);
  return LUA_TNIL;
}

/* Pushes the value of the instruction's name and returns its type: the first context (innermost
 * first) that has the first segment, then the rest of the dotted name inside it; nil when any
 * part is missing. The usual case, a plain name found in the innermost context, a table, is inline. */
static inline int lookup(render_t *r, int keys, const op_t *op) {
  const ctx_t *c = r->ctx;
  if (op->nseg == 1 && c->type == LUA_TTABLE) {
    lua_getiuservalue(r->L, keys, (int)op->key);
    int tt = lua_gettable(r->L, c->idx);
    if (tt != LUA_TNIL && tt != LUA_TLIGHTUSERDATA) return tt;
    if (tt == LUA_TLIGHTUSERDATA && lua_touserdata(r->L, -1) != NULL) return tt;
    lua_settop(r->L, -2);
    c = c->prev;
  }
  return lookup_from(r, keys, op, c);
}

/* Falsey: nil, false, null, "", and tables with neither elements nor fields (an empty list). */
static int truthy(lua_State *L, int idx, int type) {
  switch (type) {
    case LUA_TNIL: return 0;
    case LUA_TBOOLEAN: return lua_toboolean(L, idx);
    case LUA_TLIGHTUSERDATA: return lua_touserdata(L, idx) != NULL;
    case LUA_TSTRING: return lua_rawlen(L, idx) > 0;
    case LUA_TTABLE:
      if (lua_rawlen(L, idx) > 0) return 1;
      if (lua_getmetatable(L, idx)) { /* an object, even with no fields of its own */
        lua_pop(L, 1);
        return 1;
      }
      lua_pushnil(L);
      if (lua_next(L, idx)) {
        lua_pop(L, 2);
        return 1;
      }
      return 0;
    default: return 1;
  }
}

static size_t format_int(char *buf, long long v) {
  char tmp[24];
  size_t n = 0;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  size_t len = 0;
  if (v < 0) buf[len++] = '-';
  while (n) buf[len++] = tmp[--n];
  return len;
}

/* Numbers print as Lua writes them, except that whole floats lose their ".0" (3.0 prints 3). */
static size_t format_number(lua_State *L, int idx, char *buf, size_t size) {
  if (lua_isinteger(L, idx)) return format_int(buf, (long long)lua_tointeger(L, idx));
  double d = (double)lua_tonumber(L, idx);
  if (d >= -1e15 && d <= 1e15 && d == (double)(long long)d) return format_int(buf, (long long)d);
  int n = snprintf(buf, size, "%.14g", d);
  return n > 0 ? (size_t)n : 0;
}

/* Prints the value on top of the stack, of type type. */
static void put_value(render_t *r, int type, int escape) {
  lua_State *L = r->L;
  const int idx = -1;
  size_t n;
  const char *s;
  switch (type) {
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &n);
      break;
    case LUA_TNUMBER: /* digits, signs, '.', 'e', "inf", "nan": nothing to escape */
      reserve(r, 64);
      r->out->len += format_number(L, idx, r->out->data + r->out->len, 64);
      r->out->data[r->out->len] = '\0';
      return;
    case LUA_TBOOLEAN:
      s = lua_toboolean(L, idx) ? "true" : "false";
      n = strlen(s);
      break;
    case LUA_TTABLE:
    case LUA_TUSERDATA:
      if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) return;
      lua_pop(L, 1);
      s = luaL_tolstring(L, -1, &n);
      if (escape) put_escaped(r, s, n); else put(r, s, n);
      lua_pop(L, 1);
      return;
    default: /* nil, null; functions are lambdas, handled by the caller */
      return;
  }
  if (escape) put_escaped(r, s, n); else put(r, s, n);
}

/* A lambda's result as template source: strings and numbers; nil and false mean nothing. */
static const char *lambda_text(lua_State *L, size_t *n) {
  int tt = lua_type(L, -1);
  if (tt == LUA_TSTRING || tt == LUA_TNUMBER) return lua_tolstring(L, -1, n);
  if (tt == LUA_TNIL || (tt == LUA_TBOOLEAN && !lua_toboolean(L, -1)) ||
      (tt == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL))
    return NULL;
  return luaL_tolstring(L, -1, n);
}

static void enter(render_t *r, const qr_template_t *t, const op_t *op, const char *what) {
  if (++r->depth > QR_TEMPLATE_MAX_DEPTH)
    render_error(r->L, "%s:%d:%d: %s nested more than %d deep (does a template include itself?)", t->name,
                 (int)op->line, (int)op->col, what, QR_TEMPLATE_MAX_DEPTH);
}

/* Compiles a lambda's result and pushes its userdata; raises when it does not compile. */
static const qr_template_t *compile_lambda(render_t *r, const qr_template_t *t, const op_t *op, const char *s,
                                           size_t n, const char *otag, size_t olen, const char *ctag,
                                           size_t clen) {
  char name[256];
  snprintf(name, sizeof name, "lambda at %s:%u:%u", t->name, op->line, op->col);
  return load(r->L, s, n, name, otag, olen, ctag, clen);
}

/* {{name}} where name is a function: its result is rendered with the default delimiters, then
 * printed like a value (escaped unless raw). */
static void interpolate_lambda(render_t *r, const qr_template_t *t, const op_t *op, int fn) {
  lua_State *L = r->L;
  int base = lua_gettop(L);
  lua_pushvalue(L, fn);
  lua_call(L, 0, 1);
  size_t n;
  const char *s = lambda_text(L, &n);
  if (s) {
    const qr_template_t *lt = compile_lambda(r, t, op, s, n, "{{", 2, "}}", 2);
    int keys = lua_gettop(L);
    luaL_checkstack(L, STACK_PER_LEVEL, "template nesting");
    outbuf_t *tmp = push_outbuf(L);
    qr_buf_t *out = r->out;
    indent_t saved;
    indent_push(r, NULL, 0, &saved);
    int pending = r->pending;
    r->out = &tmp->b, r->indent = "", r->indent_len = 0, r->pending = 0;
    enter(r, t, op, "lambdas");
    render_range(r, lt, keys, 0, lt->nops);
    r->depth--;
    r->out = out, r->pending = pending;
    indent_pop(r, &saved);
    flush_indent(r);
    if (op->kind == OP_VAR) put_escaped(r, tmp->b.data ? tmp->b.data : "", tmp->b.len);
    else put(r, tmp->b.data ? tmp->b.data : "", tmp->b.len);
    qr_buf_free(&tmp->b);
  } else {
    flush_indent(r);
  }
  lua_settop(L, base);
}

/* {{#name}}...{{/name}} where name is a function: it gets the raw body and its result is rendered
 * in place with the delimiters in force at the section tag. */
static void section_lambda(render_t *r, const qr_template_t *t, const op_t *op, int fn) {
  lua_State *L = r->L;
  int base = lua_gettop(L);
  lua_pushvalue(L, fn);
  lua_pushlstring(L, t->src + op->body, op->body_len);
  lua_call(L, 1, 1);
  size_t n;
  const char *s = lambda_text(L, &n);
  if (s) {
    const char *otag = t->pool + op->str, *ctag = otag + op->len + 1;
    const qr_template_t *lt = compile_lambda(r, t, op, s, n, otag, op->len, ctag, strlen(ctag));
    enter(r, t, op, "lambdas");
    luaL_checkstack(L, STACK_PER_LEVEL, "template nesting");
    render_range(r, lt, lua_gettop(L), 0, lt->nops);
    r->depth--;
  }
  lua_settop(L, base);
}

/* Finds the partial or parent the instruction names. Pushes one value, its userdata (or another
 * value when there is none: an error in strict mode). Each name is resolved once per
 * render, or once for all renders sharing a cache. */
static const qr_template_t *resolve(render_t *r, const qr_template_t *t, int keys, const op_t *op) {
  lua_State *L = r->L;
  if (op->flags & F_DYNAMIC) {
    int tt = lookup(r, keys, op);
    if (tt != LUA_TSTRING && tt != LUA_TNUMBER) return NULL; /* a context miss renders nothing */
    lua_tostring(L, -1);
  } else {
    lua_getiuservalue(L, keys, (int)op->key);
  }
  int name = lua_gettop(L);
  if (!r->cache) {
    lua_newtable(L);
    lua_replace(L, r->cache_slot);
    r->cache = r->cache_slot;
  }
  lua_pushvalue(L, name);
  const qr_template_t *p = NULL;
  int tt = lua_rawget(L, r->cache);
  if (tt == LUA_TBOOLEAN && r->strict)
    render_error(L, "%s:%d:%d: partial '%s' not found", t->name, (int)op->line, (int)op->col, lua_tostring(L, name));
  if (tt == LUA_TNIL) {
    lua_pop(L, 1);
    if (r->resolver) {
      lua_pushvalue(L, r->resolver);
      lua_pushvalue(L, name);
      if (r->partials) lua_pushvalue(L, r->partials); else lua_pushnil(L);
      lua_call(L, 2, 2);
      p = qr_template_to(L, -2);
      if (!p && !lua_isnil(L, -2) && !(lua_isboolean(L, -2) && !lua_toboolean(L, -2)))
        render_error(L, "%s:%d:%d: the template resolver returned a %s for '%s'", t->name, (int)op->line,
                     (int)op->col, luaL_typename(L, -2), lua_tostring(L, name));
    } else {
      lua_pushnil(L);
      lua_pushnil(L);
    }
    if (!p && r->strict)
      render_error(L, "%s:%d:%d: partial '%s' not found%s", t->name, (int)op->line, (int)op->col,
                   lua_tostring(L, name), lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    if (!p) {
      lua_pop(L, 1);
      lua_pushboolean(L, 0);
    }
    if (p || !r->shared) { /* a shared cache would grow with every bad dynamic name */
      lua_pushvalue(L, name);
      lua_pushvalue(L, -2);
      lua_rawset(L, r->cache);
    }
  } else if (tt == LUA_TUSERDATA) {
    p = ((tpl_ud *)lua_touserdata(L, -1))->t; /* only checked templates go into caches */
  }
  lua_replace(L, name); /* [userdata | false] */
  return p;
}

/* Renders a partial or parent p (its userdata at stack slot pkeys) included by op: standalone ones indent every line
 * of p by the tag's indentation; inline ones are not indented at all. */
static void include(render_t *r, const qr_template_t *t, const op_t *op, const qr_template_t *p, int pkeys) {
  indent_t saved;
  enter(r, t, op, "partials");
  luaL_checkstack(r->L, STACK_PER_LEVEL, "template nesting");
  if (op->flags & F_STANDALONE) {
    indent_push(r, t->pool + op->str, op->len, &saved);
    r->pending = 1;
  } else {
    flush_indent(r);
    indent_push(r, NULL, 0, &saved);
    r->indent = "", r->indent_len = 0;
  }
  render_range(r, p, pkeys, 0, p->nops);
  indent_pop(r, &saved);
  r->depth--;
}

/* {{$name}}: the argument given by the outermost parent tag that names this block, else the
 * default content; indented by the block's own indentation. */
static void block(render_t *r, const qr_template_t *t, int keys, uint32_t i) {
  const op_t *op = &t->ops[i];
  const char *name = t->pool + op->name;
  const qr_template_t *bt = t;
  int bkeys = keys;
  uint32_t bi = i;
  for (const frame_t *f = r->frames; f; f = f->prev) {
    uint32_t end = f->t->ops[f->op].end;
    for (uint32_t j = f->op + 1; j < end; j = f->t->ops[j].end) {
      if (strcmp(f->t->pool + f->t->ops[j].name, name) == 0) {
        bt = f->t, bkeys = f->keys, bi = j;
        break;
      }
    }
  }
  indent_t saved;
  enter(r, t, op, "blocks");
  luaL_checkstack(r->L, STACK_PER_LEVEL, "template nesting");
  indent_push(r, t->pool + op->str, op->len, &saved);
  render_range(r, bt, bkeys, bi + 1, bt->ops[bi].end);
  indent_pop(r, &saved);
  r->depth--;
}

/* {{name}}, {{{name}}}: after the instruction's text prefix, the value (or a lambda's result).
 * Leaves the value on the stack: render_range pops them in batches. */
static inline void run_var(render_t *r, const qr_template_t *t, int keys, const op_t *op) {
  if (op->len) put_text(r, t, op);
  int tt = lookup(r, keys, op);
  if (tt == LUA_TFUNCTION) {
    interpolate_lambda(r, t, op, lua_gettop(r->L));
  } else {
    flush_indent(r);
    put_value(r, tt, op->kind == OP_VAR);
  }
}

static void run_section(render_t *r, const qr_template_t *t, int keys, const op_t *op) {
  lua_State *L = r->L;
  uint32_t body = (uint32_t)(op - t->ops) + 1;
  int tt = lookup(r, keys, op), v = lua_gettop(L);
  luaL_checkstack(L, STACK_PER_LEVEL, "template nesting");
  if (tt == LUA_TFUNCTION) {
    section_lambda(r, t, op, v);
  } else if (tt == LUA_TTABLE && lua_rawlen(L, v) > 0) {
    lua_Unsigned n = lua_rawlen(L, v);
    for (lua_Unsigned k = 1; k <= n; k++) {
      ctx_t c = {v + 1, lua_rawgeti(L, v, (lua_Integer)k), r->ctx};
      r->ctx = &c;
      render_range(r, t, keys, body, op->end);
      r->ctx = c.prev;
      lua_settop(L, v);
    }
  } else if (truthy(L, v, tt)) {
    ctx_t c = {v, tt, r->ctx};
    r->ctx = &c;
    render_range(r, t, keys, body, op->end);
    r->ctx = c.prev;
  }
  lua_settop(L, v - 1);
}

static void run_inverted(render_t *r, const qr_template_t *t, int keys, const op_t *op) {
  int tt = lookup(r, keys, op);
  int show = tt != LUA_TFUNCTION && !truthy(r->L, lua_gettop(r->L), tt);
  lua_settop(r->L, -2);
  if (show) {
    luaL_checkstack(r->L, STACK_PER_LEVEL, "template nesting");
    render_range(r, t, keys, (uint32_t)(op - t->ops) + 1, op->end);
  }
}

static void run_partial(render_t *r, const qr_template_t *t, int keys, const op_t *op) {
  lua_State *L = r->L;
  int top = lua_gettop(L);
  const qr_template_t *p = resolve(r, t, keys, op);
  if (p) {
    if (op->kind == OP_PARENT) {
      frame_t f = {t, keys, (uint32_t)(op - t->ops), r->frames};
      r->frames = &f;
      include(r, t, op, p, top + 1);
      r->frames = f.prev;
    } else {
      include(r, t, op, p, top + 1);
    }
  }
  lua_settop(L, top);
}

/* Runs instructions [i, end) of t (its userdata at stack slot keys). The callers make sure the Lua
 * stack has room: each nesting level uses a few slots. */
static void render_range(render_t *r, const qr_template_t *t, int keys, uint32_t i, uint32_t end) {
  if (i == end) return; /* nothing to run; an empty template has no instruction array (ops NULL) */
  const op_t *op = t->ops + i, *stop = t->ops + end;
  int top = lua_gettop(r->L), held = 0;
  while (op < stop) {
    switch (op->kind) {
      case OP_TEXT:
        put_text(r, t, op);
        op++;
        break;
      case OP_VAR:
      case OP_RAW:
        run_var(r, t, keys, op);
        if (++held == POP_BATCH) {
          lua_settop(r->L, top);
          held = 0;
        }
        op++;
        break;
      case OP_SECTION:
        run_section(r, t, keys, op);
        op = t->ops + op->end;
        break;
      case OP_INVERTED:
        run_inverted(r, t, keys, op);
        op = t->ops + op->end;
        break;
      case OP_PARTIAL:
        run_partial(r, t, keys, op);
        op++;
        break;
      case OP_PARENT:
        run_partial(r, t, keys, op);
        op = t->ops + op->end;
        break;
      case OP_BLOCK:
        block(r, t, keys, (uint32_t)(op - t->ops));
        op = t->ops + op->end;
        break;
      default:
        op++;
    }
  }
  if (held) lua_settop(r->L, top);
}

void qr_template_render(lua_State *L, int tpl, const qr_template_render_opts_t *o) {
  tpl = lua_absindex(L, tpl);
  const qr_template_t *t = qr_template_to(L, tpl);
  if (!t) luaL_typeerror(L, tpl, "template");
  luaL_checkstack(L, STACK_PER_LEVEL + 4, "template render");
  int base = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &shared_key) == LUA_TNIL) {
    lua_pop(L, 1);
    push_outbuf(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &shared_key);
  }
  outbuf_t *ob = lua_touserdata(L, base + 1);
  int shared = !ob->busy;
  if (shared) {
    /* Reuse the state's buffer; closing the slot (on return or on error) hands it back. */
    ob->busy = 1;
    ob->b.len = 0;
    lua_toclose(L, base + 1);
  } else {
    /* A render inside a render (from a lambda or a metamethod): a buffer of its own. */
    lua_pop(L, 1);
    ob = push_outbuf(L);
  }
  /* base + 2: partials resolved: the caller's shared cache, or one made on first use */
  if (o->cache) {
    if (!lua_getmetatable(L, o->cache) || (luaL_getmetatable(L, CACHE_MT), !lua_rawequal(L, -1, -2)))
      luaL_typeerror(L, o->cache, "template cache (from qr_template_push_cache)");
    lua_pop(L, 2);
    lua_pushvalue(L, o->cache);
  } else {
    lua_pushnil(L);
  }
  if (o->view) lua_pushvalue(L, o->view); else lua_pushnil(L);
  ctx_t root = {base + 3, lua_type(L, base + 3), NULL};
  render_t rs, *r = &rs;
  memset(r, 0, offsetof(render_t, ibuf));
  r->L = L, r->out = &ob->b, r->ctx = &root, r->indent = "", r->pending = 1;
  r->resolver = o->resolver, r->partials = o->partials, r->strict = o->strict, r->cache_slot = base + 2;
  if (o->cache) r->cache = base + 2, r->shared = 1;
  render_range(r, t, tpl, 0, t->nops);
  lua_pushlstring(L, ob->b.data ? ob->b.data : "", ob->b.len);
  if (shared) lua_closeslot(L, base + 1); else qr_buf_free(&ob->b);
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
}

void qr_template_push_cache(lua_State *L) {
  lua_newtable(L);
  if (luaL_newmetatable(L, CACHE_MT)) {
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
}
