// Recursive graph bisection, level by level: every range of a level is bisected before any range of
// the next, so one key array of n entries serves every level (each range uses its own slice) and the
// memory stays flat: the permutation, the keys, the kept-term forward index and per-worker term arrays.
// While a level has fewer ranges than twice the workers, all workers share each range; below that,
// each worker takes whole ranges.
#include "reorder_bp.h"

#include <algorithm>
#include <numeric>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "bp_bisector.h"
#include "bp_forward_index.h"

namespace splade::index {
namespace {

// Above the builder's vocabulary limit (builder.h) the vocabulary-sized arrays would be a bad-input risk.
constexpr uint32_t kMaxBpVocab = 1u << 24;

struct Range {
  uint32_t begin, end;
};

template <class Term>
void bisect_levels(const bp::ForwardIndex<Term>& fwd, std::vector<uint32_t>& perm, const BpOptions& opts, int workers) {
  const uint32_t n = static_cast<uint32_t>(perm.size());
  const uint32_t leaf_size = std::max(opts.leaf_size, 1u);
  std::vector<uint64_t> keys(n);
  std::vector<bp::TermState> states;
  states.reserve(workers);
  for (int w = 0; w < workers; ++w) states.emplace_back(fwd.vocab);
  bp::Bisector<Term> bisector(fwd, perm.data(), keys.data(), opts.iterations, workers, states);

  std::vector<Range> level{{0, n}}, split, leaves;
  while (!level.empty()) {
    split.clear();
    leaves.clear();
    for (const Range& r : level) (r.end - r.begin > leaf_size ? split : leaves).push_back(r);
    // A leaf keeps its documents in input order: whatever locality the input had survives inside it.
    bp::run_workers(workers, leaves.size(), [&](size_t i, int) {
      std::sort(perm.begin() + leaves[i].begin, perm.begin() + leaves[i].end);
    });
    if (workers > 1 && split.size() < 2 * static_cast<size_t>(workers)) {
      for (const Range& r : split) bisector.bisect_parallel(r.begin, r.end);
    } else {
      bp::run_workers(workers, split.size(), [&](size_t i, int w) { bisector.bisect(split[i].begin, split[i].end, states[w]); });
    }
    level.clear();
    for (const Range& r : split) {
      const uint32_t mid = r.begin + (r.end - r.begin) / 2;
      level.push_back({r.begin, mid});
      level.push_back({mid, r.end});
    }
  }
}

}  // namespace

std::vector<uint32_t> bp_order(const uint64_t* offsets, const uint32_t* terms, uint32_t n_docs, uint32_t vocab,
                               const BpOptions& opts) {
  SPLADE_CHECK(vocab <= kMaxBpVocab, "vocab must be at most 2^24");
  SPLADE_CHECK(n_docs < 0xFFFFFFFFu, "at most 2^32 - 2 documents");
  const int workers = opts.threads > 0 ? std::min(opts.threads, num_threads()) : num_threads();
  std::vector<uint32_t> perm(n_docs);
  std::iota(perm.begin(), perm.end(), 0u);
  if (n_docs == 0) return perm;
  const bp::KeptTerms kept = bp::keep_terms(offsets, terms, n_docs, vocab, opts.min_df, workers);
  if (kept.kept <= 0x10000u) {
    bisect_levels(bp::build_forward_index<uint16_t>(offsets, terms, n_docs, kept, workers), perm, opts, workers);
  } else {
    bisect_levels(bp::build_forward_index<uint32_t>(offsets, terms, n_docs, kept, workers), perm, opts, workers);
  }
  return perm;
}

}  // namespace splade::index
