// A cursor (the interface of cursor.h) over one term's postings in the packed block-max store
// (bmp_packed.h) of an index without lists (store 'compact'). A term's groups are in superblock
// order, a group's blocks ascending and a block's postings in slot order, so walking them is walking
// the term's documents in ascending order. A block is decoded whole when the cursor enters it;
// next_geq skips groups by their posting bytes and blocks by their record sizes without decoding.
//
// Blocks for block-max WAND are the term's superblock groups: shallow_geq walks group headers (which
// lie together, apart from the postings), and a group bounds every document up to its superblock's
// last (the term has none between its groups).
#pragma once
#include <cstdint>

#include "bmp_packed.h"
#include "bmp_store.h"
#include "format.h"
#include "index.h"

namespace splade::index {

class BmpCursor {
 public:
  BmpCursor(const Index& ix, uint32_t term, float weight) : st_(&ix.bmp()) {
    const BmpTerm& bt = st_->terms[term];
    bd_ = st_->meta->block_docs;
    bitmap_ = packed_bitmap_bytes(bd_);
    next_group_ = st_->group_bytes + bt.first_group;
    groups_left_ = bt.num_groups;
    b_ = bt.first_block;
    rec_ = st_->records + bt.first_posting;
    df_ = ix.term(term).df;
    weight_ = weight;
    max_score_ = weight * static_cast<float>(ix.term(term).max_impact);
    next_block();
  }

  uint32_t docid() const { return doc_; }
  uint32_t df() const { return df_; }
  float max_score() const { return max_score_; }
  float score() const { return weight_ * static_cast<float>(imps_[pos_]); }

  void next() {
    if (++pos_ < n_) {
      doc_ = base_ + slots_[pos_];
    } else {
      next_block();
    }
  }

  void next_geq(uint32_t d) {
    if (d <= doc_) return;
    const uint32_t target_block = d / bd_;
    if (block_ < target_block) {
      const uint32_t target_super = target_block / kBmpSuperBlocks;
      if (sb_ < target_super) {  // the rest of this group, then whole groups below d's superblock
        skip_rest_of_group();
        while (groups_left_ > 0) {
          const uint8_t* at = next_group_;
          const PackedGroup g = read_packed_group(at, st_->group_bytes_end, sb_, false);
          if (g.superblock >= target_super) break;
          next_group_ = at;
          sb_ = g.superblock;
          --groups_left_;
          ++group_ordinal_;
          rec_ += g.posting_bytes;
          b_ += g.blocks;
        }
        if (groups_left_ == 0) {
          finish();
          return;
        }
        enter_group();  // its blocks below d's block are skipped next
      }
      // Blocks of this group below d's block, skipped by their record sizes.
      while (blocks_left_ > 0 && sb_ * kBmpSuperBlocks + (*ent_ & 63u) < target_block) {
        uint32_t count;
        read_packed_entry(ent_, cnt_, count);
        rec_ += packed_body_bytes(count, st_->block_max[b_], bitmap_);
        ++b_;
        --blocks_left_;
      }
      if (!next_block()) return;
    }
    while (pos_ < n_ && base_ + slots_[pos_] < d) ++pos_;
    if (pos_ == n_) {
      next_block();  // its documents are all above d
      return;
    }
    doc_ = base_ + slots_[pos_];
  }

  void shallow_geq(uint32_t d) {
    if (shallow_ordinal_ < group_ordinal_) {  // behind the cursor: restart at its group
      shallow_ordinal_ = group_ordinal_;
      shallow_next_ = next_group_;
      shallow_left_ = groups_left_;
      shallow_sb_ = sb_;
      shallow_max_ = group_max_;
      shallow_end_ = doc_ == kEndDoc;
    }
    const uint32_t target_super = d / bd_ / kBmpSuperBlocks;
    while (!shallow_end_ && shallow_sb_ < target_super) {
      if (shallow_left_ == 0) {
        shallow_end_ = true;
        break;
      }
      const PackedGroup g = read_packed_group(shallow_next_, st_->group_bytes_end, shallow_sb_, false);
      shallow_sb_ = g.superblock;
      shallow_max_ = g.max;
      --shallow_left_;
      ++shallow_ordinal_;
    }
  }
  float block_max_score() const { return shallow_end_ ? 0.0f : weight_ * static_cast<float>(shallow_max_); }
  uint32_t block_last_doc() const {
    if (shallow_end_) return kEndDoc;
    const uint64_t last = (uint64_t{shallow_sb_} + 1) * kBmpSuperBlocks * bd_ - 1;
    return last < kEndDoc ? static_cast<uint32_t>(last) : kEndDoc - 1;
  }

 private:
  // Moves past the rest of the group's blocks without decoding them (record sizes from entries).
  void skip_rest_of_group() {
    for (; blocks_left_ > 0; ++b_, --blocks_left_) {
      uint32_t count;
      read_packed_entry(ent_, cnt_, count);
      rec_ += packed_body_bytes(count, st_->block_max[b_], bitmap_);
    }
  }
  // Reads the next group's header (there is one); its blocks are then decoded one by one.
  void enter_group() {
    const PackedGroup g = read_packed_group(next_group_, st_->group_bytes_end, sb_, group_ordinal_ == 0);
    sb_ = g.superblock;
    ent_ = g.entries;
    cnt_ = g.counts;
    group_max_ = g.max;
    blocks_left_ = g.blocks;
    --groups_left_;
    ++group_ordinal_;
  }
  void finish() {
    doc_ = kEndDoc;
    n_ = pos_ = 0;
  }
  // Decodes the term's next block (from the next group when this one is done); false at the end.
  bool next_block() {
    if (blocks_left_ == 0) {
      if (groups_left_ == 0) {
        finish();
        return false;
      }
      enter_group();
    }
    block_ = sb_ * kBmpSuperBlocks + read_packed_entry(ent_, cnt_, n_);
    base_ = block_ * bd_;
    decode_packed(rec_, n_, st_->block_max[b_], bitmap_, slots_, imps_);
    ++b_;
    --blocks_left_;
    pos_ = 0;
    doc_ = base_ + slots_[0];
    return true;
  }

  const BmpStore* st_;
  const uint8_t* next_group_;  // the header of the term's next group
  const uint8_t* rec_;         // the next block's record
  const uint8_t* ent_ = nullptr;  // the next block's entry byte (in its group's header)
  const uint8_t* cnt_ = nullptr;  // the group's next class-3 count
  uint64_t b_;                 // the next block's entry
  uint32_t groups_left_, blocks_left_ = 0, group_ordinal_ = 0;  // ordinal: groups entered so far
  uint32_t sb_ = 0, group_max_ = 0, block_ = 0, base_ = 0;
  uint32_t bd_, bitmap_;
  uint32_t n_ = 0, pos_ = 0, doc_ = kEndDoc, df_;
  float weight_, max_score_;
  // Block-max WAND's look-ahead over group headers.
  const uint8_t* shallow_next_ = nullptr;
  uint32_t shallow_left_ = 0, shallow_sb_ = 0, shallow_max_ = 0, shallow_ordinal_ = 0;
  bool shallow_end_ = true;
  uint8_t slots_[kBmpMaxBlockDocs], imps_[kBmpMaxBlockDocs];
};

}  // namespace splade::index
