/* Unit tests for core/markdown.c: rendering, balance whatever md4c reports, URL allowlists, limits. */
#include <stdlib.h>

#include "check.h"
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

int main(void) {
  test_markdown();
  qr_buf_free(&result);
  return check_summary("test_markdown");
}
