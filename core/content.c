/* Slug making and checking for entries and terms, and the check of every stored text. */
#include "content.h"

#include <string.h>

#include "util.h"

/* ASCII for U+00C0..U+017F (Latin-1 Supplement letters and Latin Extended-A); "" drops it. */
static const char *const latin_fold[] = {
    /* C0 */ "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    /* D0 */ "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "ss",
    /* E0 */ "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    /* F0 */ "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "y",
    /* 100 */ "a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",
    /* 110 */ "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
    /* 120 */ "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",
    /* 130 */ "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",
    /* 140 */ "l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
    /* 150 */ "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",
    /* 160 */ "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
    /* 170 */ "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",
};

size_t qr_content_slugify(const char *text, size_t len, char *out, size_t cap) {
  size_t n = 0, last_word_end = 0;
  int pending_dash = 0, truncated = 0;
  if (cap == 0) return 0;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    int step = qr_utf8_decode(text + i, len - i, &cp);
    if (!step) { /* malformed byte: treat as a separator */
      i++;
      pending_dash = n > 0;
      continue;
    }
    i += (size_t)step;
    char ascii[3] = {0};
    const char *piece = NULL;
    if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
      ascii[0] = (char)cp;
      piece = ascii;
    } else if (cp >= 'A' && cp <= 'Z') {
      ascii[0] = (char)(cp - 'A' + 'a');
      piece = ascii;
    } else if (cp >= 0xC0 && cp <= 0x17F) {
      piece = latin_fold[cp - 0xC0];
    } else if (cp == '\'' || cp == 0x2019) { /* apostrophes join: "china's" -> "chinas" */
      continue;
    }
    if (!piece || !*piece) {
      pending_dash = n > 0;
      continue;
    }
    size_t plen = strlen(piece);
    if (n + (size_t)pending_dash + plen >= cap) {
      truncated = 1;
      break;
    }
    if (pending_dash) {
      last_word_end = n;
      out[n++] = '-';
      pending_dash = 0;
    }
    memcpy(out + n, piece, plen);
    n += plen;
  }
  /* A slug cut short by cap ends at the last whole word. */
  if (truncated && last_word_end > 0) n = last_word_end;
  out[n] = '\0';
  return n;
}

int qr_content_slug_valid(const char *slug, size_t len, size_t max) {
  if (len == 0 || len > max || slug[0] == '-' || slug[len - 1] == '-') return 0;
  for (size_t i = 0; i < len; i++) {
    char c = slug[i];
    if (c == '-' && slug[i + 1] == '-') return 0;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
  }
  return 1;
}

/* The first code point of valid UTF-8 s that XML 1.0 cannot carry (its Char production), or a
 * Unicode noncharacter, with its byte offset in *at; -1 when there is none. Those are C0
 * controls but tab, LF and CR, U+FDD0..U+FDEF and U+xFFFE/U+xFFFF of every plane (surrogates
 * are not valid UTF-8). One pass; only bytes that can start such a character are decoded. */
/* Bytes qr_content_xml_bad must look at: C0 controls but tab, LF and CR; lead bytes 0xEF..0xF4. */
static const unsigned char xml_look[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    [0xEF] = 1, [0xF0] = 1, [0xF1] = 1, [0xF2] = 1, [0xF3] = 1, [0xF4] = 1, [0xF5] = 1, [0xF6] = 1,
    [0xF7] = 1};

long qr_content_xml_bad(const char *str, size_t len, size_t *at) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    /* The common case: eight bytes at a time while none is below 0x20 or above 0x7F (a byte
     * below 0x20 sets its high bit in w - 0x20...20, or borrows and sets the next one's); then
     * the next eight a byte at a time. */
    for (uint64_t w; i + 8 <= len; i += 8) {
      memcpy(&w, s + i, 8);
      if ((w | (w - 0x2020202020202020u)) & 0x8080808080808080u) break;
    }
    for (size_t stop = len - i < 8 ? len : i + 8; i < stop; i++) {
      if (!xml_look[s[i]]) continue;
      unsigned char c = s[i];
      if (c < 0x20) {
        if (c == '\t' || c == '\n' || c == '\r') continue;
        *at = i;
        return c;
      }
      if (c < 0xEF) continue;
      uint32_t cp;
      int n = qr_utf8_decode((const char *)s + i, len - i, &cp);
      if (n <= 0) continue; /* the caller checked the UTF-8 */
      if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
        *at = i;
        return (long)cp;
      }
      i += (size_t)n - 1;
    }
  }
  return -1;
}

size_t qr_content_chars(const char *s, size_t n) {
  size_t chars = 0; /* the bytes that do not continue a code point */
  for (size_t i = 0; i < n; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
  return chars;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); } /* Lua's %s */

static int is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

/* One pass for the three substitutions: a tag's space and whitespace are never part of a
 * reference (which is "&", an optional "#", letters and digits, ";"), and no reference's
 * character is whitespace, so each step sees what the one before would have left. */
size_t qr_content_html_text(const char *str, size_t n, char *out) {
  const unsigned char *s = (const unsigned char *)str;
  size_t o = 0, i = 0;
  int closed = 1; /* a ">" may still follow (none after one "<" finds none: none after any later) */
  while (i < n) {
    unsigned char c = s[i];
    if (c == '<' && closed) {
      const unsigned char *gt = memchr(s + i + 1, '>', n - i - 1);
      if (gt) {
        if (o == 0 || out[o - 1] != ' ') out[o++] = ' ';
        i = (size_t)(gt - s) + 1;
        continue;
      }
      closed = 0;
    } else if (is_space(c)) {
      if (o == 0 || out[o - 1] != ' ') out[o++] = ' ';
      i++;
      continue;
    } else if (c == '&') {
      size_t j = i + 1;
      if (j < n && s[j] == '#') j++;
      size_t k = j;
      while (k < n && is_alnum(s[k])) k++;
      if (k > j && k < n && s[k] == ';') {
        const char *name = (const char *)s + i + 1;
        size_t len = k - i - 1;
        char ch = 0;
        if (len == 2 && memcmp(name, "lt", 2) == 0) ch = '<';
        else if (len == 2 && memcmp(name, "gt", 2) == 0) ch = '>';
        else if (len == 4 && memcmp(name, "quot", 4) == 0) ch = '"';
        else if (len == 3 && memcmp(name, "#39", 3) == 0) ch = '\'';
        else if (len == 3 && memcmp(name, "amp", 3) == 0) ch = '&';
        if (ch) out[o++] = ch;
        else {
          memcpy(out + o, s + i, k + 1 - i);
          o += k + 1 - i;
        }
        i = k + 1;
        continue;
      }
    }
    out[o++] = (char)c;
    i++;
  }
  size_t start = o > 0 && out[0] == ' ';
  if (o > start && out[o - 1] == ' ') o--;
  if (start) memmove(out, out + 1, o - 1);
  return o - start;
}

/* In the order saves have always checked: a bulk run makes thousands of these. */
qr_text_problem_t qr_content_text_check(const char *s, size_t len, int required, long long max_chars,
                                        long long max_bytes, qr_text_info_t *info) {
  qr_text_info_t dummy;
  if (!info) info = &dummy;
  memset(info, 0, sizeof *info);
  const unsigned char *u = (const unsigned char *)s;
  if (required) {
    size_t i = 0;
    while (i < len && is_space(u[i])) i++;
    if (i == len) return QR_TEXT_MISSING;
  }
  if (!qr_utf8_valid(s, len)) return QR_TEXT_UTF8;
  size_t at;
  long bad = qr_content_xml_bad(s, len, &at);
  if (bad >= 0) {
    info->cp = bad;
    info->char_at = qr_content_chars(s, at) + 1;
    return QR_TEXT_CHAR;
  }
  if (max_bytes >= 0 && len > (size_t)max_bytes) return QR_TEXT_BYTES;
  if (max_chars >= 0) {
    size_t n = qr_content_chars(s, len);
    if (n > (size_t)max_chars) {
      info->chars = n;
      return QR_TEXT_CHARS;
    }
  }
  info->padded = len > 0 && (is_space(u[0]) || is_space(u[len - 1]));
  return QR_TEXT_OK;
}

const char *qr_content_text_problem(qr_text_problem_t p) {
  switch (p) {
  case QR_TEXT_MISSING: return "missing";
  case QR_TEXT_UTF8: return "utf8";
  case QR_TEXT_CHAR: return "char";
  case QR_TEXT_BYTES: return "bytes";
  case QR_TEXT_CHARS: return "chars";
  default: return NULL;
  }
}
