// The on-disk (and in-memory) layout of an inverted index: one file, one byte image, read in place.
//
//   [Header 64 B][SectionEntry x num_sections][sections..., each 8-byte aligned]
//
// Bytes 0..19 are fixed for every format version: magic "SPLADEIX", version (u32), header_size (u32),
// header_crc (u32, CRC-32C of the header bytes [0, header_size) with this field zeroed). Each section
// carries its own CRC-32C in the section table, and the table is covered by the header's
// table_crc. All integers are little-endian (the only byte order this build supports).
//
// Sections:
//   kTerms    TermEntry x vocab_size: where each term's posting list lives, its length and max impact.
//   kBlocks   BlockEntry x num_blocks: per block of `block_size` postings (the last one may be
//             shorter): the block's last document, its max impact, its bit widths and byte offset.
//   kPostings the blocks' bytes: ceil(n*doc_bits/8) bytes of bit-packed document gaps
//             (doc - previous doc - 1; the previous doc of a list's first block is "-1"), then
//             ceil(n*impact_bits/8) bytes of bit-packed (impact - 1); followed by 8 bytes of padding
//             so that decoders may load 64-bit words past the end of a block.
//   kDocIds   optional external ids: u64 offsets x (num_docs + 1), then the UTF-8 bytes, in input
//             order (indexed by a document's input position, not its internal number).
//   kDocOrder optional (version 2, reordered indexes): u32 x num_docs, the input position of each
//             internal document. Internal numbers are what the lists hold; results are mapped back.
//   kBmp*     optional (version 2): the block-max pruning store of bmp_format.h, read lazily.
//
// Version 3 (store 'compact'): no kBlocks, kPostings, kBmpSupers, kBmpBlocks or kBmpPostings; the
// block-max store in the packed layout of bmp_packed.h (kBmpMeta, kBmpTerms, kBmpPacked*) is the
// only copy of the postings and every algorithm reads it. The term entries keep df and max_impact,
// with data_offset = first_block = 0, and the header's num_blocks is 0. Indexes with lists are still
// written as version 2. Version 3 may add kBmpTopBlocks (top_blocks.h: impact-ordered block lists
// for approximate search), read lazily; files without it still open and search.
//
// Impacts: impact = clamp(round(value / scale * levels), 1, levels), levels = 2^impact_bits - 1;
// a posting's score is query_weight * impact * (scale / levels).
#pragma once
#include <cstddef>
#include <cstdint>

namespace splade::index {

inline constexpr char kMagic[8] = {'S', 'P', 'L', 'A', 'D', 'E', 'I', 'X'};
inline constexpr uint32_t kFormatVersion = 3;       // the newest this build reads and writes
inline constexpr uint32_t kListsFormatVersion = 2;  // written for indexes with inverted lists
inline constexpr uint32_t kOldestFormatVersion = 1;  // still read (version 1 has no kDocOrder, no kBmp*)
inline constexpr uint32_t kPostingsPadding = 8;
inline constexpr uint32_t kEndDoc = 0xFFFFFFFFu;  // cursor sentinel; document numbers are below it

enum SectionId : uint32_t {
  kTerms = 1,
  kBlocks = 2,
  kPostings = 3,
  kDocIds = 4,
  kDocOrder = 5,
  kBmpMeta = 6,
  kBmpTerms = 7,
  kBmpSupers = 8,
  kBmpBlocks = 9,
  kBmpPostings = 10,
  kBmpPackedGroups = 11,    // version 3: bmp_packed.h
  kBmpPackedEntries = 12,
  kBmpPackedPostings = 13,
  kBmpTopBlocks = 14,       // version 3, optional: top_blocks.h
  kLastSection = kBmpTopBlocks,
};

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_size;  // sizeof(Header)
  uint32_t header_crc;
  uint32_t num_sections;
  uint32_t table_crc;    // CRC-32C of the section table
  uint32_t block_size;   // postings per block
  uint32_t impact_bits;  // 8 or 16
  uint32_t num_docs;
  uint32_t vocab_size;
  float scale;           // value that maps to the top impact level
  uint64_t num_postings;
  uint64_t num_blocks;
};
static_assert(sizeof(Header) == 64, "header is 64 bytes");

struct SectionEntry {
  uint32_t id;
  uint32_t crc;
  uint64_t offset;  // from the start of the file
  uint64_t length;  // in bytes
};
static_assert(sizeof(SectionEntry) == 24, "section entry is 24 bytes");

struct TermEntry {
  uint64_t data_offset;  // into kPostings: the term's first block
  uint32_t df;           // postings in the list
  uint32_t first_block;  // into kBlocks; the list has ceil(df / block_size) blocks
  uint32_t max_impact;   // largest impact in the list (0 when df == 0)
  uint32_t reserved;
};
static_assert(sizeof(TermEntry) == 24, "term entry is 24 bytes");

struct BlockEntry {
  uint32_t last_doc;    // the block's last (largest) document
  uint32_t offset;      // of the block's bytes, from the term's data_offset
  uint16_t max_impact;  // largest impact in the block
  uint8_t doc_bits;     // width of the packed gaps, 0..32
  uint8_t impact_bits;  // width of the packed (impact - 1), 0..16
};
static_assert(sizeof(BlockEntry) == 12, "block entry is 12 bytes");

inline constexpr uint32_t kMinBlockSize = 16;
inline constexpr uint32_t kMaxBlockSize = 1024;

}  // namespace splade::index
