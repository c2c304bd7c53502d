#include "bmp_store.h"

#include <algorithm>
#include <string>

#include "../common/error.h"

namespace splade::index {

void BmpWriter::add_term(const uint32_t* docs, const uint32_t* imps, size_t n, BmpTerm& term) {
  term = BmpTerm{groups.size(), block_max.size(), postings.size(), 0, 0};
  const uint32_t super_docs = block_docs_ * kBmpSuperBlocks;
  size_t i = 0;
  while (i < n) {
    const uint32_t sb = docs[i] / super_docs;
    BmpSuper g{0, sb, 0, 0, 0};
    size_t group_postings = 0;
    while (i < n && docs[i] / super_docs == sb) {
      const uint32_t block = docs[i] / block_docs_;
      uint32_t max = 0, count = 0;
      for (; i < n && docs[i] / block_docs_ == block; ++i, ++count) {
        max = std::max(max, imps[i]);
        postings.push_back(static_cast<uint16_t>((docs[i] - block * block_docs_) | (imps[i] << 8)));
      }
      g.block_mask |= uint64_t{1} << (block % kBmpSuperBlocks);
      g.max_impact = static_cast<uint8_t>(std::max<uint32_t>(g.max_impact, max));
      block_max.push_back(static_cast<uint8_t>(max));
      block_count.push_back(static_cast<uint8_t>(count - 1));  // 1..256 stored as 0..255
      group_postings += count;
    }
    g.num_postings = static_cast<uint16_t>(group_postings);
    groups.push_back(g);
    ++term.num_groups;
  }
}

BmpTerm BmpWriter::append(BmpWriter& other) {
  const BmpTerm shift{groups.size(), block_max.size(), postings.size(), 0, 0};
  groups.insert(groups.end(), other.groups.begin(), other.groups.end());
  block_max.insert(block_max.end(), other.block_max.begin(), other.block_max.end());
  block_count.insert(block_count.end(), other.block_count.begin(), other.block_count.end());
  postings.insert(postings.end(), other.postings.begin(), other.postings.end());
  other = BmpWriter(block_docs_);
  return shift;
}

void bmp_corrupt(const std::string& what) { fail(kCorruptFile, "corrupt index: block-max store: " + what); }

namespace {
[[noreturn]] void corrupt(const std::string& what) { bmp_corrupt(what); }
}  // namespace

void BmpStore::check_meta(Section meta_s, Section terms_s, uint32_t num_docs, uint32_t vocab_size, uint64_t num_postings) {
  if (meta_s.size != sizeof(BmpMeta)) corrupt("meta section has the wrong size");
  meta = reinterpret_cast<const BmpMeta*>(meta_s.data);
  const BmpMeta& m = *meta;
  if (m.block_docs < 1 || m.block_docs > kBmpMaxBlockDocs || m.super_blocks != kBmpSuperBlocks) corrupt("bad block sizes");
  const uint64_t nb = (uint64_t{num_docs} + m.block_docs - 1) / m.block_docs;
  if (m.num_blocks != nb || m.num_supers != (nb + kBmpSuperBlocks - 1) / kBmpSuperBlocks) corrupt("bad block counts");
  if (m.num_postings != num_postings) corrupt("posting count disagrees with the index");
  if (terms_s.size != uint64_t{vocab_size} * sizeof(BmpTerm)) corrupt("term table has the wrong size");
  terms = reinterpret_cast<const BmpTerm*>(terms_s.data);
}

void BmpStore::validate(Section meta_s, Section terms_s, Section groups_s, Section blocks_s, Section postings_s,
                        uint32_t num_docs, uint32_t vocab_size, uint64_t num_postings, const TermEntry* lists) {
  check_meta(meta_s, terms_s, num_docs, vocab_size, num_postings);
  const BmpMeta& m = *meta;
  if (groups_s.size != m.num_groups * sizeof(BmpSuper)) corrupt("group table has the wrong size");
  if (blocks_s.size != m.num_block_entries * 2) corrupt("block table has the wrong size");
  if (postings_s.size != m.num_postings * 2) corrupt("postings section has the wrong size");
  groups = reinterpret_cast<const BmpSuper*>(groups_s.data);
  block_max = blocks_s.data;
  block_count = blocks_s.data + m.num_block_entries;
  postings = reinterpret_cast<const uint16_t*>(postings_s.data);

  // Every term: its groups, blocks and postings follow the previous term's (so the whole store is
  // covered exactly once), superblocks ascending, each bound the maximum of what it covers, every
  // document below num_docs, and as many postings as the term's inverted list.
  uint64_t g = 0, b = 0, p = 0;
  for (uint32_t t = 0; t < vocab_size; ++t) {
    const BmpTerm& te = terms[t];
    const std::string where = "term " + std::to_string(t);
    if (te.first_group != g || te.first_block != b || te.first_posting != p) corrupt(where + " out of order");
    if (te.num_groups > m.num_groups - g) corrupt(where + " groups outside the table");
    int64_t prev_sb = -1;
    const uint64_t first_p = p;
    uint32_t term_max = 0;
    for (uint32_t j = 0; j < te.num_groups; ++j, ++g) {
      const BmpSuper& s = groups[g];
      if (int64_t{s.superblock} <= prev_sb || s.superblock >= m.num_supers || s.block_mask == 0) {
        corrupt(where + " superblocks not ascending or out of range");
      }
      prev_sb = s.superblock;
      const uint32_t nblocks = static_cast<uint32_t>(__builtin_popcountll(s.block_mask));
      if (nblocks > m.num_block_entries - b) corrupt(where + " blocks outside the table");
      const uint32_t top_block = s.superblock * kBmpSuperBlocks + (63 - static_cast<uint32_t>(__builtin_clzll(s.block_mask)));
      if (top_block >= m.num_blocks) corrupt(where + " block beyond the documents");
      uint32_t group_max = 0, group_postings = 0;
      uint64_t mask = s.block_mask;
      for (uint32_t k = 0; k < nblocks; ++k, ++b, mask &= mask - 1) {
        const uint32_t block = s.superblock * kBmpSuperBlocks + static_cast<uint32_t>(__builtin_ctzll(mask));
        const uint32_t count = uint32_t{block_count[b]} + 1;
        if (count > m.block_docs || count > m.num_postings - p) corrupt(where + " block posting count out of range");
        uint32_t max = 0;
        int prev_slot = -1;
        for (uint32_t q = 0; q < count; ++q, ++p) {
          const uint32_t slot = postings[p] & 0xFF, imp = postings[p] >> 8;
          if (static_cast<int>(slot) <= prev_slot || slot >= m.block_docs ||
              uint64_t{block} * m.block_docs + slot >= num_docs || imp == 0) {
            corrupt(where + " posting out of range");
          }
          prev_slot = static_cast<int>(slot);
          max = std::max(max, imp);
        }
        if (block_max[b] != max) corrupt(where + " block bound is not its maximum");
        group_max = std::max(group_max, max);
        group_postings += count;
      }
      if (s.max_impact != group_max || s.num_postings != group_postings) corrupt(where + " superblock bound disagrees");
      term_max = std::max(term_max, group_max);
    }
    if (p - first_p != lists[t].df) corrupt(where + " posting count disagrees with its list");
    // The term's max bounds its scores in every algorithm (and is all an index without lists has).
    if (term_max != lists[t].max_impact) corrupt(where + " max impact disagrees with its groups");
  }
  if (g != m.num_groups || b != m.num_block_entries || p != m.num_postings) corrupt("tables longer than the terms use");
}

}  // namespace splade::index
