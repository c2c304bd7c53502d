// See screen_i8.h.
#include "screen_i8.h"

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "row_blocks.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace splade {
namespace {

constexpr int32_t kTokenLevels = 63;   // tokens: q in [-63, 63], stored as u = q + 64 in [1, 127]
constexpr int32_t kTokenOffset = 64;
constexpr int32_t kWeightLevels = 31;  // the decoder: q in [-31, 31]
// Steps of four dimensions whose vpmaddubsw pair sums add up exactly in 16-bit lanes:
// kSteps16 x 2 x 127 x 31 = 31496 < 2^15 (and one pair sum, 7874, never saturates vpmaddubsw).
constexpr size_t kSteps16 = 4;
static_assert(kSteps16 * 2 * (kTokenLevels + kTokenOffset) * kWeightLevels < 32768, "16-bit lanes overflow");
// The int32 sum of a logit is exact up to C x 127 x 31 < 2^31.
constexpr size_t kMaxC = 500000;

// The screened logits before the bias, S (rows, 16), of rows [r0, r0 + rows) (u_t (N, Cp)) against a
// panel (w: [k/4][c][k%4]): exact integer sums, then one conversion and the scales.
void screen_ref(float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
                const int32_t* offset16, size_t r0, size_t rows) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < 16; ++c) {
      int64_t acc = 0;
      for (size_t k = 0; k < Cp; ++k) acc += int32_t{ut[(r0 + r) * Cp + k]} * panel[(k / 4) * 64 + c * 4 + k % 4];
      S[r * 16 + c] = static_cast<float>(static_cast<int32_t>(acc - offset16[c])) * (st[r0 + r] * se16[c]);
    }
}


#if defined(__x86_64__) || defined(_M_X64)
#include "avx2_region_push.h"

// MR rows x 16 terms: per step of four dimensions, one broadcast of a row's four bytes and two
// vpmaddubsw against the panel's two registers, added in 16-bit lanes for kSteps16 steps, then widened
// (vpmaddwd by ones: a term's two lanes) into int32. The multiply-adds are inline assembly: GCC 12
// otherwise spills the 16-bit accumulators or copies each one after its add (measured on Zen 3:
// 2x slower); the operands stay the compiler's to allocate.
// acc = u . q_E - offset (= q_t . q_E) of MR rows from r0 x the panel's 16 terms, in int32.
template <int MR>
__attribute__((always_inline)) inline void screen_sums(__m256i (&acc)[MR][2], const uint8_t* ut, size_t Cp,
                                                       const int8_t* panel, const int32_t* offset16, size_t r0) {
  for (int h = 0; h < 2; ++h) {
    const __m256i off = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offset16 + 8 * h));
    const __m256i minus = _mm256_sub_epi32(_mm256_setzero_si256(), off);
    for (int i = 0; i < MR; ++i) acc[i][h] = minus;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t* a = ut + r0 * Cp;
  for (size_t s0 = 0; s0 < Cp / 4; s0 += kSteps16) {
    __m256i c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (size_t s = s0; s < s0 + kSteps16; ++s) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + s * 64));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + s * 64 + 32));
      for (int i = 0; i < MR; ++i) {
        int32_t quad;
        __builtin_memcpy(&quad, a + i * Cp + s * 4, sizeof quad);
        const __m256i x = _mm256_set1_epi32(quad);
        __m256i p0, p1;
        asm("vpmaddubsw %2, %1, %0" : "=x"(p0) : "x"(x), "x"(b0));
        asm("vpaddw %1, %0, %0" : "+x"(c[i][0]) : "x"(p0));
        asm("vpmaddubsw %2, %1, %0" : "=x"(p1) : "x"(x), "x"(b1));
        asm("vpaddw %1, %0, %0" : "+x"(c[i][1]) : "x"(p1));
      }
    }
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(c[i][0], ones));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(c[i][1], ones));
    }
  }
}

// Row i's screened logits before the bias (h: terms 8h..8h+7), as screen_ref computes them.
template <int MR>
__attribute__((always_inline)) inline __m256 screened(const __m256i (&acc)[MR][2], int i, int h, float st,
                                                      const float* se16) {
  const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(st), _mm256_loadu_ps(se16 + 8 * h));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][h]), scale);
}

template <int MR>
void screen_block(float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
                  const int32_t* offset16, size_t r0) {
  __m256i acc[MR][2];
  screen_sums<MR>(acc, ut, Cp, panel, offset16, r0);
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h) _mm256_storeu_ps(S + i * 16 + 8 * h, screened<MR>(acc, i, h, st[r0 + i], se16));
}

void screen_avx2(float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
                 const int32_t* offset16, size_t r0, size_t rows) {
  for_row_blocks<5>(rows, [&](auto mr, size_t r) {
    screen_block<mr>(S + r * 16, ut, Cp, st, panel, se16, offset16, r0 + r);
  });
}

// The screen with bound_ref's test in its epilogue, on the sums still in registers: no logits or
// bounds written and read back (that pass was a quarter of the screen's time), and the bound's norms
// at their panel-wide largest (a row's part of the bound is then one number, at a looser bound by the
// norms' spread within 16 terms). The test comes before the floor's update, and a row that fails it
// leaves the floor alone: its upper bound is below max(floor, best), so its lower bound either does
// not raise the floor or raises it to below best, where it never decides (best only grows). A row
// that may hold a maximum passes either way. rr: row r0's index in the chunk (maybe, pb.seq_of, pb.tn).
template <int MR>
void screen_bound_block(uint8_t* maybe, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel,
                        const float* se16, const int32_t* offset16, size_t r0, size_t rr, const PanelBound& pb) {
  __m256i acc[MR][2];
  screen_sums<MR>(acc, ut, Cp, panel, offset16, r0);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), eps = _mm256_set1_ps(0x1p-20f);
  const PanelBound b = pb;  // a copy the stores to floor cannot alias
  __m256 bias[2], bias_up[2];  // bias_up = bias + 2^-20 |bias|: the bias's share of the upper bound
  for (int h = 0; h < 2; ++h) {
    bias[h] = _mm256_loadu_ps(b.bias16 + 8 * h);
    bias_up[h] = _mm256_fmadd_ps(_mm256_and_ps(bias[h], abs_mask), eps, bias[h]);
  }
  for (int i = 0; i < MR; ++i) {
    const size_t r = rr + i;
    // the error bound of bound_ref with each norm at the panel's largest; for the test, its 2^-20 |s|
    // at |s|'s largest, |t~| |E~| (1% over)
    const float tr = b.tn[b.N + r];
    const float m0 = 1e-30f + 1.01f * (tr * b.max_resid + (b.tn[2 * b.N + r] + b.g * b.tn[r]) * b.max_norm +
                                       b.g_round * tr * b.max_round);
    const __m256 m_up = _mm256_set1_ps(m0 + 0x1p-20f * 1.01f * tr * b.max_round);
    const __m256 s[2] = {screened<MR>(acc, i, 0, st[r0 + i], se16), screened<MR>(acc, i, 1, st[r0 + i], se16)};
    const __m256 up[2] = {_mm256_add_ps(s[0], _mm256_add_ps(bias_up[0], m_up)),
                          _mm256_add_ps(s[1], _mm256_add_ps(bias_up[1], m_up))};
    // max(floor, best) >= best >= 0 (a weight is log1p(ReLU)): a row with no upper bound at 0 fails
    // without reading either (most rows of a vocabulary far below zero)
    if (!_mm256_movemask_ps(_mm256_cmp_ps(_mm256_max_ps(up[0], up[1]), _mm256_setzero_ps(), _CMP_GE_OQ))) {
      maybe[r] = 0;
      continue;
    }
    const size_t off = static_cast<size_t>(b.seq_of[r]) * b.ld + b.col;
    int any = 0;
    for (int h = 0; h < 2; ++h) {
      float* fl = b.floor + off + 8 * h;
      const __m256 floor = _mm256_loadu_ps(fl);
      const __m256 thr = _mm256_max_ps(floor, _mm256_loadu_ps(b.best + off + 8 * h));
      const int pass = _mm256_movemask_ps(_mm256_cmp_ps(up[h], thr, _CMP_GE_OQ));
      if (pass) {  // the exact bound for the lower one
        const __m256 mag = _mm256_add_ps(_mm256_and_ps(s[h], abs_mask), _mm256_and_ps(bias[h], abs_mask));
        const __m256 m = _mm256_fmadd_ps(mag, eps, _mm256_set1_ps(m0));
        _mm256_storeu_ps(fl, _mm256_max_ps(floor, _mm256_sub_ps(_mm256_add_ps(s[h], bias[h]), m)));
      }
      any |= pass;
    }
    maybe[r] = any != 0;
  }
}

void screen_fused_avx2(uint8_t* maybe, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel,
                       const float* se16, const int32_t* offset16, size_t r0, size_t rows, const PanelBound& pb) {
  for_row_blocks<5>(rows, [&](auto mr, size_t r) {
    screen_bound_block<mr>(maybe, ut, Cp, st, panel, se16, offset16, r0 + r, r, pb);
  });
}

#include "target_region_pop.h"
#endif

}  // namespace

ScreenPanels8 screen8_pack(const float* E, size_t V, size_t Vp, size_t C) {
  SPLADE_CHECK(V > 0 && C > 0 && C <= kMaxC && Vp >= V && Vp % 16 == 0 && E != nullptr, "screen8_pack: bad shape");
  ScreenPanels8 Q;
  Q.Cp = (C + 15) / 16 * 16;
  Q.data.assign(Vp * Q.Cp, 0);
  Q.scale.assign(Vp, 0.0f);
  Q.offset.assign(Vp, 0);
  Q.norms.assign(3 * Vp, 0.0f);
  parallel_range(V, [&](size_t j0, size_t j1, int) {
    std::vector<int8_t> row(Q.Cp);
    for (size_t j = j0; j < j1; ++j) {
      int8_t* q = Q.data.data() + (j / 16) * Q.Cp * 16 + (j % 16) * 4;  // [k/4][c][k%4]: k steps 1, 1, 1, then 61
      Q.scale[j] = screen_quantize_row(row.data(), E + j * C, C, Q.Cp, kWeightLevels, 0, Q.norms.data() + j, Vp);
      int32_t sum = 0;
      for (size_t k = 0; k < Q.Cp; ++k) q[(k / 4) * 64 + k % 4] = row[k], sum += row[k];
      Q.offset[j] = kTokenOffset * sum;
    }
  });
  return Q;
}

ScreenTokens8 screen8_tokens(const float* t, size_t N, size_t C, size_t Cp) {
  SPLADE_CHECK(C <= Cp && Cp % 16 == 0, "screen8_tokens: bad shape");
  ScreenTokens8 T;
  T.u.assign(N * Cp, 0), T.scale.assign(N, 0.0f), T.norms.assign(3 * N, 0.0f);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n)
      T.scale[n] = screen_quantize_row(T.u.data() + n * Cp, t + n * C, C, Cp, kTokenLevels, kTokenOffset,
                                       T.norms.data() + n, N);
  });
  return T;
}

void screen8_logits(Isa isa, float* S, const ScreenTokens8& T, const ScreenPanels8& Q, size_t p, size_t r0, size_t rows) {
  const int8_t* panel = Q.data.data() + p * Q.Cp * 16;
  const float* se16 = Q.scale.data() + p * 16;
  const int32_t* offset16 = Q.offset.data() + p * 16;
#if defined(__x86_64__) || defined(_M_X64)
  if (isa != Isa::generic) return screen_avx2(S, T.u.data(), Q.Cp, T.scale.data(), panel, se16, offset16, r0, rows);
#endif
  (void)isa;
  screen_ref(S, T.u.data(), Q.Cp, T.scale.data(), panel, se16, offset16, r0, rows);
}

void screen8_stage(Isa isa, uint8_t* maybe, float* S, float* M, const ScreenTokens8& T, const ScreenPanels8& Q, size_t p,
                   size_t r0, size_t rows, const PanelBound& pb) {
#if defined(__x86_64__) || defined(_M_X64)
  if (isa != Isa::generic)
    return screen_fused_avx2(maybe, T.u.data(), Q.Cp, T.scale.data(), Q.data.data() + p * Q.Cp * 16,
                             Q.scale.data() + p * 16, Q.offset.data() + p * 16, r0, rows, pb);
#endif
  screen8_logits(isa, S, T, Q, p, r0, rows);
  screen_bound_ref(S, M, maybe, pb, rows);
}

}  // namespace splade
