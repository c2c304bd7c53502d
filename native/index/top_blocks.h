// Impact-ordered block lists over the packed block-max store (bmp_packed.h), for approximate search
// (approximate.cpp), in the manner of Seismic's statically pruned lists (Bruch, Nardini, Rulli,
// Venturini, SIGIR 2024) but over the store's docid blocks: per term, its `lambda` blocks of highest
// max impact, best first, each with where its postings are in the store, so that a query reaches the
// blocks its heavy terms peak in without decoding any term's groups front to back. A term's floor is
// the largest max of the blocks left out (0 when none is), so every block's bound stays known:
// max where listed, floor elsewhere.
//
// Beside the lists, a directory per term (every kTopDirStep-th group: its superblock and offsets)
// finds any (term, block) in a few group headers: candidates are scored exactly with every query
// term, listed or not.
//
// Section kBmpTopBlocks (format.h), all little-endian, arrays in this order, each 8-byte aligned
// (zero padding):
//   TopBlocksMeta
//   u64 x (vocab + 1)      begin: term t's entries are [begin[t], begin[t + 1])
//   u64 x (vocab + 1)      dir_begin: term t's directory entries
//   TopDirEntry x num_dir
//   u32 x num_entries      block << 8 | max: global block number, the block's max impact for the term
//   u32 x num_entries      record << 8 | count - 1: byte offset of the (term, block) record from the
//                          term's first_posting, its postings
//   u8 x vocab             floor: the largest max left out of the term's list
// Blocks and record offsets take 24 bits: a block past 2^24, or a record 16 MiB or more into its
// term's, is left out of the list (the floor covers it), so any collection size is correct.
// The section is a function of the store and lambda: it is checked on first use by deriving it again
// (a term at a time) and comparing, so a damaged one is kCorruptFile, never a wrong bound.
#pragma once
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "bmp_bounds.h"
#include "bmp_packed.h"
#include "bmp_store.h"

namespace splade::index {

inline constexpr uint32_t kTopDirStep = 10;  // groups per directory entry: 16 bytes per 10 groups
inline constexpr uint32_t kTopFieldLimit = 1u << 24;
inline constexpr uint32_t kMaxTopBlocks = 1u << 20;
inline constexpr uint32_t kAutoTopBlocks = 0xFFFFFFFFu;
// Below this many blocks the default is no lists: in a small collection the best documents do not
// stand out in their terms' heaviest blocks, and the 100 best-ranked blocks found 0.92 of the top 10
// (real, 23k documents, 721 blocks; uniform at 23k and 100k alike), where block-max pruning with
// alpha 0.9 finds 0.98 in less time at that size (bench/RESULTS.md, "approximate").
inline constexpr uint64_t kMinListedBlocks = 4096;
// The default lambda: 1024, or one in 64 of the store's blocks where that is less (at least 64), so
// that small indexes do not list most of their blocks twice; 0 (none) under kMinListedBlocks.
inline uint32_t auto_top_blocks(uint64_t num_blocks) {
  if (num_blocks < kMinListedBlocks) return 0;
  const uint64_t l = num_blocks / 64;
  return static_cast<uint32_t>(l < 64 ? 64 : l > 1024 ? 1024 : l);
}

struct TopBlocksMeta {
  uint32_t lambda;
  uint32_t dir_step;  // kTopDirStep
  uint64_t num_entries;
  uint64_t num_dir;
  uint64_t reserved;
};
static_assert(sizeof(TopBlocksMeta) == 32, "TopBlocksMeta is 32 bytes");

struct TopDirEntry {
  uint32_t superblock;  // of the group
  uint32_t group;       // byte offset of the group from the term's first_group
  uint32_t block;       // its first block entry, from the term's first_block
  uint32_t posting;     // its first record byte, from the term's first_posting
};
static_assert(sizeof(TopDirEntry) == 16, "TopDirEntry is 16 bytes");

// A view of the section.
struct TopBlockLists {
  uint32_t dir_step = kTopDirStep;
  const uint64_t* begin = nullptr;
  const uint64_t* dir_begin = nullptr;
  const TopDirEntry* dir = nullptr;
  const uint32_t* block_max = nullptr;
  const uint32_t* record_count = nullptr;
  const uint8_t* floor = nullptr;
  uint32_t block(uint64_t j) const { return block_max[j] >> 8; }
  uint32_t max(uint64_t j) const { return block_max[j] & 0xFFu; }
  uint32_t record(uint64_t j) const { return record_count[j] >> 8; }
  uint32_t count(uint64_t j) const { return (record_count[j] & 0xFFu) + 1; }
};

// The section's bytes for a packed store (lambda in [1, kMaxTopBlocks]); the store need not be
// validated (the builder's own), and the terms are derived on the pool's threads (thread_pool.h).
std::vector<uint8_t> encode_top_blocks(const BmpStore& st, uint32_t vocab_size, uint32_t lambda);

// Checks the section against a validated packed store (kCorruptFile on any difference), deriving it
// again on the pool's threads, and views it.
TopBlockLists view_top_blocks(const uint8_t* data, uint64_t size, const BmpStore& st, uint32_t vocab_size);

// Where a (term, block)'s postings are: record (absolute, into st.records), count, max.
struct BlockPostings {
  const uint8_t* record;
  uint32_t count, max;
};

// Finds a term's postings in blocks (global numbers, ascending and distinct) through the directory,
// one block a step: one forward walk over the term's groups, jumping through the directory wherever
// the next block lies past the current step, so blocks that share groups decode them once. out[i]:
// the postings of blocks[i], or count 0 where the term has none there.
//
// A step is three stages, so that a caller stepping many finders (approximate.cpp: one per query
// term) runs each stage over all of them before the next, and their cache misses overlap: the walks
// lie at random places of the store, and a walk's loads and branches depend on each other, so one
// finder's step alone waits for each miss in turn.
//   prefetch(): fetches the group headers the step will walk (from its directory entry or the cursor);
//   locate():   walks to the block's group and fetches the block maxima its record offset needs
//               (false once the step it took was the last);
//   finish():   sums the sizes of the records before the block's and writes its out[i].
// next() is the three in a row.
class BlockFinder {
 public:
  BlockFinder() = default;
  BlockFinder(const BmpStore& st, const TopBlockLists& tb, uint32_t term, const uint32_t* blocks, size_t n, BlockPostings* out,
              BmpGroupMaskFn mask_fn);
  void prefetch();
  bool locate();
  void finish();
  bool next() {
    prefetch();
    const bool more = locate();
    finish();
    return more;
  }

 private:
  // The directory entry at or before superblock sb, searched from the last one (blocks ascend).
  const TopDirEntry* dir_at(uint32_t sb) const;

  const BmpStore* st_ = nullptr;
  const BmpTerm* te_ = nullptr;
  const uint32_t* blocks_ = nullptr;
  BlockPostings* out_ = nullptr;
  size_t n_ = 0, i_ = 0;
  BmpGroupMaskFn mask_fn_ = nullptr;
  const TopDirEntry *first_ = nullptr, *last_ = nullptr, *from_ = nullptr;
  uint32_t step_ = 1, bitmap_ = 1;
  // The cursor: group j_ (decoded into pg_ / mask_) starts at entry b_ and record byte r_; next_ is
  // the group after it.
  bool loaded_ = false;
  uint32_t j_ = 0;
  uint64_t b_ = 0, r_ = 0, mask_ = 0;
  PackedGroup pg_{};
  const uint8_t* next_ = nullptr;
  // Between locate() and finish(): the block found is the k-th of group j_, for out_[at_].
  bool found_ = false;
  size_t at_ = 0;
  uint32_t k_ = 0;
};

// One block: false when the term has no posting there.
inline bool find_block(const BmpStore& st, const TopBlockLists& tb, uint32_t term, uint32_t block, BlockPostings& out) {
  BlockFinder(st, tb, term, &block, 1, &out, bmp_group_mask_kernel(active_isa())).next();
  return out.count > 0;
}

}  // namespace splade::index
