// See screen_common.h: the screen's error bound and test on screened logits in memory (the int16
// stage's, and the int8 stage's plain reference), bound_ref's loops and the same in AVX2 intrinsics
// (the plain loops do not vectorise well).
#include "screen_common.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace splade {

void screen_bound_ref(float* S, float* M, uint8_t* maybe, const PanelBound& pb, size_t rows) {
  for (size_t r = 0; r < rows; ++r) {
    const float* tn = pb.tn;
    const float a = 1.01f * tn[pb.N + r], b = 1.01f * (tn[2 * pb.N + r] + pb.g * tn[r]);
    const float c = 1.01f * pb.g_round * tn[pb.N + r];
    float* __restrict fl = pb.floor + static_cast<size_t>(pb.seq_of[r]) * pb.ld + pb.col;
    float* __restrict s = S + r * 16;
    float* __restrict m = M + r * 16;
    for (size_t j = 0; j < 16; ++j) {
      m[j] = 1e-30f + 0x1p-20f * (std::fabs(s[j]) + std::fabs(pb.bias16[j])) + a * pb.e_resid[j] + b * pb.e_norm[j] +
             c * pb.e_round[j];
      s[j] += pb.bias16[j];
      const float lo = s[j] - m[j];
      fl[j] = fl[j] > lo ? fl[j] : lo;
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(pb.seq_of[r]) * pb.ld + pb.col;
    int any = 0;
    for (size_t j = 0; j < 16; ++j) {
      const float thr = pb.floor[off + j] > pb.best[off + j] ? pb.floor[off + j] : pb.best[off + j];
      any |= S[r * 16 + j] + M[r * 16 + j] >= thr;
    }
    maybe[r] = static_cast<uint8_t>(any);
  }
}

#if defined(__x86_64__) || defined(_M_X64)
#include "avx2_region_push.h"

void screen_bound_avx2(float* S, float* M, uint8_t* maybe, const PanelBound& pb, size_t rows) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 bias[2], en[2], er[2], ed[2];
  for (int h = 0; h < 2; ++h) {
    bias[h] = _mm256_loadu_ps(pb.bias16 + 8 * h), en[h] = _mm256_loadu_ps(pb.e_norm + 8 * h);
    er[h] = _mm256_loadu_ps(pb.e_round + 8 * h), ed[h] = _mm256_loadu_ps(pb.e_resid + 8 * h);
  }
  const float* tn = pb.tn;
  for (size_t r = 0; r < rows; ++r) {
    const __m256 a = _mm256_set1_ps(1.01f * tn[pb.N + r]), b = _mm256_set1_ps(1.01f * (tn[2 * pb.N + r] + pb.g * tn[r]));
    const __m256 c = _mm256_set1_ps(1.01f * pb.g_round * tn[pb.N + r]);
    float* fl = pb.floor + static_cast<size_t>(pb.seq_of[r]) * pb.ld + pb.col;
    for (int h = 0; h < 2; ++h) {
      const __m256 s = _mm256_loadu_ps(S + r * 16 + 8 * h);
      __m256 m = _mm256_add_ps(_mm256_and_ps(s, abs_mask), _mm256_and_ps(bias[h], abs_mask));
      m = _mm256_fmadd_ps(m, _mm256_set1_ps(0x1p-20f), _mm256_set1_ps(1e-30f));
      m = _mm256_fmadd_ps(a, ed[h], m);
      m = _mm256_fmadd_ps(b, en[h], m);
      m = _mm256_fmadd_ps(c, er[h], m);
      const __m256 x = _mm256_add_ps(s, bias[h]);
      _mm256_storeu_ps(S + r * 16 + 8 * h, x);
      _mm256_storeu_ps(M + r * 16 + 8 * h, m);
      _mm256_storeu_ps(fl + 8 * h, _mm256_max_ps(_mm256_loadu_ps(fl + 8 * h), _mm256_sub_ps(x, m)));
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(pb.seq_of[r]) * pb.ld + pb.col;
    int any = 0;
    for (int h = 0; h < 2; ++h) {
      const __m256 thr = _mm256_max_ps(_mm256_loadu_ps(pb.floor + off + 8 * h), _mm256_loadu_ps(pb.best + off + 8 * h));
      const __m256 up = _mm256_add_ps(_mm256_loadu_ps(S + r * 16 + 8 * h), _mm256_loadu_ps(M + r * 16 + 8 * h));
      any |= _mm256_movemask_ps(_mm256_cmp_ps(up, thr, _CMP_GE_OQ));
    }
    maybe[r] = any != 0;
  }
}

#include "target_region_pop.h"
#endif

}  // namespace splade
