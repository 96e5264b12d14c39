/* Content model helpers that must be byte-exact and fast: slugs and the text check. The
 * entry/term/revision/comment logic is in lua/quire/content/ over the store; the rules (which
 * column is required, its limits) are in lua/quire/types.lua. */
#ifndef QR_CONTENT_H
#define QR_CONTENT_H
#include <stddef.h>

/* Writes a URL slug for text (UTF-8) into out (cap bytes, NUL-terminated): lowercase ASCII
 * letters and digits separated by single '-', Latin accents folded ("Crème Brûlée" ->
 * "creme-brulee", "Straße" -> "strasse"), other characters dropped, cut at a '-' so it fits.
 * Returns the slug length; 0 when nothing usable remains (the caller picks a fallback). */
size_t qr_content_slugify(const char *text, size_t len, char *out, size_t cap);

/* 1 when slug is a valid explicit slug: 1..max bytes of [a-z0-9-], no leading, trailing or
 * doubled '-'. */
int qr_content_slug_valid(const char *slug, size_t len, size_t max);

/* What qr_content_text_check finds wrong with a text value, in the order it checks. */
typedef enum {
  QR_TEXT_OK = 0,
  QR_TEXT_MISSING, /* blank (only when required) */
  QR_TEXT_UTF8,    /* not valid UTF-8 */
  QR_TEXT_CHAR,    /* a character XML 1.0 cannot carry, or a Unicode noncharacter */
  QR_TEXT_BYTES,   /* over max_bytes */
  QR_TEXT_CHARS    /* over max_chars */
} qr_text_problem_t;

typedef struct {
  long cp;        /* QR_TEXT_CHAR: the code point */
  size_t char_at; /* QR_TEXT_CHAR: its character number, from 1 */
  size_t chars;   /* QR_TEXT_CHARS: the number of characters */
  int padded;     /* QR_TEXT_OK: s starts or ends with whitespace (Lua's %s) */
} qr_text_info_t;

/* The check of every stored text column (core.text_check in Lua, text_check() in SQL, so a
 * save and a set-based write refuse the same text). required: a blank s is QR_TEXT_MISSING;
 * max_chars, max_bytes: negative for no limit. info (caller's, may be NULL) says more. */
qr_text_problem_t qr_content_text_check(const char *s, size_t len, int required, long long max_chars,
                                        long long max_bytes, qr_text_info_t *info);

/* The name of a problem as Lua and SQL give it ("missing", "utf8", "char", "bytes", "chars"), or
 * NULL for QR_TEXT_OK. Static storage. */
const char *qr_content_text_problem(qr_text_problem_t p);

/* The first code point of valid UTF-8 s that XML 1.0 cannot carry (C0 controls but tab, LF and
 * CR) or that is a noncharacter (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF), with its byte offset in *at;
 * -1 when there is none. */
long qr_content_xml_bad(const char *s, size_t len, size_t *at);

/* The number of code points in the first n bytes of UTF-8 s. */
size_t qr_content_chars(const char *s, size_t n);

/* The text of HTML s (n bytes) for plain-text summaries, written to out (the caller's, at least n
 * bytes: the text is never longer); returns its length. Each tag ("<" to the next ">") becomes a
 * space, &lt; &gt; &quot; &#39; &amp; their characters (other references are left as they are),
 * each run of whitespace (Lua's %s) one space, and a space at either end is dropped: the bytes
 * the Lua patterns "<[^>]*>" -> " ", "&(#?%w+);" -> the five, "%s+" -> " " and a trim give. */
size_t qr_content_html_text(const char *s, size_t n, char *out);

#endif
