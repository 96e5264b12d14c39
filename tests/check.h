/* A tiny assertion harness for the C unit tests: counts checks, prints failures, sets the exit code. */
#ifndef QR_TEST_CHECK_H
#define QR_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int checks_run, checks_failed;

#define CHECK(cond)                                                          \
  do {                                                                       \
    checks_run++;                                                            \
    if (!(cond)) {                                                           \
      checks_failed++;                                                       \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

#define CHECK_STR(a, b)                                                                  \
  do {                                                                                   \
    const char *a_ = (a), *b_ = (b);                                                     \
    checks_run++;                                                                        \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                             \
      checks_failed++;                                                                   \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, b_ ? b_ : "(null)", \
              a_ ? a_ : "(null)");                                                       \
    }                                                                                    \
  } while (0)

static int check_summary(const char *name) {
  printf("%s: %d passed, %d failed\n", name, checks_run - checks_failed, checks_failed);
  return checks_failed ? 1 : 0;
}
#endif
