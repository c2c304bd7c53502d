// The packed layout of the block-max store (format version 3, store 'compact'): the same groups,
// blocks and postings as bmp_format.h's, in fewer bytes, as the index's only copy of the postings.
//
//   kBmpPackedGroups   per term, per group (superblock ascending): varint superblock (the first group
//                      of a term absolute, later ones the difference to the previous one), u8 max
//                      impact, u8 blocks - 1, varint bytes of the group's posting records, then a
//                      byte per block: block within the superblock (low 6 bits, strictly
//                      ascending) | count class << 6 (0, 1, 2: 1, 2, 3 postings; 3: more), then a
//                      byte of count - 1 (count >= 4) per class-3 block, in block order. Search
//                      reads a query term's groups front to back, so the blocks' masks and record
//                      sizes come with the headers (fixed-size block bytes: no chain of loads).
//   kBmpPackedEntries  u8 x num_block_entries: each block's max (a group's lie together, for the
//                      vectorised bounds of bmp_bounds.h)
//   kBmpPackedPostings one record per (term, block), in entry order, then 8 zero bytes (decoders
//                      load 8 bytes at a time):
//                        count 1: u8 slot (its impact is the block's max)
//                        else:    slots: count < bitmap bytes: u8 x count ascending; else a bitmap of
//                                 ceil(block_docs / 8) bytes (bit s: slot s), then the impacts in
//                                 slot order, bit-packed at bits(block max) each, LSB first
//
// A term's BmpTerm holds byte offsets (first_group into kBmpPackedGroups, first_posting into
// kBmpPackedPostings) and an entry index (first_block). The widths and counts make a record's size
// known from its entry (in the group) and its max, so readers skip blocks without
// decoding them. On topical 1M documents reordered by BP: about 2.3 bytes a posting in all.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "bmp_bounds.h"
#include "bmp_format.h"

namespace splade::index {

inline constexpr uint32_t kPackedPadding = 8;

inline uint32_t packed_bitmap_bytes(uint32_t block_docs) { return (block_docs + 7) / 8; }
inline uint32_t impact_width(uint32_t max) { return max == 0 ? 0 : 32 - static_cast<uint32_t>(__builtin_clz(max)); }

// The bytes of a record for count postings.
inline uint32_t packed_body_bytes(uint32_t count, uint32_t max, uint32_t bitmap_bytes) {
  if (count == 1) return 1;
  const uint32_t slots = count < bitmap_bytes ? count : bitmap_bytes;
  return slots + (count * impact_width(max) + 7) / 8;
}

// Reads one varint at p (below end); false when it runs past end or over 5 bytes.
inline bool read_varint(const uint8_t*& p, const uint8_t* end, uint32_t& out) {
  if (p != end && *p < 0x80) {  // most are one byte: bmp reads every group header of a query's terms
    out = *p++;
    return true;
  }
  uint64_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (p == end) return false;
    const uint8_t b = *p++;
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) {
      if (v > 0xFFFFFFFFu) return false;
      out = static_cast<uint32_t>(v);
      return true;
    }
  }
  return false;
}

// One group's header, decoded from kBmpPackedGroups: its blocks' bytes at entries, the counts of
// its class-3 blocks at counts.
struct PackedGroup {
  uint32_t superblock, max, blocks, posting_bytes;
  const uint8_t* entries;
  const uint8_t* counts;
};

// Reads the (validated) group at p, moving p to the next group; sb: the term's previous superblock
// (ignored for its first group). With mask_fn (a bmp_group_mask kernel, bmp_bounds.h) it also sets
// *mask to the group's blocks; without, it only counts the class-3 bytes it must step over.
inline PackedGroup read_packed_group(const uint8_t*& p, const uint8_t* end, uint32_t sb, bool first, BmpGroupMaskFn mask_fn = nullptr,
                                     uint64_t* mask = nullptr) {
  uint32_t delta = 0, bytes = 0;
  read_varint(p, end, delta);
  const uint32_t max = p[0], blocks = uint32_t{p[1]} + 1;
  p += 2;
  read_varint(p, end, bytes);
  const uint8_t* entries = p;
  uint32_t more = 0;
  if (mask_fn) {
    *mask = mask_fn(entries, blocks, &more);
  } else {
    for (uint32_t k = 0; k < blocks; ++k) more += entries[k] >= 0xC0;
  }
  p += blocks + more;
  return {first ? delta : sb + delta, max, blocks, bytes, entries, entries + blocks};
}

// The next block's entry (e at entries, its count at counts when class 3): returns the block within
// its superblock and sets count, moving the pointers on.
inline uint32_t read_packed_entry(const uint8_t*& entries, const uint8_t*& counts, uint32_t& count) {
  const uint8_t e = *entries++;
  const uint32_t cls = e >> 6u;
  count = cls < 3 ? cls + 1 : uint32_t{*counts++} + 1;
  return e & 63u;
}

// Decodes a (validated) record at p of count postings with max m into slots / imps (up to
// block_docs each). p advances past the record.
inline void decode_packed(const uint8_t*& p, uint32_t count, uint32_t m, uint32_t bitmap_bytes, uint8_t* slots, uint8_t* imps) {
  if (count == 1) {
    slots[0] = *p++;
    imps[0] = static_cast<uint8_t>(m);
    return;
  }
  if (count < bitmap_bytes) {
    std::memcpy(slots, p, count);
    p += count;
  } else {
    uint32_t n = 0;
    for (uint32_t byte = 0; byte < bitmap_bytes; ++byte) {
      for (uint32_t bits = p[byte]; bits; bits &= bits - 1) slots[n++] = static_cast<uint8_t>(8 * byte + static_cast<uint32_t>(__builtin_ctz(bits)));
    }
    p += bitmap_bytes;
  }
  const uint32_t w = impact_width(m);
  const uint64_t mask = (uint64_t{1} << w) - 1;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t bit = i * w;
    uint64_t word;
    std::memcpy(&word, p + bit / 8, 8);  // the section's padding keeps this inside it
    imps[i] = static_cast<uint8_t>((word >> (bit % 8)) & mask);
  }
  p += (count * w + 7) / 8;
}

// Appends terms' postings in the packed layout; the builder runs one per part of the vocabulary and
// concatenates them (append), as with BmpWriter.
class PackedBmpWriter {
 public:
  explicit PackedBmpWriter(uint32_t block_docs) : block_docs_(block_docs) {}

  void add_term(const uint32_t* docs, const uint32_t* imps, size_t n, BmpTerm& term);
  BmpTerm append(PackedBmpWriter& other);

  std::vector<uint8_t> groups, block_max, postings;
  uint64_t num_groups = 0;

 private:
  uint32_t block_docs_;
};

}  // namespace splade::index
