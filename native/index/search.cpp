#include "search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "../common/error.h"

namespace splade::index {

bool parse_algorithm(const std::string& name, Algorithm* out) {
  if (name == "exhaustive") *out = Algorithm::exhaustive;
  else if (name == "wand") *out = Algorithm::wand;
  else if (name == "maxscore") *out = Algorithm::maxscore;
  else if (name == "bmw") *out = Algorithm::bmw;
  else if (name == "bmp") *out = Algorithm::bmp;
  else if (name == "approximate") *out = Algorithm::approximate;
  else return false;
  return true;
}

void check_query(const Index& ix, const Query& q) {
  for (uint32_t i = 0; i < q.size; ++i) {
    const uint32_t t = q.indices[i];
    if (i > 0 && t <= q.indices[i - 1]) {
      fail(kInvalidArgument, "query indices must be strictly ascending (no duplicates): index " + std::to_string(t) +
                                 " at position " + std::to_string(i) + " follows " + std::to_string(q.indices[i - 1]));
    }
    if (t >= ix.vocab_size()) {
      fail(kOutOfRange, "query term " + std::to_string(t) + " at position " + std::to_string(i) +
                            " is not below the vocabulary size " + std::to_string(ix.vocab_size()));
    }
    if (!(q.values[i] > 0) || !std::isfinite(q.values[i])) {
      fail(kInvalidArgument, "query values must be finite and > 0: position " + std::to_string(i));
    }
  }
  // The largest score any document could get: past the float range every top document would score
  // infinity and the ranking would mean nothing (and the pruning bounds with it).
  double bound = 0;
  for (uint32_t i = 0; i < q.size; ++i)
    bound += static_cast<double>(q.values[i]) * ix.impact_unit() * ix.term(q.indices[i]).max_impact;
  if (!(bound <= std::numeric_limits<float>::max())) {
    char score[32];
    std::snprintf(score, sizeof score, "%.3g", bound);
    fail(kInvalidArgument, std::string("query values are too large: a document could score ") + score +
                               ", beyond the float range (scale the query down)");
  }
}

void check_params(const BmpParams& p) {
  if (!(p.alpha > 0 && p.alpha <= 1)) fail(kInvalidArgument, "alpha must be in (0, 1]");
  if (!(p.beta > 0 && p.beta <= 1)) fail(kInvalidArgument, "beta must be in (0, 1]");
  if (p.blocks > kMaxApproximateBlocks) fail(kInvalidArgument, "blocks must be in [0, " + std::to_string(kMaxApproximateBlocks) + "]");
}

namespace {

// Cursors over the query's terms that have postings, in query order: over the inverted lists, or
// over the block-max store when the index has no lists.
template <class C>
struct CursorSet;

template <>
struct CursorSet<Cursor> {
  std::vector<uint32_t> scratch;
  std::vector<Cursor> cursors;
  CursorSet(const Index& ix, const Query& q) {
    const uint32_t bs = ix.block_size();
    uint32_t live = 0;
    for (uint32_t i = 0; i < q.size; ++i) live += ix.term(q.indices[i]).df > 0;
    scratch.resize(size_t{2} * bs * live);
    cursors.reserve(live);
    const float unit = ix.impact_unit();
    for (uint32_t i = 0, j = 0; i < q.size; ++i) {
      if (ix.term(q.indices[i]).df == 0) continue;  // contributes nothing to any document
      cursors.emplace_back(ix, q.indices[i], q.values[i] * unit, scratch.data() + size_t{2} * bs * j,
                           scratch.data() + size_t{2} * bs * j + bs);
      ++j;
    }
  }
};

template <>
struct CursorSet<BmpCursor> {
  std::vector<BmpCursor> cursors;
  CursorSet(const Index& ix, const Query& q) {
    const float unit = ix.impact_unit();
    for (uint32_t i = 0; i < q.size; ++i)
      if (ix.term(q.indices[i]).df > 0) cursors.emplace_back(ix, q.indices[i], q.values[i] * unit);
  }
};

// Scores found with part of the query replaced by every term's (score_doc over fresh cursors,
// documents ascending), best first.
template <class C>
std::vector<TopKQueue::Entry> rescore(const Index& ix, const Query& q, std::vector<TopKQueue::Entry> found) {
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.doc < b.doc; });
  CursorSet<C> cs(ix, q);
  for (auto& e : found) {
    for (C& c : cs.cursors) c.next_geq(e.doc);
    e.score = score_doc(cs.cursors, e.doc);
  }
  std::sort(found.begin(), found.end(), TopKQueue::better);
  return found;
}

std::vector<TopKQueue::Entry> rescore_any(const Index& ix, const Query& q, std::vector<TopKQueue::Entry> found) {
  return ix.has_lists() ? rescore<Cursor>(ix, q, std::move(found)) : rescore<BmpCursor>(ix, q, std::move(found));
}

template <class C>
uint64_t run_cursors(const Index& ix, const Query& q, Algorithm algorithm, TopKQueue& topk) {
  CursorSet<C> cs(ix, q);
  std::vector<C>& cursors = cs.cursors;
  if (cursors.empty()) return 0;
  switch (algorithm) {
    case Algorithm::exhaustive: return exhaustive(cursors, topk);
    case Algorithm::wand: return wand(cursors, topk);
    case Algorithm::maxscore: return maxscore(cursors, topk);
    case Algorithm::bmw: return bmw(cursors, topk);
    default: fail(kInvalidArgument, "unknown search algorithm");
  }
}

}  // namespace

SearchResult search_segments(const std::vector<Segment>& segments, const Query& q, uint32_t k, Algorithm algorithm,
                             const BmpParams& params) {
  if (k < 1 || k > kMaxK) fail(kInvalidArgument, "k must be in [1, 10000]");
  if (algorithm != Algorithm::bmp && algorithm != Algorithm::approximate) {
    fail(kInvalidArgument, "searching segments together takes 'bmp' or 'approximate'");
  }
  check_params(params);
  std::vector<BmpSegment> segs;
  segs.reserve(segments.size());
  uint64_t base = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const Index* ix = segments[i].ix;
    if (!ix) fail(kInvalidArgument, "segment " + std::to_string(i) + " is missing");
    if (ix->reordered()) fail(kInvalidArgument, "segment " + std::to_string(i) + " is reordered: segments keep input order");
    check_query(*ix, q);
    segs.push_back({ix, segments[i].deleted, static_cast<uint32_t>(base)});
    base += ix->num_docs();
    if (base > std::numeric_limits<uint32_t>::max()) fail(kOutOfRange, "segments hold more than 2^32 - 1 documents in all");
  }
  TopKQueue topk(k);  // deletions are filtered per segment, before the queue
  SearchResult r;
  r.postings_scored = bmp(segs, q, topk, algorithm == Algorithm::bmp ? BmpParams{} : params);
  std::vector<TopKQueue::Entry> best = topk.sorted();
  if (algorithm == Algorithm::approximate && params.beta < 1) {
    // Each segment rescores its own documents (ascending ids: grouped by segment, in segment order).
    std::sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.doc < b.doc; });
    std::vector<TopKQueue::Entry> all;
    for (size_t i = 0, at = 0; i < segs.size(); ++i) {
      const uint32_t end = i + 1 < segs.size() ? segs[i + 1].base : std::numeric_limits<uint32_t>::max();
      std::vector<TopKQueue::Entry> mine;
      for (; at < best.size() && best[at].doc < end; ++at) mine.push_back({best[at].score, best[at].doc - segs[i].base});
      if (mine.empty()) continue;
      for (const auto& e : rescore_any(*segs[i].ix, q, std::move(mine))) all.push_back({e.score, e.doc + segs[i].base});
    }
    std::sort(all.begin(), all.end(), TopKQueue::better);
    best = std::move(all);
  }
  r.ids.reserve(best.size());
  r.scores.reserve(best.size());
  for (const auto& e : best) {
    r.ids.push_back(e.doc);
    r.scores.push_back(e.score);
  }
  return r;
}

SearchResult search(const Index& ix, const Query& q, uint32_t k, Algorithm algorithm, const BmpParams& params,
                    const uint8_t* deleted, float floor) {
  if (k < 1 || k > kMaxK) fail(kInvalidArgument, "k must be in [1, 10000]");
  check_query(ix, q);
  check_params(params);
  TopKQueue topk(k);
  // The queue sees internal numbers: a reordered index's bitmap is translated once.
  std::vector<uint8_t> internal_deleted;
  if (deleted && ix.reordered()) {
    internal_deleted.assign((size_t{ix.num_docs()} + 7) / 8, 0);
    for (uint32_t d = 0; d < ix.num_docs(); ++d) {
      const uint32_t p = ix.input_position(d);
      if (deleted[p >> 3] >> (p & 7) & 1) internal_deleted[d >> 3] |= static_cast<uint8_t>(1u << (d & 7));
    }
    deleted = internal_deleted.data();
  }
  topk.set_deleted(deleted, ix.num_docs());
  topk.set_floor(floor);
  SearchResult r;
  // 'approximate' over the index's top-block lists where it has them (store 'compact') and k is at
  // most kMaxListedK, else the block-max pruning with alpha / beta.
  const TopBlockLists* tb = algorithm == Algorithm::approximate && k <= kMaxListedK ? ix.top_blocks() : nullptr;
  if (tb) {
    r.postings_scored = approximate(ix, *tb, q, topk, params, kept_terms({{&ix, nullptr, 0}}, q, params.beta));
  } else if (algorithm == Algorithm::bmp || algorithm == Algorithm::approximate) {
    r.postings_scored = bmp(ix, q, topk, algorithm == Algorithm::bmp ? BmpParams{} : params);
  } else {
    r.postings_scored = ix.has_lists() ? run_cursors<Cursor>(ix, q, algorithm, topk) : run_cursors<BmpCursor>(ix, q, algorithm, topk);
  }
  std::vector<TopKQueue::Entry> best = topk.sorted();
  if (!tb && algorithm == Algorithm::approximate && params.beta < 1) {
    best = rescore_any(ix, q, std::move(best));
  }
  r.ids.reserve(best.size());
  r.scores.reserve(best.size());
  for (const auto& e : best) {
    r.ids.push_back(ix.input_position(e.doc));
    r.scores.push_back(e.score);
  }
  return r;
}

}  // namespace splade::index
