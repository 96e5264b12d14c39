/* Regular expressions for search-and-replace: PCRE2 over UTF-8, with a match limit so a
 * catastrophic pattern fails with an error instead of hanging the command. */
#ifndef QR_REGEX_H
#define QR_REGEX_H
#include <stddef.h>

typedef struct qr_regex_s qr_regex_t;

/* How much backtracking one match may do before it gives up (PCRE2's match limit). */
#define QR_REGEX_MATCH_LIMIT 1000000

/* Compiles pattern (UTF-8). On error returns NULL and writes "message at offset N" to err. */
qr_regex_t *qr_regex_compile(const char *pattern, size_t len, char *err, size_t errlen);
void qr_regex_free(qr_regex_t *re);

/* Replaces every match in subject with repl, where $1, ${2}, ${name} and $$ refer to groups.
 * On success returns the number of replacements (0 or more) and a malloc'd *out of *outlen
 * bytes (NUL-terminated); on failure returns -1 with the reason in err (bad UTF-8, an unknown
 * group in repl, the match limit). */
int qr_regex_replace(const qr_regex_t *re, const char *subject, size_t len, const char *repl,
                     size_t rlen, char **out, size_t *outlen, char *err, size_t errlen);

/* Checks repl before any match: every $N, ${N}, $name and ${name} names a group of the pattern,
 * and every other $ is $$ or $*MARK. Returns 0, or -1 with the reason in err ("$3: the pattern has 2
 * groups"), so a bad replacement is refused even when nothing would match. */
int qr_regex_check_replacement(const qr_regex_t *re, const char *repl, size_t rlen, char *err, size_t errlen);

#endif
