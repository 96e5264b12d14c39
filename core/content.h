/* Content model helpers that must be byte-exact and fast: slugs. The entry/term/revision/comment
 * logic is in lua/quire/content.lua over the store, so type validation has one home (Lua). */
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

#endif
