// A superblock's block bounds from one query term's group (bmp.cpp, step 2): for each of the 64 blocks
// whose bit is set in mask, in ascending block order, the next byte of max is that block's maximum
// impact, and bound[block] += w * max. The block maxima of a group lie packed (one byte per present
// block), so the fast versions expand them to all 64 lanes (AVX-512 VBMI2: vpexpandb; AVX2: pdep on
// 8 blocks at a time) and add w * 0 = 0 where a block is absent. Each lane is the reference's
// product then sum, never fused, so bounds are bit for bit the reference's: bmp's exactness rests on
// a bound summing in the same order and rounding as the score it bounds.
#pragma once
#include <cstdint>

#include "../common/cpu_features.h"

namespace splade::index {

void bmp_group_bounds_ref(float* bound, uint64_t mask, const uint8_t* max, float w);

using BmpGroupBoundsFn = void (*)(float* bound, uint64_t mask, const uint8_t* max, float w);
// The variant for isa (the AVX-512 one needs VBMI2 as well; where it is missing, the AVX2 one runs).
BmpGroupBoundsFn bmp_group_bounds_kernel(Isa isa);

// A packed group's block mask (bmp_packed.h): entries holds blocks (1-64) bytes, each a block within
// the superblock (low 6 bits, strictly ascending) | count class << 6; returns the bits of those
// blocks and sets *more to the bytes of class 3 (those with a count byte). Step 1 of bmp decodes
// every group of every query term (on 8.8M documents about 90,000 groups of 32 blocks a query), so
// the byte loop is vectorised: 4 (AVX2) or 8 (AVX-512) shifts at once.
uint64_t bmp_group_mask_ref(const uint8_t* entries, uint32_t blocks, uint32_t* more);
using BmpGroupMaskFn = uint64_t (*)(const uint8_t* entries, uint32_t blocks, uint32_t* more);
BmpGroupMaskFn bmp_group_mask_kernel(Isa isa);

}  // namespace splade::index
