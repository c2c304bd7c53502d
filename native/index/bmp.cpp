// Block-max pruning (Mallia, Suel, Tonellotto, SIGIR 2024), superblock at a time (Carlson et al.,
// SIGIR 2025), over the store of bmp_format.h:
//   1. each query term's superblock groups add weight x group max to their superblock's bound;
//   2. superblocks are visited best bound first; a visited superblock's blocks get their bounds the
//      same way, and are visited best first;
//   3. a visited block is scored whole, term by term in query order (so each document's score is
//      the sum search.h prescribes, bit for bit), and its documents offered to the top-k queue;
//   4. the search ends at the first superblock or block whose bound cannot beat the k-th score.
// Rank-safe with alpha = beta = 1. Approximate settings: alpha < 1 visits a block only while its
// bound x alpha reaches the k-th score; beta < 1 searches with the heaviest query terms only (those
// that carry a beta share of the query's bound mass), and the documents found are then scored with
// every term through the inverted lists, so returned scores stay exact.
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
#include "search.h"

namespace splade::index {
namespace {

struct TermRef {
  uint32_t term;    // term id
  float weight;     // query value x impact unit, as the cursors use it
  uint64_t group;   // first BmpSuper
  uint64_t block;   // first block entry
  uint64_t posting; // first posting
  uint32_t groups;
};

// Query positions kept under beta: the heaviest terms (weight x list max, the largest over the
// segments) whose bounds sum to at least beta of the total; all of them when beta is 1.
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

struct GroupRef {
  uint32_t term;  // index into the segment's terms
  uint64_t mask, block, posting;
};

// One segment's side of step 1: its superblock bounds, and each superblock's groups (bucketed by
// superblock, in query-term order within one), so that the tables grow with the groups there are,
// not terms x superblocks.
struct SegmentPlan {
  const BmpStore* st;
  uint32_t block_docs;
  uint32_t base;
  const uint8_t* deleted;
  std::vector<TermRef> terms;
  float whole_bound = 0.0f;  // at least every superblock's bound
  std::vector<float> sb_bound;
  std::vector<uint64_t> sb_begin;
  std::vector<GroupRef> refs;
  uint64_t widest = 0;  // the most groups one superblock has

  SegmentPlan(const BmpSegment& seg, const Query& q, const std::vector<bool>& keep)
      : st(&seg.ix->bmp()), block_docs(st->meta->block_docs), base(seg.base), deleted(seg.deleted) {
    for (uint32_t i = 0; i < q.size; ++i) {
      const BmpTerm& bt = st->terms[q.indices[i]];
      if (!keep[i] || bt.num_groups == 0) continue;
      terms.push_back({q.indices[i], q.values[i] * seg.ix->impact_unit(), bt.first_group, bt.first_block,
                       bt.first_posting, bt.num_groups});
    }
    // Every superblock's bound is a sum of at most these addends, each no larger, in the same order.
    for (const TermRef& t : terms) whole_bound += t.weight * static_cast<float>(seg.ix->term(t.term).max_impact);
  }

  void bound_superblocks() {
    const uint32_t nsup = st->meta->num_supers;
    sb_bound.assign(nsup, 0.0f);
    sb_begin.assign(size_t{nsup} + 1, 0);
    for (const TermRef& t : terms) {
      for (uint64_t g = t.group; g < t.group + t.groups; ++g) {
        const BmpSuper& s = st->groups[g];
        sb_bound[s.superblock] += t.weight * static_cast<float>(s.max_impact);
        ++sb_begin[s.superblock + 1];
      }
    }
    for (uint32_t s = 0; s < nsup; ++s) {
      widest = std::max(widest, sb_begin[s + 1]);
      sb_begin[s + 1] += sb_begin[s];
    }
    refs.resize(sb_begin[nsup]);
    std::vector<uint64_t> fill(sb_begin.begin(), sb_begin.end() - 1);
    for (size_t i = 0; i < terms.size(); ++i) {
      const TermRef& t = terms[i];
      uint64_t b = t.block, p = t.posting;
      for (uint64_t g = t.group; g < t.group + t.groups; ++g) {
        const BmpSuper& s = st->groups[g];
        refs[fill[s.superblock]++] = {static_cast<uint32_t>(i), s.block_mask, b, p};
        b += static_cast<uint64_t>(__builtin_popcountll(s.block_mask));
        p += s.num_postings;
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

uint64_t bmp(const Index& ix, const Query& q, TopKQueue& topk, const BmpParams& params) {
  return bmp(std::vector<BmpSegment>{{&ix, nullptr, 0}}, q, topk, params);
}

uint64_t bmp(const std::vector<BmpSegment>& segments, const Query& q, TopKQueue& topk, const BmpParams& params) {
  const std::vector<bool> keep = kept_terms(segments, q, params.beta);
  std::vector<SegmentPlan> plans;
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
  uint64_t widest = 0;
  uint32_t max_block_docs = 0;
  for (uint32_t si = 0; si < plans.size(); ++si) {
    SegmentPlan& p = plans[si];
    if (p.terms.empty()) continue;
    p.bound_superblocks();
    widest = std::max(widest, p.widest);
    max_block_docs = std::max(max_block_docs, p.block_docs);
    for (uint32_t s = 0; s < p.st->meta->num_supers; ++s)
      if (p.has_groups(s)) visits.push_back({p.sb_bound[s], si, s});
  }
  std::sort(visits.begin(), visits.end(), [](const Visit& a, const Visit& b) {
    return a.bound > b.bound || (a.bound == b.bound && (a.seg < b.seg || (a.seg == b.seg && a.sb < b.sb)));
  });

  // Per visited superblock: for its j-th group, the postings of each of its 64 blocks (offset, count).
  std::vector<uint64_t> entry_at(size_t{widest} * kBmpSuperBlocks);
  std::vector<uint16_t> entry_count(size_t{widest} * kBmpSuperBlocks, 0);
  std::vector<float> acc(max_block_docs, 0.0f);
  std::vector<uint8_t> touched(max_block_docs, 0);
  std::vector<uint32_t> slots;
  slots.reserve(max_block_docs);
  uint64_t scored = 0;
  float threshold = topk.threshold();
  // The store is read where the query's terms lead, so nearly every first touch misses the cache:
  // the next superblock's bounds and the next block's postings are prefetched while this one is
  // worked on.
  const BmpGroupBoundsFn group_bounds = bmp_group_bounds_kernel(active_isa());
  auto prefetch_super = [&](const Visit& v) {
    const SegmentPlan& p = plans[v.seg];
    for (uint64_t r = p.sb_begin[v.sb]; r < p.sb_begin[v.sb + 1]; ++r) {
      __builtin_prefetch(p.st->block_max + p.refs[r].block);
    }
  };
  auto prefetch_block = [&](const BmpStore& st, uint32_t groups, uint32_t blk) {
    for (uint32_t j = 0; j < groups; ++j)
      if (entry_count[j * kBmpSuperBlocks + blk]) __builtin_prefetch(st.postings + entry_at[j * kBmpSuperBlocks + blk]);
  };
  if (!visits.empty()) prefetch_super(visits[0]);
  for (size_t vi = 0; vi < visits.size(); ++vi) {
    const Visit& v = visits[vi];
    if (v.bound * margin < threshold) break;
    if (vi + 1 < visits.size()) prefetch_super(visits[vi + 1]);
    const SegmentPlan& p = plans[v.seg];
    const BmpStore& st = *p.st;
    const uint32_t sb = v.sb;
    const GroupRef* group = p.refs.data() + p.sb_begin[sb];
    const uint32_t groups = static_cast<uint32_t>(p.sb_begin[sb + 1] - p.sb_begin[sb]);  // at most the query's terms
    // 2. This superblock's block bounds (vectorised: most visited superblocks end here, their best
    // block under the threshold).
    alignas(64) float block_bound[kBmpSuperBlocks] = {};
    uint64_t present = 0;
    for (uint32_t j = 0; j < groups; ++j) {
      present |= group[j].mask;
      group_bounds(block_bound, group[j].mask, st.block_max + group[j].block, p.terms[group[j].term].weight);
    }
    uint32_t order[kBmpSuperBlocks];
    uint32_t nb = 0;
    for (uint64_t m = present; m; m &= m - 1) order[nb++] = static_cast<uint32_t>(__builtin_ctzll(m));
    std::sort(order, order + nb, [&](uint32_t a, uint32_t b) {
      return block_bound[a] > block_bound[b] || (block_bound[a] == block_bound[b] && a < b);
    });
    if (nb == 0 || block_bound[order[0]] * margin < threshold) continue;
    // Where each group's postings of each block start, and how many (only for superblocks that score).
    for (uint32_t j = 0; j < groups; ++j) {
      uint64_t mask = group[j].mask, b = group[j].block, at = group[j].posting;
      for (; mask; mask &= mask - 1, ++b) {
        const uint32_t blk = static_cast<uint32_t>(__builtin_ctzll(mask));
        const uint32_t count = uint32_t{st.block_count[b]} + 1;
        entry_at[j * kBmpSuperBlocks + blk] = at;
        entry_count[j * kBmpSuperBlocks + blk] = static_cast<uint16_t>(count);
        at += count;
      }
    }
    // 3. Blocks, best bound first; a block's groups in query-term order (search.h's summation order).
    prefetch_block(st, groups, order[0]);
    for (uint32_t oi = 0; oi < nb; ++oi) {
      const uint32_t blk = order[oi];
      if (block_bound[blk] * margin < threshold) break;
      if (oi + 1 < nb) prefetch_block(st, groups, order[oi + 1]);
      for (uint32_t j = 0; j < groups; ++j) {
        const uint32_t count = entry_count[j * kBmpSuperBlocks + blk];
        if (count == 0) continue;
        const uint16_t* post = st.postings + entry_at[j * kBmpSuperBlocks + blk];
        const float w = p.terms[group[j].term].weight;
        for (uint32_t k = 0; k < count; ++k) {
          const uint32_t slot = post[k] & 0xFF;
          acc[slot] += w * static_cast<float>(post[k] >> 8);
          if (!touched[slot]) {
            touched[slot] = 1;
            slots.push_back(slot);
          }
        }
        scored += count;
      }
      const uint32_t first = (sb * kBmpSuperBlocks + blk) * p.block_docs;
      for (const uint32_t slot : slots) {
        if (!p.is_deleted(first + slot)) topk.insert(acc[slot], p.base + first + slot);
        acc[slot] = 0;
        touched[slot] = 0;
      }
      slots.clear();
      threshold = topk.threshold();
    }
    std::memset(entry_count.data(), 0, size_t{groups} * kBmpSuperBlocks * sizeof(uint16_t));
  }
  return scored;
}

}  // namespace splade::index
