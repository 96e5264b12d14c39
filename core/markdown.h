/* Markdown to HTML (md4c): GitHub dialect, trusted (editor) or untrusted (comment) input, balanced
 * output whatever md4c reports, links and images checked against scheme allowlists (html.h). */
#ifndef QR_MARKDOWN_H
#define QR_MARKDOWN_H
#include <stddef.h>

#include "html.h"
#include "util.h"

/* Hard cap on input size; larger input is refused with QR_ELIMIT (md4c sizes are 32-bit). */
#define QR_MARKDOWN_MAX_INPUT (64u << 20)

/* Rendering options. Every pointer is borrowed for the duration of qr_markdown_render. */
typedef struct {
  int untrusted;       /* raw HTML is escaped instead of passed through (MD_FLAG_NOHTML) */
  int images;          /* render <img>; when 0 an image renders as its alt text */
  int heading_ids;     /* give headings id="slug" (unique in the document: "intro", "intro-1") */
  const char *id_prefix;             /* prepended to every heading id; NULL = none */
  const char *rel;                   /* rel attribute of every link; NULL = none */
  const char *const *link_schemes;   /* NULL-terminated allowlist for link hrefs; NULL = any */
  const char *const *image_schemes;  /* NULL-terminated allowlist for image srcs; NULL = any */
  int relative;        /* relative URLs pass the allowlists above */
} qr_markdown_opts_t;

/* Fills o with the defaults for trusted (editor) or untrusted (comment) Markdown:
 * trusted: raw HTML kept, images on, heading ids on, any scheme, no rel.
 * untrusted: no raw HTML, images off, heading ids off, links http/https/mailto (+ relative) with
 * rel="nofollow ugc noopener", images (when turned on) http/https (+ relative). */
void qr_markdown_opts_init(qr_markdown_opts_t *o, int untrusted);

/* Renders Markdown src[0..len) (GitHub dialect: tables, strikethrough, task lists, autolinks) as
 * HTML appended to out (caller owns out and frees it with qr_buf_free). Invalid UTF-8 and NUL
 * become U+FFFD. Links and images whose URL fails the allowlist render as their text. In
 * untrusted mode the output is balanced, escaped HTML with no raw markup from src.
 * Returns 0, or QR_ELIMIT when len > QR_MARKDOWN_MAX_INPUT (out untouched), or QR_EINVAL. */
int qr_markdown_render(const char *src, size_t len, const qr_markdown_opts_t *o, qr_buf_t *out);

/* Inputs up to this size are rendered sanitized directly by qr_markdown_render_sanitized. */
#define QR_MARKDOWN_DIRECT_MAX (256u << 10)

/* Appends what qr_html_sanitize(p) makes of qr_markdown_render's output for src, byte for byte,
 * without parsing that output again when it can: for input without raw HTML (and not nested
 * deeply, up to QR_MARKDOWN_DIRECT_MAX bytes) the renderer writes only what p keeps, escaped as the
 * sanitizer escapes; otherwise (raw HTML, whose meaning only the HTML5 parser knows) it renders
 * and sanitizes. Returns 0, or the errors of those two. */
int qr_markdown_render_sanitized(const char *src, size_t len, const qr_markdown_opts_t *o, const qr_html_policy_t *p,
                                 qr_buf_t *out);

#endif
