// A cursor (the interface of cursor.h) over one term's postings in the block-max store
// (bmp_format.h), for indexes whose store is the only copy of the postings (store 'compact'). A
// term's groups are in superblock order, a group's blocks in mask order and a block's postings in
// slot order, so walking them is walking the term's documents in ascending order.
//
// Blocks for block-max WAND are the term's superblock groups: shallow_geq moves over groups, and a
// group bounds every document up to its superblock's last (the term has none between groups).
// Skipping (next_geq) goes group by group with the groups' posting counts, then block by block.
#pragma once
#include <cstdint>

#include "bmp_store.h"
#include "format.h"
#include "index.h"

namespace splade::index {

class BmpCursor {
 public:
  BmpCursor(const Index& ix, uint32_t term, float weight) : st_(&ix.bmp()) {
    const BmpTerm& bt = st_->terms[term];
    bd_ = st_->meta->block_docs;
    g_ = bt.first_group;
    g_end_ = g_ + bt.num_groups;
    group_block_ = bt.first_block;
    group_posting_ = bt.first_posting;
    shallow_ = g_;
    df_ = ix.term(term).df;
    weight_ = weight;
    max_score_ = weight * static_cast<float>(ix.term(term).max_impact);
    if (g_ == g_end_) {
      doc_ = kEndDoc;
    } else {
      enter_group();
      doc_ = block_base_ + slot(p_);
    }
  }

  uint32_t docid() const { return doc_; }
  uint32_t df() const { return df_; }
  float max_score() const { return max_score_; }
  float score() const { return weight_ * static_cast<float>(st_->postings[p_] >> 8); }

  void next() {
    if (++p_ < block_end_) {
      doc_ = block_base_ + slot(p_);
      return;
    }
    if (!next_block()) return;
    doc_ = block_base_ + slot(p_);
  }

  void next_geq(uint32_t d) {
    if (d <= doc_) return;
    const uint32_t target_block = d / bd_;
    const uint32_t target_super = target_block / kBmpSuperBlocks;
    if (st_->groups[g_].superblock < target_super) {
      // Whole groups below d's superblock: jump over them by their counts.
      do {
        group_block_ += static_cast<uint64_t>(__builtin_popcountll(st_->groups[g_].block_mask));
        group_posting_ += st_->groups[g_].num_postings;
        ++g_;
      } while (g_ < g_end_ && st_->groups[g_].superblock < target_super);
      if (g_ == g_end_) return finish();
      enter_group();
    }
    while (block_ < target_block) {  // blocks of this group below d's block
      if (!next_block()) return;
    }
    while (p_ < block_end_ && block_base_ + slot(p_) < d) ++p_;
    if (p_ == block_end_ && !next_block()) return;  // the next block's documents are all above d
    doc_ = block_base_ + slot(p_);
  }

  void shallow_geq(uint32_t d) {
    if (shallow_ < g_) shallow_ = g_;
    const uint32_t target_super = d / bd_ / kBmpSuperBlocks;
    while (shallow_ < g_end_ && st_->groups[shallow_].superblock < target_super) ++shallow_;
  }
  float block_max_score() const {
    return shallow_ < g_end_ ? weight_ * static_cast<float>(st_->groups[shallow_].max_impact) : 0.0f;
  }
  uint32_t block_last_doc() const {
    if (shallow_ >= g_end_) return kEndDoc;
    const uint64_t last = (uint64_t{st_->groups[shallow_].superblock} + 1) * kBmpSuperBlocks * bd_ - 1;
    return last < kEndDoc ? static_cast<uint32_t>(last) : kEndDoc - 1;
  }

 private:
  uint32_t slot(uint64_t p) const { return st_->postings[p] & 0xFF; }

  // Positions on the first block of group g_ (group_block_ / group_posting_ are its first entries).
  void enter_group() {
    mask_ = st_->groups[g_].block_mask;
    b_ = group_block_;
    p_ = group_posting_;
    enter_block();
  }
  // Positions on the block of the lowest bit of mask_ (entry b_, postings from p_), and clears the bit.
  void enter_block() {
    block_ = st_->groups[g_].superblock * kBmpSuperBlocks + static_cast<uint32_t>(__builtin_ctzll(mask_));
    mask_ &= mask_ - 1;
    block_base_ = block_ * bd_;
    block_end_ = p_ + st_->block_count[b_] + 1;
  }
  // Moves to the next block of the term (p_ at its first posting); false (and at the end) when none.
  bool next_block() {
    p_ = block_end_;
    ++b_;
    if (mask_ == 0) {
      group_block_ = b_;
      group_posting_ = p_;
      if (++g_ == g_end_) {
        finish();
        return false;
      }
      enter_group();
      return true;
    }
    enter_block();
    return true;
  }
  void finish() {
    g_ = g_end_;
    doc_ = kEndDoc;
  }

  const BmpStore* st_;
  uint64_t g_, g_end_, shallow_;
  uint64_t group_block_, group_posting_;  // the first entry and posting of group g_
  uint64_t b_ = 0, p_ = 0, block_end_ = 0;
  uint64_t mask_ = 0;                     // blocks of group g_ after the current one
  uint32_t block_ = 0, block_base_ = 0, bd_;
  uint32_t doc_, df_;
  float weight_, max_score_;
};

}  // namespace splade::index
