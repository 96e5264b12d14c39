/* Media: image checks, libvips decoding under limits, metadata-free variants, atomic writes. */
#include "media.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>
#include <vips/vips.h>

#include "util.h"

static int started;

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* libvips' own message, first line only, then its error buffer cleared for the next call. */
static int fail_vips(char *err, size_t errlen, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s", vips_error_buffer());
  vips_error_clear();
  msg[strcspn(msg, "\n")] = '\0';
  return fail(err, errlen, "%s (libvips: %s)", what, msg[0] ? msg : "no detail");
}

/* libvips' warnings ("not enough data") would reach stderr beside the clear error the caller
 * gets for the same file: dropped. */
static void quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data) {
  (void)domain, (void)level, (void)msg, (void)data;
}

int qr_media_init(char *err, size_t errlen) {
  if (started) return 0;
  g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, quiet, NULL);
  if (VIPS_INIT("quire")) return fail_vips(err, errlen, "libvips could not start");
  /* Only the loaders libvips marks as fuzzed and safe for untrusted input (no ImageMagick,
   * no PDF/SVG renderers); and a small operation cache: each image is decoded once. */
  vips_block_untrusted_set(TRUE);
  vips_cache_set_max(16);
  vips_cache_set_max_mem(16 * 1024 * 1024);
  started = 1;
  return 0;
}

/* The format by its first bytes; SVG (or any XML/HTML text) is named so it can be refused
 * with its own message. */
static const char *sniff(const unsigned char *b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "jpeg";
  if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
  if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "webp";
  size_t i = 0;
  if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) i = 3;
  while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n')) i++;
  if (i < n && b[i] == '<') {
    size_t lim = n < 4096 ? n : 4096;
    for (size_t j = i; j + 4 <= lim; j++)
      if ((b[j] == '<') && (b[j + 1] | 0x20) == 's' && (b[j + 2] | 0x20) == 'v' && (b[j + 3] | 0x20) == 'g') return "svg";
    return "markup";
  }
  if (n >= 2 && b[0] == 0x1F && b[1] == 0x8B) return "svg"; /* gzip: could be SVGZ; never decoded */
  return NULL;
}

/* Reads the whole file (regular, 1..max bytes) into *out (malloc'd; the caller frees). */
static int read_file(const char *path, size_t max, unsigned char **out, size_t *len, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errlen, "%s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return fail(err, errlen, "%s: not a regular file", path);
  }
  if (sb.st_size == 0) {
    close(fd);
    return fail(err, errlen, "%s: the file is empty (0 bytes); nothing to import", path);
  }
  if ((uint64_t)sb.st_size > max) {
    close(fd);
    return fail(err, errlen, "%s: %lld bytes is over the limit of %zu (limits.media_bytes in site.lua)", path,
                (long long)sb.st_size, max);
  }
  unsigned char *buf = qr_xmalloc((size_t)sb.st_size);
  size_t got = 0;
  while (got < (size_t)sb.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = r < 0 ? errno : EIO;
      close(fd);
      free(buf);
      return fail(err, errlen, "%s: %s", path, strerror(e));
    }
    got += (size_t)r;
  }
  close(fd);
  *out = buf;
  *len = got;
  return 0;
}

/* Checks bytes and header; fills hash, format, ext, width, height. */
static int probe_buf(const char *path, const unsigned char *buf, size_t len, const qr_media_opts_t *o,
                     qr_media_info_t *info, char *err, size_t errlen) {
  const char *fmt = sniff(buf, len);
  if (!fmt) return fail(err, errlen, "%s: not a JPEG, PNG or WebP image (by its content, whatever its name says)", path);
  if (strcmp(fmt, "svg") == 0)
    return fail(err, errlen, "%s: SVG is refused (it can carry scripts); export it as PNG or WebP first", path);
  if (strcmp(fmt, "markup") == 0)
    return fail(err, errlen, "%s: this is HTML or XML text, not a JPEG, PNG or WebP image", path);
  info->format = fmt;
  info->ext = strcmp(fmt, "jpeg") == 0 ? "jpg" : fmt;
  unsigned char digest[32];
  const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  if (!md || mbedtls_md(md, buf, len, digest) != 0) return fail(err, errlen, "%s: could not hash the file", path);
  for (int i = 0; i < QR_MEDIA_HASH_LEN / 2; i++) snprintf(info->hash + 2 * i, 3, "%02x", digest[i]);
  VipsImage *im = vips_image_new_from_buffer(buf, len, "", NULL);
  if (!im) return fail_vips(err, errlen, "the image header is unreadable: the file is corrupt or not an image");
  /* The loader vips picked must agree with the sniffed bytes (a polyglot could match another). */
  const char *loader = NULL;
  if (vips_image_get_string(im, VIPS_META_LOADER, &loader) == 0 && loader && !strstr(loader, fmt)) {
    g_object_unref(im);
    return fail(err, errlen, "%s: its bytes look like %s but libvips reads it as %s; refused", path, fmt, loader);
  }
  uint64_t w = (uint64_t)vips_image_get_width(im), h = (uint64_t)vips_image_get_height(im);
  int orientation = 1;
  if (vips_image_get_typeof(im, VIPS_META_ORIENTATION)) vips_image_get_int(im, VIPS_META_ORIENTATION, &orientation);
  g_object_unref(im);
  if (w == 0 || h == 0) return fail(err, errlen, "%s: the header gives no size", path);
  if (w * h > o->max_pixels)
    return fail(err, errlen,
                "%s: %llu x %llu pixels is over the limit of %llu pixels (limits.media_pixels); a decompression "
                "bomb, or a picture to scale down before upload",
                path, (unsigned long long)w, (unsigned long long)h, (unsigned long long)o->max_pixels);
  int swap = orientation >= 5 && orientation <= 8;
  info->width = (int)(swap ? h : w);
  info->height = (int)(swap ? w : h);
  return 0;
}

int qr_media_probe(const char *path, const qr_media_opts_t *o, qr_media_info_t *info, char *err, size_t errlen) {
  if (qr_media_init(err, errlen) != 0) return -1;
  memset(info, 0, sizeof *info);
  unsigned char *buf;
  size_t len;
  if (read_file(path, o->max_bytes, &buf, &len, err, errlen) != 0) return -1;
  int rc = probe_buf(path, buf, len, o, info, err, errlen);
  free(buf);
  return rc;
}

/* The most common colour over a 16^3 histogram of a small copy, as "#rrggbb" (bin centres). */
static int dominant(VipsImage *in, char out[8]) {
  VipsImage *t[6] = {0};
  int rc = -1;
  VipsImage *cur = in;
  if (vips_thumbnail_image(cur, &t[0], 64, "height", 64, "no_rotate", TRUE, NULL)) goto done;
  cur = t[0];
  if (vips_colourspace(cur, &t[1], VIPS_INTERPRETATION_sRGB, NULL)) goto done;
  cur = t[1];
  if (vips_image_hasalpha(cur)) {
    VipsArrayDouble *white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
    int e = vips_flatten(cur, &t[2], "background", white, NULL);
    vips_area_unref(VIPS_AREA(white));
    if (e) goto done;
    cur = t[2];
  }
  if (vips_extract_band(cur, &t[3], 0, "n", 3, NULL) || vips_cast_uchar(t[3], &t[4], NULL)) goto done;
  if (vips_hist_find_ndim(t[4], &t[5], "bins", 16, NULL)) goto done;
  size_t n;
  unsigned int *h = vips_image_write_to_memory(t[5], &n);
  if (!h) goto done;
  /* x: band 0 bin, y: band 1 bin, band: band 2 bin. */
  size_t best = 0;
  for (size_t i = 1; i < n / sizeof *h; i++)
    if (h[i] > h[best]) best = i;
  int b2 = (int)(best % 16), x = (int)((best / 16) % 16), y = (int)(best / 256);
  snprintf(out, 8, "#%02x%02x%02x", x * 16 + 8, y * 16 + 8, b2 * 16 + 8);
  g_free(h);
  rc = 0;
done:
  for (int i = 0; i < 6; i++)
    if (t[i]) g_object_unref(t[i]);
  vips_error_clear();
  return rc;
}

/* Writes len bytes to final through a temporary file in the same folder and a rename. */
static int write_atomic(const char *final, const void *data, size_t len, char *err, size_t errlen) {
  char tmp[PATH_MAX];
  const char *slash = strrchr(final, '/');
  int dlen = slash ? (int)(slash - final) : 1;
  if (snprintf(tmp, sizeof tmp, "%.*s/.tmp-XXXXXX", dlen, slash ? final : ".") >= (int)sizeof tmp)
    return fail(err, errlen, "%s: path too long", final);
  int fd = mkstemp(tmp);
  if (fd < 0) return fail(err, errlen, "%s: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      close(fd);
      unlink(tmp);
      return fail(err, errlen, "%s: %s", final, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, final) != 0) {
    int e = errno;
    unlink(tmp);
    return fail(err, errlen, "%s: %s", final, strerror(e));
  }
  return 0;
}

/* Drops every metadata field (EXIF with camera and location, XMP, IPTC, ICC, comments): the
 * savers' own strip option is not enough (libvips 8.14's WebP saver still writes EXIF). */
static void strip_meta(VipsImage *im) {
  gchar **names = vips_image_get_fields(im);
  for (int i = 0; names && names[i]; i++) {
    static const char *keep[] = {"width", "height", "bands", "format", "coding", "interpretation",
                                 "xoffset", "yoffset", "xres", "yres", "filename", "mode", NULL};
    int k = 0;
    while (keep[k] && strcmp(keep[k], names[i]) != 0) k++;
    if (!keep[k]) vips_image_remove(im, names[i]);
  }
  g_strfreev(names);
}

/* libvips 8.14's WebP saver writes an EXIF chunk (made from the header) even when told to strip:
 * drops EXIF, XMP and ICCP chunks from a WebP file in place, clearing their VP8X flags and
 * fixing the RIFF size. Returns the new length. */
static size_t webp_strip(unsigned char *b, size_t len) {
  if (len < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WEBP", 4) != 0) return len;
  size_t in = 12, out = 12;
  unsigned char *vp8x = NULL;
  while (in + 8 <= len) {
    size_t n = (size_t)b[in + 4] | (size_t)b[in + 5] << 8 | (size_t)b[in + 6] << 16 | (size_t)b[in + 7] << 24;
    size_t whole = 8 + n + (n & 1);
    if (whole > len - in) whole = len - in;
    int drop = memcmp(b + in, "EXIF", 4) == 0 || memcmp(b + in, "XMP ", 4) == 0 || memcmp(b + in, "ICCP", 4) == 0;
    if (!drop) {
      memmove(b + out, b + in, whole);
      if (memcmp(b + out, "VP8X", 4) == 0 && n >= 1) vp8x = b + out + 8;
      out += whole;
    }
    in += whole;
  }
  if (vp8x) *vp8x &= (unsigned char)~(0x20 | 0x08 | 0x04);
  uint32_t riff = (uint32_t)(out - 8);
  b[4] = riff & 0xFF, b[5] = (riff >> 8) & 0xFF, b[6] = (riff >> 16) & 0xFF, b[7] = riff >> 24;
  return out;
}

typedef struct {
  void *data;
  size_t len;
  char path[PATH_MAX];
} out_file;

int qr_media_process(const char *path, const char *dir, const qr_media_opts_t *o, qr_media_info_t *info,
                     char *err, size_t errlen) {
  if (qr_media_init(err, errlen) != 0) return -1;
  memset(info, 0, sizeof *info);
  if (o->nwidths < 1 || o->nwidths > QR_MEDIA_MAX_WIDTHS) return fail(err, errlen, "media widths: 1 to %d needed", QR_MEDIA_MAX_WIDTHS);
  unsigned char *buf;
  size_t len;
  if (read_file(path, o->max_bytes, &buf, &len, err, errlen) != 0) return -1;
  if (probe_buf(path, buf, len, o, info, err, errlen) != 0) {
    free(buf);
    return -1;
  }
  /* The widths to make: each listed one below the image's width, then the image's own width
   * when it is narrower than the widest listed (never upscaled). */
  int widths[QR_MEDIA_MAX_WIDTHS], nw = 0;
  for (int i = 0; i < o->nwidths; i++) {
    if (o->widths[i] < info->width) widths[nw++] = o->widths[i];
    else {
      widths[nw++] = info->width;
      break;
    }
  }
  int top = widths[nw - 1];
  out_file files[2 * QR_MEDIA_MAX_WIDTHS];
  int nfiles = 0, rc = -1;
  VipsImage *big = NULL, *mem = NULL;
  char sub[PATH_MAX];
  snprintf(sub, sizeof sub, "%s/%.2s", dir, info->hash);
  /* Decoded once, to the widest variant, oriented (thumbnail applies EXIF orientation), with
   * truncated data an error rather than grey rows; the rest are made from that copy. */
  if (vips_thumbnail_buffer(buf, len, &big, top, "height", 10000000, "size", VIPS_SIZE_DOWN,
                            "option_string", "fail_on=truncated", NULL) ||
      !(mem = vips_image_copy_memory(big))) {
    fail_vips(err, errlen, "");
    char detail[300];
    snprintf(detail, sizeof detail, "%s", err);
    fail(err, errlen, "%s: the image data is truncated or corrupt%s", path, detail);
    goto done;
  }
  strip_meta(mem);
  for (int i = 0; i < nw; i++) {
    VipsImage *v = NULL;
    if (i == nw - 1) {
      v = mem;
      g_object_ref(v);
    } else if (vips_thumbnail_image(mem, &v, widths[i], "height", 10000000, "no_rotate", TRUE, NULL)) {
      fail_vips(err, errlen, "resizing failed");
      goto done;
    }
    info->variants[i].width = vips_image_get_width(v);
    info->variants[i].height = vips_image_get_height(v);
    const char *exts[2] = {"webp", info->ext};
    int nexts = strcmp(info->ext, "webp") == 0 ? 1 : 2;
    for (int k = 0; k < nexts; k++) {
      out_file *f = &files[nfiles];
      int e;
      if (k == 0) {
        /* effort 2 of 0-6 (libvips default 4): WebP encoding was most of an import's time. */
        e = vips_webpsave_buffer(v, &f->data, &f->len, "Q", 80, "effort", 2, "strip", TRUE, NULL);
        if (!e) f->len = webp_strip(f->data, f->len);
      }
      else if (strcmp(info->ext, "jpg") == 0)
        e = vips_jpegsave_buffer(v, &f->data, &f->len, "Q", 82, "strip", TRUE, "optimize_coding", TRUE, NULL);
      else e = vips_pngsave_buffer(v, &f->data, &f->len, "strip", TRUE, NULL);
      if (e) {
        g_object_unref(v);
        fail_vips(err, errlen, "encoding failed");
        goto done;
      }
      nfiles++;
      if (snprintf(f->path, sizeof f->path, "%s/%s-%d.%s", sub, info->hash + 2, widths[i], exts[k]) >=
          (int)sizeof f->path) {
        g_object_unref(v);
        fail(err, errlen, "%s: path too long", sub);
        goto done;
      }
    }
    g_object_unref(v);
  }
  info->nvariants = nw;
  if (dominant(mem, info->colour) != 0) snprintf(info->colour, sizeof info->colour, "#808080");
  if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
    fail(err, errlen, "%s: %s", sub, strerror(errno));
    goto done;
  }
  for (int i = 0; i < nfiles; i++) {
    if (write_atomic(files[i].path, files[i].data, files[i].len, err, errlen) != 0) {
      for (int j = 0; j < i; j++) unlink(files[j].path);
      goto done;
    }
  }
  rc = 0;
done:
  for (int i = 0; i < nfiles; i++) g_free(files[i].data);
  if (mem) g_object_unref(mem);
  if (big) g_object_unref(big);
  vips_error_clear();
  free(buf);
  return rc;
}

/* A lattice hash and smooth value noise for qr_media_draw (fixed, so a seed draws the same). */
static float lattice(int x, int y, unsigned seed) {
  unsigned h = (unsigned)x * 374761393u + (unsigned)y * 668265263u + seed * 2246822519u;
  h = (h ^ (h >> 13)) * 1274126177u;
  return (float)((h ^ (h >> 16)) & 0xffff) / 65535.0f;
}

static float value_noise(float x, float y, unsigned seed) {
  int xi = (int)floorf(x), yi = (int)floorf(y);
  float fx = x - (float)xi, fy = y - (float)yi;
  fx = fx * fx * (3 - 2 * fx);
  fy = fy * fy * (3 - 2 * fy);
  float a = lattice(xi, yi, seed), b = lattice(xi + 1, yi, seed);
  float c = lattice(xi, yi + 1, seed), d = lattice(xi + 1, yi + 1, seed);
  return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

/* Fractal noise in 0..1: octaves of value noise, each twice as fine and half as strong. */
static float fbm(float x, float y, unsigned seed, int octaves) {
  float sum = 0, amp = 0.5f, norm = 0;
  for (int i = 0; i < octaves; i++) {
    sum += amp * value_noise(x, y, seed + (unsigned)i * 101u);
    norm += amp;
    x *= 2.03f;
    y *= 2.03f;
    amp *= 0.5f;
  }
  return sum / norm;
}

static float mixf(float a, float b, float t) { return a + (b - a) * t; }
static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

int qr_media_draw(const char *path, int width, int height, unsigned seed, char *err, size_t errlen) {
  if (width < 64 || height < 64 || width > 4000 || height > 4000)
    return fail(err, errlen, "a drawn image is 64 to 4000 pixels each way (got %dx%d)", width, height);
  if (qr_media_init(err, errlen) != 0) return -1;
  /* Palettes: sky top, sky at the horizon, sea, land; dawn, noon, dusk and overcast light. */
  static const float pal[4][4][3] = {
      {{0.36f, 0.45f, 0.66f}, {0.98f, 0.72f, 0.52f}, {0.20f, 0.30f, 0.42f}, {0.16f, 0.18f, 0.17f}},
      {{0.25f, 0.50f, 0.80f}, {0.78f, 0.88f, 0.95f}, {0.10f, 0.36f, 0.48f}, {0.30f, 0.38f, 0.22f}},
      {{0.18f, 0.16f, 0.34f}, {0.96f, 0.52f, 0.30f}, {0.16f, 0.17f, 0.28f}, {0.10f, 0.09f, 0.10f}},
      {{0.52f, 0.56f, 0.60f}, {0.80f, 0.81f, 0.80f}, {0.28f, 0.33f, 0.36f}, {0.26f, 0.29f, 0.25f}},
  };
  const float(*p)[3] = pal[seed % 4];
  float W = (float)width, H = (float)height;
  float horizon = H * (0.48f + 0.12f * lattice(1, 2, seed));
  float sun_x = W * (0.15f + 0.7f * lattice(3, 4, seed)), sun_y = horizon * (0.35f + 0.45f * lattice(5, 6, seed));
  float left = 0.15f + 0.3f * lattice(7, 8, seed), right = 0.6f + 0.25f * lattice(9, 10, seed);
  unsigned char *px = qr_xmalloc((size_t)width * (size_t)height * 3);
  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      float fx = (float)x / W, fy = (float)y, c[3];
      /* Headlands on both sides: a ridge line from 1-D noise, high at the edges. */
      float edge = fx < left ? 1 - fx / left : fx > right ? (fx - right) / (1 - right) : 0;
      float ridge = horizon - edge * H * 0.22f * (0.55f + 0.6f * fbm(fx * 6, 0.5f, seed + 7, 4)) + 2;
      if (fy < horizon && fy >= ridge) {
        float tex = fbm(fx * 40, fy / H * 40, seed + 11, 4);
        float shade = 0.75f + 0.5f * tex - 0.25f * (horizon - fy) / (H * 0.25f);
        for (int k = 0; k < 3; k++) c[k] = p[3][k] * shade;
      } else if (fy < horizon) {
        float t = fy / horizon;
        float cloud = fbm(fx * 3.2f, fy / H * 9, seed + 3, 5);
        cloud = clampf((cloud - 0.5f) * 2.6f, 0, 1) * (1 - t * 0.6f);
        float dx = (x - sun_x) / W, dy = (fy - sun_y) / H, d = sqrtf(dx * dx + dy * dy);
        float glow = expf(-d * 9) * 0.55f + (d < 0.03f ? 0.6f : 0);
        for (int k = 0; k < 3; k++) {
          float sky = mixf(p[0][k], p[1][k], powf(t, 1.4f));
          sky = mixf(sky, 0.92f - 0.25f * (seed % 4 == 2), cloud * 0.7f);
          c[k] = sky + glow * (k == 2 ? 0.55f : 0.95f);
        }
      } else {
        float t = (fy - horizon) / (H - horizon);
        float waves = fbm(fx * 14, t * t * 60 + 3, seed + 5, 4);
        float streak = expf(-fabsf(x - sun_x) / (W * (0.02f + 0.08f * t))) * (waves > 0.52f ? 1 : 0.25f);
        for (int k = 0; k < 3; k++) {
          float sea = mixf(mixf(p[1][k], p[2][k], 0.6f), p[2][k] * 0.7f, sqrtf(t));
          c[k] = sea * (0.8f + 0.4f * waves) + streak * 0.45f * (1 - t * 0.7f);
        }
      }
      /* A vignette, as a lens gives. */
      float vx = fx - 0.5f, vy = fy / H - 0.5f, v = 1 - 0.45f * (vx * vx + vy * vy);
      unsigned char *o = px + ((size_t)y * (size_t)width + (size_t)x) * 3;
      for (int k = 0; k < 3; k++) o[k] = (unsigned char)clampf(c[k] * v * 255.0f, 0, 255);
    }
  }
  VipsImage *img = vips_image_new_from_memory(px, (size_t)width * (size_t)height * 3, width, height, 3, VIPS_FORMAT_UCHAR);
  VipsImage *soft = NULL, *noise = NULL, *grain = NULL, *out = NULL;
  void *jpeg = NULL;
  size_t len = 0;
  int rc = -1;
  /* A slight blur and Gaussian grain make it read as a photograph rather than a drawing. */
  if (!img || vips_gaussblur(img, &soft, 1.1, NULL) ||
      vips_gaussnoise(&noise, width, height, "sigma", 7.0, "mean", 0.0, "seed", (int)(seed & 0x7fffffff), NULL) ||
      vips_add(soft, noise, &grain, NULL) || vips_cast_uchar(grain, &out, NULL) ||
      vips_jpegsave_buffer(out, &jpeg, &len, "Q", 86, "strip", TRUE, "optimize_coding", TRUE, NULL)) {
    fail_vips(err, errlen, "drawing the image failed");
  } else {
    rc = write_atomic(path, jpeg, len, err, errlen);
  }
  g_free(jpeg);
  if (out) g_object_unref(out);
  if (grain) g_object_unref(grain);
  if (noise) g_object_unref(noise);
  if (soft) g_object_unref(soft);
  if (img) g_object_unref(img);
  free(px);
  vips_error_clear();
  return rc;
}
