// GELU forward and backward over 8 floats at a time (AVX2 + FMA, also what AVX-512 machines run): the
// vector erfc of the GEMM epilogue (gemm_ymm.h, fractional error below 1.2e-7) instead of libm's
// double erf and exp per element. Tails go through the scalar reference.
#include "../common/cpu_features.h"
#if defined(SPLADE_X86)  // x86-64 only: other architectures never choose the AVX2 kernels

#include <immintrin.h>

#include <cstddef>

#include "gelu.h"
#include "gemm.h"

#include "avx2_region_push.h"

#include "gemm_ymm.h"

namespace splade::avx2 {

void gelu_forward_range(float* out, const float* inp, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, ymm::gelu(_mm256_loadu_ps(inp + i)));
  gelu_forward_ref(out + i, inp + i, n - i);
}

void gelu_backward_range(float* dinp, const float* inp, const float* dout, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = ymm::gelu_grad(_mm256_loadu_ps(inp + i));
    _mm256_storeu_ps(dinp + i, _mm256_fmadd_ps(_mm256_loadu_ps(dout + i), g, _mm256_loadu_ps(dinp + i)));
  }
  gelu_backward_ref(dinp + i, inp + i, dout + i, n - i);
}

}  // namespace splade::avx2

#include "target_region_pop.h"

#endif  // SPLADE_X86
