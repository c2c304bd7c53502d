// See screen_i16.h.
#include "screen_i16.h"

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "row_blocks.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace splade {
namespace {

// The screen sums kBlockK dimensions at a time exactly in int32 and adds the blocks' sums in fp32, so
// that qmax depends on the block and not on C: at C = 768 the rows keep 5791 levels rather than 1672,
// a bound 2-3 times tighter and that many fewer re-scores, for one conversion and add per 32 steps.
constexpr size_t kBlockK = 64;

int32_t qmax_for(size_t Cp) {  // min(Cp, kBlockK) * qmax^2 < 2^31: vpmaddwd's pair sums and a block's int32 total are exact
  const double k = static_cast<double>(std::min(Cp, kBlockK));
  return static_cast<int32_t>(std::min(32767.0, std::floor(std::sqrt(2147483647.0 / k))) - 1);
}
// The fp32 part of a screened logit's error, relative to |t~||E~|: each block's sum rounded once when
// converted and the blocks' fp32 sum (Higham's gamma, with room to spare for its denominator).
float block_rounding(size_t Cp) { return static_cast<float>((Cp + kBlockK - 1) / kBlockK + 1) * 0x1p-24f; }

// The screened logits before the bias, S (rows, 16), of rows [r0, r0 + rows) (q_t (N, Cp)) against a
// panel: exact integer sums over blocks of kBlockK dimensions, added in fp32 in block order.
void screen_ref(float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
                size_t r0, size_t rows) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < 16; ++c) {
      float sum = 0.0f;
      for (size_t k0 = 0; k0 < Cp; k0 += kBlockK) {
        int64_t acc = 0;
        for (size_t k = k0; k < std::min(Cp, k0 + kBlockK); ++k)
          acc += int32_t{qt[(r0 + r) * Cp + k]} * panel[(k / 2) * 32 + c * 2 + k % 2];
        sum += static_cast<float>(acc);
      }
      S[r * 16 + c] = sum * (st[r0 + r] * se16[c]);
    }
}

#if defined(__x86_64__) || defined(_M_X64)
#include "avx2_region_push.h"

template <int MR>
void screen_block(float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
                  size_t r0) {
  __m256 f[MR][2];  // the blocks' sums in fp32 (spilled by the compiler where it must: one add per 32 steps)
  for (int i = 0; i < MR; ++i) f[i][0] = f[i][1] = _mm256_setzero_ps();
  const int16_t* a = qt + r0 * Cp;
  for (size_t k0 = 0; k0 < Cp / 2; k0 += kBlockK / 2) {
    __m256i c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
    const size_t k1 = std::min(Cp / 2, k0 + kBlockK / 2);
    for (size_t kp = k0; kp < k1; ++kp) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 32));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 32 + 16));
      for (int i = 0; i < MR; ++i) {
        int32_t pair;
        __builtin_memcpy(&pair, a + i * Cp + kp * 2, sizeof pair);
        const __m256i x = _mm256_set1_epi32(pair);
        c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(x, b0));
        c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(x, b1));
      }
    }
    for (int i = 0; i < MR; ++i) {
      f[i][0] = _mm256_add_ps(f[i][0], _mm256_cvtepi32_ps(c[i][0]));
      f[i][1] = _mm256_add_ps(f[i][1], _mm256_cvtepi32_ps(c[i][1]));
    }
  }
  const __m256 s0 = _mm256_loadu_ps(se16), s1 = _mm256_loadu_ps(se16 + 8);
  for (int i = 0; i < MR; ++i) {
    const __m256 ts = _mm256_set1_ps(st[r0 + i]);
    _mm256_storeu_ps(S + i * 16, _mm256_mul_ps(f[i][0], _mm256_mul_ps(ts, s0)));
    _mm256_storeu_ps(S + i * 16 + 8, _mm256_mul_ps(f[i][1], _mm256_mul_ps(ts, s1)));
  }
}

void screen_avx2(float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
                 size_t r0, size_t rows) {
  for_row_blocks<4>(rows, [&](auto mr, size_t r) { screen_block<mr>(S + r * 16, qt, Cp, st, panel, se16, r0 + r); });
}

#include "target_region_pop.h"
#endif

}  // namespace

float screen16_rounding(size_t Cp) { return block_rounding(Cp); }

ScreenPanels16 screen16_pack(const float* E, size_t V, size_t Vp, size_t C) {
  SPLADE_CHECK(V > 0 && C > 0 && Vp >= V && Vp % 16 == 0 && E != nullptr, "screen16_pack: bad shape");
  ScreenPanels16 Q;
  Q.Cp = (C + 1) / 2 * 2, Q.qmax = qmax_for(Q.Cp);
  Q.data.assign(Vp * Q.Cp, 0);
  Q.scale.assign(Vp, 0.0f);
  Q.norms.assign(3 * Vp, 0.0f);
  parallel_range(V, [&](size_t j0, size_t j1, int) {
    std::vector<int16_t> row(Q.Cp);
    for (size_t j = j0; j < j1; ++j) {
      int16_t* q = Q.data.data() + (j / 16) * Q.Cp * 16 + (j % 16) * 2;  // [k/2][c][k%2]: k steps 1 then 31
      Q.scale[j] = screen_quantize_row(row.data(), E + j * C, C, Q.Cp, Q.qmax, 0, Q.norms.data() + j, Vp);
      for (size_t k = 0; k < Q.Cp; ++k) q[(k / 2) * 32 + k % 2] = row[k];
    }
  });
  return Q;
}

ScreenTokens16 screen16_tokens(const float* t, size_t N, size_t C, const ScreenPanels16& Q) {
  ScreenTokens16 T;
  T.q.assign(N * Q.Cp, 0), T.scale.assign(N, 0.0f), T.norms.assign(3 * N, 0.0f);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n)
      T.scale[n] = screen_quantize_row(T.q.data() + n * Q.Cp, t + n * C, C, Q.Cp, Q.qmax, 0, T.norms.data() + n, N);
  });
  return T;
}

void screen16_logits(Isa isa, float* S, const int16_t* qt, const float* st, const ScreenPanels16& Q, size_t p, size_t rows) {
  const int16_t* panel = Q.data.data() + p * Q.Cp * 16;
  const float* se16 = Q.scale.data() + p * 16;
#if defined(__x86_64__) || defined(_M_X64)
  if (isa != Isa::generic) return screen_avx2(S, qt, Q.Cp, st, panel, se16, 0, rows);
#endif
  (void)isa;
  screen_ref(S, qt, Q.Cp, st, panel, se16, 0, rows);
}

}  // namespace splade
