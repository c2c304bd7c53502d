// Top-k retrieval over an Index. A document's score is the float sum, in query-term order
// (ascending term id), of query_weight * impact * unit over the query terms it holds. Every
// algorithm computes the final score of a document it keeps with that same loop (score_doc), so
// scores are bitwise identical across algorithms, and all of them return exactly the top-k of
// `exhaustive`: the same ids in the same order, ties broken by the lower internal document number.
//
// Pruning compares upper bounds (sums of max_score / block_max_score, possibly added in another
// order) against the k-th score. Float sums in different orders differ by at most a few ulps, so a
// bound prunes a document only when bound * bound_margin(n) <= threshold: such a document cannot
// strictly beat the k-th score, whatever the summation order.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bmp_cursor.h"
#include "top_blocks.h"
#include "cursor.h"
#include "index.h"
#include "topk_queue.h"

namespace splade::index {

enum class Algorithm { exhaustive = 0, wand = 1, maxscore = 2, bmw = 3, bmp = 4, approximate = 5 };
bool parse_algorithm(const std::string& name, Algorithm* out);

inline constexpr uint32_t kMaxK = 10000;

struct Query {
  const uint32_t* indices;  // strictly ascending term ids
  const float* values;      // finite, > 0
  uint32_t size;
};

// Knobs of block-max pruning (bmp.cpp). 'bmp' runs with alpha = beta = 1 (rank-safe);
// 'approximate' with the values given (their defaults live in lib/search/inverted-index.ts).
struct BmpParams {
  float alpha = 1.0f;  // (0, 1]: visit a block while bound x alpha reaches the k-th score
  float beta = 1.0f;   // (0, 1]: search with the heaviest query terms carrying this share of the bound mass
  uint32_t blocks = 0; // [0, kMaxApproximateBlocks], 'approximate' over top-block lists only: the blocks scored (0: all listed)
};
inline constexpr uint32_t kMaxApproximateBlocks = 1u << 24;
// The largest k 'approximate' answers from top-block lists: a term lists its best few hundred blocks,
// too few for a top 1000 (recall 0.3 at 100 blocks, 0.9 at 10,000 and slower than 'bmp' on topical
// 1M, bench/RESULTS.md); larger k take block-max pruning with alpha / beta.
inline constexpr uint32_t kMaxListedK = 100;

struct SearchResult {
  std::vector<uint32_t> ids;  // internal document numbers, best first
  std::vector<float> scores;
  uint64_t postings_scored = 0;
};

// Throws SpladeError: unsorted or duplicate indices, non-positive or non-finite values
// (kInvalidArgument), a term not below the vocabulary size (kOutOfRange), k outside [1, kMaxK].
void check_query(const Index& ix, const Query& q);

// Throws kInvalidArgument for knobs out of range.
void check_params(const BmpParams& params);

// deleted: nullptr, or a bitmap of ceil(num_docs / 8) bytes over input positions (bit d % 8 of byte
// d / 8 set: document d is deleted); deleted documents are never returned, by any algorithm.
// floor: only documents scoring strictly above it are returned (-infinity: all; see topk_queue.h).
SearchResult search(const Index& ix, const Query& q, uint32_t k, Algorithm algorithm, const BmpParams& params,
                    const uint8_t* deleted = nullptr, float floor = -std::numeric_limits<float>::infinity());

// One segment of a live index for search_segments: an index in input order (not reordered) and its
// deletions (nullptr, or ceil(num_docs / 8) bytes as for search).
struct Segment {
  const Index* ix;
  const uint8_t* deleted;
};

// 'bmp' or 'approximate' over several indexes as one collection, the documents of each segment
// following those of the segments before it: result ids are (documents of the earlier segments) +
// input position. With the same scale everywhere, ids, scores and tie order are those of one index
// built over the live documents in that order (deleted documents are never returned). The
// superblocks of all segments are visited in one best-first order into one top-k queue (bmp.cpp).
// Throws what search throws, kInvalidArgument for another algorithm or a reordered segment,
// kUnsupported for a segment without a block-max store, kOutOfRange past 2^32 - 1 documents in all.
SearchResult search_segments(const std::vector<Segment>& segments, const Query& q, uint32_t k, Algorithm algorithm,
                             const BmpParams& params);

// Block-at-a-time over the index's block-max store (not cursors): returns the postings it scored.
uint64_t bmp(const Index& ix, const Query& q, TopKQueue& topk, const BmpParams& params);

// Approximate search over the impact-ordered block lists of a store 'compact' index (approximate.cpp):
// keep (from kept_terms) says which query positions walk their lists. Returns the postings scored.
uint64_t approximate(const Index& ix, const TopBlockLists& tb, const Query& q, TopKQueue& topk, const BmpParams& params,
                     const std::vector<bool>& keep);

// The same over several indexes as one collection: document d (internal) of segment i enters topk as
// base + d, unless its bit in deleted (internal numbers; nullptr: none) is set.
struct BmpSegment {
  const Index* ix;
  const uint8_t* deleted;
  uint32_t base;
};
uint64_t bmp(const std::vector<BmpSegment>& segments, const Query& q, TopKQueue& topk, const BmpParams& params);

// Query positions kept under beta (bmp.cpp): the heaviest terms (weight x list max, the largest over
// the segments) whose bounds sum to at least beta of the total; all of them when beta is 1.
std::vector<bool> kept_terms(const std::vector<BmpSegment>& segs, const Query& q, float beta);

// --- the algorithms: cursors are in query-term order; each returns the postings it scored ---
// C is Cursor (inverted lists) or BmpCursor (the block-max store of an index without lists); both
// are instantiated in each algorithm's file.
template <class C> uint64_t exhaustive(std::vector<C>& cursors, TopKQueue& topk);
template <class C> uint64_t wand(std::vector<C>& cursors, TopKQueue& topk);
template <class C> uint64_t maxscore(std::vector<C>& cursors, TopKQueue& topk);
template <class C> uint64_t bmw(std::vector<C>& cursors, TopKQueue& topk);

// --- shared pieces ---
inline float bound_margin(size_t terms) { return 1.0f + static_cast<float>(4 * terms + 8) * 1.1920929e-07f; }

// The score of doc: the sum in query order over the cursors positioned on it (the only summation
// order used for results). Cursors not on doc must already be past it.
template <class C>
float score_doc(std::vector<C>& cursors, uint32_t doc) {
  float s = 0;
  for (C& c : cursors)
    if (c.docid() == doc) s += c.score();
  return s;
}

// Insertion sort by current document (lists are short and nearly sorted between steps).
template <class C>
void sort_by_docid(std::vector<C*>& order) {
  for (size_t i = 1; i < order.size(); ++i) {
    C* c = order[i];
    size_t j = i;
    for (; j > 0 && order[j - 1]->docid() > c->docid(); --j) order[j] = order[j - 1];
    order[j] = c;
  }
}

// WAND's pivot over cursors sorted by document: the first position at which the summed list maxima
// could beat the threshold; order.size() when none can (the search is over).
template <class C>
size_t find_pivot(const std::vector<C*>& order, float margin, float threshold) {
  const size_t n = order.size();
  float bound = 0;
  for (size_t p = 0; p < n && order[p]->docid() != kEndDoc; ++p) {
    bound += order[p]->max_score();
    if (bound * margin > threshold) return p;
  }
  return n;
}

}  // namespace splade::index
