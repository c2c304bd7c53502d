// The fused fp32 max-pooling decoder (splade_pool_fused.h) with an integer screen in front, for CPUs
// without AMX: the decoder E (V,C) is quantised per row to 6 bits (|q| <= 31, scale max|row| / 31) and
// the tokens t (N,C) per row to 7 (|q| <= 63, stored as u = q + 64 in [1, 127]), so that vpmaddubsw
// (unsigned x signed bytes, two products a 16-bit lane) can add four steps of products in 16-bit lanes
// exactly (4 x 2 x 127 x 31 < 2^15) before one vpmaddwd widens them: 32 products for a little over two
// instructions, where the int16 screen this replaces spent two instructions on 16 (and Zen 3's memory
// broadcasts, one a token and step, cost as much as a multiply). Every token x term logit is screened
// as s_t s_E (u . q_E - 64 sum q_E) + bias, summed exactly in int32; only the tokens whose screened
// logit plus a rigorous bound on its error can reach the best fp32 value of their sequence are scored
// in fp32, by the fused kernel itself (splade_pool_fused_rows). With t~, E~ the dequantised rows,
// Cauchy-Schwarz on t.E - t~.E~ = t~.(E - E~) + (t - t~).E gives
//   |screened - fp32| <= |t~||E - E~| + |t - t~||E| + g (|t~||E~| + |t||E|) + h |t~||E~| + 2^-20 (|screened| + |bias|)
// (g = (C + 2) 2^-23: the fp32 accumulation's bound; h = 2^-23: the conversion of the int32 sum; 2^-20:
// the screen's own float rounding after it), with 1% to spare, from the actual residual norms as the
// AMX bf16 screen does (gemm_bf16.h). So w and argmax are those of splade_pool_max_fused on the same
// isa, bit for bit. The coarse quantisation costs bound (a few percent of |t||E|, where the int16
// screen's was 0.05%), and that many more re-scores where logits crowd the threshold; where they do
// not (most terms of a vocabulary are far below zero in most tokens) the screen does nearly all the work.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "splade_pool_fused.h"

namespace splade {

struct ScreenPanels {
  size_t V = 0, C = 0, Cp = 0, Vp = 0;  // Cp = C rounded up to 16 (four steps of four); Vp = ceil(V/16)*16
  std::vector<int8_t> data;   // panel p: Cp/4 x 16 x 4, [k/4][c][k%4] = q(E[p*16 + c][k]); padding 0
  std::vector<float> scale;   // (Vp) s_E (0 on padding)
  std::vector<int32_t> offset;  // (Vp) 64 sum_k q(E_j)[k]: u . q_E minus it is q_t . q_E
  std::vector<float> norms;   // (3, Vp): |E_j|, |E~_j|, |E_j - E~_j|
  size_t bytes() const {
    return data.size() + offset.size() * sizeof(int32_t) + (scale.size() + norms.size()) * sizeof(float);
  }
};
ScreenPanels splade_pool_screen_pack(const float* E, size_t V, size_t C);

// As splade_pool_max_fused (same result on the same isa; argmax may be null) with E packed both ways.
// isa generic runs the plain reference of the screen (int64 sums) and the generic fused kernel.
void splade_pool_max_screen(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E,
                            const ScreenPanels& Q, const float* bias, const int32_t* cu_seqlens, int B);

// The screen alone, for the kernel test: S (N, Vp) = the screened logits before the bias of the tokens t
// (N, C) against every panel of Q; isa generic is the plain reference (int64 sums), avx2 / avx512 the
// AVX2 kernel. The two agree bit for bit (exact integer sums, the same float operations after them).
void splade_pool_screen_logits(Isa isa, float* S, const float* t, size_t N, const ScreenPanels& Q);

}  // namespace splade
