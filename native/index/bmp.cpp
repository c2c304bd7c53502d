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

#include "search.h"

namespace splade::index {
namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;

struct TermRef {
  uint32_t term;    // term id
  float weight;     // query value x impact unit, as the cursors use it
  uint64_t group;   // first BmpSuper
  uint64_t block;   // first block entry
  uint64_t posting; // first posting
  uint32_t groups;
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

}  // namespace

uint64_t bmp(const Index& ix, const Query& q, TopKQueue& topk, const BmpParams& params) {
  const BmpStore& st = ix.bmp();
  const uint32_t bd = st.meta->block_docs;
  const uint32_t nsup = st.meta->num_supers;
  std::vector<TermRef> all;
  for (uint32_t i = 0; i < q.size; ++i) {
    const BmpTerm& bt = st.terms[q.indices[i]];
    if (bt.num_groups == 0) continue;
    all.push_back({q.indices[i], q.values[i] * ix.impact_unit(), bt.first_group, bt.first_block, bt.first_posting,
                   bt.num_groups});
  }
  const std::vector<TermRef> terms = kept_terms(all, ix, params.beta);
  const size_t n = terms.size();
  if (n == 0) return 0;
  const float margin = bound_margin(n) * params.alpha;

  // 1. Superblock bounds, and where each term's group of each superblock starts.
  struct GroupRef {
    uint64_t mask, block, posting;
  };
  std::vector<float> sb_bound(nsup, 0.0f);
  std::vector<uint8_t> sb_seen(nsup, 0);  // a bound may round to 0 where a document still scores
  std::vector<uint32_t> group_of(n * nsup, kNone);  // (term, superblock) -> index into refs
  std::vector<GroupRef> refs;
  for (size_t i = 0; i < n; ++i) {
    const TermRef& t = terms[i];
    uint64_t b = t.block, p = t.posting;
    for (uint64_t g = t.group; g < t.group + t.groups; ++g) {
      const BmpSuper& s = st.groups[g];
      sb_bound[s.superblock] += t.weight * static_cast<float>(s.max_impact);
      sb_seen[s.superblock] = 1;
      group_of[i * nsup + s.superblock] = static_cast<uint32_t>(refs.size());
      refs.push_back({s.block_mask, b, p});
      b += static_cast<uint64_t>(__builtin_popcountll(s.block_mask));
      p += s.num_postings;
    }
  }
  std::vector<uint32_t> supers;
  for (uint32_t s = 0; s < nsup; ++s)
    if (sb_seen[s]) supers.push_back(s);
  std::sort(supers.begin(), supers.end(), [&](uint32_t a, uint32_t b) {
    return sb_bound[a] > sb_bound[b] || (sb_bound[a] == sb_bound[b] && a < b);
  });

  // Per visited superblock: each term's postings of each of its 64 blocks (offset, count).
  std::vector<uint64_t> entry_at(n * kBmpSuperBlocks);
  std::vector<uint16_t> entry_count(n * kBmpSuperBlocks, 0);
  std::vector<float> acc(bd, 0.0f);
  std::vector<uint8_t> touched(bd, 0);
  std::vector<uint32_t> slots;
  slots.reserve(bd);
  uint64_t scored = 0;
  float threshold = topk.threshold();
  // The store is read where the query's terms lead, so nearly every first touch misses the cache:
  // the next superblock's bounds and the next block's postings are prefetched while this one is
  // worked on.
  auto prefetch_super = [&](uint32_t sb) {
    for (size_t i = 0; i < n; ++i) {
      const uint32_t gi = group_of[i * nsup + sb];
      if (gi == kNone) continue;
      __builtin_prefetch(st.block_max + refs[gi].block);
      __builtin_prefetch(st.block_count + refs[gi].block);
    }
  };
  auto prefetch_block = [&](uint32_t blk) {
    for (size_t i = 0; i < n; ++i)
      if (entry_count[i * kBmpSuperBlocks + blk]) __builtin_prefetch(st.postings + entry_at[i * kBmpSuperBlocks + blk]);
  };
  if (!supers.empty()) prefetch_super(supers[0]);
  for (size_t si = 0; si < supers.size(); ++si) {
    const uint32_t sb = supers[si];
    if (sb_bound[sb] * margin < threshold) break;
    if (si + 1 < supers.size()) prefetch_super(supers[si + 1]);
    // 2. This superblock's block bounds.
    float block_bound[kBmpSuperBlocks] = {};
    uint64_t present = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t gi = group_of[i * nsup + sb];
      if (gi == kNone) continue;
      uint64_t mask = refs[gi].mask, b = refs[gi].block, p = refs[gi].posting;
      present |= mask;
      for (; mask; mask &= mask - 1, ++b) {
        const uint32_t blk = static_cast<uint32_t>(__builtin_ctzll(mask));
        block_bound[blk] += terms[i].weight * static_cast<float>(st.block_max[b]);
        const uint32_t count = uint32_t{st.block_count[b]} + 1;
        entry_at[i * kBmpSuperBlocks + blk] = p;
        entry_count[i * kBmpSuperBlocks + blk] = static_cast<uint16_t>(count);
        p += count;
      }
    }
    uint32_t order[kBmpSuperBlocks];
    uint32_t nb = 0;
    for (uint64_t m = present; m; m &= m - 1) order[nb++] = static_cast<uint32_t>(__builtin_ctzll(m));
    std::sort(order, order + nb, [&](uint32_t a, uint32_t b) {
      return block_bound[a] > block_bound[b] || (block_bound[a] == block_bound[b] && a < b);
    });
    // 3. Blocks, best bound first.
    if (nb > 0) prefetch_block(order[0]);
    for (uint32_t oi = 0; oi < nb; ++oi) {
      const uint32_t blk = order[oi];
      if (block_bound[blk] * margin < threshold) break;
      if (oi + 1 < nb) prefetch_block(order[oi + 1]);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t count = entry_count[i * kBmpSuperBlocks + blk];
        if (count == 0) continue;
        const uint16_t* post = st.postings + entry_at[i * kBmpSuperBlocks + blk];
        const float w = terms[i].weight;
        for (uint32_t j = 0; j < count; ++j) {
          const uint32_t slot = post[j] & 0xFF;
          acc[slot] += w * static_cast<float>(post[j] >> 8);
          if (!touched[slot]) {
            touched[slot] = 1;
            slots.push_back(slot);
          }
        }
        scored += count;
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
    for (size_t i = 0; i < n; ++i) std::memset(&entry_count[i * kBmpSuperBlocks], 0, kBmpSuperBlocks * sizeof(uint16_t));
  }
  return scored;
}

}  // namespace splade::index
