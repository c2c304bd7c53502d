// A read-only inverted index over one byte image in the format of format.h: either built in memory
// (Builder::finish) or memory-mapped from a file (open). Construction validates everything a search
// will touch (magic, version, checksums of the header, the section table and every section, all
// offsets, lengths, bit widths, ascending block bounds), so a truncated, corrupt or foreign file is a
// SpladeError(kCorruptFile) and never a crash. Searching reads the image in place.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bmp_store.h"
#include "top_blocks.h"
#include "format.h"

namespace splade::index {

class Index {
 public:
  // Takes ownership of a built image (validated like a file).
  static std::shared_ptr<Index> from_image(std::vector<uint8_t> image);
  // Memory-maps path read-only (kIo when it cannot be read, kCorruptFile when it is not a valid index).
  static std::shared_ptr<Index> open(const std::string& path);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // Writes the image to path atomically: a temporary file in the same directory, fsync, rename, fsync
  // of the directory. On failure the temporary file is removed and path is untouched.
  void save(const std::string& path) const;

  uint32_t num_docs() const { return header_->num_docs; }
  uint32_t vocab_size() const { return header_->vocab_size; }
  uint64_t num_postings() const { return header_->num_postings; }
  uint32_t block_size() const { return header_->block_size; }
  uint32_t impact_bits() const { return header_->impact_bits; }
  float scale() const { return header_->scale; }
  // The score of one impact level for a query weight of 1: scale / (2^impact_bits - 1).
  float impact_unit() const { return unit_; }
  size_t size_bytes() const { return size_; }

  const TermEntry& term(uint32_t t) const { return terms_[t]; }
  // Whether the index has inverted lists (blocks(), postings()); without them (format version 3,
  // store 'compact') the block-max store is the only copy of the postings.
  bool has_lists() const { return lists_; }
  const BlockEntry* blocks() const { return blocks_; }
  const uint8_t* postings() const { return postings_; }

  bool has_doc_ids() const { return doc_offsets_ != nullptr; }
  // doc: an input position (see input_position). kOutOfRange / kCorruptFile on bad input.
  std::string doc_id(uint32_t doc) const;

  // Reordered indexes number documents internally in another order than the input's.
  bool reordered() const { return doc_order_ != nullptr; }
  uint32_t input_position(uint32_t internal) const { return doc_order_ ? doc_order_[internal] : internal; }

  // The block-max pruning store, checked on first use (its checksums and structure are verified
  // then, not at open, so opening a large index stays cheap). kUnsupported when the index has none.
  bool has_bmp() const { return bmp_sections_[0] != nullptr; }
  const BmpStore& bmp() const;
  // Impact-ordered block lists for approximate search (top_blocks.h), checked on first use; nullptr
  // when the index has none (built without them, or by an older version).
  const TopBlockLists* top_blocks() const;

 private:
  Index() = default;
  void validate();

  std::vector<uint8_t> owned_;
  void* map_ = nullptr;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;

  const Header* header_ = nullptr;
  const TermEntry* terms_ = nullptr;
  const BlockEntry* blocks_ = nullptr;
  const uint8_t* postings_ = nullptr;
  uint64_t postings_size_ = 0;
  const uint32_t* doc_order_ = nullptr;
  bool lists_ = true;
  const SectionEntry* bmp_sections_[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};  // kBmpMeta..kBmpPostings
  mutable std::mutex bmp_mutex_;
  mutable bool bmp_ready_ = false;
  mutable BmpStore bmp_;
  const SectionEntry* top_blocks_section_ = nullptr;
  mutable bool top_blocks_ready_ = false;
  mutable TopBlockLists top_blocks_;
  const uint64_t* doc_offsets_ = nullptr;
  const char* doc_bytes_ = nullptr;
  uint64_t doc_bytes_size_ = 0;
  float unit_ = 0;
};

}  // namespace splade::index
