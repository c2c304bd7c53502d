// The fused fp32 max-pooling decoder (splade_pool_fused.h) with an integer screen in front, for CPUs
// without AMX: the decoder E (V,C) and the tokens t (N,C) are quantised to int16 per row (scale
// max|row| / qmax, qmax so that 64 qmax^2 < 2^31: the int32 sums of vpmaddwd over a block of 64
// dimensions are exact, and the blocks' sums are added in fp32), every token x
// term logit is screened as s_t s_E (q_t . q_E) + bias, and only the tokens whose screened logit plus a
// rigorous bound on its error can reach the best fp32 value of their sequence are scored in fp32, by
// the fused kernel itself (splade_pool_fused_rows). With t~, E~ the dequantised rows, Cauchy-Schwarz on
// t.E - t~.E~ = t~.(E - E~) + (t - t~).E gives
//   |screened - fp32| <= |t~||E - E~| + |t - t~||E| + g (|t~||E~| + |t||E|) + h |t~||E~| + 2^-20 (|screened| + |bias|)
// (g = (C + 2) 2^-23: the fp32 accumulation's bound; h = (blocks + 1) 2^-24: the screen's conversion and
// fp32 sum of its blocks; 2^-20: the screen's own float rounding after them), with 1% to
// spare, from the actual residual norms as the AMX bf16 screen does (gemm_bf16.h). So w and argmax are
// those of splade_pool_max_fused on the same isa, bit for bit; the screen does most of the work at
// twice the fp32 rate (vpmaddwd: 16 products an instruction on AVX2).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "splade_pool_fused.h"

namespace splade {

struct ScreenPanels {
  size_t V = 0, C = 0, Cp = 0, Vp = 0;  // Cp = C rounded up to even; Vp = ceil(V/16)*16
  int32_t qmax = 0;
  std::vector<int16_t> data;  // panel p: Cp/2 x 16 x 2, [k/2][c][k%2] = q(E[p*16 + c][k]); padding 0
  std::vector<float> scale;   // (Vp) s_E (0 on padding)
  std::vector<float> norms;   // (3, Vp): |E_j|, |E~_j|, |E_j - E~_j|
  size_t bytes() const { return data.size() * sizeof(int16_t) + (scale.size() + norms.size()) * sizeof(float); }
};
ScreenPanels splade_pool_screen_pack(const float* E, size_t V, size_t C);

// As splade_pool_max_fused (same result on the same isa; argmax may be null) with E packed both ways.
// isa generic runs the plain reference of the screen (int64 sums) and the generic fused kernel.
void splade_pool_max_screen(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E,
                            const ScreenPanels& Q, const float* bias, const int32_t* cu_seqlens, int B);

}  // namespace splade
