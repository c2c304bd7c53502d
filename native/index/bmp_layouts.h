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

#include "../common/cpu_features.h"
#include "bmp_bounds.h"
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

  // A term's groups one at a time (bmp decodes several terms' streams interleaved).
  struct Stream {
    const BmpSuper* g;
    uint64_t b, p;
    uint32_t term;
    void next(uint32_t& sb, uint32_t& max, GroupRef& out) {
      const BmpSuper& s = *g++;
      const uint32_t blocks = static_cast<uint32_t>(__builtin_popcountll(s.block_mask));
      sb = s.superblock;
      max = s.max_impact;
      out = GroupRef{term, blocks, s.block_mask, b, p, nullptr};
      b += blocks;
      p += s.num_postings;
    }
  };
  Stream stream(const BmpTerm& t, uint32_t term) const { return Stream{st.groups + t.first_group, t.first_block, t.first_posting, term}; }
  // f for the group's blocks in wanted (a subset of its mask), ascending.
  template <class F>
  void entries(const GroupRef& g, uint64_t wanted, F f) const {
    uint64_t b = g.block, p = g.posting;
    for (uint64_t m = g.mask; m & wanted; m &= m - 1, ++b) {
      const uint32_t blk = static_cast<uint32_t>(__builtin_ctzll(m));
      if (wanted >> blk & 1) f(blk, EntryRef{b, p, 0});
      p += uint32_t{st.block_count[b]} + 1;
    }
  }
  const void* entries_at(const GroupRef& g) const { return st.block_count + g.block; }
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

  BmpGroupMaskFn group_mask = bmp_group_mask_kernel(active_isa());

  // A term's groups one at a time, the block mask vectorised (bmp_bounds.h): bmp decodes every group
  // of every query term, several terms' streams interleaved (each group's end depends on its bytes:
  // one stream is a chain of loads).
  struct Stream {
    const uint8_t* p;
    const uint8_t* end;
    BmpGroupMaskFn group_mask;
    uint64_t b, r;
    uint32_t sb, term;
    bool first;
    void next(uint32_t& superblock, uint32_t& max, GroupRef& out) {
      uint64_t mask = 0;
      const PackedGroup g = read_packed_group(p, end, sb, first, group_mask, &mask);
      sb = superblock = g.superblock;
      first = false;
      max = g.max;
      out = GroupRef{term, g.blocks, mask, b, r, g.entries};
      b += g.blocks;
      r += g.posting_bytes;
    }
  };
  Stream stream(const BmpTerm& t, uint32_t term) const {
    return Stream{st.group_bytes + t.first_group, st.group_bytes_end, group_mask, t.first_block, t.first_posting, 0, term, true};
  }

  // read_packed_entry and packed_body_bytes without branches (a group's blocks mix the record
  // kinds unpredictably; bmp walks every block of every group of a superblock it scores in).
  template <class F>
  void entries(const GroupRef& g, uint64_t wanted, F f) const {
    const uint32_t bitmap = packed_bitmap_bytes(st.meta->block_docs);
    uint64_t r = g.posting;
    const uint8_t* e = g.entries;
    const uint8_t* c = g.entries + g.blocks;
    const uint8_t* max = st.block_max + g.block;
    const uint32_t last = 63u - static_cast<uint32_t>(__builtin_clzll(wanted));  // wanted is not empty
    for (uint32_t k = 0; k < g.blocks; ++k) {
      const uint32_t byte = e[k], cls = byte >> 6u, blk = byte & 63u;
      const uint32_t count = cls < 3 ? cls + 1 : uint32_t{*c} + 1;
      c += cls == 3;
      if (wanted >> blk & 1) f(blk, EntryRef{g.block + k, r, count});
      if (blk == last) break;
      const uint32_t slots = count < bitmap ? count : bitmap;
      const uint32_t body = slots + (count * impact_width(max[k]) + 7) / 8;
      r += count == 1 ? 1 : body;
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
  const void* entries_at(const GroupRef& g) const { return g.entries; }
};

}  // namespace splade::index
