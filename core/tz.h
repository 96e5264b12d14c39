/* Time zones from the system tz database (TZif files under /usr/share/zoneinfo or $TZDIR):
 * UTC <-> local wall-clock time for any IANA zone, daylight saving time included. Pure
 * functions over a loaded zone: no TZ environment variable, no global state, so a worker can
 * hold several zones at once. */
#ifndef QR_TZ_H
#define QR_TZ_H
#include <stddef.h>
#include <stdint.h>

typedef struct qr_tz qr_tz_t;

/* What is in effect at one instant. abbr is borrowed from the zone (valid until qr_tz_free). */
typedef struct {
  int32_t offset; /* seconds east of UTC */
  int isdst;
  const char *abbr; /* "CEST", "+03", ... */
  int64_t from, until; /* instants [from, until) around t share this offset, flag and abbr (INT64_MIN,
                          INT64_MAX: unbounded): a caller converting many instants asks once a span */
} qr_tz_info_t;

/* How a local wall-clock time maps to instants. */
enum {
  QR_TZ_EXACT = 0,     /* exactly one instant */
  QR_TZ_AMBIGUOUS = 1, /* twice (clocks went back): the earlier instant is returned */
  QR_TZ_GAP = 2        /* never (clocks went forward): the instant the same reading gives with the
                          offset before the change, i.e. the wall clock moved past the gap */
};

/* Longest zone name accepted (the longest IANA name is 32 bytes). */
#define QR_TZ_NAME_MAX 64

/* Loads the zone called name ("Europe/Oslo", "UTC") from dir (NULL: $TZDIR or
 * /usr/share/zoneinfo). Returns 0 and a new zone in *out (the caller frees it with qr_tz_free),
 * or QR_EINVAL (a name that is not a zone name or a file that is not TZif), QR_ENOENT (no such
 * zone) with a message in err (errlen bytes, NUL-terminated). */
int qr_tz_load(const char *dir, const char *name, qr_tz_t **out, char *err, size_t errlen);
void qr_tz_free(qr_tz_t *z);

/* The offset, DST flag and abbreviation in effect at UTC epoch seconds t. */
void qr_tz_lookup(const qr_tz_t *z, int64_t t, qr_tz_info_t *info);

/* The UTC epoch of the local wall-clock time `local` (its fields counted as if it were UTC
 * epoch seconds); *kind (if not NULL) gets QR_TZ_EXACT, QR_TZ_AMBIGUOUS or QR_TZ_GAP. */
int64_t qr_tz_from_local(const qr_tz_t *z, int64_t local, int *kind);

#endif
