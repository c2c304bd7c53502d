// Recursive graph bisection, level by level: every range of a level is bisected before any range of
// the next, so per-position arrays serve every level (each range uses its own slice) and the memory
// stays flat: the permutation, keys and rows per position, two copies of the kept-term forward index
// (one read, one written, swapped each level, shrinking as ranges drop the terms they hold once) and
// per-worker term arrays.
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
void bisect_levels(bp::Rows<Term> rows, uint32_t vocab, std::vector<uint32_t>& perm, const BpOptions& opts, int workers) {
  const uint32_t n = static_cast<uint32_t>(perm.size());
  const uint32_t leaf_size = std::max(opts.leaf_size, 1u);
  std::vector<bp::TermState> states;
  states.reserve(workers);
  for (int w = 0; w < workers; ++w) states.emplace_back(vocab);
  bp::Bisector<Term> bisector(perm, vocab, opts, workers, states);
  // Each level reads one set of rows and writes the other; a range's rows stay inside its room.
  bp::Rows<Term> next{std::vector<uint64_t>(n), std::vector<uint32_t>(n), std::vector<Term>(rows.terms.size())};

  std::vector<Range> level, split;
  if (n > leaf_size) level.push_back({0, n});
  while (!level.empty()) {
    bisector.set_rows(&rows, &next);
    if (workers > 1 && level.size() < 2 * static_cast<size_t>(workers)) {
      for (const Range& r : level) bisector.bisect_parallel(r.begin, r.end);
    } else {
      bp::run_workers(workers, level.size(), [&](size_t i, int w) { bisector.bisect(level[i].begin, level[i].end, states[w]); });
    }
    // Children of at most leaf_size documents stay as their parent left them: in document order.
    split.clear();
    for (const Range& r : level) {
      const uint32_t mid = r.begin + (r.end - r.begin) / 2;
      if (mid - r.begin > leaf_size) split.push_back({r.begin, mid});
      if (r.end - mid > leaf_size) split.push_back({mid, r.end});
    }
    level.swap(split);
    std::swap(rows, next);
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
    bisect_levels(bp::kept_rows<uint16_t>(offsets, terms, n_docs, kept, workers), kept.kept, perm, opts, workers);
  } else {
    bisect_levels(bp::kept_rows<uint32_t>(offsets, terms, n_docs, kept, workers), kept.kept, perm, opts, workers);
  }
  return perm;
}

}  // namespace splade::index
