/* Lua 5.4 pattern matching written for Quire with a step counter: the same language and results
 * as the standard string library, but a search that runs past its step limit (or past the
 * caller's instruction budget) raises an error instead of holding the process in C. */
#include "pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "sandbox.h"

#define MAX_CAPTURES 32   /* as LUA_MAXCAPTURES */
#define MAX_DEPTH 200     /* nested backtracking points before "pattern too complex" */
#define STEPS_PER_BYTE 100 /* on top of the base: linear work on any subject fits */
#define CAP_OPEN (-1)     /* a capture whose ')' has not been reached */
#define CAP_POSITION (-2) /* "()": captures a position */

static long long steps_base = 1000000;

void qr_pattern_set_steps(long long base) {
  steps_base = base < 1 ? 1 : base > (1LL << 62) ? (1LL << 62) : base; /* base + 100/byte cannot overflow */
}
long long qr_pattern_steps_base(void) { return steps_base; }

typedef struct {
  lua_State *L;
  const char *fn;                 /* "find", ... for messages */
  const char *subj, *subj_end;    /* the subject */
  const char *pat, *pat_end;      /* the whole pattern (for messages) and its end */
  long long steps;                /* taken in this call */
  long long charged;              /* of which already charged to the instruction budget */
  long long cap;                  /* the pattern limit of this call (base + per byte) */
  long long stop;                 /* steps at which to look again: min(cap, budget left) */
  int depth;
  int ncap;
  /* A gsub or gmatch asks about the same set at every position: after a while its answer for
   * every byte is kept as a bitmap, and where it ends is remembered. */
  const char *set_open, *set_close; /* the set last looked at ('[' and its ']') */
  unsigned set_uses;
  int set_ready;
  unsigned char set_bits[32];
  struct {
    const char *at;
    ptrdiff_t len; /* or CAP_OPEN / CAP_POSITION */
  } caps[MAX_CAPTURES];
} matcher;

/* Charges what was counted since the last time to the running instruction budget (which raises
 * its own error when it runs out) and sets the next stop. */
static void settle(matcher *m) {
  lua_State *L = m->L;
  if (m->steps > m->charged) {
    qr_sandbox_charge(L, m->steps - m->charged);
    m->charged = m->steps;
  }
  long long left = qr_sandbox_budget_left(L);
  m->stop = m->cap;
  if (left < m->cap - m->steps) m->stop = m->steps + (left > 0 ? left : 0);
}

static void over_limit(matcher *m) {
  if (m->steps <= m->cap) settle(m); /* the budget ran out first: its error */
  if (m->steps <= m->cap) {          /* it did not raise (no budget): just look again later */
    return;
  }
  size_t plen = (size_t)(m->pat_end - m->pat);
  lua_pushlstring(m->L, m->pat, plen > 60 ? 60 : plen); /* a prefix is enough to find it */
  luaL_error(m->L,
             "string.%s: the pattern '%s%s' exceeded the pattern step limit of %I steps on a subject of %I "
             "bytes (limits.pattern_steps plus %d per byte): it backtracks too much; anchor it, make it "
             "plainer or match a shorter string",
             m->fn, lua_tostring(m->L, -1), plen > 60 ? "..." : "", (lua_Integer)m->cap,
             (lua_Integer)(m->subj_end - m->subj), STEPS_PER_BYTE);
}

#define STEP(m, n)                                                     \
  do {                                                                 \
    if (__builtin_expect(((m)->steps += (n)) > (m)->stop, 0)) over_limit(m); \
  } while (0)

static void matcher_init(matcher *m, lua_State *L, const char *fn, const char *s, size_t ls, const char *p,
                         size_t lp) {
  m->L = L;
  m->fn = fn;
  m->subj = s;
  m->subj_end = s + ls;
  m->pat = p;
  m->pat_end = p + lp;
  m->steps = m->charged = 0;
  m->cap = steps_base + (long long)ls * STEPS_PER_BYTE; /* ls < 2^48 on any machine we run on */
  m->stop = m->cap;
  settle(m);
  m->depth = 0;
  m->ncap = 0;
  m->set_open = m->set_close = NULL;
  m->set_uses = 0;
  m->set_ready = 0;
}

/* --- character classes */

/* The letter classes as bits, looked up in tables built once from <ctype.h> (quire never
 * changes the C locale): a call per character into the C library was a third of a gsub. */
enum { K_ALPHA = 1, K_CNTRL = 2, K_DIGIT = 4, K_GRAPH = 8, K_LOWER = 16, K_PUNCT = 32, K_SPACE = 64,
       K_UPPER = 128, K_ALNUM = 256, K_XDIGIT = 512, K_ZERO = 1024 };
static unsigned short char_bits[256];  /* subject byte -> the classes it is in */
static unsigned short letter_bits[256]; /* 'a' and 'A' -> K_ALPHA, ...; 0: not a class letter */

static void build_tables(void) {
  for (int c = 0; c < 256; c++) {
    char_bits[c] = (unsigned short)((isalpha(c) ? K_ALPHA : 0) | (iscntrl(c) ? K_CNTRL : 0) |
                                    (isdigit(c) ? K_DIGIT : 0) | (isgraph(c) ? K_GRAPH : 0) |
                                    (islower(c) ? K_LOWER : 0) | (ispunct(c) ? K_PUNCT : 0) |
                                    (isspace(c) ? K_SPACE : 0) | (isupper(c) ? K_UPPER : 0) |
                                    (isalnum(c) ? K_ALNUM : 0) | (isxdigit(c) ? K_XDIGIT : 0) | (c == 0 ? K_ZERO : 0));
  }
  static const char letters[] = "acdglpsuwxz"; /* %z: deprecated, still accepted by Lua 5.4 */
  for (int i = 0; letters[i]; i++) {
    letter_bits[(unsigned char)letters[i]] = (unsigned short)(1u << i);
    letter_bits[toupper((unsigned char)letters[i])] = (unsigned short)(1u << i);
  }
}

/* c against %<cl> (a letter class, or an escaped character taken literally); an upper-case
 * letter is the complement. */
static inline int class_has(int c, int cl) {
  unsigned bit = letter_bits[cl];
  if (!bit) return cl == c;
  int r = (char_bits[c] & bit) != 0;
  return (cl >= 'A' && cl <= 'Z') ? !r : r;
}

/* c against the set [..] from open ('[') to close (its ']'), element by element. */
static int set_scan(int c, const char *open, const char *close) {
  const char *q = open + 1;
  int want = 1;
  if (*q == '^') {
    want = 0;
    q++;
  }
  for (; q < close; q++) {
    if (*q == '%' && q + 1 < close) {
      q++;
      if (class_has(c, (unsigned char)*q)) return want;
    } else if (q + 2 < close && q[1] == '-') {
      if ((unsigned char)q[0] <= c && c <= (unsigned char)q[2]) return want;
      q += 2;
    } else if ((unsigned char)*q == c) {
      return want;
    }
  }
  return !want;
}

static int set_has(matcher *m, int c, const char *open, const char *close) {
  if (open == m->set_open) {
    if (m->set_ready) return (m->set_bits[c >> 3] >> (c & 7)) & 1;
    if (++m->set_uses == 64) {
      STEP(m, (close - open) * 16);
      for (int k = 0; k < 256; k++)
        if (set_scan(k, open, close)) m->set_bits[k >> 3] |= (unsigned char)(1u << (k & 7));
      m->set_ready = 1;
      return (m->set_bits[c >> 3] >> (c & 7)) & 1;
    }
  } else {
    m->set_open = open;
    m->set_close = NULL;
    m->set_uses = 0;
    m->set_ready = 0;
    memset(m->set_bits, 0, sizeof m->set_bits);
  }
  if (close - open > 16) STEP(m, (close - open) / 16); /* long sets cost in proportion */
  return set_scan(c, open, close);
}

/* The end of the single-character class starting at p: "%x", "[set]" or one character. */
static const char *item_end(matcher *m, const char *p) {
  if (*p == '%') {
    if (p + 1 >= m->pat_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
    return p + 2;
  }
  if (*p != '[') return p + 1;
  if (p == m->set_open && m->set_close) return m->set_close + 1;
  const char *q = p + 1;
  if (q < m->pat_end && *q == '^') q++;
  /* The first character of a set is taken as is, so "[]]" is a set holding ']'. */
  do {
    if (q >= m->pat_end) luaL_error(m->L, "malformed pattern (missing ']')");
    if (*q == '%' && q + 1 < m->pat_end) q++;
    q++;
  } while (q >= m->pat_end || *q != ']');
  if (p == m->set_open) m->set_close = q;
  return q + 1;
}

/* Does the character at s match the class p..ep? (Never past the subject's end.) */
static int one_char(matcher *m, const char *s, const char *p, const char *ep) {
  if (s >= m->subj_end) return 0;
  int c = (unsigned char)*s;
  switch (*p) {
    case '.': return 1;
    case '%': return class_has(c, (unsigned char)p[1]);
    case '[': return set_has(m, c, p, ep - 1);
    default: return (unsigned char)*p == c;
  }
}

/* --- matching */

static const char *match(matcher *m, const char *s, const char *p);

/* Greedy: as many as fit, then give back one at a time. */
static const char *greedy(matcher *m, const char *s, const char *p, const char *ep) {
  ptrdiff_t n = 0;
  while (one_char(m, s + n, p, ep)) {
    n++;
    STEP(m, 1);
  }
  for (; n >= 0; n--) {
    const char *r = match(m, s + n, ep + 1);
    if (r) return r;
  }
  return NULL;
}

/* Lazy: as few as possible, one more each time the rest fails. */
static const char *lazy(matcher *m, const char *s, const char *p, const char *ep) {
  for (;;) {
    const char *r = match(m, s, ep + 1);
    if (r) return r;
    if (!one_char(m, s, p, ep)) return NULL;
    s++;
  }
}

static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t what) {
  if (m->ncap >= MAX_CAPTURES) luaL_error(m->L, "too many captures");
  m->caps[m->ncap].at = s;
  m->caps[m->ncap].len = what;
  m->ncap++;
  const char *r = match(m, s, p);
  if (!r) m->ncap--;
  return r;
}

static const char *close_capture(matcher *m, const char *s, const char *p) {
  int i = m->ncap - 1;
  while (i >= 0 && m->caps[i].len != CAP_OPEN) i--;
  if (i < 0) luaL_error(m->L, "invalid pattern capture");
  m->caps[i].len = s - m->caps[i].at;
  const char *r = match(m, s, p);
  if (!r) m->caps[i].len = CAP_OPEN;
  return r;
}

/* %bxy at p (pointing at x): a balanced run from x to its y. */
static const char *balanced(matcher *m, const char *s, const char *p) {
  if (p + 1 >= m->pat_end) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= m->subj_end || *s != p[0]) return NULL;
  int depth = 1;
  const char *start = s;
  while (++s < m->subj_end) {
    if (*s == p[1]) {
      if (--depth == 0) {
        STEP(m, s - start);
        return s + 1;
      }
    } else if (*s == p[0]) {
      depth++;
    }
  }
  STEP(m, s - start);
  return NULL;
}

/* %1..%9: the same text as an earlier capture. */
static int capture_index(matcher *m, int digit) {
  int i = digit - '1';
  if (i < 0 || i >= m->ncap || m->caps[i].len == CAP_OPEN) luaL_error(m->L, "invalid capture index %%%d", i + 1);
  return i;
}

static const char *backref(matcher *m, const char *s, int digit) {
  int i = capture_index(m, digit);
  ptrdiff_t len = m->caps[i].len;
  if (len < 0 || m->subj_end - s < len) return NULL; /* a position capture matches nothing */
  STEP(m, len / 8);
  return memcmp(m->caps[i].at, s, (size_t)len) == 0 ? s + len : NULL;
}

static const char *match_body(matcher *m, const char *s, const char *p) {
  for (;;) {
    STEP(m, 1);
    if (p == m->pat_end) return s;
    switch (*p) {
      case '(':
        if (p + 1 < m->pat_end && p[1] == ')') return open_capture(m, s, p + 2, CAP_POSITION);
        return open_capture(m, s, p + 1, CAP_OPEN);
      case ')': return close_capture(m, s, p + 1);
      case '$':
        if (p + 1 == m->pat_end) return s == m->subj_end ? s : NULL;
        break; /* a '$' elsewhere is an ordinary character */
      case '%':
        if (p + 1 < m->pat_end) {
          char k = p[1];
          if (k == 'b') {
            s = balanced(m, s, p + 2);
            if (!s) return NULL;
            p += 4;
            continue;
          }
          if (k == 'f') {
            p += 2;
            if (p >= m->pat_end || *p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
            const char *ep = item_end(m, p);
            int before = s == m->subj ? 0 : (unsigned char)s[-1];
            int here = s < m->subj_end ? (unsigned char)*s : 0;
            if (set_has(m, before, p, ep - 1) || !set_has(m, here, p, ep - 1)) return NULL;
            p = ep;
            continue;
          }
          if (k >= '0' && k <= '9') {
            s = backref(m, s, (unsigned char)k);
            if (!s) return NULL;
            p += 2;
            continue;
          }
        }
        break;
      default: break;
    }
    /* One character class, maybe followed by a quantifier. */
    const char *ep = item_end(m, p);
    char q = ep < m->pat_end ? *ep : '\0';
    if (q == '*') return greedy(m, s, p, ep);
    if (q == '-') return lazy(m, s, p, ep);
    int hit = one_char(m, s, p, ep);
    if (q == '+') return hit ? greedy(m, s + 1, p, ep) : NULL;
    if (q == '?') {
      if (hit) {
        const char *r = match(m, s + 1, ep + 1);
        if (r) return r;
      }
      p = ep + 1;
      continue;
    }
    if (!hit) return NULL;
    s++;
    p = ep;
  }
}

static const char *match(matcher *m, const char *s, const char *p) {
  if (++m->depth > MAX_DEPTH) luaL_error(m->L, "pattern too complex");
  const char *r = match_body(m, s, p);
  m->depth--;
  return r;
}

/* --- where a match can start */

/* The bytes a match of p must start with, when its first item must take one (a literal, a class
 * or a set with no quantifier that allows none, after any opening captures; %b's opening byte):
 * a search then skips the bytes that cannot start one instead of trying the pattern at each (a
 * gsub over a page's text tried it at every byte). 0 when any byte might start a match, or when
 * the pattern's start is zero-width or malformed (the first attempt, made before, raised then). */
typedef struct {
  int state;             /* 0: not worked out yet, 1: bits hold, -1: no filter */
  int tries;             /* places tried before working it out */
  int only;              /* the one byte that can start a match, or -1 */
  unsigned char bits[32];
} starts;

static int start_bits(matcher *m, const char *p, unsigned char bits[32]) {
  while (p < m->pat_end && *p == '(') p += (p + 1 < m->pat_end && p[1] == ')') ? 2 : 1;
  if (p >= m->pat_end || *p == ')' || *p == '.' || (*p == '$' && p + 1 == m->pat_end)) return 0;
  memset(bits, 0, 32);
  if (*p == '%') {
    if (p + 1 >= m->pat_end) return 0;
    char k = p[1];
    if (k == 'b') {
      if (p + 3 >= m->pat_end) return 0;
      bits[(unsigned char)p[2] >> 3] = (unsigned char)(1u << ((unsigned char)p[2] & 7));
      return 1;
    }
    if (k == 'f' || (k >= '0' && k <= '9')) return 0;
  }
  const char *ep = item_end(m, p);
  if (ep < m->pat_end && (*ep == '*' || *ep == '-' || *ep == '?')) return 0;
  STEP(m, (ep - p) * 16); /* as set_has's bitmap */
  for (int c = 0; c < 256; c++) {
    int hit = *p == '%' ? class_has(c, (unsigned char)p[1]) : *p == '[' ? set_scan(c, p, ep - 1) : (unsigned char)*p == c;
    if (hit) bits[c >> 3] |= (unsigned char)(1u << (c & 7));
  }
  return 1;
}

/* The first place from at (not past end) where a match of pat can start; end when none. */
static const char *next_start(matcher *m, starts *f, const char *pat, const char *at) {
  if (f->state == 0) {
    /* (worked out after 64 places tried one by one: the 256 bytes cost a few thousand
     * instructions, more than a short subject's every place) */
    if (++f->tries < 64) return at;
    f->state = start_bits(m, pat, f->bits) ? 1 : -1;
    f->only = -1;
    if (f->state == 1) {
      int n = 0, last = 0;
      for (int c = 0; c < 256; c++)
        if ((f->bits[c >> 3] >> (c & 7)) & 1) n++, last = c;
      if (n == 1) f->only = last;
    }
  }
  if (f->state < 0 || at >= m->subj_end) return at;
  const char *next = at;
  if (f->only >= 0) {
    next = memchr(at, f->only, (size_t)(m->subj_end - at));
    if (!next) next = m->subj_end;
  } else {
    while (next < m->subj_end && !((f->bits[(unsigned char)*next >> 3] >> ((unsigned char)*next & 7)) & 1)) next++;
  }
  STEP(m, next - at); /* a step a place skipped, as a place tried costs at least: the budget still bounds a search */
  return next;
}

/* --- results */

/* Pushes capture i (or the whole match s..e when there are none and i is 0). */
static void push_capture(matcher *m, int i, const char *s, const char *e) {
  if (i >= m->ncap) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(m->L, s, (size_t)(e - s));
    return;
  }
  ptrdiff_t len = m->caps[i].len;
  if (len == CAP_OPEN) luaL_error(m->L, "unfinished capture");
  if (len == CAP_POSITION) lua_pushinteger(m->L, (lua_Integer)(m->caps[i].at - m->subj) + 1);
  else lua_pushlstring(m->L, m->caps[i].at, (size_t)len);
}

/* Pushes every capture (or the whole match when s is given and there are none); their count. */
static int push_captures(matcher *m, const char *s, const char *e) {
  int n = (m->ncap == 0 && s) ? 1 : m->ncap;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++) push_capture(m, i, s, e);
  return n;
}

/* A 1-based, possibly negative start position -> an offset (may be past the end). */
static size_t start_offset(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos - 1;
  if (pos == 0 || pos < -(lua_Integer)len) return 0;
  return (size_t)((lua_Integer)len + pos);
}

static int has_specials(const char *p, size_t n) {
  static const unsigned char special[256] = {['^'] = 1, ['$'] = 1, ['*'] = 1, ['+'] = 1, ['?'] = 1,
                                             ['.'] = 1, ['('] = 1, ['['] = 1, ['%'] = 1, ['-'] = 1};
  for (size_t i = 0; i < n; i++)
    if (special[(unsigned char)p[i]]) return 1;
  return 0;
}

static void begin_attempt(matcher *m) {
  m->ncap = 0;
  m->depth = 0;
}

/* The first place of p (lp > 0 bytes) in s: memchr to each place of p's first byte, then memcmp,
 * a fraction of memmem's cost a byte when that byte is rare (text searched for "```" or "<img ");
 * memmem (linear in the subject whatever the needle, a few instructions a byte) for the rest once
 * the false places cost more than that: each counted as its two calls and its bytes. */
static const char *plain_find(const char *s, size_t ls, const char *p, size_t lp) {
  if (lp == 1) return memchr(s, *p, ls);
  const char *at = s, *end = s + ls;
  size_t spent = 0;
  while ((size_t)(end - at) >= lp) {
    const char *c = memchr(at, *p, (size_t)(end - at) - lp + 1);
    if (!c) return NULL;
    if (memcmp(c + 1, p + 1, lp - 1) == 0) return c;
    at = c + 1;
    spent += 16 + lp;
    if (spent > 2 * (size_t)(at - s) + 256) return memmem(at, (size_t)(end - at), p, lp);
  }
  return NULL;
}

static int find_or_match(lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
  if (init > ls) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
    /* Plain text: linear in the subject whatever the needle (plain_find). */
    const char *hit = lp == 0 ? s + init : plain_find(s + init, ls - init, p, lp);
    if (!hit) {
      luaL_pushfail(L);
      return 1;
    }
    lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
    lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
    return 2;
  }
  matcher m;
  matcher_init(&m, L, find ? "find" : "match", s, ls, p, lp);
  int anchored = lp > 0 && *p == '^';
  const char *pat = anchored ? p + 1 : p;
  const char *at = s + init;
  starts f = {0};
  do {
    begin_attempt(&m);
    const char *e = match(&m, at, pat);
    if (e) {
      settle(&m);
      if (!find) return push_captures(&m, at, e);
      lua_pushinteger(L, (lua_Integer)(at - s) + 1);
      lua_pushinteger(L, (lua_Integer)(e - s));
      return push_captures(&m, NULL, NULL) + 2;
    }
    if (anchored || at == m.subj_end) break;
    at = next_start(&m, &f, pat, at + 1);
  } while (1);
  settle(&m);
  luaL_pushfail(L);
  return 1;
}

static int l_find(lua_State *L) { return find_or_match(L, 1); }
static int l_match(lua_State *L) { return find_or_match(L, 0); }

/* gmatch's state between calls: offsets into the subject (upvalue 1; pattern upvalue 2). */
typedef struct {
  size_t at;       /* where the next search starts */
  size_t last;     /* the end of the last match (no empty match there), or SIZE_MAX */
} gmatch_state;

static int gmatch_next(lua_State *L) {
  size_t ls, lp;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
  matcher m;
  matcher_init(&m, L, "gmatch", s, ls, p, lp);
  starts f = {0};
  for (const char *at = s + g->at; at <= m.subj_end; at = at == m.subj_end ? at + 1 : next_start(&m, &f, p, at + 1)) {
    begin_attempt(&m);
    const char *e = match(&m, at, p);
    if (e && (size_t)(e - s) != g->last) {
      g->at = g->last = (size_t)(e - s);
      settle(&m);
      return push_captures(&m, at, e);
    }
  }
  g->at = ls + 1;
  settle(&m);
  return 0;
}

static int l_gmatch(lua_State *L) {
  size_t ls;
  luaL_checklstring(L, 1, &ls);
  luaL_checkstring(L, 2);
  size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
  if (init > ls) init = ls + 1;
  lua_settop(L, 2);
  gmatch_state *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->at = init;
  g->last = SIZE_MAX;
  lua_pushcclosure(L, gmatch_next, 3);
  return 1;
}

/* Appends the replacement string (argument 3) for the match s..e: %0-%9 and %%. */
static void add_template(matcher *m, luaL_Buffer *b, const char *s, const char *e) {
  size_t l;
  const char *r = lua_tolstring(m->L, 3, &l);
  const char *end = r + l;
  while (r < end) {
    const char *pct = memchr(r, '%', (size_t)(end - r));
    if (!pct) {
      luaL_addlstring(b, r, (size_t)(end - r));
      return;
    }
    luaL_addlstring(b, r, (size_t)(pct - r));
    char k = pct + 1 < end ? pct[1] : '\0';
    if (k == '%') {
      luaL_addchar(b, '%');
    } else if (k == '0') {
      luaL_addlstring(b, s, (size_t)(e - s));
    } else if (k >= '1' && k <= '9') {
      push_capture(m, k - '1', s, e);
      luaL_tolstring(m->L, -1, NULL); /* a position capture becomes its digits */
      lua_remove(m->L, -2);
      luaL_addvalue(b);
    } else {
      luaL_error(m->L, "invalid use of '%%' in replacement string");
    }
    r = pct + 2;
  }
}

/* Appends what replaces the match s..e; 1 if it was replaced, 0 if kept (false or nil). */
static int add_replacement(matcher *m, luaL_Buffer *b, const char *s, const char *e, int kind) {
  lua_State *L = m->L;
  if (kind == LUA_TSTRING || kind == LUA_TNUMBER) {
    add_template(m, b, s, e);
    return 1;
  }
  settle(m); /* plugin code runs next: its budget must be up to date */
  if (kind == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = push_captures(m, s, e);
    lua_call(L, n, 1);
  } else {
    push_capture(m, 0, s, e);
    lua_gettable(L, 3);
  }
  settle(m);
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return 0;
  }
  if (!lua_isstring(L, -1)) return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return 1;
}

static int l_gsub(lua_State *L) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  int kind = lua_type(L, 3);
  lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE, 3,
                   "string/function/table");
  matcher m;
  matcher_init(&m, L, "gsub", s, ls, p, lp);
  int anchored = lp > 0 && *p == '^';
  const char *pat = anchored ? p + 1 : p;
  const char *at = s, *last = NULL;
  lua_Integer n = 0;
  int changed = 0;
  luaL_Buffer b;
  starts f = {0};
  luaL_buffinit(L, &b);
  while (n < max) {
    begin_attempt(&m);
    const char *e = match(&m, at, pat);
    if (e && e != last) {
      n++;
      changed |= add_replacement(&m, &b, at, e, kind);
      at = last = e;
    } else if (at < m.subj_end) {
      /* the bytes up to where a match can start again, copied as they are */
      const char *next = anchored ? at + 1 : next_start(&m, &f, pat, at + 1);
      luaL_addlstring(&b, at, (size_t)(next - at));
      at = next;
    } else {
      break;
    }
    if (anchored) break;
  }
  settle(&m);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, at, (size_t)(m.subj_end - at));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

void qr_pattern_install(lua_State *L) {
  if (!letter_bits['a']) build_tables();
  static const luaL_Reg fns[] = {
      {"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub}, {NULL, NULL}};
  lua_getglobal(L, "string");
  /* The standard library's own functions stay in the registry for the differential spec
   * (core.stock_patterns); no plugin or script can reach them. */
  lua_createtable(L, 0, 4);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_getfield(L, -2, f->name);
    lua_setfield(L, -2, f->name);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, QR_PATTERN_STOCK);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}
