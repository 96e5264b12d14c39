/* Media: images checked, decoded with libvips under limits, re-encoded without metadata at a set
 * of widths, and written content-addressed into a folder (DIR/ab/cdef…-640.webp). */
#ifndef QR_MEDIA_H
#define QR_MEDIA_H
#include <stddef.h>
#include <stdint.h>

#define QR_MEDIA_MAX_WIDTHS 16
#define QR_MEDIA_HASH_LEN 32 /* hex digits of the SHA-256 of the original kept in names */

typedef struct {
  size_t max_bytes;            /* larger files are refused before decoding */
  uint64_t max_pixels;         /* width x height from the header; more is refused before decoding */
  int widths[QR_MEDIA_MAX_WIDTHS]; /* ascending; none is upscaled past the image's own width */
  int nwidths;
} qr_media_opts_t;

typedef struct {
  int width, height;   /* this variant's pixels */
} qr_media_variant_t;

typedef struct {
  char hash[QR_MEDIA_HASH_LEN + 1]; /* lower-case hex */
  const char *format;               /* "jpeg", "png" or "webp" (static strings) */
  const char *ext;                  /* "jpg", "png" or "webp": the original format's files */
  int width, height;                /* after EXIF orientation */
  char colour[8];                   /* "#rrggbb": the most common colour, alpha on white */
  qr_media_variant_t variants[QR_MEDIA_MAX_WIDTHS];
  int nvariants;
} qr_media_info_t;

/* Starts libvips once per process with only its trusted loaders (vips_block_untrusted_set) and
 * a bounded cache. Returns 0 or -1 (err filled). Safe to call again. */
int qr_media_init(char *err, size_t errlen);

/* Reads the file at path (at most o->max_bytes), names its format from its bytes (never its
 * name) and hashes it; refuses empty, oversized, SVG and non-JPEG/PNG/WebP files. Fills
 * info->hash, format, ext, width and height (from the header only, oriented). Returns 0, or -1
 * with a message for a person in err. */
int qr_media_probe(const char *path, const qr_media_opts_t *o, qr_media_info_t *info, char *err, size_t errlen);

/* Probes path, then decodes it, applies EXIF orientation, strips all metadata and writes, for
 * each width, DIR/hh/rest-W.webp and DIR/hh/rest-W.EXT (hh rest: the hash), each through a
 * temporary file and rename; on any error every file it wrote is removed. DIR must exist.
 * Fills info completely. Returns 0, or -1 with a message in err. */
int qr_media_process(const char *path, const char *dir, const qr_media_opts_t *o, qr_media_info_t *info,
                     char *err, size_t errlen);

/* Draws a photo-like coastal scene (sky with cloud, sun glow, headlands, sea with glitter and
 * waves, film grain), its palette and shapes chosen by seed, and writes it as a JPEG of
 * width x height (64..4000 each) to path, through a temporary file and rename. For demo content
 * made without downloads. Returns 0, or -1 with a message in err. */
int qr_media_draw(const char *path, int width, int height, unsigned seed, char *err, size_t errlen);

#endif
