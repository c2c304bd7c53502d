// Streaming index construction. Documents arrive in chunks (add); each posting is kept as a
// varint-coded document gap plus its float value in a growable buffer of its term, so memory grows
// with the postings and never with documents x vocabulary. finish() picks the scale (the largest
// value seen unless one was given), quantizes, compresses each list into blocks and returns the
// index image (format.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bmp_format.h"

namespace splade::index {

struct BuildOptions {
  float scale = 0;           // 0: the largest value seen; values above the scale take the top level
  uint32_t block_size = 128;  // postings per block, [kMinBlockSize, kMaxBlockSize]
  uint32_t impact_bits = 8;   // 8 or 16
  uint32_t vocab_size = 0;    // 0: one more than the largest term seen; at most kMaxVocab
  uint32_t bmp_block_docs = kBmpDefaultBlockDocs;  // documents per block of the block-max store; 0: no store
  bool reorder_bp = false;    // number documents by recursive graph bisection (reorder_bp.h)
  // false: the block-max store is the only copy of the postings (format version 3, no kBlocks /
  // kPostings); every algorithm reads it (bmp_cursor.h). Needs impact_bits 8 and bmp_block_docs > 0.
  bool lists = true;
  // Store 'compact' only: per term, its best top_blocks blocks, listed for approximate search
  // (top_blocks.h); 0: none (approximate search then runs block-max pruning with alpha / beta);
  // kAutoTopBlocks: auto_top_blocks(the store's block count).
  uint32_t top_blocks = 0;
};

inline constexpr uint32_t kMaxVocab = 1u << 24;

class Builder {
 public:
  explicit Builder(const BuildOptions& opts);

  // Adds n_docs documents: document i has the postings [offsets[i], offsets[i+1]) of indices (term
  // ids, strictly ascending) and values (finite, > 0); offsets[n_docs] <= len. The chunk is checked
  // whole before anything is added, so a rejected chunk leaves the builder unchanged.
  void add(const uint32_t* indices, const float* values, size_t len, const uint32_t* offsets, uint32_t n_docs);

  // doc_ids: empty, or one per document. The builder is spent afterwards.
  std::vector<uint8_t> finish(const std::vector<std::string>& doc_ids);

  uint32_t num_docs() const { return num_docs_; }
  uint64_t num_postings() const { return num_postings_; }

 private:
  // The bisection order of the documents added: order[internal] = input position.
  std::vector<uint32_t> bisection_order() const;

  struct TermBuffer {
    std::vector<uint8_t> gaps;  // varint of (doc - last - 1)
    std::vector<float> values;
    uint32_t last = 0xFFFFFFFFu;
  };
  BuildOptions opts_;
  std::vector<TermBuffer> terms_;
  uint32_t num_docs_ = 0;
  uint64_t num_postings_ = 0;
  float max_value_ = 0;
  bool finished_ = false;
};

}  // namespace splade::index
