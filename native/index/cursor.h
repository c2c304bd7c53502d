// The only access the query algorithms have to postings: a forward cursor over one term's list,
// scored for one query weight. A block is decoded whole into the cursor's buffers when the cursor
// enters it (document gaps now, impacts on the first score() in the block).
//
//   docid()          current document, kEndDoc past the end
//   score()          query_weight * impact * unit of the current posting (float; see search.h for
//                    the summation order that makes scores identical across algorithms)
//   next()           the following posting
//   next_geq(d)      the first posting with document >= d (no move when already there)
//   max_score()      an upper bound of score() over the whole list
//   shallow_geq(d)   moves only the block-max pointer to the block that would hold d (no decoding)
//   block_max_score(), block_last_doc(): of that block (0 and kEndDoc past the end)
#pragma once
#include <cstdint>

#include "../common/error.h"
#include "codec.h"
#include "format.h"
#include "index.h"

namespace splade::index {

class Cursor {
 public:
  // docs and imps: scratch of index.block_size() entries each, owned by the caller.
  Cursor(const Index& ix, uint32_t term, float weight, uint32_t* docs, uint32_t* imps)
      : docs_(docs), imps_(imps) {
    const TermEntry& te = ix.term(term);
    blocks_ = ix.blocks() + te.first_block;
    data_ = ix.postings() + te.data_offset;
    df_ = te.df;
    bs_ = ix.block_size();
    nblocks_ = (df_ + bs_ - 1) / bs_;
    weight_ = weight;
    max_score_ = weight * static_cast<float>(te.max_impact);
    if (nblocks_ == 0) {
      doc_ = kEndDoc;
    } else {
      decode(0);
      doc_ = docs_[0];
    }
  }

  uint32_t docid() const { return doc_; }
  uint32_t df() const { return df_; }
  float max_score() const { return max_score_; }

  float score() {
    if (!imps_ready_) decode_impacts();
    return weight_ * static_cast<float>(imps_[pos_]);
  }

  void next() {
    if (++pos_ < n_) {
      doc_ = docs_[pos_];
    } else if (block_ + 1 < nblocks_) {
      decode(block_ + 1);
      doc_ = docs_[0];
    } else {
      pos_ = n_;
      doc_ = kEndDoc;
    }
  }

  void next_geq(uint32_t d) {
    if (d <= doc_) return;
    if (d > blocks_[block_].last_doc) {
      uint32_t b = block_ + 1;
      while (b < nblocks_ && blocks_[b].last_doc < d) ++b;
      if (b == nblocks_) {
        block_ = nblocks_ - 1;
        pos_ = n_;
        doc_ = kEndDoc;
        return;
      }
      decode(b);
    }
    while (docs_[pos_] < d) ++pos_;  // stops at the block's last document, which is >= d
    doc_ = docs_[pos_];
  }

  void shallow_geq(uint32_t d) {
    if (shallow_ < block_) shallow_ = block_;
    while (shallow_ < nblocks_ && blocks_[shallow_].last_doc < d) ++shallow_;
  }
  float block_max_score() const {
    return shallow_ < nblocks_ ? weight_ * static_cast<float>(blocks_[shallow_].max_impact) : 0.0f;
  }
  uint32_t block_last_doc() const { return shallow_ < nblocks_ ? blocks_[shallow_].last_doc : kEndDoc; }

 private:
  void decode(uint32_t b) {
    block_ = b;
    pos_ = 0;
    n_ = b + 1 < nblocks_ ? bs_ : df_ - b * bs_;
    const BlockEntry& be = blocks_[b];
    const uint8_t* p = data_ + be.offset;
    unpack(p, n_, be.doc_bits, docs_);
    undelta(docs_, n_, b ? blocks_[b - 1].last_doc : kEndDoc);
    // The file's checksums make this hold; checked anyway because the scans above rely on it.
    if (docs_[n_ - 1] != be.last_doc) fail(kCorruptFile, "corrupt index: a block does not end at its last document");
    imps_at_ = p + packed_bytes(n_, be.doc_bits);
    imps_ready_ = false;
  }
  void decode_impacts() {
    const uint32_t bits = blocks_[block_].impact_bits;
    unpack(imps_at_, n_, bits, imps_);
    for (uint32_t i = 0; i < n_; ++i) imps_[i] += 1;
    imps_ready_ = true;
  }

  const BlockEntry* blocks_;
  const uint8_t* data_;
  const uint8_t* imps_at_ = nullptr;
  uint32_t* docs_;
  uint32_t* imps_;
  uint32_t df_, bs_, nblocks_;
  uint32_t block_ = 0, pos_ = 0, n_ = 0, shallow_ = 0;
  uint32_t doc_;
  bool imps_ready_ = false;
  float weight_, max_score_;
};

}  // namespace splade::index
