// The k best (score, document) pairs seen so far. Order: a higher score is better; between equal
// scores the lower internal document number is better (the tie rule every algorithm shares).
// Algorithms visit documents in ascending order, so a document whose score only equals the k-th
// best never enters: threshold() is the score a new document must strictly exceed once the queue is
// full (-infinity before).
//
// Deleted documents (a live index's deletions, see lib/live): with a bitmap set, insert() refuses
// the documents whose bit is set, so they never enter and never raise the threshold; pruning by the
// threshold stays rank-safe because it only rises from live documents.
//
// A floor (a live index's later segment, searched after the earlier ones): only documents scoring
// strictly above it enter, as if the queue already held k documents of that score that precede
// every document of this index; pruning against threshold() stays rank-safe.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace splade::index {

class TopKQueue {
 public:
  struct Entry {
    float score;
    uint32_t doc;
  };
  explicit TopKQueue(uint32_t k) : k_(k) { heap_.reserve(std::min<uint32_t>(k, 1u << 16)); }

  // bits: one bit per internal document number (bit d % 8 of byte d / 8), `docs` of them; nullptr: none deleted.
  void set_deleted(const uint8_t* bits, uint32_t docs) {
    deleted_ = bits;
    deleted_docs_ = docs;
  }
  bool deleted(uint32_t doc) const { return deleted_ && doc < deleted_docs_ && (deleted_[doc >> 3] >> (doc & 7) & 1); }

  static bool better(const Entry& a, const Entry& b) { return a.score > b.score || (a.score == b.score && a.doc < b.doc); }

  void set_floor(float floor) { floor_ = floor; }

  bool full() const { return heap_.size() >= k_; }
  float threshold() const { return std::max(full() ? heap_.front().score : -std::numeric_limits<float>::infinity(), floor_); }

  // Returns whether the document entered (and so the threshold may have risen).
  bool insert(float score, uint32_t doc) {
    if (deleted(doc) || !(score > floor_)) return false;
    const Entry e{score, doc};
    if (!full()) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end(), better);  // worst at the front
      return true;
    }
    if (!better(e, heap_.front())) return false;
    std::pop_heap(heap_.begin(), heap_.end(), better);
    heap_.back() = e;
    std::push_heap(heap_.begin(), heap_.end(), better);
    return true;
  }

  // Empties the queue (its deletions and floor stay).
  void clear() { heap_.clear(); }

  // Best first.
  std::vector<Entry> sorted() const {
    std::vector<Entry> out = heap_;
    std::sort(out.begin(), out.end(), better);
    return out;
  }

 private:
  uint32_t k_;
  std::vector<Entry> heap_;
  const uint8_t* deleted_ = nullptr;
  uint32_t deleted_docs_ = 0;
  float floor_ = -std::numeric_limits<float>::infinity();
};

}  // namespace splade::index
