// Block-max WAND (Ding and Suel 2011): WAND's pivot, then a second, tighter test with the maxima of
// the blocks that hold the pivot document. If even those cannot beat the threshold, every document
// up to the end of the shortest of those blocks (or the next cursor's document) is skipped.
#include "search.h"

namespace splade::index {

template <class C>
uint64_t bmw(std::vector<C>& cursors, TopKQueue& topk) {
  const size_t n = cursors.size();
  const float margin = bound_margin(n);
  std::vector<C*> order;
  for (C& c : cursors) order.push_back(&c);
  uint64_t scored = 0;
  for (;;) {
    sort_by_docid(order);
    const float threshold = topk.threshold();
    size_t p = find_pivot(order, margin, threshold);
    if (p == n) break;
    const uint32_t pivot = order[p]->docid();
    while (p + 1 < n && order[p + 1]->docid() == pivot) ++p;

    float block_bound = 0;
    for (size_t i = 0; i <= p; ++i) {
      order[i]->shallow_geq(pivot);
      block_bound += order[i]->block_max_score();
    }
    if (block_bound * margin > threshold) {
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
    } else {
      uint32_t next = p + 1 < n ? order[p + 1]->docid() : kEndDoc;
      for (size_t i = 0; i <= p; ++i) next = std::min(next, order[i]->block_last_doc() + 1);
      if (next <= pivot) next = pivot + 1;
      for (size_t i = 0; i <= p; ++i) order[i]->next_geq(next);
    }
  }
  return scored;
}

template uint64_t bmw<Cursor>(std::vector<Cursor>&, TopKQueue&);
template uint64_t bmw<BmpCursor>(std::vector<BmpCursor>&, TopKQueue&);

}  // namespace splade::index
