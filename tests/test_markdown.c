/* Unit tests for core/markdown.c: rendering, balance whatever md4c reports, URL allowlists, limits,
 * rendering sanitized. */
#include <stdlib.h>

#include "check.h"
#include "html.h"
#include "markdown.h"

static qr_buf_t result; /* the last render output, replaced by the next call */

static char *render(const char *src, int untrusted) {
  qr_markdown_opts_t o;
  qr_markdown_opts_init(&o, untrusted);
  qr_buf_free(&result);
  CHECK(qr_markdown_render(src, strlen(src), &o, &result) == 0);
  return result.data;
}

static void test_markdown(void) {
  CHECK_STR(render("# Hi\n\n# Hi\n", 0), "<h1 id=\"hi\">Hi</h1>\n<h1 id=\"hi-1\">Hi</h1>\n");
  CHECK_STR(render("~~x~~ [a](javascript:alert(1))", 0), "<p><del>x</del> <a href=\"javascript:alert(1)\">a</a></p>\n");
  CHECK_STR(render("[a](javascript:alert(1)) [b](https://e.example)", 1),
            "<p>a <a href=\"https://e.example\" rel=\"nofollow ugc noopener\">b</a></p>\n");
  CHECK_STR(render("![alt](https://e.example/i.png) <b>x</b>", 1), "<p>alt &lt;b&gt;x&lt;/b&gt;</p>\n");
  CHECK_STR(render("a\xff" "b", 1), "<p>a\xEF\xBF\xBD" "b</p>\n");
  /* md4c 0.4.8 pairs these span callbacks wrongly; the output must stay balanced. */
  CHECK_STR(render("[](*)*", 1), "<p><a href=\"*\" rel=\"nofollow ugc noopener\"></a></p>\n");
  CHECK_STR(render("*a [b](*)* c*", 0), "<p><em>a <a href=\"*\">b</a>* c*</em></p>\n");
  /* md4c 0.4.8 takes <h2>..<h6> for inline HTML (mity/md4c#214): no <p> around them (a WordPress
   * body's headings), as around <h1>; a paragraph with a heading inside it keeps its <p>. */
  CHECK_STR(render("<h2 class=\"x\">A</h2>\n\n<H6>B</H6>\n\n</h3>\n\nc <h2>D</h2>\n\n<h2x>e</h2x>\n", 0),
            "<h2 class=\"x\">A</h2>\n<H6>B</H6>\n</h3>\n<p>c <h2>D</h2></p>\n<p><h2x>e</h2x></p>\n");

  qr_buf_t out = {0};
  qr_markdown_opts_t o;
  qr_markdown_opts_init(&o, 1);
  /* md4c reads one byte past its input; the byte after this slice is ')' (it used to crash). */
  const char *slice = "[x](y)";
  CHECK(qr_markdown_render(slice, 5, &o, &out) == 0);
  CHECK_STR(out.data, "<p>[x](y</p>\n");
  qr_buf_free(&out);
  CHECK(qr_markdown_render("x", (size_t)QR_MARKDOWN_MAX_INPUT + 1, &o, &out) == QR_ELIMIT);
  CHECK(qr_markdown_render(NULL, 0, &o, &out) == 0);
  CHECK_STR(out.data, "");
  qr_buf_free(&out);
}

/* Rendered sanitized directly, and the long way (render, then sanitize): the same bytes. */
static void check_sanitized(const qr_html_policy_t *p, const char *src, const char *want) {
  qr_markdown_opts_t o;
  qr_markdown_opts_init(&o, 0);
  qr_buf_t got = {0}, html = {0}, slow = {0};
  CHECK(qr_markdown_render_sanitized(src, strlen(src), &o, p, &got) == 0);
  CHECK_STR(got.data, want);
  CHECK(qr_markdown_render(src, strlen(src), &o, &html) == 0);
  CHECK(qr_html_sanitize(html.data, html.len, p, &slow) == 0);
  CHECK_STR(got.data, slow.data);
  qr_buf_free(&got);
  qr_buf_free(&html);
  qr_buf_free(&slow);
}

static void test_sanitized(void) {
  qr_html_policy_t *p = qr_html_policy_default();
  check_sanitized(p, "<h2>A</h2>\n\nb\n", "<h2>A</h2>\n<p>b</p>\n");
  /* No h1, ids, classes or inputs in the article policy; quotes stay raw in text. */
  check_sanitized(p, "# Hi \"there\" &quot;\n\n## Sub\n\n- [x] done\n\n```lua\nx = '<y>'\n```\n",
                  "Hi \"there\" \"\n<h2>Sub</h2>\n<ul>\n<li>done</li>\n</ul>\n<pre><code>x = '&lt;y&gt;'\n</code></pre>\n");
  /* A URL the policy refuses goes, its element stays; a kept one is written as the parser reads it. */
  check_sanitized(p, "[a](javascript:alert(1)) [b](/x?a=1&b='2' \"T\") ![i *j*](javascript:x) ![k](/k.png)\n\n3. x\n",
                  "<p><a>a</a> <a href=\"/x?a=1&amp;b=&#39;2&#39;\" title=\"T\">b</a> <img alt=\"i j\"> <img src=\"/k.png\" alt=\"k\"></p>\n"
                  "<ol start=\"3\">\n<li>x</li>\n</ol>\n");
  /* A table with alignments. */
  check_sanitized(p, "| a | b |\n|:--|--:|\n| c | d |\n",
                  "<table>\n<thead>\n<tr>\n<th align=\"left\">a</th>\n<th align=\"right\">b</th>\n</tr>\n</thead>\n"
                  "<tbody>\n<tr>\n<td align=\"left\">c</td>\n<td align=\"right\">d</td>\n</tr>\n</tbody>\n</table>\n");
  /* Raw HTML: only the parser knows what it means (the long way). */
  check_sanitized(p, "x <b onclick=\"y\">b</b> <script>z</script>\n\n<div>\n*d*\n</div>\n",
                  "<p>x <b>b</b> </p>\n\n*d*\n\n");
  qr_html_policy_free(p);
}

int main(void) {
  test_markdown();
  test_sanitized();
  qr_buf_free(&result);
  return check_summary("test_markdown");
}
