/* PCRE2 search-and-replace with a match limit (see regex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct qr_regex_s {
  pcre2_code *code;
  pcre2_match_context *mctx;
};

static void error_text(int code, const char *prefix, char *err, size_t errlen) {
  PCRE2_UCHAR msg[256];
  if (pcre2_get_error_message(code, msg, sizeof msg) < 0) snprintf((char *)msg, sizeof msg, "error %d", code);
  snprintf(err, errlen, "%s%s", prefix, (const char *)msg);
}

qr_regex_t *qr_regex_compile(const char *pattern, size_t len, char *err, size_t errlen) {
  int code;
  PCRE2_SIZE offset;
  /* UCP: \w, \b and \d know letters beyond ASCII ("café" is one word). */
  pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
  if (!c) {
    char msg[256];
    error_text(code, "", msg, sizeof msg);
    snprintf(err, errlen, "%s at offset %zu", msg, (size_t)offset);
    return NULL;
  }
  /* JIT is much faster over many bodies; without it (an unsupported CPU) matching still works. */
  pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
  qr_regex_t *re = qr_xcalloc(1, sizeof *re);
  re->code = c;
  re->mctx = pcre2_match_context_create(NULL);
  pcre2_set_match_limit(re->mctx, QR_REGEX_MATCH_LIMIT);
  return re;
}

static int is_name_char(char ch, int first) {
  return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (!first && ch >= '0' && ch <= '9');
}

int qr_regex_check_replacement(const qr_regex_t *re, const char *repl, size_t rlen, char *err, size_t errlen) {
  uint32_t groups = 0;
  pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
  for (size_t i = 0; i < rlen; i++) {
    if (repl[i] != '$') continue;
    size_t start = i++;
    if (i < rlen && repl[i] == '$') continue;
    int braced = i < rlen && repl[i] == '{';
    if (braced) i++;
    size_t from = i;
    if (rlen - i >= 5 && memcmp(repl + i, "*MARK", 5) == 0) { /* the name of the (*MARK) passed */
      i += 5;
    } else if (i < rlen && repl[i] >= '0' && repl[i] <= '9') {
      unsigned long n = 0;
      while (i < rlen && repl[i] >= '0' && repl[i] <= '9' && n <= 100000) n = n * 10 + (unsigned long)(repl[i++] - '0');
      if (n > groups) {
        snprintf(err, errlen, "%.*s in the replacement: the pattern has %u group%s", (int)(i - start + braced),
                 repl + start, (unsigned)groups, groups == 1 ? "" : "s");
        return -1;
      }
    } else if (i < rlen && is_name_char(repl[i], 1)) {
      while (i < rlen && is_name_char(repl[i], 0)) i++;
      char name[128];
      size_t n = i - from < sizeof name - 1 ? i - from : sizeof name - 1;
      memcpy(name, repl + from, n);
      name[n] = '\0';
      if (pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name) < 0) {
        snprintf(err, errlen, "$%s%s%s in the replacement: the pattern has no group named %s", braced ? "{" : "", name,
                 braced ? "}" : "", name);
        return -1;
      }
    } else {
      snprintf(err, errlen, "a $ at byte %zu of the replacement starts no group reference (write $$ for a $)", start + 1);
      return -1;
    }
    if (braced && (i >= rlen || repl[i] != '}')) {
      snprintf(err, errlen, "${ at byte %zu of the replacement is not closed with }", start + 1);
      return -1;
    }
    if (!braced) i--; /* the loop's i++ moves past the reference */
  }
  return 0;
}

void qr_regex_free(qr_regex_t *re) {
  if (!re) return;
  pcre2_match_context_free(re->mctx);
  pcre2_code_free(re->code);
  free(re);
}

int qr_regex_replace(const qr_regex_t *re, const char *subject, size_t len, const char *repl,
                     size_t rlen, char **out, size_t *outlen, char *err, size_t errlen) {
  uint32_t opts = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH;
  /* First try a buffer with room to grow; on overflow PCRE2 says how much it needs. */
  PCRE2_SIZE size = len + len / 2 + rlen + 64;
  for (int attempt = 0; attempt < 2; attempt++) {
    PCRE2_UCHAR *buf = qr_xmalloc(size);
    PCRE2_SIZE n = size;
    int rc = pcre2_substitute(re->code, (PCRE2_SPTR)subject, len, 0, opts, NULL, re->mctx,
                              (PCRE2_SPTR)repl, rlen, buf, &n);
    if (rc >= 0) {
      *out = (char *)buf;
      *outlen = n;
      return rc;
    }
    free(buf);
    if (rc == PCRE2_ERROR_NOMEMORY && attempt == 0) {
      size = n; /* the length needed, with its terminating NUL */
      continue;
    }
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
        rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      snprintf(err, errlen,
               "the pattern needs too much backtracking on this text (PCRE2 gave up after %d steps): "
               "make it more specific, e.g. avoid nested repeats like (a+)+",
               QR_REGEX_MATCH_LIMIT);
    } else {
      error_text(rc, "cannot replace: ", err, errlen);
    }
    return -1;
  }
  snprintf(err, errlen, "replacement output kept growing");
  return -1;
}
