// GELU forward and backward over 4 floats at a time on arm64 (NEON): the vector erfc of the NEON GEMM
// epilogue (neon_math.h) instead of libm's double erf and exp per element. Tails go through the
// scalar reference.
#include "../common/cpu_features.h"
#if defined(SPLADE_ARM64)  // arm64 only: other architectures never choose the NEON kernels

#include <cstddef>

#include "gelu.h"
#include "neon_math.h"

namespace splade::neon {

void gelu_forward_range(float* out, const float* inp, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, neon_math::gelu(vld1q_f32(inp + i)));
  gelu_forward_ref(out + i, inp + i, n - i);
}

void gelu_backward_range(float* dinp, const float* inp, const float* dout, size_t n) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t g = neon_math::gelu_grad(vld1q_f32(inp + i));
    vst1q_f32(dinp + i, vfmaq_f32(vld1q_f32(dinp + i), vld1q_f32(dout + i), g));
  }
  gelu_backward_ref(dinp + i, inp + i, dout + i, n - i);
}

}  // namespace splade::neon

#endif  // SPLADE_ARM64
