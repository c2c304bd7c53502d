// The documents as recursive graph bisection reads them, built once from the caller's CSR arrays.
// Terms held by fewer than min_df documents are dropped (moving their document cannot change their
// cost); the others are renumbered densely in term order, so the per-term degree and gain arrays stay
// small, and stored as uint16 when the kept vocabulary fits in it (SPLADE's 30522 word pieces do): the
// gain loop reads every posting of every range in every swap round, so its bytes are what the memory
// bus sees. The same reasoning drops, level by level, the terms a range holds only once (bp_bisector.h).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../common/error.h"
#include "../common/thread_pool.h"

namespace splade::index::bp {

// Runs fn(item, worker) for every item in [0, n_items) on `workers` workers that take items in turn;
// worker in [0, workers) indexes per-worker scratch. Callers make results independent of which worker
// ran an item. Inside another parallel region the pool runs everything on the calling thread, as
// worker 0.
inline void run_workers(int workers, size_t n_items, const std::function<void(size_t item, int worker)>& fn) {
  if (workers <= 1 || n_items <= 1) {
    for (size_t i = 0; i < n_items; ++i) fn(i, 0);
    return;
  }
  std::atomic<size_t> next{0};
  parallel_for(static_cast<size_t>(workers), [&](size_t worker, int) {
    for (size_t i; (i = next.fetch_add(1)) < n_items;) fn(i, static_cast<int>(worker));
  });
}

// Documents per work item when a pass over documents is split between workers: large enough that
// handing out items costs nothing, small enough that a slow worker does not hold up the others.
inline constexpr uint32_t kDocsPerItem = 16384;

inline constexpr uint32_t kDropped = 0xFFFFFFFFu;

// remap[t]: the kept number of term t, or kDropped; kept: how many terms were kept.
struct KeptTerms {
  std::vector<uint32_t> remap;
  uint32_t kept = 0;
};

// Counts document frequencies (checking the input on the way) and keeps the terms with df >= min_df.
inline KeptTerms keep_terms(const uint64_t* offsets, const uint32_t* terms, uint32_t n_docs, uint32_t vocab,
                            uint32_t min_df, int workers) {
  std::vector<std::vector<uint32_t>> df(workers);
  const size_t items = (size_t{n_docs} + kDocsPerItem - 1) / kDocsPerItem;
  run_workers(workers, items, [&](size_t item, int w) {
    if (df[w].empty()) df[w].assign(vocab, 0);
    const uint32_t begin = static_cast<uint32_t>(item * kDocsPerItem);
    const uint32_t end = static_cast<uint32_t>(std::min<size_t>(n_docs, begin + size_t{kDocsPerItem}));
    for (uint32_t d = begin; d < end; ++d) {
      if (offsets[d + 1] < offsets[d]) fail(kInvalidArgument, "offsets decrease at document " + std::to_string(d));
      for (uint64_t i = offsets[d]; i < offsets[d + 1]; ++i) {
        const uint32_t t = terms[i];
        if (t >= vocab) {
          fail(kOutOfRange, "document " + std::to_string(d) + ": term " + std::to_string(t) +
                                " is not below the vocabulary size " + std::to_string(vocab));
        }
        ++df[w][t];
      }
    }
  });
  KeptTerms out;
  out.remap.assign(vocab, kDropped);
  for (uint32_t t = 0; t < vocab; ++t) {
    uint64_t total = 0;
    for (const auto& counts : df) total += counts.empty() ? 0 : counts[t];
    if (total >= min_df && total > 0) out.remap[t] = out.kept++;
  }
  return out;
}

// A forward index whose rows may have unused room between them: each level of the bisection rewrites
// the rows of a range, in their new order and with fewer terms, inside the room the range had.
template <class Term>
struct Rows {
  std::vector<uint64_t> begin;  // per row: where its terms start
  std::vector<uint32_t> count;  // per row: how many terms it has
  std::vector<Term> terms;

  const Term* row_begin(uint32_t row) const { return terms.data() + begin[row]; }
  const Term* row_end(uint32_t row) const { return terms.data() + begin[row] + count[row]; }
};

// Row d: the kept terms of document d, renumbered, in input order.
template <class Term>
Rows<Term> kept_rows(const uint64_t* offsets, const uint32_t* terms, uint32_t n_docs, const KeptTerms& kept,
                     int workers) {
  Rows<Term> rows;
  rows.begin.assign(n_docs, 0);
  rows.count.assign(n_docs, 0);
  const size_t items = (size_t{n_docs} + kDocsPerItem - 1) / kDocsPerItem;
  auto docs_of = [&](size_t item) {
    const uint32_t begin = static_cast<uint32_t>(item * kDocsPerItem);
    return std::pair<uint32_t, uint32_t>(begin, std::min<size_t>(n_docs, begin + size_t{kDocsPerItem}));
  };
  run_workers(workers, items, [&](size_t item, int) {
    const auto [begin, end] = docs_of(item);
    for (uint32_t d = begin; d < end; ++d) {
      uint32_t count = 0;
      for (uint64_t i = offsets[d]; i < offsets[d + 1]; ++i) count += kept.remap[terms[i]] != kDropped;
      rows.count[d] = count;
    }
  });
  uint64_t total = 0;
  for (uint32_t d = 0; d < n_docs; ++d) {
    rows.begin[d] = total;
    total += rows.count[d];
  }
  rows.terms.resize(total);
  run_workers(workers, items, [&](size_t item, int) {
    const auto [begin, end] = docs_of(item);
    for (uint32_t d = begin; d < end; ++d) {
      Term* out = rows.terms.data() + rows.begin[d];
      for (uint64_t i = offsets[d]; i < offsets[d + 1]; ++i) {
        const uint32_t t = kept.remap[terms[i]];
        if (t != kDropped) *out++ = static_cast<Term>(t);
      }
    }
  });
  return rows;
}

}  // namespace splade::index::bp
