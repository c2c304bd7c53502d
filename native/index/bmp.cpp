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

// Query terms kept under beta: the heaviest ones (weight x list max) whose bounds sum to at least
// beta of the total, returned in query (ascending term) order.
std::vector<TermRef> kept_terms(const std::vector<TermRef>& all, const Index& ix, float beta) {
  if (beta >= 1.0f) return all;
  std::vector<size_t> by_bound(all.size());
  std::iota(by_bound.begin(), by_bound.end(), size_t{0});
  auto bound = [&](size_t i) { return all[i].weight * static_cast<float>(ix.term(all[i].term).max_impact); };
  std::stable_sort(by_bound.begin(), by_bound.end(), [&](size_t a, size_t b) { return bound(a) > bound(b); });
  double total = 0, kept = 0;
  for (size_t i : by_bound) total += bound(i);
  std::vector<bool> keep(all.size(), false);
  for (size_t i : by_bound) {
    keep[i] = true;
    kept += bound(i);
    if (kept >= beta * total) break;
  }
  std::vector<TermRef> out;
  for (size_t i = 0; i < all.size(); ++i)
    if (keep[i]) out.push_back(all[i]);
  return out;
}

// The search over one layout of the store (bmp_layouts.h).
template <class Layout>
uint64_t bmp_search(const Index& ix, const Layout& layout, const Query& q, TopKQueue& topk, const BmpParams& params) {
  const BmpStore& st = layout.st;
  const uint32_t bd = st.meta->block_docs;
  const uint32_t nsup = st.meta->num_supers;
  std::vector<TermRef> all;
  for (uint32_t i = 0; i < q.size; ++i) {
    const BmpTerm& bt = st.terms[q.indices[i]];
    if (bt.num_groups == 0) continue;
    all.push_back({q.indices[i], q.values[i] * ix.impact_unit(), &bt});
  }
  const std::vector<TermRef> terms = kept_terms(all, ix, params.beta);
  const size_t n = terms.size();
  if (n == 0) return 0;
  const float margin = bound_margin(n) * params.alpha;
  // A floor no document can beat (a live index's segment searched after others): skip the tables
  // below, the fixed cost each segment would pay. Every superblock's bound is a sum of at most these
  // addends, each no larger, in the same order, so it is at most this sum.
  float global_bound = 0.0f;
  for (const TermRef& t : terms) global_bound += t.weight * static_cast<float>(ix.term(t.term).max_impact);
  if (global_bound * margin < topk.threshold()) return 0;

  // 1. Superblock bounds, and each superblock's groups (bucketed by superblock, in query-term order
  // within one), so that the tables below grow with the groups there are, not terms x superblocks.
  std::vector<float> sb_bound(nsup, 0.0f);
  std::vector<uint64_t> sb_begin(size_t{nsup} + 1, 0);
  std::vector<GroupRef> found;  // every group of the query's terms, term by term
  std::vector<uint32_t> found_sb;
  size_t total_groups = 0;
  for (const TermRef& t : terms) total_groups += t.bt->num_groups;
  found.reserve(total_groups);
  found_sb.reserve(total_groups);
  for (size_t i = 0; i < n; ++i) {
    const float w = terms[i].weight;
    layout.groups(*terms[i].bt, static_cast<uint32_t>(i), [&](uint32_t sb, uint32_t max, const GroupRef& g) {
      sb_bound[sb] += w * static_cast<float>(max);
      ++sb_begin[sb + 1];
      found.push_back(g);
      found_sb.push_back(sb);
    });
  }
  uint64_t widest = 0;  // the most groups one superblock has
  for (uint32_t s = 0; s < nsup; ++s) {
    widest = std::max(widest, sb_begin[s + 1]);
    sb_begin[s + 1] += sb_begin[s];
  }
  std::vector<GroupRef> refs(sb_begin[nsup]);
  {
    std::vector<uint64_t> fill(sb_begin.begin(), sb_begin.end() - 1);
    for (size_t x = 0; x < found.size(); ++x) refs[fill[found_sb[x]]++] = found[x];
  }
  std::vector<uint32_t> supers;  // every superblock with a group: a bound may round to 0 where a document still scores
  for (uint32_t s = 0; s < nsup; ++s)
    if (sb_begin[s + 1] > sb_begin[s]) supers.push_back(s);
  std::sort(supers.begin(), supers.end(), [&](uint32_t a, uint32_t b) {
    return sb_bound[a] > sb_bound[b] || (sb_bound[a] == sb_bound[b] && a < b);
  });

  // Per visited superblock: for its j-th group, where each of its 64 blocks' postings are, if any.
  std::vector<EntryRef> entry_at(size_t{widest} * kBmpSuperBlocks);
  std::vector<uint8_t> entry_here(size_t{widest} * kBmpSuperBlocks, 0);
  std::vector<float> acc(bd, 0.0f);
  std::vector<uint8_t> touched(bd, 0);
  std::vector<uint32_t> slots;
  slots.reserve(bd);
  uint64_t scored = 0;
  float threshold = topk.threshold();
  // The store is read where the query's terms lead, so nearly every first touch misses the cache:
  // the next superblock's bounds and the next block's postings are prefetched while this one is
  // worked on.
  const BmpGroupBoundsFn group_bounds = bmp_group_bounds_kernel(active_isa());
  auto prefetch_super = [&](uint32_t sb) {
    for (uint64_t r = sb_begin[sb]; r < sb_begin[sb + 1]; ++r) {
      __builtin_prefetch(st.block_max + refs[r].block);
    }
  };
  auto prefetch_block = [&](uint32_t groups, uint32_t blk) {
    for (uint32_t j = 0; j < groups; ++j)
      if (entry_here[j * kBmpSuperBlocks + blk]) __builtin_prefetch(layout.prefetch_at(entry_at[j * kBmpSuperBlocks + blk]));
  };
  if (!supers.empty()) prefetch_super(supers[0]);
  for (size_t si = 0; si < supers.size(); ++si) {
    const uint32_t sb = supers[si];
    if (sb_bound[sb] * margin < threshold) break;
    if (si + 1 < supers.size()) prefetch_super(supers[si + 1]);
    const GroupRef* group = refs.data() + sb_begin[sb];
    const uint32_t groups = static_cast<uint32_t>(sb_begin[sb + 1] - sb_begin[sb]);  // at most the query's terms
    // 2. This superblock's block bounds (vectorised: most visited superblocks end here, their best
    // block under the threshold).
    alignas(64) float block_bound[kBmpSuperBlocks] = {};
    uint64_t present = 0;
    for (uint32_t j = 0; j < groups; ++j) {
      present |= group[j].mask;
      group_bounds(block_bound, group[j].mask, st.block_max + group[j].block, terms[group[j].term].weight);
    }
    uint32_t order[kBmpSuperBlocks];
    uint32_t nb = 0;
    for (uint64_t m = present; m; m &= m - 1) order[nb++] = static_cast<uint32_t>(__builtin_ctzll(m));
    std::sort(order, order + nb, [&](uint32_t a, uint32_t b) {
      return block_bound[a] > block_bound[b] || (block_bound[a] == block_bound[b] && a < b);
    });
    if (nb == 0 || block_bound[order[0]] * margin < threshold) continue;
    // Where each group's postings of each block are (only for superblocks that score).
    for (uint32_t j = 0; j < groups; ++j) {
      layout.entries(group[j], [&](uint32_t blk, const EntryRef& e) {
        entry_at[j * kBmpSuperBlocks + blk] = e;
        entry_here[j * kBmpSuperBlocks + blk] = 1;
      });
    }
    // 3. Blocks, best bound first; a block's groups in query-term order (search.h's summation order).
    if (nb > 0) prefetch_block(groups, order[0]);
    for (uint32_t oi = 0; oi < nb; ++oi) {
      const uint32_t blk = order[oi];
      if (block_bound[blk] * margin < threshold) break;
      if (oi + 1 < nb) prefetch_block(groups, order[oi + 1]);
      for (uint32_t j = 0; j < groups; ++j) {
        if (!entry_here[j * kBmpSuperBlocks + blk]) continue;
        const float w = terms[group[j].term].weight;
        scored += layout.postings(entry_at[j * kBmpSuperBlocks + blk], [&](uint32_t slot, uint32_t imp) {
          acc[slot] += w * static_cast<float>(imp);
          if (!touched[slot]) {
            touched[slot] = 1;
            slots.push_back(slot);
          }
        });
      }
      const uint32_t base = (sb * kBmpSuperBlocks + blk) * bd;
      for (const uint32_t slot : slots) {
        topk.insert(acc[slot], base + slot);
        acc[slot] = 0;
        touched[slot] = 0;
      }
      slots.clear();
      threshold = topk.threshold();
    }
    std::memset(entry_here.data(), 0, size_t{groups} * kBmpSuperBlocks);
  }
  return scored;
}

}  // namespace

uint64_t bmp(const Index& ix, const Query& q, TopKQueue& topk, const BmpParams& params) {
  const BmpStore& st = ix.bmp();
  return st.packed ? bmp_search(ix, PackedLayout{st}, q, topk, params) : bmp_search(ix, U16Layout{st}, q, topk, params);
}

}  // namespace splade::index
