// Merging a live index's segments (lib/live) into one, in memory bounded by a constant: the new
// index is built term by term from the sources' inverted lists (already quantised with the same
// scale, so impacts carry over unchanged), documents renumbered past the deleted ones, and written
// section by section through unlinked spill files in the target's directory; at any time it holds
// one term's postings, the term tables (vocab_size entries) and the deletion bitmaps it was given.
// The result is byte for byte the index a fresh build of the kept documents, in order, writes with
// the same options (both encode a list with list_writer.h and the block-max store with BmpWriter).
// The file is written to a temporary name, fsynced and renamed, the directory fsynced.
//
// Sources are read with positional reads (no mapping, so the merge adds nothing to the resident
// size but its buffers); each is checked as it is read: header, table and every section's CRC-32C,
// the options, and every decoded document and impact, so a damaged source is a kCorruptFile error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace splade::index {

struct MergeSource {
  std::string path;             // a segment's .idx (with document ids, not reordered)
  const uint8_t* deleted;       // bit d % 8 of byte d / 8: document d is dropped; may be null
  size_t deleted_bytes;         // (num_docs + 7) / 8 when deleted is given
};

struct MergeOptions {
  float scale;
  uint32_t block_size;
  uint32_t impact_bits;
  uint32_t vocab_size;
  uint32_t bmp_block_docs;
};

struct MergeResult {
  uint32_t num_docs;
  uint64_t num_postings;
};

MergeResult merge_segments(const std::vector<MergeSource>& sources, const std::string& out_path, const MergeOptions& opts);

}  // namespace splade::index
