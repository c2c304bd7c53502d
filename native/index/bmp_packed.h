// The packed layout of the block-max store (format version 3, store 'compact'): the same groups,
// blocks and postings as bmp_format.h's, in fewer bytes, as the index's only copy of the postings.
//
//   kBmpPackedGroups   per term, per group (superblock ascending): varint superblock (the first group
//                      of a term absolute, later ones the difference to the previous one), u8 max
//                      impact, u8 blocks - 1, varint bytes of the group's posting records
//   kBmpPackedEntries  u8 x num_block_entries: block within the superblock (low 6 bits, strictly
//                      ascending within a group) | count class << 6 (0, 1, 2: 1, 2, 3 postings; 3: a
//                      count byte leads the record); then u8 x num_block_entries: each block's max
//   kBmpPackedPostings one record per (term, block), in entry order, then 8 zero bytes (decoders
//                      load 8 bytes at a time):
//                        [class 3: u8 count - 1, count >= 4]
//                        count 1: u8 slot (its impact is the block's max)
//                        else:    slots: count < bitmap bytes: u8 x count ascending; else a bitmap of
//                                 ceil(block_docs / 8) bytes (bit s: slot s), then the impacts in
//                                 slot order, bit-packed at bits(block max) each, LSB first
//
// A term's BmpTerm holds byte offsets (first_group into kBmpPackedGroups, first_posting into
// kBmpPackedPostings) and an entry index (first_block). The widths and counts make a record's size
// known from its entry byte, its max and (class 3) its first byte, so readers skip blocks without
// decoding them. On topical 1M documents reordered by BP: about 2.3 bytes a posting in all.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "bmp_format.h"

namespace splade::index {

inline constexpr uint32_t kPackedPadding = 8;

inline uint32_t packed_bitmap_bytes(uint32_t block_docs) { return (block_docs + 7) / 8; }
inline uint32_t impact_width(uint32_t max) { return max == 0 ? 0 : 32 - static_cast<uint32_t>(__builtin_clz(max)); }

// The bytes of a record's slots and impacts (the count byte excluded) for count postings.
inline uint32_t packed_body_bytes(uint32_t count, uint32_t max, uint32_t bitmap_bytes) {
  if (count == 1) return 1;
  const uint32_t slots = count < bitmap_bytes ? count : bitmap_bytes;
  return slots + (count * impact_width(max) + 7) / 8;
}

// Reads one varint at p (below end); false when it runs past end or over 5 bytes.
inline bool read_varint(const uint8_t*& p, const uint8_t* end, uint32_t& out) {
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

// One group's header, decoded from kBmpPackedGroups.
struct PackedGroup {
  uint32_t superblock, max, blocks, posting_bytes;
};

// Decodes a (validated) record at p for an entry with byte e and max m into slots / imps (up to
// block_docs each); returns the count. p advances past the record.
inline uint32_t decode_packed(const uint8_t*& p, uint8_t e, uint32_t m, uint32_t bitmap_bytes, uint8_t* slots, uint8_t* imps) {
  const uint32_t cls = e >> 6;
  const uint32_t count = cls < 3 ? cls + 1 : uint32_t{*p++} + 1;
  if (count == 1) {
    slots[0] = *p++;
    imps[0] = static_cast<uint8_t>(m);
    return 1;
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
  return count;
}

// Appends terms' postings in the packed layout; the builder runs one per part of the vocabulary and
// concatenates them (append), as with BmpWriter.
class PackedBmpWriter {
 public:
  explicit PackedBmpWriter(uint32_t block_docs) : block_docs_(block_docs) {}

  void add_term(const uint32_t* docs, const uint32_t* imps, size_t n, BmpTerm& term);
  BmpTerm append(PackedBmpWriter& other);

  std::vector<uint8_t> groups, entries, block_max, postings;
  uint64_t num_groups = 0;

 private:
  uint32_t block_docs_;
};

}  // namespace splade::index
