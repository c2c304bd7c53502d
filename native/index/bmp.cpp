// Block-max pruning (Mallia, Suel, Tonellotto, SIGIR 2024), superblock at a time (Carlson et al.,
// SIGIR 2025), over the block-max store (bmp_format.h, or bmp_packed.h's compact layout):
//   1. each query term's superblock groups add weight x group max to their superblock's bound;
//   2. superblocks are visited best bound first; a visited superblock's blocks get their bounds the
//      same way, and are visited best first;
//   3. a visited block is scored whole, term by term in query order (so each document's score is
//      the sum search.h prescribes, bit for bit), and its documents offered to the top-k queue;
//   4. the search ends at the first superblock or block whose bound cannot beat the k-th score.
// Rank-safe with alpha = beta = 1. Approximate settings: alpha < 1 visits a block only while its
// bound x alpha reaches the k-th score; beta < 1 searches with the heaviest query terms only (those
// that carry a beta share of the query's bound mass), and the documents found are then scored with
// every term through the cursors, so returned scores stay exact.
//
// Several indexes (a live index's segments) are searched as one collection: the superblocks of all
// of them are ranked by bound together and visited in that one order, into one top-k queue, so the
// k-th score rises as fast as over one merged index (searching them one after another, each from
// the k-th score of those before, scores far more postings: every segment starts low).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "../common/cpu_features.h"
#include "bmp_bounds.h"
#include "bmp_layouts.h"
#include "search.h"

namespace splade::index {
namespace {

struct TermRef {
  uint32_t term;      // term id
  float weight;       // query value x impact unit, as the cursors use it
  const BmpTerm* bt;  // where its groups are
};

// A superblock's group as its bounds need it (bmp_bounds.h): step 1 buckets these by superblock.
struct SuperRef {
  uint64_t mask;   // the group's blocks
  uint64_t block;  // its first block entry
  uint32_t found;  // its GroupRef in SegmentPlan::found
  uint32_t term;   // index into the plan's terms
};

// One segment's side of step 1, over its layout of the store (bmp_layouts.h): its superblock bounds,
// and each superblock's groups (bucketed by superblock, in query-term order within one), so that the
// tables grow with the groups there are, not terms x superblocks.
//
// The query terms' group streams are decoded four at a time, interleaved, into `found` (term by
// term): one stream is a chain of dependent loads (a group's end depends on its bytes), and on 8.8M
// documents a query has about 90,000 groups. The bounds are then summed term by term (the order
// every document's score sums in) and the groups bucketed as 24-byte SuperRefs.
template <class Layout>
struct SegmentPlan {
  const BmpStore* st;
  Layout layout;
  uint32_t block_docs;
  uint32_t base;
  const uint8_t* deleted;
  std::vector<TermRef> terms;
  float whole_bound = 0.0f;  // at least every superblock's bound
  std::vector<float> sb_bound;
  std::vector<GroupRef> found;  // every group of the query's terms, term by term
  std::vector<uint64_t> sb_begin;
  std::vector<SuperRef> refs;

  SegmentPlan(const BmpSegment& seg, const Query& q, const std::vector<bool>& keep)
      : st(&seg.ix->bmp()), layout{*st}, block_docs(st->meta->block_docs), base(seg.base), deleted(seg.deleted) {
    for (uint32_t i = 0; i < q.size; ++i) {
      const BmpTerm& bt = st->terms[q.indices[i]];
      if (!keep[i] || bt.num_groups == 0) continue;
      terms.push_back({q.indices[i], q.values[i] * seg.ix->impact_unit(), &bt});
    }
    // Every superblock's bound is a sum of at most these addends, each no larger, in the same order.
    for (const TermRef& t : terms) whole_bound += t.weight * static_cast<float>(seg.ix->term(t.term).max_impact);
  }

  void bound_superblocks() {
    const uint32_t nsup = st->meta->num_supers;
    const size_t n = terms.size();
    std::vector<uint64_t> first(n + 1, 0);
    for (size_t i = 0; i < n; ++i) first[i + 1] = first[i] + terms[i].bt->num_groups;
    const uint64_t total = first[n];
    if (total > UINT32_MAX) fail(kInvalidArgument, "bmp: the query's terms have more than 2^32 superblock groups in one segment");
    found.resize(total);
    std::vector<uint32_t> found_sb(total);
    std::vector<uint8_t> found_max(total);
    sb_begin.assign(size_t{nsup} + 1, 0);
    constexpr size_t kLanes = 4;
    for (size_t i0 = 0; i0 < n; i0 += kLanes) {
      const size_t lanes = std::min(kLanes, n - i0);
      typename Layout::Stream s[kLanes];
      uint64_t at[kLanes], stop[kLanes], longest = 0;
      for (size_t l = 0; l < lanes; ++l) {
        s[l] = layout.stream(*terms[i0 + l].bt, static_cast<uint32_t>(i0 + l));
        at[l] = first[i0 + l];
        stop[l] = first[i0 + l + 1];
        longest = std::max(longest, stop[l] - at[l]);
      }
      for (uint64_t j = 0; j < longest; ++j) {
        for (size_t l = 0; l < lanes; ++l) {
          if (at[l] == stop[l]) continue;
          uint32_t sb, max;
          s[l].next(sb, max, found[at[l]]);
          found_sb[at[l]] = sb;
          found_max[at[l]] = static_cast<uint8_t>(max);
          ++sb_begin[sb + 1];
          ++at[l];
        }
      }
    }
    for (uint32_t sb = 0; sb < nsup; ++sb) sb_begin[sb + 1] += sb_begin[sb];
    sb_bound.assign(nsup, 0.0f);
    refs.resize(total);
    std::vector<uint64_t> fill(sb_begin.begin(), sb_begin.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      const float w = terms[i].weight;
      for (uint64_t x = first[i]; x < first[i + 1]; ++x) {
        const uint32_t sb = found_sb[x];
        sb_bound[sb] += w * static_cast<float>(found_max[x]);
        refs[fill[sb]++] = SuperRef{found[x].mask, found[x].block, static_cast<uint32_t>(x), static_cast<uint32_t>(i)};
      }
    }
  }
  bool has_groups(uint32_t sb) const { return sb_begin[sb + 1] > sb_begin[sb]; }
  bool is_deleted(uint32_t doc) const { return deleted && (deleted[doc >> 3] >> (doc & 7) & 1); }
};

// A superblock to visit: segment, superblock and its bound.
struct Visit {
  float bound;
  uint32_t seg, sb;
};

}  // namespace

namespace {

template <class Layout>
uint64_t bmp_search(const std::vector<BmpSegment>& segments, const Query& q, TopKQueue& topk, const BmpParams& params) {
  const std::vector<bool> keep = kept_terms(segments, q, params.beta);
  std::vector<SegmentPlan<Layout>> plans;
  plans.reserve(segments.size());
  size_t n = 0;  // the most query terms one segment searches with
  float whole_bound = 0.0f;
  for (const BmpSegment& s : segments) {
    plans.emplace_back(s, q, keep);
    n = std::max(n, plans.back().terms.size());
    whole_bound = std::max(whole_bound, plans.back().whole_bound);
  }
  if (n == 0) return 0;
  // bound_margin grows with the terms summed: the largest count covers every segment's sums.
  const float margin = bound_margin(n) * params.alpha;
  // A floor no document can beat (a live index's segment searched after others): skip the tables
  // below, the fixed cost each segment would pay.
  if (whole_bound * margin < topk.threshold()) return 0;

  // 1. Superblock bounds of every segment, ranked together.
  std::vector<Visit> visits;  // every superblock with a group: a bound may round to 0 where a document still scores
  uint32_t max_block_docs = 0;
  for (uint32_t si = 0; si < plans.size(); ++si) {
    SegmentPlan<Layout>& p = plans[si];
    if (p.terms.empty()) continue;
    p.bound_superblocks();
    max_block_docs = std::max(max_block_docs, p.block_docs);
    for (uint32_t s = 0; s < p.st->meta->num_supers; ++s)
      if (p.has_groups(s)) visits.push_back({p.sb_bound[s], si, s});
  }
  std::sort(visits.begin(), visits.end(), [](const Visit& a, const Visit& b) {
    return a.bound > b.bound || (a.bound == b.bound && (a.seg < b.seg || (a.seg == b.seg && a.sb < b.sb)));
  });

  // Per visited superblock: for its j-th group, the postings of each of its 64 blocks (offset, count).
  std::vector<EntryRef> entry_at(n * kBmpSuperBlocks);
  std::vector<uint8_t> entry_here(n * kBmpSuperBlocks, 0);
  std::vector<float> acc(max_block_docs, 0.0f);
  const uint32_t touched_words = (max_block_docs + 63) / 64;
  std::vector<uint64_t> touched(touched_words, 0);  // bit s: slot s of the block has a posting
  uint64_t scored = 0;
  float threshold = topk.threshold();
  // The store is read where the query's terms lead, so nearly every first touch misses the cache:
  // the next superblock's bounds and the next block's postings are prefetched while this one is
  // worked on.
  const BmpGroupBoundsFn group_bounds = bmp_group_bounds_kernel(active_isa());
  auto prefetch_refs = [&](const Visit& v) {
    const SegmentPlan<Layout>& p = plans[v.seg];
    const char* from = reinterpret_cast<const char*>(p.refs.data() + p.sb_begin[v.sb]);
    const char* to = reinterpret_cast<const char*>(p.refs.data() + p.sb_begin[v.sb + 1]);
    for (; from < to; from += 64) __builtin_prefetch(from);
  };
  auto prefetch_super = [&](const Visit& v) {
    const SegmentPlan<Layout>& p = plans[v.seg];
    for (uint64_t r = p.sb_begin[v.sb]; r < p.sb_begin[v.sb + 1]; ++r) __builtin_prefetch(p.st->block_max + p.refs[r].block);
  };
  auto prefetch_block = [&](const Layout& layout, uint32_t groups, uint32_t blk) {
    for (uint32_t j = 0; j < groups; ++j)
      if (entry_here[j * kBmpSuperBlocks + blk]) __builtin_prefetch(layout.prefetch_at(entry_at[j * kBmpSuperBlocks + blk]));
  };
  constexpr size_t kSuperAhead = 3;  // superblocks whose block maxima are in flight
  for (size_t vi = 0; vi < 2 * kSuperAhead && vi < visits.size(); ++vi) prefetch_refs(visits[vi]);
  for (size_t vi = 0; vi < kSuperAhead && vi < visits.size(); ++vi) prefetch_super(visits[vi]);
  for (size_t vi = 0; vi < visits.size(); ++vi) {
    const Visit& v = visits[vi];
    if (v.bound * margin < threshold) break;
    if (vi + 2 * kSuperAhead < visits.size()) prefetch_refs(visits[vi + 2 * kSuperAhead]);
    if (vi + kSuperAhead < visits.size()) prefetch_super(visits[vi + kSuperAhead]);
    const SegmentPlan<Layout>& p = plans[v.seg];
    const BmpStore& st = *p.st;
    const uint32_t sb = v.sb;
    const SuperRef* group = p.refs.data() + p.sb_begin[sb];
    const uint32_t groups = static_cast<uint32_t>(p.sb_begin[sb + 1] - p.sb_begin[sb]);  // at most the query's terms, in their order
    // 2. This superblock's block bounds (vectorised: most visited superblocks end here, their best
    // block under the threshold).
    alignas(64) float block_bound[kBmpSuperBlocks] = {};
    uint64_t present = 0;
    for (uint32_t j = 0; j < groups; ++j) {
      present |= group[j].mask;
      group_bounds(block_bound, group[j].mask, st.block_max + group[j].block, p.terms[group[j].term].weight);
    }
    // Only the blocks that can score now are ordered (most expanded superblocks have none).
    uint32_t order[kBmpSuperBlocks];
    uint32_t nb = 0;
    for (uint64_t m = present; m; m &= m - 1) {
      const uint32_t blk = static_cast<uint32_t>(__builtin_ctzll(m));
      if (!(block_bound[blk] * margin < threshold)) order[nb++] = blk;
    }
    std::sort(order, order + nb, [&](uint32_t a, uint32_t b) {
      return block_bound[a] > block_bound[b] || (block_bound[a] == block_bound[b] && a < b);
    });
    if (nb == 0 || block_bound[order[0]] * margin < threshold) continue;
    // Where each group's postings of the blocks that can score are (only for superblocks that
    // score): the groups' headers and block bytes are fetched together first (two rounds of cache
    // misses, not one chain a group), and a group's walk stops after its last such block.
    uint64_t wanted = 0;
    for (uint32_t oi = 0; oi < nb; ++oi) wanted |= uint64_t{1} << order[oi];
    for (uint32_t j = 0; j < groups; ++j)
      if (group[j].mask & wanted) __builtin_prefetch(&p.found[group[j].found]);
    for (uint32_t j = 0; j < groups; ++j)
      if (group[j].mask & wanted) __builtin_prefetch(p.layout.entries_at(p.found[group[j].found]));
    for (uint32_t j = 0; j < groups; ++j) {
      if (!(group[j].mask & wanted)) continue;
      p.layout.entries(p.found[group[j].found], group[j].mask & wanted, [&](uint32_t blk, const EntryRef& e) {
        entry_at[j * kBmpSuperBlocks + blk] = e;
        entry_here[j * kBmpSuperBlocks + blk] = 1;
      });
    }
    // 3. Blocks, best bound first; a block's groups in query-term order (search.h's summation order).
    constexpr uint32_t kAhead = 3;  // blocks whose records are in flight (each block ~20 random records)
    for (uint32_t oi = 0; oi < kAhead && oi < nb; ++oi) prefetch_block(p.layout, groups, order[oi]);
    for (uint32_t oi = 0; oi < nb; ++oi) {
      const uint32_t blk = order[oi];
      if (block_bound[blk] * margin < threshold) break;
      if (oi + kAhead < nb) prefetch_block(p.layout, groups, order[oi + kAhead]);
      for (uint32_t j = 0; j < groups; ++j) {
        if (!entry_here[j * kBmpSuperBlocks + blk]) continue;
        const float w = p.terms[group[j].term].weight;
        scored += p.layout.postings(entry_at[j * kBmpSuperBlocks + blk], [&](uint32_t slot, uint32_t imp) {
          acc[slot] += w * static_cast<float>(imp);
          touched[slot >> 6] |= uint64_t{1} << (slot & 63);  // no branch a posting
        });
      }
      const uint32_t first = (sb * kBmpSuperBlocks + blk) * p.block_docs;
      for (uint32_t word = 0; word < touched_words; ++word) {
        for (uint64_t bits = touched[word]; bits; bits &= bits - 1) {
          const uint32_t slot = 64 * word + static_cast<uint32_t>(__builtin_ctzll(bits));
          if (!p.is_deleted(first + slot)) topk.insert(acc[slot], p.base + first + slot);
          acc[slot] = 0;
        }
        touched[word] = 0;
      }
      threshold = topk.threshold();
    }
    std::memset(entry_here.data(), 0, size_t{groups} * kBmpSuperBlocks);
  }
  return scored;
}

}  // namespace

// Query positions kept under beta (search.h).
std::vector<bool> kept_terms(const std::vector<BmpSegment>& segs, const Query& q, float beta) {
  std::vector<bool> keep(q.size, beta >= 1.0f);
  if (beta >= 1.0f) return keep;
  std::vector<float> bound(q.size, 0.0f);
  std::vector<uint32_t> present;
  for (uint32_t i = 0; i < q.size; ++i) {
    for (const BmpSegment& s : segs)
      bound[i] = std::max(bound[i], q.values[i] * s.ix->impact_unit() * static_cast<float>(s.ix->term(q.indices[i]).max_impact));
    if (bound[i] > 0) present.push_back(i);
  }
  std::stable_sort(present.begin(), present.end(), [&](uint32_t a, uint32_t b) { return bound[a] > bound[b]; });
  double total = 0, kept = 0;
  for (uint32_t i : present) total += bound[i];
  for (uint32_t i : present) {
    keep[i] = true;
    kept += bound[i];
    if (kept >= beta * total) break;
  }
  return keep;
}

uint64_t bmp(const Index& ix, const Query& q, TopKQueue& topk, const BmpParams& params) {
  return bmp(std::vector<BmpSegment>{{&ix, nullptr, 0}}, q, topk, params);
}

// One layout for all the segments (the search's tables and loop are compiled per layout).
uint64_t bmp(const std::vector<BmpSegment>& segments, const Query& q, TopKQueue& topk, const BmpParams& params) {
  if (segments.empty()) return 0;
  const bool packed = segments[0].ix->bmp().packed;
  for (const BmpSegment& s : segments)
    if (s.ix->bmp().packed != packed) fail(kInvalidArgument, "segments searched together must share one store layout");
  return packed ? bmp_search<PackedLayout>(segments, q, topk, params) : bmp_search<U16Layout>(segments, q, topk, params);
}

}  // namespace splade::index
