/* Slug making and checking for entries and terms. */
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
