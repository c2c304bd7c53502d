// MaxScore (Turtle and Flood 1995): lists sorted by max score; the lowest ones whose maxima sum to
// at most the threshold are non-essential: a document that appears only in them cannot qualify.
// Candidates come from the essential lists; the non-essential ones are probed with next_geq, from
// the highest bound down, while the running bound can still beat the threshold.
#include <algorithm>

#include "search.h"

namespace splade::index {

template <class C>
uint64_t maxscore(std::vector<C>& cursors, TopKQueue& topk) {
  const size_t n = cursors.size();
  const float margin = bound_margin(n);
  std::vector<C*> order;
  for (C& c : cursors) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](C* a, C* b) { return a->max_score() < b->max_score(); });
  std::vector<float> prefix(n);  // prefix[i]: sum of the maxima of order[0..i]
  float acc = 0;
  for (size_t i = 0; i < n; ++i) prefix[i] = acc += order[i]->max_score();

  uint64_t scored = 0;
  size_t essential = 0;  // order[essential..n) are the essential lists
  float threshold = topk.threshold();
  // A queue that starts with a floor (topk_queue.h) prunes lists from the first document on.
  while (essential < n && prefix[essential] * margin <= threshold) ++essential;
  uint32_t doc = kEndDoc;
  for (size_t i = essential; i < n; ++i) doc = std::min(doc, order[i]->docid());
  while (doc != kEndDoc) {
    // Bound: the essential lists' scores on doc, then the non-essential ones probed from the
    // highest maximum down while the bound can still beat the threshold.
    float bound = 0;
    for (size_t i = essential; i < n; ++i) {
      if (order[i]->docid() == doc) {
        bound += order[i]->score();
        ++scored;
      }
    }
    bool pruned = false;
    for (size_t i = essential; i-- > 0;) {
      if ((bound + prefix[i]) * margin <= threshold) {
        pruned = true;
        break;
      }
      order[i]->next_geq(doc);
      if (order[i]->docid() == doc) {
        bound += order[i]->score();
        ++scored;
      }
    }
    const size_t was_essential = essential;
    if (!pruned && topk.insert(score_doc(cursors, doc), doc)) {
      threshold = topk.threshold();
      while (essential < n && prefix[essential] * margin <= threshold) ++essential;
    }
    // Advance the lists that were essential past doc; the next candidate is the smallest document
    // among the (now) essential lists.
    uint32_t next = kEndDoc;
    for (size_t i = was_essential; i < n; ++i) {
      C* c = order[i];
      if (c->docid() == doc) c->next();
      if (i >= essential) next = std::min(next, c->docid());
    }
    doc = next;
  }
  return scored;
}

template uint64_t maxscore<Cursor>(std::vector<Cursor>&, TopKQueue&);
template uint64_t maxscore<BmpCursor>(std::vector<BmpCursor>&, TopKQueue&);

}  // namespace splade::index
