// One bisection of recursive graph bisection: a range [b, e) of the permutation is sorted by document
// number, split at its middle, and improved by swap rounds (reorder_bp.h says what a round does).
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
#include <vector>

#include "bp_forward_index.h"

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
  // perm: the permutation being built; keys: scratch of the same length (a range uses its own slice).
  // states: one per worker, for bisect_parallel's per-worker counts.
  Bisector(const ForwardIndex<Term>& fwd, uint32_t* perm, uint64_t* keys, uint32_t iterations, int workers,
           std::vector<TermState>& states)
      : fwd_(fwd), perm_(perm), keys_(keys), iterations_(iterations), workers_(workers), states_(states),
        shared_(fwd.vocab) {}

  void bisect(uint32_t b, uint32_t e, TermState& s) {
    std::sort(perm_ + b, perm_ + e);
    const uint32_t m = b + (e - b) / 2;
    for (uint32_t pos = b; pos < m; ++pos) {
      for (const Term* t = fwd_.begin(perm_[pos]); t != fwd_.end(perm_[pos]); ++t) {
        if (s.left[*t]++ == 0 && s.right[*t] == 0) s.touched.push_back(*t);
      }
    }
    for (uint32_t pos = m; pos < e; ++pos) {
      for (const Term* t = fwd_.begin(perm_[pos]); t != fwd_.end(perm_[pos]); ++t) {
        if (s.right[*t]++ == 0 && s.left[*t] == 0) s.touched.push_back(*t);
      }
    }
    for (uint32_t round = 0; round < iterations_; ++round) {
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
        uint32_t& from_left = perm_[b + key_offset(keys_[b + i])];
        uint32_t& from_right = perm_[b + key_offset(keys_[m + i])];
        add(from_left, s.left.data(), -1);
        add(from_left, s.right.data(), +1);
        add(from_right, s.right.data(), -1);
        add(from_right, s.left.data(), +1);
        std::swap(from_left, from_right);
      }
    }
    clear(s);
  }

  void bisect_parallel(uint32_t b, uint32_t e) {
    std::sort(perm_ + b, perm_ + e);
    const uint32_t m = b + (e - b) / 2;
    TermState& s = shared_;
    // Degrees: each worker counts its items into its own arrays, summed into the shared state.
    for_each_item(b, e, [&](uint32_t pb, uint32_t pe, int w) {
      for (uint32_t pos = pb; pos < pe; ++pos) add(perm_[pos], (pos < m ? states_[w].left : states_[w].right).data(), 1);
    });
    for (uint32_t t = 0; t < fwd_.vocab; ++t) {
      for (TermState& ws : states_) {
        s.left[t] += ws.left[t];
        s.right[t] += ws.right[t];
        ws.left[t] = ws.right[t] = 0;
      }
      if (s.left[t] || s.right[t]) s.touched.push_back(t);
    }
    std::vector<uint32_t> positives;
    for (uint32_t round = 0; round < iterations_; ++round) {
      fill_gains(s, m - b, e - m);
      const size_t left_items = items(m - b);
      positives.assign(left_items + items(e - m), 0);
      run_workers(workers_, positives.size(), [&](size_t item, int) {
        const bool left = item < left_items;
        const uint32_t hb = left ? b : m, he = left ? m : e, i = left ? item : item - left_items;
        const uint32_t pb = hb + static_cast<uint32_t>(uint64_t{he - hb} * i / items(he - hb));
        const uint32_t pe = hb + static_cast<uint32_t>(uint64_t{he - hb} * (i + 1) / items(he - hb));
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
          uint32_t& from_left = perm_[b + key_offset(keys_[b + i])];
          uint32_t& from_right = perm_[b + key_offset(keys_[m + i])];
          add(from_left, delta, -1);
          add(from_right, delta, +1);
          std::swap(from_left, from_right);
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
    clear(s);
  }

 private:
  void add(uint32_t doc, int32_t* degrees, int32_t by) const {
    for (const Term* t = fwd_.begin(doc); t != fwd_.end(doc); ++t) degrees[*t] += by;
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
  uint32_t score(uint32_t pb, uint32_t pe, uint32_t base, const float* gain) const {
    uint32_t positive = 0;
    for (uint32_t pos = pb; pos < pe; ++pos) {
      const Term* t = fwd_.begin(perm_[pos]);
      const Term* end = fwd_.end(perm_[pos]);
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
  void select(uint32_t hb, uint32_t he, uint32_t count) const {
    if (count < he - hb) std::nth_element(keys_ + hb, keys_ + hb + count, keys_ + he);
    std::sort(keys_ + hb, keys_ + hb + count);
  }

  // Pairs (left rank i, right rank i) to swap: while their gains sum above zero.
  uint32_t swaps(uint32_t b, uint32_t m, uint32_t candidates) const {
    uint32_t k = 0;
    while (k < candidates && key_gain(keys_[b + k]) + key_gain(keys_[m + k]) > 0) ++k;
    return k;
  }

  void clear(TermState& s) const {
    for (uint32_t t : s.touched) s.left[t] = s.right[t] = 0;
    s.touched.clear();
  }

  static size_t items(uint32_t n) { return std::max<size_t>(1, (n + kDocsPerItem - 1) / kDocsPerItem); }

  // fn(begin, end, worker) over [b, e) cut into items of about kDocsPerItem positions.
  template <class Fn>
  void for_each_item(uint32_t b, uint32_t e, const Fn& fn) const {
    const size_t n_items = items(e - b);
    run_workers(workers_, n_items, [&](size_t i, int w) {
      fn(b + static_cast<uint32_t>(uint64_t{e - b} * i / n_items),
         b + static_cast<uint32_t>(uint64_t{e - b} * (i + 1) / n_items), w);
    });
  }

  const ForwardIndex<Term>& fwd_;
  uint32_t* perm_;
  uint64_t* keys_;
  const uint32_t iterations_;
  const int workers_;
  std::vector<TermState>& states_;
  TermState shared_;  // bisect_parallel's degrees and gains
  Log2 log2_;
};

}  // namespace splade::index::bp
