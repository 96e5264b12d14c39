/* HTML: escaping, URL checks and an allowlist sanitizer for outside HTML (gumbo). It serves two
 * Lua APIs, so it exports two prefixes: qr_html_* (quire.html) and qr_url_* (quire.url). */
#ifndef QR_HTML_H
#define QR_HTML_H
#include <stddef.h>

#include "util.h"

/* Hard cap on input size; larger input is refused with QR_ELIMIT (the HTML5 parser's work grows
 * with nesting, so this is set well below md4c's 32-bit sizes). */
#define QR_HTML_MAX_INPUT (16u << 20)

/* ---- Escaping and URLs ------------------------------------------------------------------- */

/* Appends s[0..n) to out escaped for HTML text (& < > "); invalid UTF-8 and NUL become U+FFFD. */
void qr_html_escape(qr_buf_t *out, const char *s, size_t n);

/* Appends s[0..n) escaped for a quoted attribute value (& < > " '); invalid UTF-8 and NUL become
 * U+FFFD. */
void qr_html_escape_attr(qr_buf_t *out, const char *s, size_t n);

/* Appends s[0..n) to out with every malformed UTF-8 sequence replaced by U+FFFD. */
void qr_html_scrub_utf8(qr_buf_t *out, const char *s, size_t n);

/* Appends a URL for an href/src attribute: bytes outside the URL-safe set are percent-encoded (as
 * CommonMark renderers do), '&' becomes "&amp;". The caller checks the URL first (qr_url_allowed). */
void qr_html_escape_url(qr_buf_t *out, const char *s, size_t n);

/* The same encoding with '&' left as it is: the value a browser reads back from that attribute. */
void qr_html_url_encode(qr_buf_t *out, const char *s, size_t n);

/* The sanitizer's own escaping when it writes what it kept: text (& < > only, CR as "&#13;") and
 * attribute values (& < > " ', CR as "&#13;"); controls and invalid UTF-8 become U+FFFD. */
void qr_html_escape_node(qr_buf_t *out, const char *s, size_t n);
void qr_html_escape_node_attr(qr_buf_t *out, const char *s, size_t n);

/* 1 when url (already entity-decoded, as a browser would see it) is safe to put in an href/src:
 * after dropping leading/trailing spaces and controls, removing tab/CR/LF, percent-decoding and
 * lowercasing, either its scheme is in schemes (NULL-terminated; NULL = no scheme allowed), or
 * it has no scheme (relative: "/a", "a/b", "?q", "#x", "//host") and relative is non-zero.
 * Anything that merely looks like a scheme ("java script:", "&x:") or holds control characters
 * is refused. */
int qr_url_allowed(const char *url, size_t n, const char *const *schemes, int relative);

/* ---- Sanitizer --------------------------------------------------------------------------- */

/* An allowlist: elements, their attributes, URL schemes per attribute, rel for links. */
typedef struct qr_html_policy qr_html_policy_t;

/* An empty policy (keeps text only; relative URLs allowed, no rel). Free with qr_html_policy_free. */
qr_html_policy_t *qr_html_policy_new(void);

/* A new policy for article bodies: p br hr a[href title] em strong b i u s del ins sub sup small
 * mark abbr[title] cite q[cite] blockquote[cite] code pre kbd samp var ul ol[start reversed] li
 * dl dt dd h2-h6 img[src alt title width height] figure figcaption table caption thead tbody
 * tfoot tr th[colspan rowspan scope align] td[colspan rowspan align]; href/cite schemes
 * http https mailto, src http https, relative URLs allowed, no rel. Caller frees it. */
qr_html_policy_t *qr_html_policy_default(void);

void qr_html_policy_free(qr_html_policy_t *p);

/* Allows element tag (an HTML element name). QR_EINVAL for unknown names and for elements that
 * can never be allowed (script, style, iframe, object, embed, svg, math, textarea, ...). */
int qr_html_policy_allow_element(qr_html_policy_t *p, const char *tag);

/* Allows attribute attr on element tag (tag "*" = every allowed element). QR_EINVAL for bad
 * names and for attributes that can never be allowed (on*, style, srcdoc, srcset, namespaced
 * names such as xlink:href). URL attributes (href, src, action, cite, poster, ...) are kept only
 * when their value passes the scheme allowlist. */
int qr_html_policy_allow_attr(qr_html_policy_t *p, const char *tag, const char *attr);

/* Allows scheme (e.g. "https") in URL attribute attr, or in every URL attribute that has no
 * list of its own when attr is NULL. QR_EINVAL for a malformed scheme name. */
int qr_html_policy_allow_scheme(qr_html_policy_t *p, const char *attr, const char *scheme);

/* Whether relative URLs pass (default 1). */
void qr_html_policy_set_relative(qr_html_policy_t *p, int relative);

/* rel value forced onto every kept <a> (replacing the input's rel); NULL = keep rel only when
 * allowed as an attribute. The string is copied. */
void qr_html_policy_set_rel(qr_html_policy_t *p, const char *rel);

/* What qr_html_sanitize keeps of a well-formed element it parsed, by name, for a writer that
 * produces sanitized output directly (markdown.c): 1 when element tag (lowercase) is written;
 * 1 when its attribute name (lowercase) with the decoded value is written. The forced rel of
 * links (NULL: none), written last on every kept <a>. */
int qr_html_policy_element(const qr_html_policy_t *p, const char *tag);
int qr_html_policy_attr(const qr_html_policy_t *p, const char *tag, const char *name, const char *value);
const char *qr_html_policy_rel(const qr_html_policy_t *p);

/* Parses html[0..len) as an HTML5 body fragment and appends to out (caller owns it) the
 * allowlisted part, re-serialized: balanced tags, escaped text and attribute values, valid
 * UTF-8. Disallowed elements are unwrapped (their text kept), except script/style/iframe/
 * object/template/svg/math... whose content is dropped too. Comments are dropped. Start tags
 * nested deeper than an internal cap are kept as text. Returns 0, or QR_ELIMIT when the input
 * is too large or parsing exceeds its memory budget (out then holds no partial output). */
int qr_html_sanitize(const char *html, size_t len, const qr_html_policy_t *p, qr_buf_t *out);

/* Checks HTML for anything the sanitizer must never let through, by parsing it the way a browser
 * would (as a whole document, so <body onload> and head elements count too): script-capable or document-level elements (script, style, iframe,
 * object, embed, base, meta, link, form, svg, math, noscript, template, ...), on* / style /
 * srcdoc / srcset attributes, and URL attributes (href, src, action, formaction, xlink:href, ...) whose
 * value is not http/https/mailto or relative. Appends one line per finding to findings (caller
 * owns it) and returns their number, or QR_ELIMIT like qr_html_sanitize. For tests and audits. */
int qr_html_audit(const char *html, size_t len, qr_buf_t *findings);

#endif
