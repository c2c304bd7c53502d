// The decoder fused with max pooling in registers (the fp32 inference path's decoder on AVX2 and
// AVX-512 without AMX): the decoder E (V,C) is packed once (at prepare) into panels of 16 vocabulary
// rows, a register block of 6 tokens x 16 terms computes its logits over the whole of C, and the block
// is reduced at once (max over its tokens when they belong to one sequence) into a running maximum per
// (sequence, term), so no logits buffer is written or read back and E is never packed per call, as
// splade_pool_forward's tiled sgemm does. Same result as splade_pool_forward (fp32 sums in k order).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"

namespace splade {

struct PoolPanels {
  size_t V = 0, C = 0, Vp = 0;  // Vp = ceil(V/16)*16
  std::vector<float> data;      // panel p: C x 16 floats, [k][c] = E[p*16 + c][k]; padding rows 0
  size_t bytes() const { return data.size() * sizeof(float); }
};
PoolPanels splade_pool_pack(const float* E, size_t V, size_t C);

// Max pooling (splade_pool.h's w and argmax; argmax may be null) over the packed decoder; t (N,C),
// bias (V). isa avx2 or avx512 runs the AVX2 register kernel; generic a plain loop over the panels.
void splade_pool_max_fused(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E, const float* bias,
                           const int32_t* cu_seqlens, int B);

}  // namespace splade
