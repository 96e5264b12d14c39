/* Unit tests for slugs and UTF-8 validation. */
#include "check.h"
#include "content.h"
#include "util.h"

static const char *slug(const char *text, size_t cap) {
  static char out[256];
  qr_content_slugify(text, strlen(text), out, cap);
  return out;
}

static const char *html_text(const char *html) {
  static char out[256];
  out[qr_content_html_text(html, strlen(html), out)] = '\0';
  return out;
}

int main(void) {
  CHECK_STR(slug("Hello, World!", 200), "hello-world");
  CHECK_STR(slug("  Crème Brûlée à la Façon  ", 200), "creme-brulee-a-la-facon");
  CHECK_STR(slug("Straße über Ærø", 200), "strasse-uber-aero");
  CHECK_STR(slug("Blinken meets China’s foreign minister", 200), "blinken-meets-chinas-foreign-minister");
  CHECK_STR(slug("Łódź — Kraków", 200), "lodz-krakow");
  CHECK_STR(slug("北京 2023", 200), "2023");
  CHECK_STR(slug("!!!", 200), "");
  CHECK_STR(slug("one two three four", 10), "one-two"); /* cut at a word, never mid-word */
  CHECK_STR(slug("abc\xff\xfe" "def", 200), "abc-def");  /* malformed bytes separate words */
  CHECK_STR(slug("x'; DROP TABLE entries; --", 200), "x-drop-table-entries");

  CHECK(qr_content_slug_valid("hello-world", 11, 200));
  CHECK(qr_content_slug_valid("2023", 4, 200));
  CHECK(!qr_content_slug_valid("Hello", 5, 200));
  CHECK(!qr_content_slug_valid("-a", 2, 200));
  CHECK(!qr_content_slug_valid("a-", 2, 200));
  CHECK(!qr_content_slug_valid("a--b", 4, 200));
  CHECK(!qr_content_slug_valid("a/b", 3, 200));
  CHECK(!qr_content_slug_valid("", 0, 200));
  CHECK(!qr_content_slug_valid("abcdef", 6, 5));

  CHECK(qr_utf8_valid("plain", 5));
  CHECK(qr_utf8_valid("caf\xc3\xa9", 5));
  CHECK(qr_utf8_valid("\xf0\x9f\x93\xb0", 4));       /* newspaper emoji */
  CHECK(!qr_utf8_valid("\xc0\xaf", 2));              /* overlong '/' */
  CHECK(!qr_utf8_valid("\xed\xa0\x80", 3));          /* surrogate */
  CHECK(!qr_utf8_valid("\xf4\x90\x80\x80", 4));      /* past U+10FFFF */
  CHECK(!qr_utf8_valid("\xe2\x82", 2));              /* truncated */
  CHECK(!qr_utf8_valid("\x80", 1));                  /* stray continuation */
  CHECK(qr_utf8_valid("a\0b", 3));                   /* NUL is valid UTF-8 */
  /* Past a start of ASCII read eight bytes at a time (T: a literal and its length). */
#define T(lit) lit, sizeof lit - 1
  CHECK(qr_utf8_valid(T("0123456789abcdef\xc3\xa9xyz0123456789")));
  CHECK(!qr_utf8_valid(T("0123456789abcdef\x80")));
  CHECK(!qr_utf8_valid(T("0123456789abcdefghijklmnopqrstu\xe2\x82")));

  /* Characters XML cannot carry, after starts of printable ASCII and of other bytes. */
  size_t at = 0;
  CHECK(qr_content_xml_bad(T("0123456789abcdef\n\t\r 0123456789"), &at) < 0);
  CHECK(qr_content_xml_bad(T("0123456789abcdef\x01"), &at) == 1 && at == 16);
  CHECK(qr_content_xml_bad(T("line one\nline two and \x0b more"), &at) == 11 && at == 22);
  CHECK(qr_content_xml_bad(T("0123456789abcdef\xef\xbf\xbe"), &at) == 0xFFFE && at == 16);
  CHECK(qr_content_xml_bad(T("caf\xc3\xa9 0123456789 \x7f\x1f"), &at) == 0x1F && at == 18);
#undef T

  /* The text check a save and a set-based write share, in its order. */
  qr_text_info_t info;
  CHECK(qr_content_text_check("A title", 7, 1, 300, -1, &info) == QR_TEXT_OK && !info.padded);
  CHECK(qr_content_text_check(" padded ", 8, 1, 300, -1, &info) == QR_TEXT_OK && info.padded);
  CHECK(qr_content_text_check(" \t\n", 3, 1, -1, -1, NULL) == QR_TEXT_MISSING);
  CHECK(qr_content_text_check(" \t\n", 3, 0, -1, -1, NULL) == QR_TEXT_OK); /* blank, not required */
  CHECK(qr_content_text_check("", 0, 0, -1, -1, NULL) == QR_TEXT_OK);
  CHECK(qr_content_text_check("a\xff", 2, 1, -1, -1, NULL) == QR_TEXT_UTF8);
  CHECK(qr_content_text_check("ab\x01", 3, 1, -1, -1, &info) == QR_TEXT_CHAR && info.cp == 1 && info.char_at == 3);
  CHECK(qr_content_text_check("\xc3\xa9\xef\xbf\xbe", 5, 1, -1, -1, &info) == QR_TEXT_CHAR && info.cp == 0xFFFE
        && info.char_at == 2);
  CHECK(qr_content_text_check("tab\there\r\n", 10, 1, -1, -1, NULL) == QR_TEXT_OK);
  CHECK(qr_content_text_check("caf\xc3\xa9", 5, 1, 4, -1, NULL) == QR_TEXT_OK);  /* 4 characters */
  CHECK(qr_content_text_check("caf\xc3\xa9", 5, 1, 3, -1, &info) == QR_TEXT_CHARS && info.chars == 4);
  CHECK(qr_content_text_check("caf\xc3\xa9", 5, 1, -1, 4, NULL) == QR_TEXT_BYTES); /* 5 bytes */
  CHECK(qr_content_text_check("\x01\xff", 2, 1, 1, 1, NULL) == QR_TEXT_UTF8);    /* the first problem */
  /* The text of HTML for summaries: what Lua's gsub chain gives, in one pass. */
  CHECK_STR(html_text("<p>Tolls <em>rise</em>.</p>\n<p>Again</p>"), "Tolls rise . Again");
  CHECK_STR(html_text("a &lt;b&gt; &quot;c&quot; &#39;d&#39; &amp;amp; &copy; &#8212; &bogus;x"),
            "a <b> \"c\" 'd' &amp; &copy; &#8212; &bogus;x");
  CHECK_STR(html_text("&lt<b>;"), "&lt ;");          /* a tag breaks a reference */
  CHECK_STR(html_text("x < y <z"), "x < y <z");       /* no ">" after: not a tag */
  CHECK_STR(html_text("a<b<c>d> e"), "a d> e");       /* to the first ">" */
  CHECK_STR(html_text("  \t<br>\n\v\f\r  "), "");
  CHECK_STR(html_text(" <i>x</i> "), "x");
  CHECK_STR(html_text("&#;&;&#x;&"), "&#;&;&#x;&");
  CHECK_STR(html_text(""), "");
  CHECK(strcmp(qr_content_text_problem(QR_TEXT_CHAR), "char") == 0);
  CHECK(qr_content_text_problem(QR_TEXT_OK) == NULL);
  return check_summary("test_content");
}
