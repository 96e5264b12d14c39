/* Unit tests for time zones: DST changes both ways, dates that cross midnight, the footer rule
 * past the file's last transition, bad names; and a sweep against glibc's localtime_r. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "tz.h"
#include "util.h"

static qr_tz_t *load(const char *name) {
  qr_tz_t *z = NULL;
  char err[256];
  int rc = qr_tz_load(NULL, name, &z, err, sizeof err);
  if (rc != 0) fprintf(stderr, "%s\n", err);
  CHECK(rc == 0 && z);
  return z;
}

/* 2026-03-29T00:59:59Z etc. as epoch seconds, via timegm. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
  return (int64_t)timegm(&tm);
}

int main(void) {
  qr_tz_t *oslo = load("Europe/Oslo");
  qr_tz_info_t i;

  /* Spring forward, 29 March 2026: 01:00 UTC, 02:00 CET becomes 03:00 CEST. */
  qr_tz_lookup(oslo, utc(2026, 3, 29, 0, 59, 59), &i);
  CHECK(i.offset == 3600 && !i.isdst);
  CHECK_STR(i.abbr, "CET");
  qr_tz_lookup(oslo, utc(2026, 3, 29, 1, 0, 0), &i);
  CHECK(i.offset == 7200 && i.isdst);
  CHECK_STR(i.abbr, "CEST");
  /* Fall back, 25 October 2026: 01:00 UTC, 03:00 CEST becomes 02:00 CET. */
  qr_tz_lookup(oslo, utc(2026, 10, 25, 0, 59, 59), &i);
  CHECK(i.offset == 7200);
  qr_tz_lookup(oslo, utc(2026, 10, 25, 1, 0, 0), &i);
  CHECK(i.offset == 3600);
  /* The span of an answer: summer 2026 is the instants between the two changes. */
  qr_tz_lookup(oslo, utc(2026, 7, 1, 12, 0, 0), &i);
  CHECK(i.from == utc(2026, 3, 29, 1, 0, 0) && i.until == utc(2026, 10, 25, 1, 0, 0));

  /* Crossing midnight: 23:30 UTC on 30 June is 01:30 on 1 July in Oslo. */
  qr_tz_lookup(oslo, utc(2026, 6, 30, 23, 30, 0), &i);
  CHECK(utc(2026, 6, 30, 23, 30, 0) + i.offset == utc(2026, 7, 1, 1, 30, 0));
  /* ... and New Year in winter: 23:15 UTC on 31 December is 00:15 on 1 January. */
  qr_tz_lookup(oslo, utc(2026, 12, 31, 23, 15, 0), &i);
  CHECK(utc(2026, 12, 31, 23, 15, 0) + i.offset == utc(2027, 1, 1, 0, 15, 0));

  /* Local -> UTC: exact, in the spring gap (moved forward), in the autumn overlap (the earlier). */
  int kind;
  CHECK(qr_tz_from_local(oslo, utc(2026, 7, 1, 1, 30, 0), &kind) == utc(2026, 6, 30, 23, 30, 0) && kind == QR_TZ_EXACT);
  CHECK(qr_tz_from_local(oslo, utc(2026, 3, 29, 2, 30, 0), &kind) == utc(2026, 3, 29, 1, 30, 0) && kind == QR_TZ_GAP);
  CHECK(qr_tz_from_local(oslo, utc(2026, 10, 25, 2, 30, 0), &kind) == utc(2026, 10, 25, 0, 30, 0) && kind == QR_TZ_AMBIGUOUS);
  CHECK(qr_tz_from_local(oslo, utc(2026, 1, 15, 9, 0, 0), &kind) == utc(2026, 1, 15, 8, 0, 0) && kind == QR_TZ_EXACT);

  /* Past the last transition in the file (2037 in Debian's files): the footer rule decides. */
  qr_tz_lookup(oslo, utc(2100, 7, 1, 12, 0, 0), &i);
  CHECK(i.offset == 7200 && i.isdst);
  CHECK(i.from == utc(2100, 3, 28, 1, 0, 0) && i.until == utc(2100, 10, 31, 1, 0, 0));
  /* (winter spans are cut at the new year, in standard time, where the rule's year changes) */
  qr_tz_lookup(oslo, utc(2100, 12, 1, 12, 0, 0), &i);
  CHECK(i.from == utc(2100, 10, 31, 1, 0, 0) && i.until == utc(2100, 12, 31, 23, 0, 0));
  qr_tz_lookup(oslo, utc(2100, 12, 1, 12, 0, 0), &i);
  CHECK(i.offset == 3600 && !i.isdst);
  qr_tz_free(oslo);

  /* Southern hemisphere: summer time over the new year. */
  qr_tz_t *syd = load("Australia/Sydney");
  qr_tz_lookup(syd, utc(2090, 1, 10, 0, 0, 0), &i);
  CHECK(i.offset == 11 * 3600 && i.isdst);
  qr_tz_lookup(syd, utc(2090, 7, 10, 0, 0, 0), &i);
  CHECK(i.offset == 10 * 3600 && !i.isdst);
  qr_tz_free(syd);

  /* Names: not a path, not a file that exists, a clear message. */
  qr_tz_t *z = NULL;
  char err[256];
  CHECK(qr_tz_load(NULL, "../../etc/passwd", &z, err, sizeof err) == QR_EINVAL && !z);
  CHECK(strstr(err, "not a time zone name") != NULL);
  CHECK(qr_tz_load(NULL, "Europe/Atlantis", &z, err, sizeof err) == QR_ENOENT && !z);
  CHECK(strstr(err, "unknown time zone \"Europe/Atlantis\"") != NULL);
  CHECK(qr_tz_load(NULL, "Europe", &z, err, sizeof err) == QR_ENOENT); /* a folder */
  CHECK(qr_tz_load(NULL, "/etc/passwd", &z, err, sizeof err) == QR_EINVAL);
  CHECK(qr_tz_load(NULL, "zone.tab", &z, err, sizeof err) == QR_EINVAL); /* a file, not TZif */

  /* A sweep against glibc's own reading of the same files, 1901 to 2120, every ~5 h 17 min. */
  const char *names[] = {"Europe/Oslo", "Asia/Beirut", "Australia/Sydney", "America/New_York", "Pacific/Chatham",
                         "Asia/Kolkata", "America/Sao_Paulo", "Africa/Casablanca", "Europe/Dublin", "UTC",
                         "America/St_Johns", "Australia/Lord_Howe"};
  int mismatches = 0;
  for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
    qr_tz_t *zone = load(names[n]);
    if (!zone) continue;
    setenv("TZ", names[n], 1);
    tzset();
    for (int64_t t = utc(1901, 12, 14, 0, 0, 0); t < utc(2120, 1, 1, 0, 0, 0); t += 19013) {
      time_t tt = (time_t)t;
      struct tm tm;
      localtime_r(&tt, &tm);
      qr_tz_lookup(zone, t, &i);
      if (i.offset != tm.tm_gmtoff) {
        if (mismatches++ < 5) fprintf(stderr, "%s at %lld: %d, glibc %ld\n", names[n], (long long)t, i.offset, tm.tm_gmtoff);
      }
      /* And back: a local reading that exists maps to an instant with that reading. */
      int64_t back = qr_tz_from_local(zone, t + i.offset, &kind);
      qr_tz_info_t j;
      qr_tz_lookup(zone, back, &j);
      if (back + j.offset != t + i.offset || (kind == QR_TZ_EXACT && back != t)) {
        if (mismatches++ < 5) fprintf(stderr, "%s: from_local(%lld) = %lld\n", names[n], (long long)(t + i.offset), (long long)back);
      }
    }
    qr_tz_free(zone);
  }
  CHECK(mismatches == 0);
  return check_summary("tz");
}
