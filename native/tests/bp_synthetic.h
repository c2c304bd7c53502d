// Synthetic collections for docid reordering (bp_test, bench/index/bp_bench) and the measure BP
// minimises. A topical document draws its terms from 1-3 (max_topics) of `topics` topics (each a fixed set of
// terms, Zipfian within the set) and the rest from a Zipfian background over the whole vocabulary, as
// issue 14's `topical` bench collection does; documents are independent, so their order is random.
// Generated in parallel straight into CSR arrays, each document from its own seeded stream, so the
// collection depends on the seed only, and 8.8M documents need no more than their postings.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "../common/thread_pool.h"

namespace splade::bp_synthetic {

struct Collection {
  std::vector<uint64_t> offsets;  // n_docs + 1
  std::vector<uint32_t> terms;    // each document's distinct terms, ascending
  uint32_t vocab = 0;
  std::vector<uint32_t> first_topic;  // per document: the topic it drew first (an oracle's clustering)
  uint32_t n_docs() const { return static_cast<uint32_t>(offsets.size() - 1); }
};

struct TopicalParams {
  uint32_t n_docs = 100000;
  uint32_t vocab = 30522;
  uint32_t topics = 500;
  uint32_t max_topics = 3;  // a document draws from 1..max_topics topics (at most 3)
  uint32_t terms_per_topic = 300;
  uint32_t min_len = 60, max_len = 180;  // distinct terms a document, uniform (mean 120)
  double topic_share = 0.5;              // of a document's terms, drawn from its topics
  double zipf = 1.0;                     // exponent of both the topic and the background laws
};

// splitmix64: a small, fast, well-mixed stream per document.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>((next() >> 32) * n >> 32); }
};

// Walker's alias table over ranks 0..n-1 with weight 1 / (rank + 1)^s: O(1) per draw.
class Zipf {
 public:
  Zipf(uint32_t n, double s) : prob_(n), alias_(n) {
    std::vector<double> w(n);
    double total = 0;
    for (uint32_t i = 0; i < n; ++i) total += w[i] = 1.0 / std::pow(i + 1.0, s);
    std::vector<uint32_t> small, large;
    for (uint32_t i = 0; i < n; ++i) (w[i] = w[i] * n / total) < 1 ? small.push_back(i) : large.push_back(i);
    while (!small.empty() && !large.empty()) {
      const uint32_t lo = small.back(), hi = large.back();
      small.pop_back();
      prob_[lo] = w[lo];
      alias_[lo] = hi;
      w[hi] -= 1 - w[lo];
      if (w[hi] < 1) {
        large.pop_back();
        small.push_back(hi);
      }
    }
    for (uint32_t i : small) prob_[i] = 1, alias_[i] = i;
    for (uint32_t i : large) prob_[i] = 1, alias_[i] = i;
  }
  uint32_t draw(Rng& rng) const {
    const uint32_t i = rng.below(static_cast<uint32_t>(prob_.size()));
    return (rng.next() >> 40) * (1.0 / (1 << 24)) < prob_[i] ? i : alias_[i];
  }

 private:
  std::vector<double> prob_;
  std::vector<uint32_t> alias_;
};

inline Collection topical(const TopicalParams& p, uint64_t seed) {
  Rng setup{seed};
  // Background: Zipf ranks mapped to shuffled term ids, so frequent terms are spread over the ids.
  std::vector<uint32_t> background(p.vocab);
  std::iota(background.begin(), background.end(), 0u);
  for (uint32_t i = p.vocab; i > 1; --i) std::swap(background[i - 1], background[setup.below(i)]);
  std::vector<uint32_t> topic_terms(size_t{p.topics} * p.terms_per_topic);
  for (uint32_t& t : topic_terms) t = setup.below(p.vocab);
  const Zipf background_law(p.vocab, p.zipf), topic_law(p.terms_per_topic, p.zipf);
  const uint32_t max_len = std::min(p.max_len, p.vocab / 2);
  const uint32_t min_len = std::min(p.min_len, max_len);

  auto doc_rng = [&](uint32_t d) { return Rng{seed ^ (0xD1B54A32D192ED03ull * (d + 1ull))}; };
  auto length = [&](Rng& rng) { return min_len + rng.below(max_len - min_len + 1); };
  Collection c;
  c.vocab = p.vocab;
  c.offsets.assign(size_t{p.n_docs} + 1, 0);
  parallel_range(p.n_docs, [&](size_t b, size_t e, int) {
    for (size_t d = b; d < e; ++d) {
      Rng rng = doc_rng(static_cast<uint32_t>(d));
      c.offsets[d + 1] = length(rng);
    }
  });
  for (uint32_t d = 0; d < p.n_docs; ++d) c.offsets[d + 1] += c.offsets[d];
  c.terms.resize(c.offsets[p.n_docs]);
  c.first_topic.resize(p.n_docs);
  parallel_range(p.n_docs, [&](size_t b, size_t e, int) {
    std::vector<uint32_t> doc;
    for (size_t d = b; d < e; ++d) {
      Rng rng = doc_rng(static_cast<uint32_t>(d));
      const uint32_t len = length(rng);
      const uint32_t n_topics = 1 + rng.below(std::min(std::max(p.max_topics, 1u), 3u));
      uint32_t topics[3];
      for (uint32_t i = 0; i < n_topics; ++i) topics[i] = rng.below(p.topics);
      c.first_topic[d] = topics[0];
      const uint32_t from_topics = static_cast<uint32_t>(len * p.topic_share);
      doc.clear();
      for (uint32_t i = 0; i < from_topics; ++i) {
        doc.push_back(topic_terms[size_t{topics[i % n_topics]} * p.terms_per_topic + topic_law.draw(rng)]);
      }
      // Background terms top the document up to len distinct terms.
      for (;;) {
        std::sort(doc.begin(), doc.end());
        doc.erase(std::unique(doc.begin(), doc.end()), doc.end());
        if (doc.size() >= len) break;
        for (size_t i = doc.size(); i < len; ++i) doc.push_back(background[background_law.draw(rng)]);
      }
      std::copy(doc.begin(), doc.begin() + len, c.terms.begin() + c.offsets[d]);
    }
  });
  return c;
}

// The measure BP minimises: sum over terms of log2 of the docid gaps of its posting list (the first
// gap counted from -1) when documents are laid out in `order` (order[new] = old), over every posting.
inline double log_gap_bits(const uint64_t* offsets, const uint32_t* terms, uint32_t n_docs, uint32_t vocab,
                           const std::vector<uint32_t>& order) {
  std::vector<float> small_log2(1u << 16);
  for (uint32_t i = 1; i < small_log2.size(); ++i) small_log2[i] = static_cast<float>(std::log2(double(i)));
  std::vector<int64_t> last(vocab, -1);
  double bits = 0;
  for (uint32_t pos = 0; pos < n_docs; ++pos) {
    const uint32_t doc = order[pos];
    double doc_bits = 0;
    for (uint64_t i = offsets[doc]; i < offsets[doc + 1]; ++i) {
      const uint64_t gap = pos - last[terms[i]];
      last[terms[i]] = pos;
      doc_bits += gap < small_log2.size() ? small_log2[gap] : std::log2(static_cast<double>(gap));
    }
    bits += doc_bits;
  }
  return bits;
}

inline double log_gap_bits(const Collection& c, const std::vector<uint32_t>& order) {
  return log_gap_bits(c.offsets.data(), c.terms.data(), c.n_docs(), c.vocab, order);
}

inline std::vector<uint32_t> identity_order(uint32_t n) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  return order;
}

}  // namespace splade::bp_synthetic
