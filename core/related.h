/* Related content scoring: shared keywords and tags (tags weighted by how rare they are), closeness
 * in time and full-text similarity, summed with per-index weights as Hugo's related content does,
 * then the best N above a threshold. Pure computation: the candidates come from SQL (FTS5 and the
 * term index) in lua/quire/related.lua. */
#ifndef QR_RELATED_H
#define QR_RELATED_H
#include <stddef.h>
#include <stdint.h>

/* One document. tags and keywords are ids sorted ascending without duplicates (borrowed). */
typedef struct {
  int64_t id;
  const int64_t *tags;
  size_t ntags;
  const int64_t *keywords;
  size_t nkeywords;
  double time; /* epoch seconds of publication */
  double text; /* full-text similarity to the target (>= 0; bigger is closer); ignored on the target */
} qr_related_doc_t;

/* How many documents carry a tag (its document frequency); an array sorted by term. */
typedef struct {
  int64_t term;
  double df;
} qr_related_df_t;

typedef struct {
  double keywords, tags, date, text; /* weight of each index: added once per shared keyword/tag */
  double threshold;   /* a candidate needs at least this score */
  double rarity;      /* 0..1: how much a tag's rarity moves its weight (0: every tag counts alike) */
  double date_window; /* seconds: the date score falls linearly to 0 at this distance */
  double total;       /* documents in the collection (for rarity) */
} qr_related_weights_t;

typedef struct {
  int64_t id;
  double score;
} qr_related_hit_t;

/* The factor a shared tag's weight is multiplied by: 1 + rarity * (2 * idf - 1), where idf is
 * log(total / df) / log(total) in 0..1. With rarity 0.5 a tag on every document counts half, an
 * average one about fully and a tag only two documents share up to one and a half times. */
double qr_related_tag_factor(double df, double total, double rarity);

/* Scores the n candidates against target and writes the best (score >= threshold, at most limit,
 * best first; ties: newer first, then higher id) to out, which holds limit hits (caller-owned;
 * limit is capped at 64).
 * A candidate with the target's id is skipped. df (ndf entries, sorted by term) may lack a term:
 * it then counts as df = 1. Returns the number written. */
size_t qr_related_rank(const qr_related_doc_t *target, const qr_related_doc_t *cands, size_t n,
                         const qr_related_df_t *df, size_t ndf, const qr_related_weights_t *w,
                         qr_related_hit_t *out, size_t limit);

#endif
