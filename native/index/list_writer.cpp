#include "list_writer.h"

#include <algorithm>

#include "../common/error.h"
#include "codec.h"

namespace splade::index {

void encode_list(const uint32_t* docs, uint32_t* imps, size_t df, uint32_t B, TermEntry& te,
                 std::vector<BlockEntry>& blocks, std::vector<uint8_t>& bytes) {
  if (df > 0xFFFFFFFFu) fail(kOutOfRange, "a posting list is too long");
  te.df = static_cast<uint32_t>(df);
  te.max_impact = 0;
  te.reserved = 0;
  uint32_t gaps[kMaxBlockSize];
  uint32_t prev = 0xFFFFFFFFu;
  for (size_t start = 0; start < df; start += B) {
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(B, df - start));
    BlockEntry be{};
    uint32_t max_gap = 0, max_imp = 0;
    for (uint32_t i = 0; i < n; ++i) {
      gaps[i] = docs[start + i] - prev - 1;
      prev = docs[start + i];
      max_gap = std::max(max_gap, gaps[i]);
      max_imp = std::max(max_imp, imps[start + i]);
    }
    const uint64_t rel = bytes.size() - te.data_offset;
    if (rel > 0xFFFFFFFFu) fail(kOutOfRange, "a posting list is too large for the format (over 4 GiB)");
    be.last_doc = prev;
    be.offset = static_cast<uint32_t>(rel);
    be.max_impact = static_cast<uint16_t>(max_imp);
    be.doc_bits = static_cast<uint8_t>(bits_for(max_gap));
    be.impact_bits = static_cast<uint8_t>(bits_for(max_imp - 1));
    pack(gaps, n, be.doc_bits, bytes);
    for (uint32_t i = 0; i < n; ++i) imps[start + i] -= 1;
    pack(imps + start, n, be.impact_bits, bytes);
    te.max_impact = std::max(te.max_impact, max_imp);
    blocks.push_back(be);
  }
}

}  // namespace splade::index
