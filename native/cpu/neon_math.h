// 128-bit NEON helpers shared by the arm64 SGEMM and GELU (gemm_neon.cpp, gelu_neon.cpp): the same
// vector exp / erfc / GELU as the x86 ones (gemm_ymm.h), four lanes at a time, and the GEMM epilogue.
// Everything has internal linkage; include only on arm64 (SPLADE_ARM64), where NEON is baseline.
#pragma once
#include <arm_neon.h>

#include <cstddef>

#include "gemm.h"

namespace splade::neon_math {
namespace {

// exp(y) for y <= 0 (Cephes expf polynomial, about 1 ulp); y below -87.3 (a subnormal result) gives 0.
inline float32x4_t exp_neg(float32x4_t y) {
  const float32x4_t lo = vdupq_n_f32(-87.33654f);
  const uint32x4_t underflow = vcltq_f32(y, lo);
  y = vmaxq_f32(y, lo);
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(y, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(y, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  const float32x4_t e = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t scaled = vmulq_f32(e, vreinterpretq_f32_s32(bits));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(scaled), underflow));
}

// Phi(x) = 0.5 (1 + erf(x / sqrt 2)) with *pdf (optional) = phi(x): the erfc fit and the carried
// residual of -x^2/2 as in gemm_ymm.h's normal_cdf (fractional error below 1.2e-7).
inline float32x4_t normal_cdf(float32x4_t x, float32x4_t* pdf = nullptr) {
  const float32x4_t ax = vminq_f32(vabsq_f32(x), vdupq_n_f32(20.0f));  // phi(20) is 1
  const float32x4_t x2 = vmulq_f32(ax, ax);
  const float32x4_t x2_err = vfmaq_f32(vnegq_f32(x2), ax, ax);  // ax^2 = x2 + x2_err exactly
  const float32x4_t z = vmulq_n_f32(ax, 0.70710678118654752f);
  const float32x4_t t = vdivq_f32(vdupq_n_f32(1.0f), vfmaq_f32(vdupq_n_f32(1.0f), z, vdupq_n_f32(0.5f)));
  float32x4_t p = vdupq_n_f32(0.17087277f);
  p = vfmaq_f32(vdupq_n_f32(-0.82215223f), p, t);
  p = vfmaq_f32(vdupq_n_f32(1.48851587f), p, t);
  p = vfmaq_f32(vdupq_n_f32(-1.13520398f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0.27886807f), p, t);
  p = vfmaq_f32(vdupq_n_f32(-0.18628806f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0.09678418f), p, t);
  p = vfmaq_f32(vdupq_n_f32(0.37409196f), p, t);
  p = vfmaq_f32(vdupq_n_f32(1.00002368f), p, t);
  p = vfmaq_f32(vdupq_n_f32(-1.26551223f), p, t);
  const float32x4_t half = vdupq_n_f32(0.5f);
  const float32x4_t y = vfmsq_f32(vfmsq_f32(p, half, x2_err), half, x2);
  const float32x4_t half_erfc = vmulq_f32(vmulq_f32(half, t), exp_neg(y));
  if (pdf) *pdf = vmulq_n_f32(exp_neg(vfmsq_f32(vmulq_f32(half, vnegq_f32(x2_err)), half, x2)), 0.3989422804014327f);
  return vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), half_erfc, vsubq_f32(vdupq_n_f32(1.0f), half_erfc));
}

inline float32x4_t gelu(float32x4_t x) { return vmulq_f32(x, normal_cdf(x)); }

// gelu'(x) = Phi(x) + x phi(x)
inline float32x4_t gelu_grad(float32x4_t x) {
  float32x4_t pdf;
  const float32x4_t cdf = normal_cdf(x, &pdf);
  return vfmaq_f32(cdf, x, pdf);
}

inline float32x4_t epilogue4(float32x4_t v, const float* bias, const float* res, Activation act) {
  if (bias) v = vaddq_f32(v, vld1q_f32(bias));
  if (res) v = vaddq_f32(v, vld1q_f32(res));
  if (act == Activation::gelu) v = gelu(v);
  return v;
}

// c (rows, cols; ld ldc) += bias (cols) + residual (rows, cols; ld ldr), then the activation.
inline void epilogue(float* c, size_t ldc, size_t rows, size_t cols, const float* bias, const float* res, size_t ldr,
                     Activation act) {
  for (size_t i = 0; i < rows; ++i, c += ldc) {
    const float* ri = res ? res + i * ldr : nullptr;
    size_t j = 0;
    for (; j + 4 <= cols; j += 4)
      vst1q_f32(c + j, epilogue4(vld1q_f32(c + j), bias ? bias + j : nullptr, ri ? ri + j : nullptr, act));
    if (j < cols) {  // the ragged end goes through a 4-float buffer, so it gets the same arithmetic
      float cv[4] = {}, bv[4] = {}, rv[4] = {};
      const size_t n = cols - j;
      for (size_t q = 0; q < n; ++q) {
        cv[q] = c[j + q];
        if (bias) bv[q] = bias[j + q];
        if (ri) rv[q] = ri[j + q];
      }
      vst1q_f32(cv, epilogue4(vld1q_f32(cv), bias ? bv : nullptr, ri ? rv : nullptr, act));
      for (size_t q = 0; q < n; ++q) c[j + q] = cv[q];
    }
  }
}

}  // namespace
}  // namespace splade::neon_math
