/* Related content scoring over candidates found by SQL: weighted shared terms, date and text. */
#include "related.h"

#include <math.h>

double qr_related_tag_factor(double df, double total, double rarity) {
  if (rarity <= 0) return 1.0;
  if (rarity > 1) rarity = 1;
  double idf = 1.0; /* a one-document collection: every tag is as rare as it gets */
  if (total >= 2) {
    if (df < 1) df = 1;
    if (df > total) df = total;
    idf = log(total / df) / log(total);
  }
  double f = 1.0 + rarity * (2.0 * idf - 1.0);
  return f < 0 ? 0 : f;
}

static double df_of(const qr_related_df_t *df, size_t ndf, int64_t term) {
  size_t lo = 0, hi = ndf;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (df[mid].term < term) lo = mid + 1;
    else hi = mid;
  }
  return lo < ndf && df[lo].term == term ? df[lo].df : 1.0;
}

#define TAG_WEIGHTS_KEPT 64 /* target tags whose weight is worked out once per ranking */

/* The weight of the target's tag i: one shared with a candidate adds it. */
static double tag_weight(const qr_related_doc_t *a, size_t i, const qr_related_df_t *df, size_t ndf,
                         const qr_related_weights_t *w) {
  return w->tags * qr_related_tag_factor(df_of(df, ndf, a->tags[i]), w->total, w->rarity);
}

/* The weights of the tags both documents carry; kept: the weights of a's first tags, worked
 * out once. A merge of the sorted lists guesses at each step which way it goes (a coin toss for
 * the CPU) and waits for the load of the one before: with the few tags an entry has, each of
 * b's is looked for among a's instead, behind a filter (mask: a bit per a's tag, by its low
 * bits) that most fail. The ones found are added in b's order, which is the merge's (ascending
 * ids), so the sum is the same. */
#define TAGS_SCANNED 16
static uint64_t tag_bit(int64_t tag) { return (uint64_t)1 << ((uint64_t)tag & 63); }
static double shared_tags(const qr_related_doc_t *a, const qr_related_doc_t *b, const double *kept, uint64_t mask,
                          const qr_related_df_t *df, size_t ndf, const qr_related_weights_t *w) {
  double sum = 0;
  size_t na = a->ntags, nb = b->ntags;
  const int64_t *x = a->tags, *y = b->tags;
  if (na <= TAGS_SCANNED) {
    for (size_t j = 0; j < nb; j++) {
      if (!(mask & tag_bit(y[j]))) continue;
      for (size_t i = 0; i < na; i++)
        if (x[i] == y[j]) {
          sum += kept[i];
          break;
        }
    }
    return sum;
  }
  size_t i = 0, j = 0;
  while (i < na && j < nb) {
    if (x[i] < y[j]) i++;
    else if (x[i] > y[j]) j++;
    else {
      sum += i < TAG_WEIGHTS_KEPT ? kept[i] : tag_weight(a, i, df, ndf, w);
      i++, j++;
    }
  }
  return sum;
}

static size_t shared_count(const int64_t *a, size_t na, const int64_t *b, size_t nb) {
  size_t n = 0, i = 0, j = 0;
  while (i < na && j < nb) {
    if (a[i] < b[j]) i++;
    else if (a[i] > b[j]) j++;
    else n++, i++, j++;
  }
  return n;
}

/* 1 when hit a ranks before hit b. */
static int better(const qr_related_hit_t *a, double ta, const qr_related_hit_t *b, double tb) {
  if (a->score != b->score) return a->score > b->score;
  if (ta != tb) return ta > tb;
  return a->id > b->id;
}

size_t qr_related_rank(const qr_related_doc_t *target, const qr_related_doc_t *cands, size_t n,
                         const qr_related_df_t *df, size_t ndf, const qr_related_weights_t *w,
                         qr_related_hit_t *out, size_t limit) {
  if (limit == 0) return 0;
  double best_text = 0;
  for (size_t i = 0; i < n; i++)
    if (cands[i].id != target->id && cands[i].text > best_text) best_text = cands[i].text;
  /* out is kept sorted (insertion into at most `limit` slots: N is small, a handful to a few dozen);
   * times[] holds each kept hit's date for the tie-break. */
  double times[64];
  if (limit > 64) limit = 64;
  double tag_w[TAG_WEIGHTS_KEPT];
  for (size_t i = 0; i < target->ntags && i < TAG_WEIGHTS_KEPT; i++) tag_w[i] = tag_weight(target, i, df, ndf, w);
  uint64_t mask = 0;
  for (size_t i = 0; i < target->ntags; i++) mask |= tag_bit(target->tags[i]);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    const qr_related_doc_t *c = &cands[i];
    if (c->id == target->id) continue;
    double score = shared_tags(target, c, tag_w, mask, df, ndf, w);
    score += w->keywords * (double)shared_count(target->keywords, target->nkeywords, c->keywords, c->nkeywords);
    if (w->date > 0 && w->date_window > 0) {
      double near = 1.0 - fabs(target->time - c->time) / w->date_window;
      if (near > 0) score += w->date * near;
    }
    if (w->text > 0 && best_text > 0 && c->text > 0) score += w->text * (c->text / best_text);
    if (score < w->threshold || score <= 0) continue;
    qr_related_hit_t hit = {c->id, score};
    size_t pos = kept;
    while (pos > 0 && better(&hit, c->time, &out[pos - 1], times[pos - 1])) pos--;
    if (pos >= limit) continue;
    size_t last = kept < limit ? kept : limit - 1;
    for (size_t k = last; k > pos; k--) out[k] = out[k - 1], times[k] = times[k - 1];
    out[pos] = hit, times[pos] = c->time;
    if (kept < limit) kept++;
  }
  return kept;
}
