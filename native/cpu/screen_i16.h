// The decoder screen's second stage (splade_pool_screen.h), on the rows the first (screen_i8.h) passes:
// the decoder and the tokens quantised to int16 per row (scale max|row| / qmax, qmax so that 64 qmax^2
// < 2^31: the int32 sums of vpmaddwd over a block of 64 dimensions are exact, and the blocks' sums are
// added in fp32), a bound 2-3 orders of magnitude tighter than the first stage's at half its rate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "screen_common.h"

namespace splade {

struct ScreenPanels16 {
  size_t Cp = 0;  // C rounded up to even
  int32_t qmax = 0;
  std::vector<int16_t> data;  // panel p: Cp/2 x 16 x 2, [k/2][c][k%2] = q(E[p*16 + c][k]); padding 0
  std::vector<float> scale;   // (Vp) s_E (0 on padding)
  std::vector<float> norms;   // (3, Vp): |E_j|, |E~_j|, |E_j - E~_j|
  size_t bytes() const { return data.size() * sizeof(int16_t) + (scale.size() + norms.size()) * sizeof(float); }
};
ScreenPanels16 screen16_pack(const float* E, size_t V, size_t Vp, size_t C);

struct ScreenTokens16 {
  std::vector<int16_t> q;    // (N, Cp)
  std::vector<float> scale;  // (N)
  std::vector<float> norms;  // (3, N): |t|, |t~|, |t - t~|
};
ScreenTokens16 screen16_tokens(const float* t, size_t N, size_t C, const ScreenPanels16& Q);

// The conversion's part of the bound (g_round = g + this): each block's sum rounded once when
// converted, and the blocks' fp32 sum (Higham's gamma, with room to spare for its denominator).
float screen16_rounding(size_t Cp);

// S (rows, 16): the screened logits before the bias of rows [0, rows) of qt (rows, Cp; scales st)
// against panel p. isa generic is the plain reference (int64 block sums), avx2 / avx512 the AVX2
// kernel: bit for bit the same.
void screen16_logits(Isa isa, float* S, const int16_t* qt, const float* st, const ScreenPanels16& Q, size_t p, size_t rows);

}  // namespace splade
