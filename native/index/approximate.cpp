// Approximate search over the impact-ordered block lists (top_blocks.h), in the manner of Seismic
// over docid blocks:
//   1. each query term's list adds to its blocks' rank and bound: a block's bound is the sum over
//      the query of the term's max in the block where listed, its floor elsewhere; its rank counts
//      an unlisted term at half its floor (kUnlistedShare);
//   2. the `blocks` best-ranked blocks are taken, best first;
//   3. where each query term's postings of those blocks are: listed terms through their list entry,
//      the others through the directory, one forward walk per term over the blocks in docid order,
//      the walks of all terms stepped in turn, a stage at a time (BlockFinder);
//   4. the blocks are scored exactly, best rank first (skipping those whose bound x alpha cannot
//      reach the k-th score), every query term in query order (the sum search.h prescribes, so scores
//      are those of exhaustive search).
// Recall comes from the order: the blocks holding the best documents are among the first hundred or
// so by rank (bench/RESULTS.md, "approximate"). With beta < 1 the lighter query terms neither
// walk their lists nor score (bounding every block by their max), and the k found are scored again
// with every term, so returned scores stay exact.
#include <algorithm>
#include <cstring>

#include "bmp_packed.h"
#include "search.h"
#include "top_blocks.h"

namespace splade::index {
namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;

// Per block of the index, reused across queries on a thread: stamp says whether at (the block's
// place among the query's ranked blocks) belongs to this query.
struct BlockSlot {
  uint32_t stamp;
  uint32_t at;
};

// A block some walked list holds: its rank (the order blocks are scored in) and its bound above the
// floors (for alpha).
struct Ranked {
  float rank;
  float bound;
  uint32_t block;
};

// In the order, an unlisted term counts this share of its floor: its impact in the block is at most
// the floor, and more often than not it has no posting there at all. With 1 the order is the bounds'
// (a block's best possible score); 0.5 needs about half the blocks for the same recall on topical
// 8.8M (bench/RESULTS.md, "approximate").
constexpr float kUnlistedShare = 0.5f;

// Per thread, reused across queries (a query's tables are a few hundred kilobytes).
struct Scratch {
  std::vector<BlockSlot> slots;
  std::vector<Ranked> ranked;
  std::vector<BlockPostings> where, got;
  std::vector<BlockFinder> finders;
  std::vector<uint32_t> listed_here, order, want_begin, want, want_x;
  uint32_t epoch = 0;
  void reset(uint32_t blocks) {
    if (slots.size() != blocks) {
      slots.assign(blocks, BlockSlot{0, 0});
      epoch = 0;
    }
    if (++epoch == 0) {
      for (BlockSlot& s : slots) s.stamp = 0;
      epoch = 1;
    }
  }
};

struct Term {
  uint32_t id;
  float weight;
  float floor;  // the bound of a block its list leaves out
  bool listed;  // kept under beta: its list is walked and its postings scored
};

}  // namespace

uint64_t approximate(const Index& ix, const TopBlockLists& tb, const Query& q, TopKQueue& topk, const BmpParams& params,
                     const std::vector<bool>& keep) {
  const BmpStore& st = ix.bmp();
  const uint32_t bd = st.meta->block_docs, bitmap = packed_bitmap_bytes(bd);
  const float unit = ix.impact_unit();
  std::vector<Term> terms;
  for (uint32_t i = 0; i < q.size; ++i) {
    const TermEntry& te = ix.term(q.indices[i]);
    if (te.df == 0) continue;
    // A term whose list is not walked bounds every block by its own max.
    const float floor = keep[i] ? static_cast<float>(tb.floor[q.indices[i]]) : static_cast<float>(te.max_impact);
    terms.push_back({q.indices[i], q.values[i] * unit, floor, keep[i]});
  }
  const size_t n = terms.size();
  if (n == 0) return 0;
  const float margin = bound_margin(n);

  thread_local Scratch s;
  s.reset(st.meta->num_blocks);
  BlockSlot* slot = s.slots.data();
  std::vector<Ranked>& ranked = s.ranked;  // in the order first reached, then best first
  ranked.clear();
  float floors = 0;  // the bound of a block no walked list holds
  for (const Term& t : terms) floors += t.weight * t.floor;

  // 1. Ranks and bounds of the listed blocks. The blocks lie anywhere in the index: their slots (8
  // bytes a block) are fetched ahead, and the sums go to the dense `ranked`.
  uint64_t entries = 0;
  for (const Term& t : terms)
    if (t.listed) entries += tb.begin[t.id + 1] - tb.begin[t.id];
  ranked.reserve(entries);
  constexpr uint64_t kAhead = 16;
  for (uint32_t i = 0; i < n; ++i) {
    const Term& t = terms[i];
    if (!t.listed) continue;
    const uint64_t from = tb.begin[t.id], to = tb.begin[t.id + 1];
    for (uint64_t j = from; j < to; ++j) {
      if (j + kAhead < to) __builtin_prefetch(slot + tb.block(j + kAhead), 1);
      const uint32_t b = tb.block(j);
      BlockSlot& bs = slot[b];
      if (bs.stamp != s.epoch) {
        bs = BlockSlot{s.epoch, static_cast<uint32_t>(ranked.size())};
        ranked.push_back({0.0f, 0.0f, b});
      }
      Ranked& r = ranked[bs.at];
      const float m = static_cast<float>(tb.max(j));
      r.rank += t.weight * (m - kUnlistedShare * t.floor);
      r.bound += t.weight * (m - t.floor);
    }
  }

  // 2. The best `blocks` of them by rank, best first (ties: lower block first).
  auto better = [](const Ranked& a, const Ranked& b) { return a.rank > b.rank || (a.rank == b.rank && a.block < b.block); };
  if (params.blocks > 0 && ranked.size() > params.blocks) {
    std::nth_element(ranked.begin(), ranked.begin() + params.blocks, ranked.end(), better);
    ranked.resize(params.blocks);
  }
  std::sort(ranked.begin(), ranked.end(), better);

  // 3. Where every query term's postings of each ranked block are: its list entry, or, for a term
  // that does not list the block (and may have postings there: its floor is not 0), one forward walk
  // per term over the blocks in document order (BlockFinder).
  const size_t nr = ranked.size();
  std::vector<BlockPostings>& where = s.where;
  where.assign(nr * n, BlockPostings{nullptr, 0, 0});
  // The listed entries of the ranked blocks: the lists again, each block's slot now pointing at its
  // place in the order (the flag bit marks the ranked ones).
  constexpr uint32_t kRankedFlag = 0x80000000u;
  for (size_t x = 0; x < nr; ++x) slot[ranked[x].block].at = kRankedFlag | static_cast<uint32_t>(x);
  std::vector<uint32_t>& listed_here = s.listed_here;
  listed_here.assign(nr * n, kNone);
  for (uint32_t i = 0; i < n; ++i) {
    const Term& t = terms[i];
    if (!t.listed) continue;
    const uint64_t from = tb.begin[t.id], to = tb.begin[t.id + 1];
    for (uint64_t j = from; j < to; ++j) {
      if (j + kAhead < to) __builtin_prefetch(slot + tb.block(j + kAhead));
      const uint32_t at = slot[tb.block(j)].at;
      if (at & kRankedFlag) listed_here[size_t{at & ~kRankedFlag} * n + i] = static_cast<uint32_t>(j);
    }
  }
  std::vector<uint32_t>& order = s.order;  // ranked positions by block
  order.resize(nr);
  for (size_t x = 0; x < nr; ++x) order[x] = static_cast<uint32_t>(x);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ranked[a].block < ranked[b].block; });
  const BmpGroupMaskFn group_mask = bmp_group_mask_kernel(active_isa());
  // Each term's blocks to find, in document order; the finders of all terms stepped in turn.
  std::vector<uint32_t>&want_begin = s.want_begin, &want = s.want, &want_x = s.want_x;
  want_begin.assign(n + 1, 0);
  want.clear();
  want_x.clear();
  for (uint32_t i = 0; i < n; ++i) {
    const Term& t = terms[i];
    for (uint32_t x : order) {
      const uint32_t e = listed_here[size_t{x} * n + i];
      if (e != kNone) {
        where[size_t{x} * n + i] = {st.records + st.terms[t.id].first_posting + tb.record(e), tb.count(e), tb.max(e)};
      } else if (t.listed && t.floor > 0) {  // floor 0: the list is whole, so the term has no posting here
        want.push_back(ranked[x].block);
        want_x.push_back(x);
      }
    }
    want_begin[i + 1] = static_cast<uint32_t>(want.size());
  }
  std::vector<BlockPostings>& got = s.got;
  got.resize(want.size());
  std::vector<BlockFinder>& finders = s.finders;
  finders.clear();
  for (uint32_t i = 0; i < n; ++i) {
    if (want_begin[i + 1] > want_begin[i]) {
      finders.emplace_back(st, tb, terms[i].id, want.data() + want_begin[i], want_begin[i + 1] - want_begin[i], got.data() + want_begin[i], group_mask);
    }
  }
  for (bool more = true; more;) {  // each stage over all finders (top_blocks.h)
    more = false;
    for (BlockFinder& f : finders) f.prefetch();
    for (BlockFinder& f : finders) more |= f.locate();
    for (BlockFinder& f : finders) f.finish();
  }
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t w = want_begin[i]; w < want_begin[i + 1]; ++w) where[size_t{want_x[w]} * n + i] = got[w];

  // 4. Exact scores, best rank first, every term in query order; the records of the blocks a few
  // ahead are fetched meanwhile (they lie anywhere in the store).
  float acc[kBmpMaxBlockDocs] = {};
  uint8_t slots_buf[kBmpMaxBlockDocs], imps[kBmpMaxBlockDocs];
  uint64_t scored = 0;
  constexpr size_t kBlocksAhead = 4;
  auto prefetch_block = [&](size_t x) {
    for (uint32_t i = 0; i < n; ++i)
      if (where[x * n + i].count) __builtin_prefetch(where[x * n + i].record);
  };
  for (size_t x = 0; x < kBlocksAhead && x < nr; ++x) prefetch_block(x);
  for (size_t x = 0; x < nr; ++x) {
    if ((floors + ranked[x].bound) * margin * params.alpha < topk.threshold()) continue;  // cannot beat the k-th score
    if (x + kBlocksAhead < nr) prefetch_block(x + kBlocksAhead);
    for (uint32_t i = 0; i < n; ++i) {
      const BlockPostings& bp = where[x * n + i];
      if (bp.count == 0) continue;
      const uint8_t* rec = bp.record;
      decode_packed(rec, bp.count, bp.max, bitmap, slots_buf, imps);
      const float w = terms[i].weight;
      for (uint32_t y = 0; y < bp.count; ++y) acc[slots_buf[y]] += w * static_cast<float>(imps[y]);
      scored += bp.count;
    }
    const uint32_t first = ranked[x].block * bd;
    for (uint32_t d = 0; d < bd; ++d) {
      if (acc[d] > 0) topk.insert(acc[d], first + d);
      acc[d] = 0;
    }
  }
  // 5. Without the terms beta left out, the k found are scored again with every term, each (term,
  // block) found through the directory (rescore_any's cursors would walk each term's groups from
  // its first).
  bool partial = false;
  for (const Term& t : terms) partial |= !t.listed;
  if (partial) {
    std::vector<TopKQueue::Entry> found = topk.sorted();
    topk.clear();
    for (const TopKQueue::Entry& e : found) {
      const uint32_t b = e.doc / bd, d = e.doc % bd;
      float sc = 0;
      for (uint32_t i = 0; i < n; ++i) {
        BlockPostings bp;
        if (!find_block(st, tb, terms[i].id, b, bp)) continue;
        const uint8_t* rec = bp.record;
        decode_packed(rec, bp.count, bp.max, bitmap, slots_buf, imps);
        for (uint32_t y = 0; y < bp.count; ++y)
          if (slots_buf[y] == d) sc += terms[i].weight * static_cast<float>(imps[y]);
        scored += bp.count;
      }
      topk.insert(sc, e.doc);
    }
  }
  return scored;
}

}  // namespace splade::index
