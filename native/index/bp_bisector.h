// One bisection of recursive graph bisection: a range [b, e) of the permutation, in document order,
// is split at its middle and improved by swap rounds (reorder_bp.h says what a round does); then each
// half is put back in document order (each child starts from the input order, as in PISA) and the
// range's rows for the next level are written.
//
// Rows: a level reads the rows its parents wrote, laid out in position order, so the swap rounds scan
// memory in order (loc follows each position's row through the swaps). A child's rows keep only the
// terms that two or more of its documents hold: a term held once costs the same wherever its document
// goes, and deep ranges hold most of their terms once, so the deep levels read a fraction of the
// postings.
//
// Two ways to run one, with the same result: bisect() on one thread, for the deep levels where ranges
// are many and each worker takes whole ranges; bisect_parallel() with every worker on one range, for
// the first levels where ranges are fewer than workers. Either way the swaps follow from integer
// degrees, per-document gains summed in a fixed order, and a total order on (gain, position), so
// the order never depends on the thread count.
//
// Swapping pairs keeps the halves' sizes, so a document's gain only needs the degrees of its terms
// in each half. The swapped set is the k best of each half, where k is the first rank whose two
// gains no longer sum above zero: a rank at which neither half has a positive gain cannot swap, so
// only max(positive left, positive right) candidates per half are selected (nth_element) and sorted,
// instead of sorting both halves.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "bp_forward_index.h"
#include "reorder_bp.h"

namespace splade::index::bp {

// Per-term state of one bisection. Arrays are sized to the kept vocabulary and all zero between
// bisections; only the `touched` terms (held by a document of the range) are ever set, so starting and
// clearing a bisection costs the range's postings, not the vocabulary: the deep levels bisect hundreds
// of thousands of ranges of a few dozen documents.
struct TermState {
  explicit TermState(uint32_t vocab) : left(vocab), right(vocab), gain_lr(vocab), gain_rl(vocab) {}
  std::vector<int32_t> left, right;     // documents of the left / right half that hold the term
  std::vector<float> gain_lr, gain_rl;  // cost saved by moving one of them left -> right / right -> left
  std::vector<uint32_t> touched;
};

// log2 of integers, from a table below 2^16: each swap round needs log2(deg + 1) for each term.
class Log2 {
 public:
  Log2() : table_(kSize) {
    for (uint32_t i = 1; i < kSize; ++i) table_[i] = std::log2(static_cast<double>(i));
  }
  double operator()(uint64_t x) const { return x < kSize ? table_[x] : std::log2(static_cast<double>(x)); }

 private:
  static constexpr uint32_t kSize = 1u << 16;
  std::vector<double> table_;
};

// A document's key within its half: gain descending, then offset in the range ascending, as one
// integer, so that selection compares integers and ties break the same way on every run.
inline uint64_t gain_key(float gain, uint32_t offset) {
  uint32_t bits;
  std::memcpy(&bits, &gain, sizeof bits);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
  return (uint64_t{~ascending} << 32) | offset;
}
inline float key_gain(uint64_t key) {
  const uint32_t ascending = ~static_cast<uint32_t>(key >> 32);
  const uint32_t bits = (ascending & 0x80000000u) ? ascending & 0x7FFFFFFFu : ~ascending;
  float gain;
  std::memcpy(&gain, &bits, sizeof gain);
  return gain;
}
inline uint32_t key_offset(uint64_t key) { return static_cast<uint32_t>(key); }

template <class Term>
class Bisector {
 public:
  // perm: the permutation being built (position -> document); states: one per worker, for
  // bisect_parallel's per-worker counts. Children of at most opts.leaf_size documents get no rows.
  Bisector(std::vector<uint32_t>& perm, uint32_t vocab, const BpOptions& opts, int workers,
           std::vector<TermState>& states)
      : perm_(perm.data()), loc_(perm.size()), keys_(perm.size()), opts_(opts), leaf_size_(std::max(opts.leaf_size, 1u)),
        workers_(workers), states_(states), shared_(vocab) {}

  // The rows this level reads (row p: the document at position p when the level began) and the rows
  // it writes for the next level.
  void set_rows(const Rows<Term>* current, Rows<Term>* next) {
    cur_ = current;
    next_ = next;
  }

  void bisect(uint32_t b, uint32_t e, TermState& s) {
    const uint32_t m = b + (e - b) / 2;
    for (uint32_t pos = b; pos < e; ++pos) loc_[pos] = pos;
    for (uint32_t pos = b; pos < m; ++pos) {
      for (const Term* t = cur_->row_begin(pos); t != cur_->row_end(pos); ++t) {
        if (s.left[*t]++ == 0 && s.right[*t] == 0) s.touched.push_back(*t);
      }
    }
    for (uint32_t pos = m; pos < e; ++pos) {
      for (const Term* t = cur_->row_begin(pos); t != cur_->row_end(pos); ++t) {
        if (s.right[*t]++ == 0 && s.left[*t] == 0) s.touched.push_back(*t);
      }
    }
    for (uint32_t round = 0, rounds = rounds_for(e - b); round < rounds; ++round) {
      fill_gains(s, m - b, e - m);
      const uint32_t positive_left = score(b, m, b, s.gain_lr.data());
      const uint32_t positive_right = score(m, e, b, s.gain_rl.data());
      const uint32_t candidates = std::min(m - b, std::max(positive_left, positive_right));
      if (candidates == 0) break;
      select(b, m, candidates);
      select(m, e, candidates);
      const uint32_t k = swaps(b, m, candidates);
      if (k == 0) break;
      for (uint32_t i = 0; i < k; ++i) {
        const uint32_t from_left = b + key_offset(keys_[b + i]), from_right = b + key_offset(keys_[m + i]);
        add(loc_[from_left], s.left.data(), -1);
        add(loc_[from_left], s.right.data(), +1);
        add(loc_[from_right], s.right.data(), -1);
        add(loc_[from_right], s.left.data(), +1);
        swap_positions(from_left, from_right);
      }
    }
    sort_by_document(b, m);
    sort_by_document(m, e);
    write_rows(b, m, e, s, b, e, cur_->begin[b]);
    clear(s);
  }

  void bisect_parallel(uint32_t b, uint32_t e) {
    const uint32_t m = b + (e - b) / 2;
    TermState& s = shared_;
    // Degrees: each worker counts its items into its own arrays, summed into the shared state.
    for_each_item(b, e, [&](uint32_t pb, uint32_t pe, int w) {
      for (uint32_t pos = pb; pos < pe; ++pos) {
        loc_[pos] = pos;
        add(pos, (pos < m ? states_[w].left : states_[w].right).data(), 1);
      }
    });
    for (uint32_t t = 0; t < shared_.left.size(); ++t) {
      for (TermState& ws : states_) {
        s.left[t] += ws.left[t];
        s.right[t] += ws.right[t];
        ws.left[t] = ws.right[t] = 0;
      }
      if (s.left[t] || s.right[t]) s.touched.push_back(t);
    }
    std::vector<uint32_t> positives;
    for (uint32_t round = 0, rounds = rounds_for(e - b); round < rounds; ++round) {
      fill_gains(s, m - b, e - m);
      const size_t left_items = items(m - b);
      positives.assign(left_items + items(e - m), 0);
      run_workers(workers_, positives.size(), [&](size_t item, int) {
        const bool left = item < left_items;
        const auto [pb, pe] = left ? item_range(b, m, item) : item_range(m, e, item - left_items);
        positives[item] = score(pb, pe, b, (left ? s.gain_lr : s.gain_rl).data());
      });
      uint32_t positive_left = 0, positive_right = 0;
      for (size_t i = 0; i < positives.size(); ++i) (i < left_items ? positive_left : positive_right) += positives[i];
      const uint32_t candidates = std::min(m - b, std::max(positive_left, positive_right));
      if (candidates == 0) break;
      run_workers(workers_, 2, [&](size_t half, int) { half == 0 ? select(b, m, candidates) : select(m, e, candidates); });
      const uint32_t k = swaps(b, m, candidates);
      if (k == 0) break;
      // Moves: each worker sums its pairs' change of left degrees (the right ones change by the
      // opposite), then the shared degrees take the sums.
      for_each_item(0, k, [&](uint32_t ib, uint32_t ie, int w) {
        int32_t* delta = states_[w].left.data();
        for (uint32_t i = ib; i < ie; ++i) {
          const uint32_t from_left = b + key_offset(keys_[b + i]), from_right = b + key_offset(keys_[m + i]);
          add(loc_[from_left], delta, -1);
          add(loc_[from_right], delta, +1);
          swap_positions(from_left, from_right);
        }
      });
      for (uint32_t t : s.touched) {
        for (TermState& ws : states_) {
          s.left[t] += ws.left[t];
          s.right[t] -= ws.left[t];
          ws.left[t] = 0;
        }
      }
    }
    run_workers(workers_, 2, [&](size_t half, int) { half == 0 ? sort_by_document(b, m) : sort_by_document(m, e); });
    // The next level's rows: counted per item, then each item writes from the sum of the items before.
    const size_t n_items = items(e - b);
    std::vector<uint64_t> room(n_items + 1, 0);
    run_workers(workers_, n_items, [&](size_t i, int) {
      const auto [pb, pe] = item_range(b, e, i);
      room[i + 1] = count_rows(b, m, e, s, pb, pe);
    });
    room[0] = cur_->begin[b];
    for (size_t i = 0; i < n_items; ++i) room[i + 1] += room[i];
    run_workers(workers_, n_items, [&](size_t i, int) {
      const auto [pb, pe] = item_range(b, e, i);
      write_rows(b, m, e, s, pb, pe, room[i]);
    });
    clear(s);
  }

 private:
  uint32_t rounds_for(uint32_t n) const {
    return n <= opts_.deep_range_size ? std::min(opts_.deep_iterations, opts_.iterations) : opts_.iterations;
  }
  void add(uint32_t row, int32_t* degrees, int32_t by) const {
    for (const Term* t = cur_->row_begin(row); t != cur_->row_end(row); ++t) degrees[*t] += by;
  }

  void swap_positions(uint32_t p, uint32_t q) {
    std::swap(perm_[p], perm_[q]);
    std::swap(loc_[p], loc_[q]);
  }

  // Cost of a term that deg documents of a half of 2^log_n documents hold: the log-gap estimate.
  double cost(int64_t deg, double log_n) const { return deg * (log_n - log2_(deg + 1)); }

  void fill_gains(TermState& s, uint32_t n_left, uint32_t n_right) const {
    const double log_left = log2_(n_left), log_right = log2_(n_right);
    for (uint32_t t : s.touched) {
      const int64_t l = s.left[t], r = s.right[t];
      const double before = cost(l, log_left) + cost(r, log_right);
      s.gain_lr[t] = l ? static_cast<float>(before - cost(l - 1, log_left) - cost(r + 1, log_right)) : 0.f;
      s.gain_rl[t] = r ? static_cast<float>(before - cost(l + 1, log_left) - cost(r - 1, log_right)) : 0.f;
    }
  }

  // Keys of the documents at positions [pb, pe) (offsets from base); returns how many gain > 0.
  uint32_t score(uint32_t pb, uint32_t pe, uint32_t base, const float* gain) {
    uint32_t positive = 0;
    for (uint32_t pos = pb; pos < pe; ++pos) {
      const Term* t = cur_->row_begin(loc_[pos]);
      const Term* end = cur_->row_end(loc_[pos]);
      // Four sums in a fixed order: the same float result on every run, without one long dependency chain.
      float g0 = 0, g1 = 0, g2 = 0, g3 = 0;
      for (; end - t >= 4; t += 4) {
        g0 += gain[t[0]];
        g1 += gain[t[1]];
        g2 += gain[t[2]];
        g3 += gain[t[3]];
      }
      for (; t != end; ++t) g0 += gain[*t];
      const float g = (g0 + g1) + (g2 + g3);
      positive += g > 0;
      keys_[pos] = gain_key(g, pos - base);
    }
    return positive;
  }

  // The `count` best keys of [hb, he) first, in order.
  void select(uint32_t hb, uint32_t he, uint32_t count) {
    if (count < he - hb) std::nth_element(keys_.begin() + hb, keys_.begin() + hb + count, keys_.begin() + he);
    std::sort(keys_.begin() + hb, keys_.begin() + hb + count);
  }

  // Pairs (left rank i, right rank i) to swap: while their gains sum above zero.
  uint32_t swaps(uint32_t b, uint32_t m, uint32_t candidates) const {
    uint32_t k = 0;
    while (k < candidates && key_gain(keys_[b + k]) + key_gain(keys_[m + k]) > 0) ++k;
    return k;
  }

  // A half in document order: each child starts its own bisection from the input order, as PISA does.
  void sort_by_document(uint32_t hb, uint32_t he) {
    for (uint32_t pos = hb; pos < he; ++pos) keys_[pos] = (uint64_t{perm_[pos]} << 32) | loc_[pos];
    std::sort(keys_.begin() + hb, keys_.begin() + he);
    for (uint32_t pos = hb; pos < he; ++pos) {
      perm_[pos] = static_cast<uint32_t>(keys_[pos] >> 32);
      loc_[pos] = static_cast<uint32_t>(keys_[pos]);
    }
  }

  // The next level's row of position pos keeps the terms that at least two documents of its half hold:
  // a term held once costs the same wherever that document goes. Halves that will be leaves get none.
  bool keeps(uint32_t b, uint32_t m, uint32_t e, uint32_t pos) const {
    return (pos < m ? m - b : e - m) > leaf_size_;
  }
  uint64_t count_rows(uint32_t b, uint32_t m, uint32_t e, const TermState& s, uint32_t pb, uint32_t pe) const {
    uint64_t total = 0;
    for (uint32_t pos = pb; pos < pe; ++pos) {
      if (!keeps(b, m, e, pos)) continue;
      const int32_t* degrees = (pos < m ? s.left : s.right).data();
      for (const Term* t = cur_->row_begin(loc_[pos]); t != cur_->row_end(loc_[pos]); ++t) total += degrees[*t] >= 2;
    }
    return total;
  }
  void write_rows(uint32_t b, uint32_t m, uint32_t e, const TermState& s, uint32_t pb, uint32_t pe, uint64_t out) {
    for (uint32_t pos = pb; pos < pe; ++pos) {
      next_->begin[pos] = out;
      if (keeps(b, m, e, pos)) {
        const int32_t* degrees = (pos < m ? s.left : s.right).data();
        for (const Term* t = cur_->row_begin(loc_[pos]); t != cur_->row_end(loc_[pos]); ++t) {
          if (degrees[*t] >= 2) next_->terms[out++] = *t;
        }
      }
      next_->count[pos] = static_cast<uint32_t>(out - next_->begin[pos]);
    }
  }

  void clear(TermState& s) const {
    for (uint32_t t : s.touched) s.left[t] = s.right[t] = 0;
    s.touched.clear();
  }

  static size_t items(uint32_t n) { return std::max<size_t>(1, (n + kDocsPerItem - 1) / kDocsPerItem); }
  // Item i of [b, e) cut into items(e - b) pieces.
  static std::pair<uint32_t, uint32_t> item_range(uint32_t b, uint32_t e, size_t i) {
    const size_t n_items = items(e - b);
    return {b + static_cast<uint32_t>(uint64_t{e - b} * i / n_items),
            b + static_cast<uint32_t>(uint64_t{e - b} * (i + 1) / n_items)};
  }

  // fn(begin, end, worker) for each item of [b, e).
  template <class Fn>
  void for_each_item(uint32_t b, uint32_t e, const Fn& fn) const {
    run_workers(workers_, items(e - b), [&](size_t i, int w) {
      const auto [pb, pe] = item_range(b, e, i);
      fn(pb, pe, w);
    });
  }

  uint32_t* perm_;
  std::vector<uint32_t> loc_;   // position -> row of the current level
  std::vector<uint64_t> keys_;  // per position: gain keys, then (document, row) while sorting halves
  const Rows<Term>* cur_ = nullptr;
  Rows<Term>* next_ = nullptr;
  const BpOptions opts_;
  const uint32_t leaf_size_;
  const int workers_;
  std::vector<TermState>& states_;
  TermState shared_;  // bisect_parallel's degrees and gains
  Log2 log2_;
};

}  // namespace splade::index::bp
