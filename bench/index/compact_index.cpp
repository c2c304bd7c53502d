// Rewrites an index file with inverted lists (format version 2, with a block-max store) as the file
// that store 'compact' builds from the same documents (format version 3): the kBlocks and kPostings
// sections dropped, the term entries' list offsets zeroed, the header's block count 0, every other
// section byte for byte as it was. A benchmark tool (it saves regenerating a large collection to
// measure the compact store), not a test, and it checks nothing beyond the section table:
//   g++ -O2 -std=c++17 bench/index/compact_index.cpp native/index/crc32c.cpp native/common/cpu_features.cpp -o /tmp/compact_index
//   /tmp/compact_index in.idx out.idx
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

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
  std::vector<SectionEntry> kept;
  bool bmp = false;
  for (const SectionEntry& s : table) {
    if (s.id == kBlocks || s.id == kPostings) continue;
    bmp |= s.id == kBmpPostings;
    kept.push_back(s);
  }
  if (!bmp) {
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
