// One posting list's blocks (format.h): the encoding shared by the builder (every list at once) and
// the segment merge (one list at a time, segment_merge.h), so both write the same bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "format.h"

namespace splade::index {

// Appends the list's blocks of B postings to blocks and their bytes to bytes; docs ascending,
// imps >= 1 (imps is overwritten: impact - 1 is what is packed). te.data_offset and te.first_block
// must already say where the list starts (its block offsets are relative to te.data_offset);
// te.df and te.max_impact are filled here.
void encode_list(const uint32_t* docs, uint32_t* imps, size_t df, uint32_t B, TermEntry& te,
                 std::vector<BlockEntry>& blocks, std::vector<uint8_t>& bytes);

}  // namespace splade::index
