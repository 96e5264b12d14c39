/* Time zones: TZif files (RFC 8536, versions 1-4) and their POSIX TZ footer rule, read once per
 * zone; conversions are a binary search over the transitions (or the rule past the last one). */
#include "tz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define TZ_FILE_MAX (1024 * 1024) /* the largest real TZif file is a few kB */
#define ABBR_MAX 16

typedef struct {
  int32_t off;
  uint8_t isdst;
  uint8_t abbr; /* index into chars */
} tz_type_t;

typedef struct {
  char kind; /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day) */
  int n, m, w, d;
  int32_t time; /* seconds after local midnight the change happens (may be < 0 or > 24 h) */
} tz_rule_t;

struct qr_tz {
  size_t ntrans, ntypes;
  int64_t *trans;
  uint8_t *idx;
  tz_type_t *types;
  char *chars;
  size_t nchars;
  /* The footer: what holds after the last transition. */
  int has_rule, has_dst;
  int32_t std_off, dst_off; /* seconds east of UTC */
  char std_abbr[ABBR_MAX], dst_abbr[ABBR_MAX];
  tz_rule_t start, end;
};

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  return yoe + era * 400 + (m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* ---- The POSIX TZ string of the footer: "CET-1CEST,M3.5.0,M10.5.0/3", "<+03>-3", ... ---- */

static const char *parse_abbr(const char *s, char *out) {
  size_t n = 0;
  if (*s == '<') {
    s++;
    while (*s && *s != '>') {
      if (n + 1 >= ABBR_MAX) return NULL;
      out[n++] = *s++;
    }
    if (*s++ != '>') return NULL;
  } else {
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
      if (n + 1 >= ABBR_MAX) return NULL;
      out[n++] = *s++;
    }
  }
  out[n] = 0;
  return n >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] -> seconds; hours up to 167 (RFC 8536's extension). */
static const char *parse_secs(const char *s, int32_t *out) {
  int sign = 1;
  if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
  int32_t v = 0, part = 0, fields = 0;
  while (fields < 3) {
    if (*s < '0' || *s > '9') return NULL;
    part = 0;
    for (int digits = 0; *s >= '0' && *s <= '9'; digits++) {
      if (digits >= 3) return NULL;
      part = part * 10 + (*s++ - '0');
    }
    if (fields == 0 ? part > 167 : part > 59) return NULL;
    v += part * (fields == 0 ? 3600 : fields == 1 ? 60 : 1);
    fields++;
    if (*s != ':') break;
    s++;
  }
  *out = sign * v;
  return s;
}

static const char *parse_num(const char *s, int lo, int hi, int *out) {
  int v = 0, digits = 0;
  while (*s >= '0' && *s <= '9' && digits < 4) v = v * 10 + (*s++ - '0'), digits++;
  if (!digits || v < lo || v > hi) return NULL;
  *out = v;
  return s;
}

static const char *parse_rule(const char *s, tz_rule_t *r) {
  memset(r, 0, sizeof *r);
  if (*s == 'M') {
    r->kind = 'M';
    if (!(s = parse_num(s + 1, 1, 12, &r->m)) || *s++ != '.') return NULL;
    if (!(s = parse_num(s, 1, 5, &r->w)) || *s++ != '.') return NULL;
    if (!(s = parse_num(s, 0, 6, &r->d))) return NULL;
  } else if (*s == 'J') {
    r->kind = 'J';
    if (!(s = parse_num(s + 1, 1, 365, &r->n))) return NULL;
  } else {
    r->kind = 'D';
    if (!(s = parse_num(s, 0, 365, &r->n))) return NULL;
  }
  r->time = 7200;
  if (*s == '/') return parse_secs(s + 1, &r->time);
  return s;
}

static int parse_posix(qr_tz_t *z, const char *s) {
  int32_t off;
  if (!(s = parse_abbr(s, z->std_abbr)) || !(s = parse_secs(s, &off))) return -1;
  z->std_off = -off; /* POSIX counts west of Greenwich */
  if (*s == 0) return 0;
  if (!(s = parse_abbr(s, z->dst_abbr))) return -1;
  z->dst_off = z->std_off + 3600;
  if (*s && *s != ',') {
    if (!(s = parse_secs(s, &off))) return -1;
    z->dst_off = -off;
  }
  if (*s++ != ',' || !(s = parse_rule(s, &z->start)) || *s++ != ',' || !(s = parse_rule(s, &z->end)) || *s)
    return -1;
  z->has_dst = 1;
  return 0;
}

/* Epoch seconds of local midnight (counted as UTC) of the day a rule names in year y. */
static int64_t rule_day(const tz_rule_t *r, int64_t y) {
  int64_t jan1 = days_from_civil(y, 1, 1);
  if (r->kind == 'J') return (jan1 + r->n - 1 + (is_leap(y) && r->n >= 60)) * 86400;
  if (r->kind == 'D') return (jan1 + r->n) * 86400;
  int64_t first = days_from_civil(y, r->m, 1);
  int wd = (int)((first + 4) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
  int day = 1 + (r->d - wd + 7) % 7 + (r->w - 1) * 7;
  while (day > month_days(y, r->m)) day -= 7; /* week 5: the last such day */
  return (first + day - 1) * 86400;
}

/* The rule's answer at t; the span is cut at the year's two changes and at its ends (the year
 * whose changes apply is t's in standard time) and starts no earlier than `from`. */
static void rule_lookup(const qr_tz_t *z, int64_t t, int64_t from, qr_tz_info_t *info) {
  int dst = 0;
  info->from = from;
  info->until = INT64_MAX;
  if (z->has_dst) {
    int64_t y = year_of_days(floor_div(t + z->std_off, 86400));
    int64_t start = rule_day(&z->start, y) + z->start.time - z->std_off;
    int64_t end = rule_day(&z->end, y) + z->end.time - z->dst_off;
    dst = start < end ? (t >= start && t < end) : !(t >= end && t < start); /* south: over new year */
    int64_t cuts[4] = {days_from_civil(y, 1, 1) * 86400 - z->std_off, start, end,
                       days_from_civil(y + 1, 1, 1) * 86400 - z->std_off};
    for (int i = 0; i < 4; i++) {
      if (cuts[i] <= t && cuts[i] > info->from) info->from = cuts[i];
      if (cuts[i] > t && cuts[i] < info->until) info->until = cuts[i];
    }
  }
  info->offset = dst ? z->dst_off : z->std_off;
  info->isdst = dst;
  info->abbr = dst ? z->dst_abbr : z->std_abbr;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

static int parse_tzif(qr_tz_t *z, const unsigned char *p, size_t len) {
  if (len < 44 || memcmp(p, "TZif", 4) != 0) return -1;
  int version = p[4] ? p[4] - '0' : 1;
  size_t w = 4; /* bytes per transition time: version 1 data first, then (v2+) 64-bit data */
  for (int pass = 0; pass < 2; pass++) {
    if (len < 44) return -1;
    size_t isut = be32(p + 20), isstd = be32(p + 24), leap = be32(p + 28), timecnt = be32(p + 32),
           typecnt = be32(p + 36), charcnt = be32(p + 40);
    if (timecnt > 100000 || typecnt == 0 || typecnt > 256 || charcnt > 4096 || leap > 100000 ||
        isut > typecnt || isstd > typecnt)
      return -1;
    size_t body = timecnt * w + timecnt + typecnt * 6 + charcnt + leap * (w + 4) + isstd + isut;
    if (len - 44 < body) return -1;
    const unsigned char *d = p + 44;
    if (pass == 0 && version >= 2) { /* skip the 32-bit data to the 64-bit header */
      p = d + body, len -= 44 + body, w = 8;
      continue;
    }
    z->ntrans = timecnt, z->ntypes = typecnt, z->nchars = charcnt;
    z->trans = qr_xmalloc((timecnt ? timecnt : 1) * sizeof *z->trans);
    z->idx = qr_xmalloc(timecnt ? timecnt : 1);
    z->types = qr_xmalloc(typecnt * sizeof *z->types);
    z->chars = qr_xmalloc(charcnt + 1);
    for (size_t i = 0; i < timecnt; i++) {
      z->trans[i] = w == 8 ? be64(d + i * 8) : (int32_t)be32(d + i * 4);
      if (i && z->trans[i] <= z->trans[i - 1]) return -1;
    }
    d += timecnt * w;
    for (size_t i = 0; i < timecnt; i++)
      if ((z->idx[i] = d[i]) >= typecnt) return -1;
    d += timecnt;
    for (size_t i = 0; i < typecnt; i++, d += 6) {
      z->types[i].off = (int32_t)be32(d);
      z->types[i].isdst = d[4];
      z->types[i].abbr = d[5];
      if (d[5] >= charcnt || z->types[i].off < -25 * 3600 || z->types[i].off > 26 * 3600) return -1;
    }
    memcpy(z->chars, d, charcnt);
    z->chars[charcnt] = 0;
    d += charcnt + leap * (w + 4) + isstd + isut;
    /* v2+: "\n<POSIX TZ>\n" follows; an empty one means no rule. */
    size_t rest = len - 44 - body;
    if (version >= 2 && rest >= 2 && d[0] == '\n') {
      const unsigned char *nl = memchr(d + 1, '\n', rest - 1);
      if (!nl || nl - d - 1 >= 64) return -1;
      char footer[64];
      memcpy(footer, d + 1, (size_t)(nl - d - 1));
      footer[nl - d - 1] = 0;
      if (footer[0]) {
        if (parse_posix(z, footer) != 0) return -1;
        z->has_rule = 1;
      }
    }
    return 0;
  }
  return -1;
}

static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > QR_TZ_NAME_MAX || name[0] == '/') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
             c == '_' || c == '-' || c == '+' || c == '.';
    if (!ok) return 0;
    if (c == '.' && (i == 0 || name[i - 1] == '/')) return 0; /* no "..", no hidden files */
  }
  return 1;
}

int qr_tz_load(const char *dir, const char *name, qr_tz_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!valid_name(name)) {
    snprintf(err, errlen, "\"%.80s\" is not a time zone name (an IANA name such as \"Europe/Oslo\")", name);
    return QR_EINVAL;
  }
  if (!dir) dir = getenv("TZDIR");
  if (!dir || !*dir) dir = "/usr/share/zoneinfo";
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno;
    if (f) fclose(f);
    snprintf(err, errlen, "unknown time zone \"%s\" (no %s: %s)", name, path, f ? "not a file" : strerror(e));
    return QR_ENOENT;
  }
  if (st.st_size > TZ_FILE_MAX) {
    fclose(f);
    snprintf(err, errlen, "%s is not a TZif file (too large)", path);
    return QR_EINVAL;
  }
  unsigned char *buf = qr_xmalloc((size_t)st.st_size + 1);
  size_t len = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  qr_tz_t *z = qr_xcalloc(1, sizeof *z);
  int rc = parse_tzif(z, buf, len);
  free(buf);
  if (rc != 0) {
    qr_tz_free(z);
    snprintf(err, errlen, "%s is not a valid TZif file", path);
    return QR_EINVAL;
  }
  *out = z;
  return 0;
}

void qr_tz_free(qr_tz_t *z) {
  if (!z) return;
  free(z->trans);
  free(z->idx);
  free(z->types);
  free(z->chars);
  free(z);
}

void qr_tz_lookup(const qr_tz_t *z, int64_t t, qr_tz_info_t *info) {
  const tz_type_t *ty;
  if (z->ntrans == 0 || t < z->trans[0]) {
    if (z->ntrans == 0 && z->has_rule) return rule_lookup(z, t, INT64_MIN, info);
    ty = &z->types[0]; /* RFC 8536: type 0 before the first transition */
    info->from = INT64_MIN;
    info->until = z->ntrans > 0 ? z->trans[0] : INT64_MAX;
  } else if (t >= z->trans[z->ntrans - 1] && z->has_rule) {
    return rule_lookup(z, t, z->trans[z->ntrans - 1], info);
  } else {
    size_t lo = 0, hi = z->ntrans; /* the last transition <= t */
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      if (z->trans[mid] <= t) lo = mid;
      else hi = mid;
    }
    ty = &z->types[z->idx[lo]];
    info->from = z->trans[lo];
    info->until = lo + 1 < z->ntrans ? z->trans[lo + 1] : INT64_MAX;
  }
  info->offset = ty->off;
  info->isdst = ty->isdst;
  info->abbr = z->chars + ty->abbr;
}

int64_t qr_tz_from_local(const qr_tz_t *z, int64_t local, int *kind) {
  /* Offsets in force a day either side: real zones never change twice within two days, and no
   * offset exceeds a day, so the instant lies between, with one of these offsets or in a gap. */
  qr_tz_info_t before, after, check;
  qr_tz_lookup(z, local - 86400, &before);
  qr_tz_lookup(z, local + 86400, &after);
  int32_t offs[2] = {before.offset, after.offset};
  int64_t found[2];
  int n = 0;
  for (int i = 0; i < (offs[0] == offs[1] ? 1 : 2); i++) {
    int64_t t = local - offs[i];
    qr_tz_lookup(z, t, &check);
    if (check.offset == offs[i]) found[n++] = t;
  }
  if (kind) *kind = n == 2 ? QR_TZ_AMBIGUOUS : n == 1 ? QR_TZ_EXACT : QR_TZ_GAP;
  if (n == 0) return local - before.offset;
  return n == 2 && found[1] < found[0] ? found[1] : found[0];
}
