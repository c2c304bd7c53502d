// The two layouts of the block-max store as bmp.cpp reads them: the same four steps of access, so
// the search is written once (templated) and each layout costs only its own decoding.
//
//   groups(term, f)        f(superblock, max, GroupRef) for each of the term's groups, in order
//   entries(ref, f)        f(block within the superblock, EntryRef) for each of the group's blocks
//   postings(entry, f)     f(slot, impact) for each posting of a block, slot ascending
//
// GroupRef / EntryRef carry what the next step needs (offsets into the store's sections).
#pragma once
#include <cstdint>
#include <cstring>

#include "bmp_packed.h"
#include "bmp_store.h"

namespace splade::index {

struct GroupRef {
  uint32_t term;            // index into the query's kept terms
  uint32_t blocks;          // number of blocks
  uint64_t mask;            // the group's blocks within its superblock, one bit each
  uint64_t block;           // first entry
  uint64_t posting;         // first posting (U16Layout) or record byte (PackedLayout)
  const uint8_t* entries;   // PackedLayout: the blocks' bytes
};

struct EntryRef {
  uint64_t entry;
  uint64_t posting;
  uint32_t count;  // PackedLayout: the block's postings
};

// bmp_format.h (format version 2).
struct U16Layout {
  const BmpStore& st;

  template <class F>
  void groups(const BmpTerm& t, uint32_t term, F f) const {
    uint64_t b = t.first_block, p = t.first_posting;
    for (uint64_t g = t.first_group; g < t.first_group + t.num_groups; ++g) {
      const BmpSuper& s = st.groups[g];
      const uint32_t blocks = static_cast<uint32_t>(__builtin_popcountll(s.block_mask));
      f(s.superblock, s.max_impact, GroupRef{term, blocks, s.block_mask, b, p, nullptr});
      b += blocks;
      p += s.num_postings;
    }
  }
  template <class F>
  void entries(const GroupRef& g, F f) const {
    uint64_t b = g.block, p = g.posting;
    for (uint64_t m = g.mask; m; m &= m - 1, ++b) {
      f(static_cast<uint32_t>(__builtin_ctzll(m)), EntryRef{b, p, 0});
      p += uint32_t{st.block_count[b]} + 1;
    }
  }
  template <class F>
  uint32_t postings(const EntryRef& e, F f) const {
    const uint16_t* post = st.postings + e.posting;
    const uint32_t count = uint32_t{st.block_count[e.entry]} + 1;
    for (uint32_t k = 0; k < count; ++k) f(post[k] & 0xFFu, static_cast<uint32_t>(post[k] >> 8));
    return count;
  }
  const void* prefetch_at(const EntryRef& e) const { return st.postings + e.posting; }
};

// bmp_packed.h (format version 3).
struct PackedLayout {
  const BmpStore& st;

  template <class F>
  void groups(const BmpTerm& t, uint32_t term, F f) const {
    const uint8_t* p = st.group_bytes + t.first_group;
    uint64_t b = t.first_block, r = t.first_posting;
    uint32_t sb = 0;
    for (uint32_t j = 0; j < t.num_groups; ++j) {
      uint64_t mask;
      const PackedGroup g = read_packed_group(p, st.group_bytes_end, sb, j == 0, &mask);
      f(g.superblock, g.max, GroupRef{term, g.blocks, mask, b, r, g.entries});
      sb = g.superblock;
      b += g.blocks;
      r += g.posting_bytes;
    }
  }
  template <class F>
  void entries(const GroupRef& g, F f) const {
    const uint32_t bitmap = packed_bitmap_bytes(st.meta->block_docs);
    uint64_t r = g.posting;
    const uint8_t* e = g.entries;
    const uint8_t* c = g.entries + g.blocks;
    for (uint32_t k = 0; k < g.blocks; ++k) {
      uint32_t count;
      const uint32_t blk = read_packed_entry(e, c, count);
      const uint64_t b = g.block + k;
      f(blk, EntryRef{b, r, count});
      r += packed_body_bytes(count, st.block_max[b], bitmap);
    }
  }
  // Decodes in place (decode_packed's format), calling f as it goes.
  template <class F>
  uint32_t postings(const EntryRef& e, F f) const {
    const uint8_t* p = st.records + e.posting;
    const uint32_t m = st.block_max[e.entry];
    const uint32_t count = e.count;
    if (count == 1) {
      f(uint32_t{*p}, m);
      return 1;
    }
    const uint32_t bitmap = packed_bitmap_bytes(st.meta->block_docs);
    const uint8_t* slots = p;
    const uint8_t* imps = p + (count < bitmap ? count : bitmap);
    const uint32_t w = impact_width(m);
    const uint64_t mask = (uint64_t{1} << w) - 1;
    auto impact = [&](uint32_t i) {
      uint64_t word;
      std::memcpy(&word, imps + i * w / 8, 8);  // the section's padding keeps this inside it
      return static_cast<uint32_t>((word >> (i * w % 8)) & mask);
    };
    if (count < bitmap) {
      for (uint32_t i = 0; i < count; ++i) f(uint32_t{slots[i]}, impact(i));
    } else {
      uint32_t i = 0;
      for (uint32_t byte = 0; byte < bitmap; ++byte)
        for (uint32_t bits = slots[byte]; bits; bits &= bits - 1, ++i) f(8 * byte + static_cast<uint32_t>(__builtin_ctz(bits)), impact(i));
    }
    return count;
  }
  const void* prefetch_at(const EntryRef& e) const { return st.records + e.posting; }
};

}  // namespace splade::index
