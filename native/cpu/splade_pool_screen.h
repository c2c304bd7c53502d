// The fused fp32 max-pooling decoder (splade_pool_fused.h) with an integer screen in front, for CPUs
// without AMX: every token x term logit is screened in integers, and only the tokens whose screened
// logit plus a rigorous bound on its error can reach the best fp32 value of their sequence are scored
// in fp32, by the fused kernel itself (splade_pool_fused_rows). Two stages: 7-bit tokens x 6-bit
// decoder rows (screen_i8.h, vpmaddubsw: twice the rate, a bound of a few percent of |t||E|), then
// int16 (screen_i16.h, a bound of 0.05%) on the rows the first passes. A model whose logits crowd the
// threshold (random weights: every term is positive somewhere) passes most rows through the first
// stage; a panel where it settles fewer than half its rows goes to the second stage alone for the
// next few chunks. With t~, E~ the dequantised rows of a stage, Cauchy-Schwarz on
// t.E - t~.E~ = t~.(E - E~) + (t - t~).E gives
//   |screened - fp32| <= |t~||E - E~| + |t - t~||E| + g (|t~||E~| + |t||E|) + h |t~||E~| + 2^-20 (|screened| + |bias|)
// (g = (C + 2) 2^-23: the fp32 accumulation's bound; h: the stage's conversion of its integer sums;
// 2^-20: its own float rounding after them), with 1% to spare, from the actual residual norms as the
// AMX bf16 screen does (gemm_bf16.h). So w and argmax are those of splade_pool_max_fused on the same
// isa, bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "screen_i16.h"
#include "screen_i8.h"
#include "splade_pool_fused.h"

namespace splade {

struct ScreenPanels {
  size_t V = 0, C = 0, Vp = 0;  // Vp = ceil(V/16)*16
  ScreenPanels8 i8;
  ScreenPanels16 i16;
  size_t bytes() const { return i8.bytes() + i16.bytes(); }
};
ScreenPanels splade_pool_screen_pack(const float* E, size_t V, size_t C);

// As splade_pool_max_fused (same result on the same isa; argmax may be null) with E packed both ways.
// isa generic runs the plain reference of the screen (int64 sums) and the generic fused kernel.
void splade_pool_max_screen(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E,
                            const ScreenPanels& Q, const float* bias, const int32_t* cu_seqlens, int B);

// One stage alone (bits 8 or 16), for the kernel test: S (N, Vp) = the screened logits before the bias
// of the tokens t (N, C) against every panel of Q; isa generic is the plain reference (int64 sums),
// avx2 / avx512 the AVX2 kernel. The two agree bit for bit (exact integer sums, the same float
// operations after them).
void splade_pool_screen_logits(Isa isa, float* S, const float* t, size_t N, const ScreenPanels& Q, int bits);

}  // namespace splade
