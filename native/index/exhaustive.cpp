// Exhaustive document-at-a-time: every posting of every query term is scored. The reference the
// pruned algorithms are tested against.
#include "search.h"

namespace splade::index {

uint64_t exhaustive(std::vector<Cursor>& cursors, TopKQueue& topk) {
  uint64_t scored = 0;
  for (;;) {
    uint32_t doc = kEndDoc;
    for (const Cursor& c : cursors) doc = std::min(doc, c.docid());
    if (doc == kEndDoc) break;
    float s = 0;
    for (Cursor& c : cursors) {
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

}  // namespace splade::index
