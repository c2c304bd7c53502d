// Writing and checking the packed block-max store (bmp_packed.h).
#include "bmp_packed.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <string>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "bmp_store.h"

namespace splade::index {
namespace {

void put_varint(std::vector<uint8_t>& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// One block's record: slots, bit-packed impacts.
void put_record(std::vector<uint8_t>& out, const uint32_t* slots, const uint32_t* imps, uint32_t count, uint32_t max,
                uint32_t block_docs) {
  if (count == 1) {
    out.push_back(static_cast<uint8_t>(slots[0]));
    return;
  }
  const uint32_t bitmap = packed_bitmap_bytes(block_docs);
  if (count < bitmap) {
    for (uint32_t i = 0; i < count; ++i) out.push_back(static_cast<uint8_t>(slots[i]));
  } else {
    const size_t at = out.size();
    out.resize(at + bitmap, 0);
    for (uint32_t i = 0; i < count; ++i) out[at + slots[i] / 8] |= static_cast<uint8_t>(1u << (slots[i] % 8));
  }
  const uint32_t w = impact_width(max);
  const size_t at = out.size();
  out.resize(at + (count * w + 7) / 8, 0);
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t bit = i * w;
    const uint32_t v = imps[i] << (bit % 8);  // at most 15 bits: two bytes
    out[at + bit / 8] |= static_cast<uint8_t>(v);
    if (v >> 8) out[at + bit / 8 + 1] |= static_cast<uint8_t>(v >> 8);
  }
}

[[noreturn]] void corrupt(const std::string& what) { bmp_corrupt(what); }

}  // namespace

void PackedBmpWriter::add_term(const uint32_t* docs, const uint32_t* imps, size_t n, BmpTerm& term) {
  term = BmpTerm{groups.size(), block_max.size(), postings.size(), 0, 0};
  const uint32_t super_docs = block_docs_ * kBmpSuperBlocks;
  std::vector<uint8_t> records, entries, counts;
  uint32_t slots[kBmpMaxBlockDocs], bimps[kBmpMaxBlockDocs];
  uint32_t prev_sb = 0;
  size_t i = 0;
  while (i < n) {
    const uint32_t sb = docs[i] / super_docs;
    uint32_t group_max = 0, blocks = 0;
    records.clear();
    entries.clear();
    counts.clear();
    while (i < n && docs[i] / super_docs == sb) {
      const uint32_t block = docs[i] / block_docs_;
      uint32_t max = 0, count = 0;
      for (; i < n && docs[i] / block_docs_ == block; ++i, ++count) {
        slots[count] = docs[i] - block * block_docs_;
        bimps[count] = imps[i];
        max = std::max(max, imps[i]);
      }
      entries.push_back(static_cast<uint8_t>((block % kBmpSuperBlocks) | (std::min<uint32_t>(count, 4) - 1) << 6));
      if (count >= 4) counts.push_back(static_cast<uint8_t>(count - 1));
      block_max.push_back(static_cast<uint8_t>(max));
      put_record(records, slots, bimps, count, max, block_docs_);
      group_max = std::max(group_max, max);
      ++blocks;
    }
    put_varint(groups, term.num_groups == 0 ? sb : sb - prev_sb);
    groups.push_back(static_cast<uint8_t>(group_max));
    groups.push_back(static_cast<uint8_t>(blocks - 1));
    put_varint(groups, static_cast<uint32_t>(records.size()));
    groups.insert(groups.end(), entries.begin(), entries.end());
    groups.insert(groups.end(), counts.begin(), counts.end());
    postings.insert(postings.end(), records.begin(), records.end());
    prev_sb = sb;
    ++term.num_groups;
    ++num_groups;
  }
}

BmpTerm PackedBmpWriter::append(PackedBmpWriter& other) {
  const BmpTerm shift{groups.size(), block_max.size(), postings.size(), 0, 0};
  groups.insert(groups.end(), other.groups.begin(), other.groups.end());
  block_max.insert(block_max.end(), other.block_max.begin(), other.block_max.end());
  postings.insert(postings.end(), other.postings.begin(), other.postings.end());
  num_groups += other.num_groups;
  other = PackedBmpWriter(block_docs_);
  return shift;
}

void BmpStore::validate_packed(Section meta_s, Section terms_s, Section groups_s, Section entries_s, Section records_s,
                               uint32_t num_docs, uint32_t vocab_size, uint64_t num_postings, const TermEntry* lists) {
  check_meta(meta_s, terms_s, num_docs, vocab_size, num_postings);
  const BmpMeta& m = *meta;
  if (m.reserved != 0) corrupt("reserved field set");
  if (entries_s.size != m.num_block_entries) corrupt("block table has the wrong size");
  if (records_s.size < kPackedPadding) corrupt("postings section too short");
  packed = true;
  group_bytes = groups_s.data;
  group_bytes_end = groups_s.data + groups_s.size;
  block_max = entries_s.data;
  records = records_s.data;
  const uint64_t records_size = records_s.size - kPackedPadding;
  for (uint64_t i = records_size; i < records_s.size; ++i)
    if (records[i] != 0) corrupt("nonzero padding after the postings");

  // Every term: its groups, entries and records follow the previous term's (the whole store is
  // covered exactly once), superblocks and blocks ascending, every document below num_docs, every
  // bound the maximum of what it covers, as many postings as the term's df.
  // Terms are checked in contiguous ranges on the pool's threads (a 1-billion-posting store takes
  // seconds on one): each range starts where its first term says, and each must end where the next
  // one starts.
  const uint32_t bd = m.block_docs, bitmap = packed_bitmap_bytes(bd);
  struct Range {
    uint32_t from = 0, to = 0;
    uint64_t g_end = 0, b_end = 0, r_end = 0, groups = 0, postings = 0;
    std::exception_ptr error;
  };
  std::vector<Range> ranges;
  std::mutex ranges_mutex;
  auto check_terms = [&](uint32_t from, uint32_t to, Range& out) {
    const BmpTerm& start = terms[from];
    if (start.first_group > static_cast<uint64_t>(group_bytes_end - group_bytes) || start.first_block > m.num_block_entries ||
        start.first_posting > records_size) {
      corrupt("term " + std::to_string(from) + " out of order");
    }
    const uint8_t* g = group_bytes + start.first_group;
    uint64_t b = start.first_block, r = start.first_posting, groups_seen = 0, postings_seen = 0;
    for (uint32_t t = from; t < to; ++t) {
      const BmpTerm& te = terms[t];
      const std::string where = "term " + std::to_string(t);
      if (te.first_group != static_cast<uint64_t>(g - group_bytes) || te.first_block != b || te.first_posting != r || te.reserved != 0) {
        corrupt(where + " out of order");
      }
      uint64_t term_postings = 0;
      uint32_t term_max = 0, sb = 0;
      for (uint32_t j = 0; j < te.num_groups; ++j, ++groups_seen) {
        uint32_t delta = 0, posting_bytes = 0;
        if (!read_varint(g, group_bytes_end, delta) || group_bytes_end - g < 2) corrupt(where + " group outside the table");
        const uint32_t group_max = g[0], blocks = uint32_t{g[1]} + 1;
        g += 2;
        if (!read_varint(g, group_bytes_end, posting_bytes)) corrupt(where + " group outside the table");
        if ((j > 0 && delta == 0) || uint64_t{sb} + delta >= m.num_supers) corrupt(where + " superblocks not ascending or out of range");
        sb = j == 0 ? delta : sb + delta;
        if (blocks > kBmpSuperBlocks || blocks > m.num_block_entries - b) corrupt(where + " blocks outside the table");
        if (posting_bytes > records_size - r) corrupt(where + " postings outside the section");
        const uint8_t* p = records + r;
        const uint8_t* const end = p + posting_bytes;
        uint32_t max_seen = 0;
        int prev_blk = -1;
        if (static_cast<uint64_t>(group_bytes_end - g) < blocks) corrupt(where + " group outside the table");
        const uint8_t* entries = g;
        const uint8_t* counts = g + blocks;
        for (uint32_t k = 0; k < blocks; ++k) counts += entries[k] >= 0xC0;
        if (counts > group_bytes_end) corrupt(where + " group outside the table");
        g = counts;  // the next group
        counts = entries + blocks;
        for (uint32_t k = 0; k < blocks; ++k, ++b) {
          const uint8_t e = entries[k];
          const uint32_t blk = e & 63u, cls = e >> 6, bmax = block_max[b];
          const uint32_t count = cls < 3 ? cls + 1 : uint32_t{*counts++} + 1;
          const uint64_t block = uint64_t{sb} * kBmpSuperBlocks + blk;
          if (static_cast<int>(blk) <= prev_blk || block >= m.num_blocks) corrupt(where + " blocks not ascending or out of range");
          prev_blk = static_cast<int>(blk);
          if (bmax == 0) corrupt(where + " block bound out of range");
          if (p == end) corrupt(where + " block record outside its group");
          if (count > bd || (cls == 3 && count < 4)) corrupt(where + " block posting count out of range");
          if (static_cast<uint64_t>(end - p) < packed_body_bytes(count, bmax, bitmap)) corrupt(where + " block record outside its group");
          // Bitmaps: exactly count bits, none at or past block_docs; slot lists: strictly ascending.
          const uint8_t* body = p;
          if (count > 1 && count >= bitmap) {
            uint32_t bits = 0;
            for (uint32_t byte = 0; byte < bitmap; ++byte) bits += static_cast<uint32_t>(__builtin_popcount(body[byte]));
            const uint32_t spare = bitmap * 8 - bd;
            if (bits != count || (spare && (body[bitmap - 1] >> (8 - spare)) != 0)) corrupt(where + " posting out of range");
          }
          uint8_t slots[kBmpMaxBlockDocs], imps[kBmpMaxBlockDocs];
          const uint8_t* q = p;
          decode_packed(q, count, bmax, bitmap, slots, imps);
          uint32_t imax = 0;
          for (uint32_t i = 0; i < count; ++i) {
            if ((i > 0 && slots[i] <= slots[i - 1]) || slots[i] >= bd || block * bd + slots[i] >= num_docs || imps[i] == 0) {
              corrupt(where + " posting out of range");
            }
            imax = std::max<uint32_t>(imax, imps[i]);
          }
          if (imax != bmax) corrupt(where + " block bound is not its maximum");
          // Unused high bits of the last impact byte must be zero (every byte is checked).
          const uint32_t w = impact_width(bmax), used = count * w;
          if (count > 1 && used % 8 && (q[-1] >> (used % 8)) != 0) corrupt(where + " posting out of range");
          p = q;
          max_seen = std::max(max_seen, bmax);
          term_postings += count;
        }
        if (p != end) corrupt(where + " group posting bytes disagree with its blocks");
        if (group_max != max_seen) corrupt(where + " superblock bound disagrees");
        r += posting_bytes;
        term_max = std::max(term_max, group_max);
      }
      if (term_postings != lists[t].df) corrupt(where + " posting count disagrees with its list");
      if (term_max != lists[t].max_impact) corrupt(where + " max impact disagrees with its groups");
      postings_seen += term_postings;
    }
    out.g_end = static_cast<uint64_t>(g - group_bytes);
    out.b_end = b;
    out.r_end = r;
    out.groups = groups_seen;
    out.postings = postings_seen;
  };
  if (vocab_size == 0) {
    ranges.push_back(Range{});
  } else {
    parallel_range(vocab_size, [&](size_t begin, size_t end, int) {
      Range rg;
      rg.from = static_cast<uint32_t>(begin);
      rg.to = static_cast<uint32_t>(end);
      try {
        check_terms(rg.from, rg.to, rg);
      } catch (...) {
        rg.error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(ranges_mutex);
      ranges.push_back(std::move(rg));
    });
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.from < b.from; });
  if (vocab_size > 0 && (terms[0].first_group != 0 || terms[0].first_block != 0 || terms[0].first_posting != 0)) corrupt("term 0 out of order");
  uint64_t groups_seen = 0, postings_seen = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].error) std::rethrow_exception(ranges[i].error);  // the first damaged range's error
    if (i + 1 < ranges.size()) {
      const BmpTerm& next = terms[ranges[i + 1].from];
      if (next.first_group != ranges[i].g_end || next.first_block != ranges[i].b_end || next.first_posting != ranges[i].r_end) {
        corrupt("term " + std::to_string(ranges[i + 1].from) + " out of order");
      }
    }
    groups_seen += ranges[i].groups;
    postings_seen += ranges[i].postings;
  }
  const Range& last = ranges.back();
  if (last.g_end != static_cast<uint64_t>(group_bytes_end - group_bytes) || groups_seen != m.num_groups || last.b_end != m.num_block_entries ||
      last.r_end != records_size || postings_seen != m.num_postings) {
    corrupt("tables longer than the terms use");
  }
}

}  // namespace splade::index
