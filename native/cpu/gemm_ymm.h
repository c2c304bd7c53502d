// 256-bit helpers shared by the AVX2 and AVX-512 SGEMM files: the epilogue's vector exp/GELU and an
// 8x8 transpose for packing. Included AFTER the including file's `#pragma GCC target` (which must
// enable at least avx2 and fma); everything here has internal linkage, so each file gets its own copy
// compiled for its own ISA.
#pragma once
#include <immintrin.h>

#include <cstddef>

#include "gemm.h"

namespace splade::ymm {
namespace {

// exp(y) for y <= 0 (Cephes expf polynomial, about 1 ulp); y below -87.3 (a subnormal result) gives 0.
inline __m256 exp_neg(__m256 y) {
  const __m256 lo = _mm256_set1_ps(-87.33654f);
  const __m256 underflow = _mm256_cmp_ps(y, lo, _CMP_LT_OQ);
  y = _mm256_max_ps(y, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), y);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 e = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(e, _mm256_castsi256_ps(bits)));
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), written as x (1 - erfc(z)/2) for x >= 0 and x erfc(z)/2 for
// x < 0 with z = |x| / sqrt 2, so the negative tail keeps its relative accuracy (no 1 + erf cancellation).
// erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2): the Chebyshev fit of Numerical Recipes' erfcc,
// fractional error below 1.2e-7 for every z >= 0. -z^2 = -x^2/2 is carried with its FMA residual,
// since an error of d in the exponent is a relative error of d in the result.
// Phi(x) = 0.5 (1 + erf(x / sqrt 2)), the normal CDF; *pdf (optional) receives phi(x) = exp(-x^2/2) / sqrt(2 pi).
inline __m256 normal_cdf(__m256 x, __m256* pdf = nullptr) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_min_ps(_mm256_andnot_ps(sign, x), _mm256_set1_ps(20.0f));  // phi(20) is 1
  const __m256 x2 = _mm256_mul_ps(ax, ax);
  const __m256 x2_err = _mm256_fmsub_ps(ax, ax, x2);  // ax^2 = x2 + x2_err exactly
  const __m256 z = _mm256_mul_ps(ax, _mm256_set1_ps(0.70710678118654752f));
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(0.17087277f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 y = _mm256_fnmadd_ps(half, x2, _mm256_fnmadd_ps(half, x2_err, p));
  const __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(half, t), exp_neg(y));
  const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  if (pdf) *pdf = _mm256_mul_ps(_mm256_set1_ps(0.3989422804014327f), exp_neg(_mm256_fnmadd_ps(half, x2, _mm256_mul_ps(half, _mm256_sub_ps(_mm256_setzero_ps(), x2_err)))));
  return _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), half_erfc), half_erfc, neg);
}

inline __m256 gelu(__m256 x) { return _mm256_mul_ps(x, normal_cdf(x)); }

// gelu'(x) = Phi(x) + x phi(x)
inline __m256 gelu_grad(__m256 x) {
  __m256 pdf;
  const __m256 cdf = normal_cdf(x, &pdf);
  return _mm256_fmadd_ps(x, pdf, cdf);
}

inline __m256 epilogue8(__m256 v, const float* bias, const float* res, Activation act) {
  if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
  if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res));
  if (act == Activation::gelu) v = gelu(v);
  return v;
}

// ---- 8x8 transpose (rows in r[0..7] become columns) ----
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// c (rows, cols; ld ldc) += bias (cols) + residual (rows, cols; ld ldr), then the activation.
inline void epilogue(float* c, size_t ldc, size_t rows, size_t cols, const float* bias, const float* res,
                     size_t ldr, Activation act) {
  for (size_t i = 0; i < rows; ++i, c += ldc) {
    const float* ri = res ? res + i * ldr : nullptr;
    size_t j = 0;
    for (; j + 8 <= cols; j += 8)
      _mm256_storeu_ps(c + j, epilogue8(_mm256_loadu_ps(c + j), bias ? bias + j : nullptr, ri ? ri + j : nullptr, act));
    if (j < cols) {  // the ragged end goes through an 8-float buffer, so it gets the same arithmetic
      alignas(32) float cv[8] = {}, bv[8] = {}, rv[8] = {};
      const size_t n = cols - j;
      for (size_t q = 0; q < n; ++q) {
        cv[q] = c[j + q];
        if (bias) bv[q] = bias[j + q];
        if (ri) rv[q] = ri[j + q];
      }
      _mm256_store_ps(cv, epilogue8(_mm256_load_ps(cv), bias ? bv : nullptr, ri ? rv : nullptr, act));
      for (size_t q = 0; q < n; ++q) c[j + q] = cv[q];
    }
  }
}

}  // namespace
}  // namespace splade::ymm
