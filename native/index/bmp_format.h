// The block-max pruning store (format version 2): every posting a second time, grouped for
// block-at-a-time search (BMP, Mallia, Suel, Tonellotto, SIGIR 2024) with superblocks (Carlson et
// al., SIGIR 2025).
//
// Internal documents are cut into blocks of `block_docs` consecutive documents, and blocks into
// superblocks of 64 blocks. Per term, its postings are grouped by superblock, then block, in document
// order:
//   kBmpMeta     BmpMeta
//   kBmpTerms    BmpTerm x vocab_size: where the term's groups start
//   kBmpSupers   BmpSuper x: one per (term, superblock holding the term), ascending superblock
//   kBmpBlocks   u8 max impact x, then u8 posting count x (two arrays of num_blocks each): one per
//                (term, block holding the term), the blocks of a BmpSuper in the order of its mask
//   kBmpPostings u16 x: slot within the block (low byte) | impact << 8, ascending slot within a block
//
// A term's first superblock group starts at its BmpTerm's first_block / first_posting; each later
// group starts where the previous ended (popcount(mask) blocks, num_postings postings), so readers
// walk a term's groups with running sums and the store needs no per-group offsets.
//
// Bounds are impact levels (8-bit indexes only): a block's max is the largest impact of its
// postings, a superblock group's max the largest of its blocks'. A block scores a document with the
// same float operations, in the same (query-term) order, as the inverted lists do (search.h).
#pragma once
#include <cstdint>

namespace splade::index {

inline constexpr uint32_t kBmpSuperBlocks = 64;   // blocks per superblock: one bit each in a u64 mask
inline constexpr uint32_t kBmpDefaultBlockDocs = 32;
inline constexpr uint32_t kBmpMaxBlockDocs = 256;  // slots fit a byte

struct BmpMeta {
  uint32_t block_docs;     // documents per block, [1, kBmpMaxBlockDocs]
  uint32_t super_blocks;   // kBmpSuperBlocks
  uint32_t num_blocks;     // ceil(num_docs / block_docs)
  uint32_t num_supers;     // ceil(num_blocks / 64)
  uint64_t num_groups;     // BmpSuper entries
  uint64_t num_block_entries;
  uint64_t num_postings;   // the index's num_postings
  uint64_t reserved;
};
static_assert(sizeof(BmpMeta) == 48, "BmpMeta is 48 bytes");

struct BmpTerm {
  uint64_t first_group;    // into kBmpSupers
  uint64_t first_block;    // into the block arrays
  uint64_t first_posting;  // into kBmpPostings
  uint32_t num_groups;
  uint32_t reserved;
};
static_assert(sizeof(BmpTerm) == 32, "BmpTerm is 32 bytes");

struct BmpSuper {
  uint64_t block_mask;     // bit b: block 64 * superblock + b holds the term
  uint32_t superblock;
  uint16_t num_postings;   // in this group: at most 64 * kBmpMaxBlockDocs = 16384
  uint8_t max_impact;      // largest impact in the group
  uint8_t reserved;
};
static_assert(sizeof(BmpSuper) == 16, "BmpSuper is 16 bytes");

}  // namespace splade::index
