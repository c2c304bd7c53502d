#include "builder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "bmp_packed.h"
#include "bmp_store.h"
#include "codec.h"
#include "crc32c.h"
#include "format.h"
#include "list_writer.h"
#include "reorder_bp.h"
#include "top_blocks.h"

namespace splade::index {

Builder::Builder(const BuildOptions& opts) : opts_(opts) {
  SPLADE_CHECK(opts.block_size >= kMinBlockSize && opts.block_size <= kMaxBlockSize, "blockSize must be in [16, 1024]");
  SPLADE_CHECK(opts.impact_bits == 8 || opts.impact_bits == 16, "impactBits must be 8 or 16");
  SPLADE_CHECK(opts.scale == 0 || (opts.scale > 0 && std::isfinite(opts.scale)), "scale must be positive and finite");
  SPLADE_CHECK(opts.vocab_size <= kMaxVocab, "vocabSize must be at most 2^24");
  SPLADE_CHECK(opts.bmp_block_docs <= kBmpMaxBlockDocs, "bmpBlockDocs must be at most 256");
  SPLADE_CHECK(opts.lists || (opts.impact_bits == 8 && opts.bmp_block_docs > 0),
               "store 'compact' needs impactBits 8 and bmpBlockDocs > 0");
  SPLADE_CHECK(opts.top_blocks <= kMaxTopBlocks || opts.top_blocks == kAutoTopBlocks, "topBlocks must be at most 2^20");
  SPLADE_CHECK(opts.top_blocks == 0 || !opts.lists, "topBlocks needs store 'compact'");
  if (opts.vocab_size) terms_.resize(opts.vocab_size);
}

void Builder::add(const uint32_t* indices, const float* values, size_t len, const uint32_t* offsets, uint32_t n_docs) {
  if (finished_) fail(kInvalidArgument, "the index builder was already finished");
  const uint32_t vocab_limit = opts_.vocab_size ? opts_.vocab_size : kMaxVocab;
  if (uint64_t{num_docs_} + n_docs >= kEndDoc) fail(kOutOfRange, "too many documents (at most 2^32 - 2)");
  // Check the whole chunk first.
  uint32_t max_term = 0;
  float max_value = max_value_;
  if (n_docs > 0 && offsets[0] > len) fail(kOutOfRange, "document offsets beyond the chunk");
  for (uint32_t d = 0; d < n_docs; ++d) {
    const uint32_t a = offsets[d], b = offsets[d + 1];
    if (b < a || b > len) fail(kOutOfRange, "document offsets not ascending or beyond the chunk");
    auto where = [&] { return "document " + std::to_string(num_docs_ + d); };
    for (uint32_t i = a; i < b; ++i) {
      const uint32_t t = indices[i];
      const float v = values[i];
      if (i > a && t <= indices[i - 1]) {
        fail(kInvalidArgument, (where() + ": indices must be strictly ascending (position ") + std::to_string(i - a) + ")");
      }
      if (t >= vocab_limit) {
        fail(kOutOfRange, where() + ": term " + std::to_string(t) + " is not below the vocabulary size " +
                              std::to_string(vocab_limit));
      }
      if (!(v > 0) || !std::isfinite(v)) {
        fail(kInvalidArgument, where() + ": values must be finite and > 0 (position " + std::to_string(i - a) + ")");
      }
      max_value = std::max(max_value, v);
    }
    if (b > a) max_term = std::max(max_term, indices[b - 1]);
  }
  if (max_term >= terms_.size()) terms_.resize(max_term + 1);
  max_value_ = max_value;
  for (uint32_t d = 0; d < n_docs; ++d) {
    const uint32_t doc = num_docs_ + d;
    for (uint32_t i = offsets[d], e = offsets[d + 1]; i < e; ++i) {
      TermBuffer& tb = terms_[indices[i]];
      uint32_t gap = doc - tb.last - 1;
      tb.last = doc;
      while (gap >= 0x80) {
        tb.gaps.push_back(static_cast<uint8_t>(gap | 0x80));
        gap >>= 7;
      }
      tb.gaps.push_back(static_cast<uint8_t>(gap));
      tb.values.push_back(values[i]);
    }
  }
  if (n_docs) num_postings_ += offsets[n_docs] - offsets[0];
  num_docs_ += n_docs;
}

namespace {

// Calls fn(doc) for each document of a term's buffer, ascending.
template <class Fn>
void for_each_doc(const std::vector<uint8_t>& gaps, size_t df, Fn&& fn) {
  const uint8_t* p = gaps.data();
  uint32_t prev = 0xFFFFFFFFu;
  for (size_t i = 0; i < df; ++i) {
    uint32_t g = 0;
    int shift = 0;
    uint8_t byte;
    do {
      byte = *p++;
      g |= static_cast<uint32_t>(byte & 0x7F) << shift;
      shift += 7;
    } while (byte & 0x80);
    fn(prev = prev + g + 1);
  }
}

void align8(std::vector<uint8_t>& v) { v.resize((v.size() + 7) & ~size_t{7}, 0); }

template <class T>
void append(std::vector<uint8_t>& out, const T* p, size_t count) {
  const auto* b = reinterpret_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + sizeof(T) * count);
}

}  // namespace

std::vector<uint32_t> Builder::bisection_order() const {
  // The documents' terms (CSR), transposed from the term buffers: counts, then fill.
  std::vector<uint64_t> offsets(size_t{num_docs_} + 1, 0);
  for (const TermBuffer& tb : terms_) for_each_doc(tb.gaps, tb.values.size(), [&](uint32_t d) { ++offsets[d + 1]; });
  for (uint32_t d = 0; d < num_docs_; ++d) offsets[d + 1] += offsets[d];
  std::vector<uint32_t> terms(offsets[num_docs_]);
  {
    std::vector<uint64_t> at(offsets.begin(), offsets.end() - 1);
    for (uint32_t t = 0; t < terms_.size(); ++t)
      for_each_doc(terms_[t].gaps, terms_[t].values.size(), [&](uint32_t d) { terms[at[d]++] = t; });
  }
  return bp_order(offsets.data(), terms.data(), num_docs_, static_cast<uint32_t>(terms_.size()), BpOptions{});
}

std::vector<uint8_t> Builder::finish(const std::vector<std::string>& doc_ids) {
  if (finished_) fail(kInvalidArgument, "the index builder was already finished");
  if (!doc_ids.empty() && doc_ids.size() != num_docs_) {
    fail(kInvalidArgument, "docIds has " + std::to_string(doc_ids.size()) + " entries for " +
                               std::to_string(num_docs_) + " documents");
  }
  finished_ = true;
  const uint32_t B = opts_.block_size;
  const uint32_t levels = (1u << opts_.impact_bits) - 1;
  const float scale = opts_.scale > 0 ? opts_.scale : (max_value_ > 0 ? max_value_ : 1.0f);
  const double to_level = static_cast<double>(levels) / scale;
  const uint32_t vocab = static_cast<uint32_t>(terms_.size());

  // Reordering: order[internal] = input position; the lists hold internal numbers.
  std::vector<uint32_t> order, internal_of;
  if (opts_.reorder_bp && num_docs_ > 2) {
    order = bisection_order();
    internal_of.resize(num_docs_);
    for (uint32_t d = 0; d < num_docs_; ++d) internal_of[order[d]] = d;
  }

  // Lists are compressed in parallel: the vocabulary is cut into contiguous parts of about equal
  // postings; each part fills its own block table and bytes, concatenated afterwards in term order.
  std::vector<TermEntry> term_table(vocab);
  // The block-max store is kept for 8-bit impacts only: its postings and bounds are bytes.
  const bool with_bmp = opts_.bmp_block_docs > 0 && opts_.impact_bits == 8;
  std::vector<BmpTerm> bmp_terms(with_bmp ? vocab : 0);
  struct Part {
    uint32_t begin, end;
    std::vector<BlockEntry> blocks;
    std::vector<uint8_t> bytes;
    BmpWriter bmp{1};
    PackedBmpWriter packed{1};  // instead of bmp without lists
  };
  const size_t num_parts = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(num_threads()) * 4, vocab));
  std::vector<Part> parts(num_parts);
  for (Part& part : parts) {
    part.bmp = BmpWriter(std::max<uint32_t>(1, opts_.bmp_block_docs));
    part.packed = PackedBmpWriter(std::max<uint32_t>(1, opts_.bmp_block_docs));
  }
  // Adds a term to the part's store in the layout the index has.
  auto add_to_store = [&](Part& part, const uint32_t* docs, const uint32_t* imps, size_t n, BmpTerm& term) {
    if (opts_.lists) part.bmp.add_term(docs, imps, n, term);
    else part.packed.add_term(docs, imps, n, term);
  };
  {
    uint64_t seen = 0;
    uint32_t t = 0;
    for (size_t i = 0; i < num_parts; ++i) {
      parts[i].begin = t;
      const uint64_t goal = num_postings_ * (i + 1) / num_parts;
      while (t < vocab && (seen < goal || i + 1 == num_parts)) seen += terms_[t++].values.size();
      parts[i].end = t;
    }
  }
  parallel_for(num_parts, [&](size_t pi, int) {
    Part& part = parts[pi];
    std::vector<uint32_t> docs, imps;
    std::vector<uint64_t> sort_scratch;
    uint64_t part_postings = 0;
    for (uint32_t t = part.begin; t < part.end; ++t) part_postings += terms_[t].values.size();
    part.bytes.reserve(part_postings * 2 + 64);
    part.blocks.reserve(part_postings / B + (part.end - part.begin));
    for (uint32_t t = part.begin; t < part.end; ++t) {
      TermBuffer& tb = terms_[t];
      TermEntry& te = term_table[t];
      const size_t df = tb.values.size();
      if (df > 0xFFFFFFFFu) fail(kOutOfRange, "a posting list is too long");
      te.df = static_cast<uint32_t>(df);
      te.first_block = static_cast<uint32_t>(part.blocks.size());  // part-relative for now
      te.data_offset = part.bytes.size();                            // part-relative for now
      te.max_impact = 0;
      te.reserved = 0;
      if (df == 0) {
        if (with_bmp) add_to_store(part, nullptr, nullptr, 0, bmp_terms[t]);
        continue;
      }
      // Decode the varint gaps, quantize the values.
      docs.resize(df);
      imps.resize(df);
      size_t i = 0;
      for_each_doc(tb.gaps, df, [&](uint32_t doc) {
        docs[i] = internal_of.empty() ? doc : internal_of[doc];
        const double q = std::nearbyint(static_cast<double>(tb.values[i]) * to_level);
        imps[i++] = static_cast<uint32_t>(std::min<double>(std::max<double>(q, 1.0), levels));
      });
      std::vector<uint8_t>().swap(tb.gaps);
      std::vector<float>().swap(tb.values);
      if (!internal_of.empty()) {  // renumbered: back to ascending documents
        std::vector<uint64_t>& pairs = sort_scratch;
        pairs.resize(df);
        for (size_t j = 0; j < df; ++j) pairs[j] = uint64_t{docs[j]} << 32 | imps[j];
        std::sort(pairs.begin(), pairs.end());
        for (size_t j = 0; j < df; ++j) docs[j] = static_cast<uint32_t>(pairs[j] >> 32), imps[j] = static_cast<uint32_t>(pairs[j]);
      }
      if (with_bmp) add_to_store(part, docs.data(), imps.data(), df, bmp_terms[t]);
      if (!opts_.lists) {  // the block-max store holds the postings; the term keeps its df and max
        te.first_block = 0;
        te.data_offset = 0;
        te.max_impact = *std::max_element(imps.begin(), imps.end());
        continue;
      }
      encode_list(docs.data(), imps.data(), df, B, te, part.blocks, part.bytes);
    }
  });
  std::vector<BlockEntry> block_table;
  std::vector<uint8_t> postings;
  BmpWriter bmp(std::max<uint32_t>(1, opts_.bmp_block_docs));
  PackedBmpWriter packed(std::max<uint32_t>(1, opts_.bmp_block_docs));
  if (with_bmp) {
    for (Part& part : parts) {
      const BmpTerm shift = opts_.lists ? bmp.append(part.bmp) : packed.append(part.packed);
      for (uint32_t t = part.begin; t < part.end; ++t) {
        bmp_terms[t].first_group += shift.first_group;
        bmp_terms[t].first_block += shift.first_block;
        bmp_terms[t].first_posting += shift.first_posting;
      }
    }
  }
  {
    uint64_t nb = 0, nbytes = 0;
    for (const Part& part : parts) nb += part.blocks.size(), nbytes += part.bytes.size();
    if (nb > 0xFFFFFFFFu) fail(kOutOfRange, "too many blocks for the format");
    block_table.reserve(nb);
    postings.reserve(nbytes + kPostingsPadding);
    for (Part& part : parts) {
      for (uint32_t t = part.begin; t < part.end; ++t) {
        term_table[t].first_block += static_cast<uint32_t>(block_table.size());
        term_table[t].data_offset += postings.size();
      }
      block_table.insert(block_table.end(), part.blocks.begin(), part.blocks.end());
      postings.insert(postings.end(), part.bytes.begin(), part.bytes.end());
      std::vector<BlockEntry>().swap(part.blocks);
      std::vector<uint8_t>().swap(part.bytes);
    }
  }
  const uint64_t total = num_postings_;
  std::vector<TermBuffer>().swap(terms_);
  std::vector<uint32_t>().swap(internal_of);
  postings.resize(postings.size() + kPostingsPadding, 0);

  // Document ids: offsets then bytes.
  std::vector<uint8_t> ids_section;
  if (!doc_ids.empty()) {
    std::vector<uint64_t> offs(num_docs_ + 1);
    uint64_t at = 0;
    for (uint32_t d = 0; d < num_docs_; ++d) {
      offs[d] = at;
      at += doc_ids[d].size();
    }
    offs[num_docs_] = at;
    ids_section.reserve(offs.size() * 8 + at);
    append(ids_section, offs.data(), offs.size());
    for (const auto& s : doc_ids) ids_section.insert(ids_section.end(), s.begin(), s.end());
  }

  // Assemble: header, section table, sections (8-byte aligned).
  struct Section {
    SectionId id;
    const uint8_t* data;
    size_t size;
  };
  std::vector<Section> sections = {
      {kTerms, reinterpret_cast<const uint8_t*>(term_table.data()), term_table.size() * sizeof(TermEntry)},
  };
  if (opts_.lists) {
    sections.push_back({kBlocks, reinterpret_cast<const uint8_t*>(block_table.data()), block_table.size() * sizeof(BlockEntry)});
    sections.push_back({kPostings, postings.data(), postings.size()});
  }
  if (!doc_ids.empty()) sections.push_back({kDocIds, ids_section.data(), ids_section.size()});
  if (!order.empty()) sections.push_back({kDocOrder, reinterpret_cast<const uint8_t*>(order.data()), order.size() * 4});
  BmpMeta bmp_meta{};
  std::vector<uint8_t> bmp_blocks, top_blocks;
  if (with_bmp && !opts_.lists) {
    const uint32_t bd = opts_.bmp_block_docs;
    const uint64_t nb = (uint64_t{num_docs_} + bd - 1) / bd;
    bmp_meta = BmpMeta{bd, kBmpSuperBlocks, static_cast<uint32_t>(nb),
                       static_cast<uint32_t>((nb + kBmpSuperBlocks - 1) / kBmpSuperBlocks),
                       packed.num_groups, packed.block_max.size(), total, 0};
    packed.postings.resize(packed.postings.size() + kPackedPadding, 0);
    sections.push_back({kBmpMeta, reinterpret_cast<const uint8_t*>(&bmp_meta), sizeof bmp_meta});
    sections.push_back({kBmpTerms, reinterpret_cast<const uint8_t*>(bmp_terms.data()), bmp_terms.size() * sizeof(BmpTerm)});
    sections.push_back({kBmpPackedGroups, packed.groups.data(), packed.groups.size()});
    sections.push_back({kBmpPackedEntries, packed.block_max.data(), packed.block_max.size()});
    sections.push_back({kBmpPackedPostings, packed.postings.data(), packed.postings.size()});
    const uint32_t lambda = opts_.top_blocks == kAutoTopBlocks ? auto_top_blocks(nb) : opts_.top_blocks;
    if (lambda > 0) {
      // The store as its readers see it (the builder's own: no validation needed).
      BmpStore st;
      st.meta = &bmp_meta;
      st.terms = bmp_terms.data();
      st.block_max = packed.block_max.data();
      st.packed = true;
      st.group_bytes = packed.groups.data();
      st.group_bytes_end = packed.groups.data() + packed.groups.size();
      st.records = packed.postings.data();
      top_blocks = encode_top_blocks(st, vocab, lambda);
      sections.push_back({kBmpTopBlocks, top_blocks.data(), top_blocks.size()});
    }
  } else if (with_bmp) {
    const uint32_t bd = opts_.bmp_block_docs;
    const uint64_t nb = (uint64_t{num_docs_} + bd - 1) / bd;
    bmp_meta = BmpMeta{bd, kBmpSuperBlocks, static_cast<uint32_t>(nb),
                       static_cast<uint32_t>((nb + kBmpSuperBlocks - 1) / kBmpSuperBlocks),
                       bmp.groups.size(), bmp.block_max.size(), bmp.postings.size(), 0};
    bmp_blocks.reserve(bmp.block_max.size() * 2);
    bmp_blocks.insert(bmp_blocks.end(), bmp.block_max.begin(), bmp.block_max.end());
    bmp_blocks.insert(bmp_blocks.end(), bmp.block_count.begin(), bmp.block_count.end());
    std::vector<uint8_t>().swap(bmp.block_max);
    std::vector<uint8_t>().swap(bmp.block_count);
    sections.push_back({kBmpMeta, reinterpret_cast<const uint8_t*>(&bmp_meta), sizeof bmp_meta});
    sections.push_back({kBmpTerms, reinterpret_cast<const uint8_t*>(bmp_terms.data()), bmp_terms.size() * sizeof(BmpTerm)});
    sections.push_back({kBmpSupers, reinterpret_cast<const uint8_t*>(bmp.groups.data()), bmp.groups.size() * sizeof(BmpSuper)});
    sections.push_back({kBmpBlocks, bmp_blocks.data(), bmp_blocks.size()});
    sections.push_back({kBmpPostings, reinterpret_cast<const uint8_t*>(bmp.postings.data()), bmp.postings.size() * 2});
  }

  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = opts_.lists ? kListsFormatVersion : kFormatVersion;  // readers before version 3 still open it
  h.header_size = sizeof(Header);
  h.num_sections = static_cast<uint32_t>(sections.size());
  h.block_size = B;
  h.impact_bits = opts_.impact_bits;
  h.num_docs = num_docs_;
  h.vocab_size = vocab;
  h.scale = scale;
  h.num_postings = total;
  h.num_blocks = block_table.size();

  std::vector<SectionEntry> table(sections.size());
  size_t at = sizeof(Header) + table.size() * sizeof(SectionEntry);
  for (size_t i = 0; i < sections.size(); ++i) {
    at = (at + 7) & ~size_t{7};
    table[i] = SectionEntry{sections[i].id, crc32c(sections[i].data, sections[i].size), at, sections[i].size};
    at += sections[i].size;
  }
  h.table_crc = crc32c(table.data(), table.size() * sizeof(SectionEntry));
  h.header_crc = 0;
  h.header_crc = crc32c(&h, sizeof(Header));

  std::vector<uint8_t> image;
  image.reserve(at + 8);
  append(image, &h, 1);
  append(image, table.data(), table.size());
  for (size_t i = 0; i < sections.size(); ++i) {
    align8(image);
    image.insert(image.end(), sections[i].data, sections[i].data + sections[i].size);
    if (sections[i].id == kPostings) std::vector<uint8_t>().swap(postings);
  }
  return image;
}

}  // namespace splade::index
