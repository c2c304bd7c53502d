// Exhaustive document-at-a-time: every posting of every query term is scored. The reference the
// pruned algorithms are tested against.
#include "search.h"

namespace splade::index {

template <class C>
uint64_t exhaustive(std::vector<C>& cursors, TopKQueue& topk) {
  uint64_t scored = 0;
  for (;;) {
    uint32_t doc = kEndDoc;
    for (const C& c : cursors) doc = std::min(doc, c.docid());
    if (doc == kEndDoc) break;
    float s = 0;
    for (C& c : cursors) {
      if (c.docid() == doc) {
        s += c.score();
        c.next();
        ++scored;
      }
    }
    topk.insert(s, doc);
  }
  return scored;
}

template uint64_t exhaustive<Cursor>(std::vector<Cursor>&, TopKQueue&);
template uint64_t exhaustive<BmpCursor>(std::vector<BmpCursor>&, TopKQueue&);

}  // namespace splade::index
