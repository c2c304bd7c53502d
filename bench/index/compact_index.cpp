// Rewrites an index file with inverted lists and a block-max store (format version 2) as the file
// that store 'compact' builds from the same documents (format version 3): the lists dropped, the
// term entries' list offsets zeroed, the header's block count 0, the store re-encoded in the packed
// layout (bmp_packed.h) by the builder's own writer, every other section byte for byte as it was.
// A benchmark tool (it saves regenerating a large collection to measure the compact store), not a
// test; it trusts its input (open it with splade first):
//   g++ -O2 -std=c++17 bench/index/compact_index.cpp native/index/bmp_packed.cpp native/index/bmp_store.cpp native/index/crc32c.cpp \
//     native/common/cpu_features.cpp -o /tmp/compact_index
//   /tmp/compact_index in.idx out.idx
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "../../native/index/bmp_packed.h"
#include "../../native/index/crc32c.h"
#include "../../native/index/format.h"

using namespace splade::index;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: compact_index in.idx out.idx\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<uint8_t> src((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Header h;
  std::memcpy(&h, src.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, 8) != 0 || h.version != 2) {
    std::fprintf(stderr, "not a version-2 index\n");
    return 1;
  }
  std::vector<SectionEntry> table(h.num_sections);
  std::memcpy(table.data(), src.data() + sizeof h, table.size() * sizeof(SectionEntry));
  const uint8_t* sec[kLastSection + 1] = {};
  std::vector<SectionEntry> kept;
  for (const SectionEntry& s : table) {
    if (s.id <= kLastSection) sec[s.id] = src.data() + s.offset;
    if (s.id == kTerms || s.id == kDocIds || s.id == kDocOrder) kept.push_back(s);
  }
  if (!sec[kBmpPostings]) {
    std::fprintf(stderr, "the index has no block-max store\n");
    return 1;
  }
  std::vector<std::vector<uint8_t>> data;
  for (const SectionEntry& s : kept) {
    data.emplace_back(src.begin() + static_cast<long>(s.offset), src.begin() + static_cast<long>(s.offset + s.length));
    if (s.id == kTerms) {
      auto* te = reinterpret_cast<TermEntry*>(data.back().data());
      for (uint32_t t = 0; t < h.vocab_size; ++t) te[t].first_block = 0, te[t].data_offset = 0;
    }
  }
  // The store: each term's postings read back from the version-2 layout, written by the builder's writer.
  BmpMeta meta;
  std::memcpy(&meta, sec[kBmpMeta], sizeof meta);
  const auto* terms = reinterpret_cast<const BmpTerm*>(sec[kBmpTerms]);
  const auto* groups = reinterpret_cast<const BmpSuper*>(sec[kBmpSupers]);
  const uint8_t* counts = sec[kBmpBlocks] + meta.num_block_entries;
  const auto* postings = reinterpret_cast<const uint16_t*>(sec[kBmpPostings]);
  PackedBmpWriter w(meta.block_docs);
  std::vector<BmpTerm> new_terms(h.vocab_size);
  std::vector<uint32_t> docs, imps;
  for (uint32_t t = 0; t < h.vocab_size; ++t) {
    docs.clear();
    imps.clear();
    uint64_t b = terms[t].first_block, p = terms[t].first_posting;
    for (uint64_t g = terms[t].first_group; g < terms[t].first_group + terms[t].num_groups; ++g) {
      for (uint64_t m = groups[g].block_mask; m; m &= m - 1, ++b) {
        const uint32_t block = groups[g].superblock * kBmpSuperBlocks + static_cast<uint32_t>(__builtin_ctzll(m));
        for (uint32_t k = 0; k <= counts[b]; ++k, ++p) {
          docs.push_back(block * meta.block_docs + (postings[p] & 0xFFu));
          imps.push_back(postings[p] >> 8);
        }
      }
    }
    w.add_term(docs.data(), imps.data(), docs.size(), new_terms[t]);
  }
  meta.num_groups = w.num_groups;
  meta.reserved = 0;
  w.postings.resize(w.postings.size() + kPackedPadding, 0);
  auto add = [&](SectionId id, const void* p, size_t n) {
    kept.push_back(SectionEntry{id, 0, 0, n});
    data.emplace_back(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  add(kBmpMeta, &meta, sizeof meta);
  add(kBmpTerms, new_terms.data(), new_terms.size() * sizeof(BmpTerm));
  add(kBmpPackedGroups, w.groups.data(), w.groups.size());
  add(kBmpPackedEntries, w.block_max.data(), w.block_max.size());
  add(kBmpPackedPostings, w.postings.data(), w.postings.size());
  std::vector<uint8_t>().swap(src);
  size_t at = sizeof(Header) + kept.size() * sizeof(SectionEntry);
  for (size_t i = 0; i < kept.size(); ++i) {
    at = (at + 7) & ~size_t{7};
    kept[i].offset = at;
    kept[i].crc = crc32c(data[i].data(), data[i].size());
    at += data[i].size();
  }
  h.version = 3;
  h.num_sections = static_cast<uint32_t>(kept.size());
  h.num_blocks = 0;
  h.table_crc = crc32c(kept.data(), kept.size() * sizeof(SectionEntry));
  h.header_crc = 0;
  h.header_crc = crc32c(&h, sizeof h);
  std::ofstream out(argv[2], std::ios::binary);
  out.write(reinterpret_cast<const char*>(&h), sizeof h);
  out.write(reinterpret_cast<const char*>(kept.data()), static_cast<long>(kept.size() * sizeof(SectionEntry)));
  size_t pos = sizeof(Header) + kept.size() * sizeof(SectionEntry);
  const char zeros[8] = {};
  for (size_t i = 0; i < kept.size(); ++i) {
    out.write(zeros, static_cast<long>(kept[i].offset - pos));
    out.write(reinterpret_cast<const char*>(data[i].data()), static_cast<long>(data[i].size()));
    pos = kept[i].offset + data[i].size();
  }
  return out.good() ? 0 : 1;
}
