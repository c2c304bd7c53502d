// Approximate search over the impact-ordered block lists (top_blocks.h), in the manner of Seismic
// over docid blocks:
//   1. each query term's list adds weight x (block max - term floor) to its blocks' bounds, so a
//      block's bound is the sum over the query of its max where listed, the term's floor elsewhere;
//   2. the `blocks` best-bounded blocks are visited best first, while bound x alpha reaches the k-th
//      score;
//   3. a visited block is scored exactly, every query term in query order (the sum search.h
//      prescribes, so scores are those of exhaustive search): listed terms through their list entry,
//      the others through the directory, their lookups batched so that their cache misses overlap.
// Recall comes from the order: the blocks holding the best documents are among the first few
// hundred by bound (bench/RESULTS.md, "approximate"). With beta < 1 the lighter query terms neither
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

struct Hit {
  uint32_t term;   // query position
  uint32_t entry;  // into the lists
  uint32_t next;   // the block's previous hit, or kNone
};

// Per block of the index, reused across queries on a thread: stamp says whether acc / head belong
// to this query.
struct BlockSlot {
  uint32_t stamp;
  float acc;
  uint32_t head;
};

struct Scratch {
  std::vector<BlockSlot> slots;
  uint32_t epoch = 0;
  void reset(uint32_t blocks) {
    if (slots.size() != blocks) {
      slots.assign(blocks, BlockSlot{0, 0.0f, kNone});
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

// A query term's postings in one block, found through the directory.
struct Lookup {
  uint32_t term, block;
  const TopDirEntry* dir;
  BlockPostings found;
  bool have;
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
  std::vector<uint32_t> touched;
  std::vector<Hit> hits;
  float floors = 0;  // the bound of a block no walked list holds
  for (const Term& t : terms) floors += t.weight * t.floor;

  // 1. Bounds of the listed blocks (the blocks lie anywhere in the index: their slots are fetched
  // ahead).
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
        bs = BlockSlot{s.epoch, 0.0f, kNone};
        touched.push_back(b);
      }
      bs.acc += t.weight * (static_cast<float>(tb.max(j)) - t.floor);
      hits.push_back({i, static_cast<uint32_t>(j), bs.head});
      bs.head = static_cast<uint32_t>(hits.size() - 1);
    }
  }

  // 2. The best `blocks` of them, best first (ties: lower block first).
  struct Ranked {
    float acc;
    uint32_t block;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(touched.size());
  for (uint32_t b : touched) ranked.push_back({slot[b].acc, b});
  auto better = [](const Ranked& a, const Ranked& b) { return a.acc > b.acc || (a.acc == b.acc && a.block < b.block); };
  if (params.blocks > 0 && ranked.size() > params.blocks) {
    std::nth_element(ranked.begin(), ranked.begin() + params.blocks, ranked.end(), better);
    ranked.resize(params.blocks);
  }
  std::sort(ranked.begin(), ranked.end(), better);

  // 3. Exact scores, a batch of blocks at a time: first every lookup's directory entry (prefetching
  // what its walk reads), then the walks (prefetching the records), then the sums.
  constexpr size_t kBatch = 16;
  std::vector<uint32_t> entry_of(kBatch * n, kNone);  // listed entry of (block in batch, query position)
  std::vector<uint32_t> lookup_of(kBatch * n, kNone);
  std::vector<Lookup> lookups;
  float acc[kBmpMaxBlockDocs] = {};
  uint8_t slots_buf[kBmpMaxBlockDocs], imps[kBmpMaxBlockDocs];
  const BmpGroupMaskFn group_mask = bmp_group_mask_kernel(active_isa());
  uint64_t scored = 0;
  for (size_t at = 0; at < ranked.size(); at += kBatch) {
    if ((floors + ranked[at].acc) * margin * params.alpha < topk.threshold()) break;
    const size_t batch = std::min(kBatch, ranked.size() - at);
    lookups.clear();
    for (size_t x = 0; x < batch; ++x) {
      const uint32_t b = ranked[at + x].block;
      for (uint32_t h = slot[b].head; h != kNone; h = hits[h].next) entry_of[x * n + hits[h].term] = hits[h].entry;
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t e = entry_of[x * n + i];
        if (e != kNone) {
          __builtin_prefetch(st.records + st.terms[terms[i].id].first_posting + tb.record(e));
        } else if (terms[i].listed && terms[i].floor > 0) {  // floor 0: the list is whole, so the term has no posting here
          lookup_of[x * n + i] = static_cast<uint32_t>(lookups.size());
          lookups.push_back({terms[i].id, b, nullptr, {nullptr, 0, 0}, false});
        }
      }
    }
    for (Lookup& l : lookups) {
      l.dir = find_dir(tb, l.term, l.block);
      if (l.dir) {  // a directory step's group headers span a few cache lines
        const uint8_t* g = dir_group_bytes(st, l.term, l.dir);
        for (int line = 0; line < 4; ++line) __builtin_prefetch(g + 64 * line);
        __builtin_prefetch(dir_block_max(st, l.term, l.dir));
        __builtin_prefetch(dir_block_max(st, l.term, l.dir) + 64);
      }
    }
    for (Lookup& l : lookups) {
      l.have = l.dir && walk_to_block(st, tb, l.term, l.dir, l.block, l.found, group_mask);
      if (l.have) __builtin_prefetch(l.found.record);
    }
    for (size_t x = 0; x < batch; ++x) {
      const uint32_t b = ranked[at + x].block;
      if ((floors + ranked[at + x].acc) * margin * params.alpha < topk.threshold()) {
        at = ranked.size();  // the rest of the order cannot do better
        break;
      }
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t e = entry_of[x * n + i], l = lookup_of[x * n + i];
        BlockPostings bp;
        if (e != kNone) {
          bp = {st.records + st.terms[terms[i].id].first_posting + tb.record(e), tb.count(e), tb.max(e)};
        } else if (l != kNone && lookups[l].have) {
          bp = lookups[l].found;
        } else {
          continue;
        }
        const uint8_t* rec = bp.record;
        decode_packed(rec, bp.count, bp.max, bitmap, slots_buf, imps);
        const float w = terms[i].weight;
        for (uint32_t y = 0; y < bp.count; ++y) acc[slots_buf[y]] += w * static_cast<float>(imps[y]);
        scored += bp.count;
      }
      const uint32_t first = b * bd;
      for (uint32_t d = 0; d < bd; ++d) {
        if (acc[d] > 0) topk.insert(acc[d], first + d);
        acc[d] = 0;
      }
    }
    std::fill(entry_of.begin(), entry_of.begin() + static_cast<std::ptrdiff_t>(batch * n), kNone);
    std::fill(lookup_of.begin(), lookup_of.begin() + static_cast<std::ptrdiff_t>(batch * n), kNone);
  }
  // 4. Without the terms beta left out, the k found are scored again with every term.
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
