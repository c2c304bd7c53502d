// The decoder screen's first stage (splade_pool_screen.h): the decoder quantised per row to 6 bits
// (|q| <= 31, scale max|row| / 31) and the tokens to 7 (|q| <= 63, stored as u = q + 64 in [1, 127]),
// so that vpmaddubsw (unsigned x signed bytes, two products a 16-bit lane) adds four steps of products
// in 16-bit lanes exactly (4 x 2 x 127 x 31 < 2^15) before one vpmaddwd widens them: 32 products for a
// little over two instructions, where the int16 stage's vpmaddwd + vpaddd give 16. A logit is
// s_t s_E (u . q_E - 64 sum q_E), summed exactly in int32 and converted once. Its bound is a few
// percent of |t||E| (the int16 stage's, 0.05%): it settles the logits far from their sequence's best
// (most of a vocabulary in most tokens) and leaves the rest to the int16 stage.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "screen_common.h"

namespace splade {

struct ScreenPanels8 {
  size_t Cp = 0;                // C rounded up to 16 (four steps of four dimensions)
  std::vector<int8_t> data;     // panel p: Cp/4 x 16 x 4, [k/4][c][k%4] = q(E[p*16 + c][k]); padding 0
  std::vector<float> scale;     // (Vp) s_E (0 on padding)
  std::vector<int32_t> offset;  // (Vp) 64 sum_k q(E_j)[k]: u . q_E minus it is q_t . q_E
  std::vector<float> norms;     // (3, Vp): |E_j|, |E~_j|, |E_j - E~_j|
  size_t bytes() const {
    return data.size() + offset.size() * sizeof(int32_t) + (scale.size() + norms.size()) * sizeof(float);
  }
};
ScreenPanels8 screen8_pack(const float* E, size_t V, size_t Vp, size_t C);

struct ScreenTokens8 {
  std::vector<uint8_t> u;   // (N, Cp) q + 64
  std::vector<float> scale;  // (N)
  std::vector<float> norms;  // (3, N): |t|, |t~|, |t - t~|
};
ScreenTokens8 screen8_tokens(const float* t, size_t N, size_t C, size_t Cp);

// The conversion's part of the bound (g_round = g + this): the int32 sum rounded once to fp32.
constexpr float kScreen8Rounding = 0x1p-23f;

// S (rows, 16): the screened logits before the bias of tokens [r0, r0 + rows) against panel p. isa
// generic is the plain reference (int64 sums), avx2 / avx512 the AVX2 kernel: bit for bit the same.
void screen8_logits(Isa isa, float* S, const ScreenTokens8& T, const ScreenPanels8& Q, size_t p, size_t r0, size_t rows);

// The stage: maybe[r] (r < rows: token r0 + r, pb's row r) says whether the row may hold a maximum of
// panel p. AVX2 tests in the kernel's epilogue, with the norms at their panel-wide largest, and raises
// pb.floor only with rows that pass; generic: screen8_logits and screen_bound_ref through S and M
// (rows x 16 each).
void screen8_stage(Isa isa, uint8_t* maybe, float* S, float* M, const ScreenTokens8& T, const ScreenPanels8& Q, size_t p,
                   size_t r0, size_t rows, const PanelBound& pb);

}  // namespace splade
