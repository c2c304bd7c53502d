// WAND (Broder et al. 2003): keep cursors sorted by document; the pivot is the first cursor at which
// the summed list maxima could beat the threshold. If every cursor before it already sits on the
// pivot document, score it; otherwise no document before the pivot can qualify, so move the
// cursors before it up to the pivot document.
#include "search.h"

namespace splade::index {

template <class C>
uint64_t wand(std::vector<C>& cursors, TopKQueue& topk) {
  const size_t n = cursors.size();
  const float margin = bound_margin(n);
  std::vector<C*> order;
  for (C& c : cursors) order.push_back(&c);
  uint64_t scored = 0;
  for (;;) {
    sort_by_docid(order);
    const size_t p = find_pivot(order, margin, topk.threshold());
    if (p == n) break;
    const uint32_t pivot = order[p]->docid();
    if (order[0]->docid() == pivot) {
      topk.insert(score_doc(cursors, pivot), pivot);
      for (C& c : cursors) {
        if (c.docid() == pivot) {
          c.next();
          ++scored;
        }
      }
    } else {
      for (size_t i = 0; i < p; ++i) order[i]->next_geq(pivot);
    }
  }
  return scored;
}

template uint64_t wand<Cursor>(std::vector<Cursor>&, TopKQueue&);
template uint64_t wand<BmpCursor>(std::vector<BmpCursor>&, TopKQueue&);

}  // namespace splade::index
