// The two layouts of the block-max store as bmp.cpp reads them: the same four steps of access, so
// the search is written once (templated) and each layout costs only its own decoding.
//
//   groups(term, f)        f(superblock, max, GroupRef) for each of the term's groups, in order
//   mask(ref)              the group's blocks within its superblock, one bit each
//   entries(ref, f)        f(block within the superblock, EntryRef) for each of the group's blocks
//   postings(entry, f)     f(slot, impact) for each posting of a block, slot ascending
//
// GroupRef / EntryRef carry what the next step needs (offsets into the store's sections).
#pragma once
#include <cstdint>

#include "bmp_packed.h"
#include "bmp_store.h"

namespace splade::index {

struct GroupRef {
  uint32_t term;     // index into the query's kept terms
  uint32_t blocks;   // number of blocks
  uint64_t mask;     // U16Layout: the group's mask; PackedLayout: computed by mask()
  uint64_t block;    // first entry
  uint64_t posting;  // first posting (U16Layout) or record byte (PackedLayout)
};

struct EntryRef {
  uint64_t entry;
  uint64_t posting;
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
      f(s.superblock, s.max_impact, GroupRef{term, blocks, s.block_mask, b, p});
      b += blocks;
      p += s.num_postings;
    }
  }
  uint64_t mask(const GroupRef& g) const { return g.mask; }
  template <class F>
  void entries(const GroupRef& g, F f) const {
    uint64_t b = g.block, p = g.posting;
    for (uint64_t m = g.mask; m; m &= m - 1, ++b) {
      f(static_cast<uint32_t>(__builtin_ctzll(m)), EntryRef{b, p});
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
      uint32_t delta = 0, bytes = 0;
      read_varint(p, st.group_bytes_end, delta);
      const uint32_t max = p[0], blocks = uint32_t{p[1]} + 1;
      p += 2;
      read_varint(p, st.group_bytes_end, bytes);
      sb = j == 0 ? delta : sb + delta;
      f(sb, max, GroupRef{term, blocks, 0, b, r});
      b += blocks;
      r += bytes;
    }
  }
  uint64_t mask(const GroupRef& g) const {
    uint64_t m = 0;
    for (uint32_t k = 0; k < g.blocks; ++k) m |= uint64_t{1} << (st.entries[g.block + k] & 63u);
    return m;
  }
  template <class F>
  void entries(const GroupRef& g, F f) const {
    const uint32_t bitmap = packed_bitmap_bytes(st.meta->block_docs);
    uint64_t r = g.posting;
    for (uint64_t b = g.block; b < g.block + g.blocks; ++b) {
      const uint8_t e = st.entries[b];
      f(e & 63u, EntryRef{b, r});
      const uint32_t cls = e >> 6;
      const uint32_t count = cls < 3 ? cls + 1 : uint32_t{st.records[r]} + 1;
      r += (cls == 3) + packed_body_bytes(count, st.block_max[b], bitmap);
    }
  }
  template <class F>
  uint32_t postings(const EntryRef& e, F f) const {
    uint8_t slots[kBmpMaxBlockDocs], imps[kBmpMaxBlockDocs];
    const uint8_t* p = st.records + e.posting;
    const uint32_t count =
        decode_packed(p, st.entries[e.entry], st.block_max[e.entry], packed_bitmap_bytes(st.meta->block_docs), slots, imps);
    for (uint32_t k = 0; k < count; ++k) f(uint32_t{slots[k]}, uint32_t{imps[k]});
    return count;
  }
  const void* prefetch_at(const EntryRef& e) const { return st.records + e.posting; }
};

}  // namespace splade::index
