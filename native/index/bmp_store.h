// Writing and reading the block-max pruning store of bmp_format.h.
//
// BmpWriter takes one term's postings at a time (internal documents ascending, impacts >= 1) and
// appends its groups; the builder runs one writer per part of the vocabulary in parallel and
// concatenates them (append). BmpStore is the read side over an index image: validate() checks
// everything a search relies on (ranges, ascending order, every bound equal to the maximum below
// it), so a damaged store is a kCorruptFile error and never a wrong bound or an out-of-range read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bmp_format.h"
#include "format.h"

namespace splade::index {

class BmpWriter {
 public:
  explicit BmpWriter(uint32_t block_docs) : block_docs_(block_docs) {}

  // term's entry is filled with part-relative offsets (see append).
  void add_term(const uint32_t* docs, const uint32_t* imps, size_t n, BmpTerm& term);
  // Moves other's groups after this writer's; returns the offsets to add to other's BmpTerms.
  BmpTerm append(BmpWriter& other);

  std::vector<BmpSuper> groups;
  std::vector<uint8_t> block_max, block_count;
  std::vector<uint16_t> postings;

 private:
  uint32_t block_docs_;
};

// Throws kCorruptFile naming the block-max store.
[[noreturn]] void bmp_corrupt(const std::string& what);

struct BmpStore {
  const BmpMeta* meta = nullptr;
  const BmpTerm* terms = nullptr;
  const uint8_t* block_max = nullptr;  // both layouts
  // bmp_format.h's layout (format version 2):
  const BmpSuper* groups = nullptr;
  const uint8_t* block_count = nullptr;
  const uint16_t* postings = nullptr;
  // bmp_packed.h's layout (format version 3):
  bool packed = false;
  const uint8_t* group_bytes = nullptr;
  const uint8_t* group_bytes_end = nullptr;
  const uint8_t* records = nullptr;

  // Sections as found in the file (data, bytes); throws kCorruptFile when anything is inconsistent
  // with them or with the index (num_docs, vocab_size, num_postings, each term's df).
  struct Section {
    const uint8_t* data;
    uint64_t size;
  };
  // The meta and term table, common to both layouts (sets meta and terms).
  void check_meta(Section meta_s, Section terms_s, uint32_t num_docs, uint32_t vocab_size, uint64_t num_postings);
  void validate(Section meta_s, Section terms_s, Section groups_s, Section blocks_s, Section postings_s,
                uint32_t num_docs, uint32_t vocab_size, uint64_t num_postings, const TermEntry* lists);
  // The same for the packed layout (bmp_packed.cpp): groups_s, entries_s, records_s are its sections.
  void validate_packed(Section meta_s, Section terms_s, Section groups_s, Section entries_s, Section records_s,
                       uint32_t num_docs, uint32_t vocab_size, uint64_t num_postings, const TermEntry* lists);
};

}  // namespace splade::index
