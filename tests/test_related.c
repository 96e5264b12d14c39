/* Unit tests for related-content scoring. */
#include <math.h>

#include "check.h"
#include "related.h"

static const qr_related_weights_t hugo = {
    .keywords = 100, .tags = 80, .date = 10, .text = 0, .threshold = 80, .rarity = 0, .date_window = 365 * 86400.0, .total = 10};

int main(void) {
  int64_t t_ab[] = {1, 2}, t_a[] = {1}, t_c[] = {3}, kw[] = {7};
  qr_related_doc_t target = {.id = 1, .tags = t_ab, .ntags = 2, .time = 1000000};
  qr_related_doc_t cands[] = {
      {.id = 1, .tags = t_ab, .ntags = 2, .time = 1000000},           /* the target itself */
      {.id = 2, .tags = t_a, .ntags = 1, .time = 1000000 - 86400},    /* one shared tag: 80 + date */
      {.id = 3, .tags = t_ab, .ntags = 2, .time = 1000000 - 86400 * 300}, /* two shared tags */
      {.id = 4, .tags = t_c, .ntags = 1, .time = 1000000},            /* nothing shared: date only, 10 */
      {.id = 5, .keywords = kw, .nkeywords = 1, .time = 0},           /* keyword only, but target lacks it */
  };
  qr_related_hit_t out[8];
  size_t n = qr_related_rank(&target, cands, 5, NULL, 0, &hugo, out, 8);
  CHECK(n == 2);
  CHECK(out[0].id == 3 && out[1].id == 2);
  CHECK(out[0].score > 160 && out[0].score < 170);
  CHECK(fabs(out[1].score - (80 + 10 * (1 - 1.0 / 365))) < 1e-9);

  /* Keywords count 100 each and beat a tag. */
  qr_related_doc_t kt = {.id = 9, .tags = t_ab, .ntags = 2, .keywords = kw, .nkeywords = 1, .time = 1000000};
  qr_related_doc_t kc[] = {{.id = 5, .keywords = kw, .nkeywords = 1, .time = -1e9}, {.id = 2, .tags = t_a, .ntags = 1, .time = -1e9}};
  n = qr_related_rank(&kt, kc, 2, NULL, 0, &hugo, out, 8);
  CHECK(n == 2 && out[0].id == 5 && out[0].score == 100 && out[1].score == 80);

  /* The limit keeps the best; equal scores put the newer first. */
  qr_related_doc_t same[] = {{.id = 20, .tags = t_a, .ntags = 1, .time = 5}, {.id = 21, .tags = t_a, .ntags = 1, .time = 9},
                            {.id = 22, .tags = t_ab, .ntags = 2, .time = 1}};
  qr_related_weights_t nodate = hugo;
  nodate.date = 0;
  n = qr_related_rank(&target, same, 3, NULL, 0, &nodate, out, 2);
  CHECK(n == 2 && out[0].id == 22 && out[1].id == 21);

  /* A target with no tags and no text relates to nothing at Hugo's threshold. */
  qr_related_doc_t bare = {.id = 30, .time = 1000000};
  CHECK(qr_related_rank(&bare, cands, 5, NULL, 0, &hugo, out, 8) == 0);

  /* Text similarity is relative to the best candidate. */
  qr_related_weights_t text = {.text = 90, .threshold = 80};
  qr_related_doc_t tc[] = {{.id = 40, .text = 8.0}, {.id = 41, .text = 4.0}, {.id = 42, .text = 7.5}};
  n = qr_related_rank(&bare, tc, 3, NULL, 0, &text, out, 8);
  CHECK(n == 2 && out[0].id == 40 && out[0].score == 90 && out[1].id == 42);

  /* Rarity: a tag on every document counts half, a tag on two of them about one and a half. */
  CHECK(fabs(qr_related_tag_factor(100, 100, 0.5) - 0.5) < 1e-9);
  CHECK(qr_related_tag_factor(2, 100, 0.5) > 1.3);
  CHECK(qr_related_tag_factor(2, 100, 0) == 1.0);
  qr_related_df_t df[] = {{1, 10}, {2, 2}}; /* tag 1 is everywhere, tag 2 is rare */
  qr_related_weights_t rare = nodate;
  rare.rarity = 0.5;
  qr_related_doc_t rc[] = {{.id = 50, .tags = t_a, .ntags = 1}, {.id = 51, .tags = t_ab + 1, .ntags = 1}};
  n = qr_related_rank(&target, rc, 2, df, 2, &rare, out, 8);
  CHECK(n == 1 && out[0].id == 51); /* the common tag alone (40) falls under the threshold */
  return check_summary("test_search");
}
