// Elementwise exact-erf GELU and its derivative; see gelu.h.
#include "gelu.h"

#include <cmath>

#include "../common/thread_pool.h"
#include "gemm.h"

namespace splade {

void gelu_forward_ref(float* out, const float* inp, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu_exact(inp[i]);
}

void gelu_backward_ref(float* dinp, const float* inp, const float* dout, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const double x = inp[i];
    const double cdf = 0.5 * (1.0 + std::erf(x * 0.70710678118654752));
    const double pdf = 0.3989422804014327 * std::exp(-0.5 * x * x);
    dinp[i] += static_cast<float>(dout[i] * (cdf + x * pdf));
  }
}

}  // namespace splade

namespace splade {

// The vector ranges of this architecture (avx2 also serves avx512; neon on arm64); null elsewhere.
#if defined(SPLADE_X86)
namespace vec = avx2;
#elif defined(SPLADE_ARM64)
namespace vec = neon;
#endif

void gelu_forward_range_isa(Isa isa, float* out, const float* inp, size_t n) {
#if defined(SPLADE_X86) || defined(SPLADE_ARM64)
  if (isa != Isa::generic) return vec::gelu_forward_range(out, inp, n);
#endif
  gelu_forward_ref(out, inp, n);
}

void gelu_backward_range_isa(Isa isa, float* dinp, const float* inp, const float* dout, size_t n) {
#if defined(SPLADE_X86) || defined(SPLADE_ARM64)
  if (isa != Isa::generic) return vec::gelu_backward_range(dinp, inp, dout, n);
#endif
  gelu_backward_ref(dinp, inp, dout, n);
}

void gelu_forward_isa(Isa isa, float* out, const float* inp, size_t n) {
  parallel_range(n, [&](size_t begin, size_t end, int) { gelu_forward_range_isa(isa, out + begin, inp + begin, end - begin); });
}

void gelu_backward_isa(Isa isa, float* dinp, const float* inp, const float* dout, size_t n) {
  parallel_range(n, [&](size_t begin, size_t end, int) {
    gelu_backward_range_isa(isa, dinp + begin, inp + begin, dout + begin, end - begin);
  });
}

}  // namespace splade
