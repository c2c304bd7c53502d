// Exact-erf GELU as an elementwise op, for the training path, which keeps the pre-activation for
// backward (the inference path fuses GELU into the GEMM epilogue, gemm.h).
#pragma once
#include <cstddef>

#include "../common/cpu_features.h"

namespace splade {

// out, inp are (n); out may alias inp
void gelu_forward_ref(float* out, const float* inp, size_t n);
// Backward (accumulates, +=): dinp (n) += dout * gelu'(inp), gelu'(x) = Phi(x) + x phi(x)
void gelu_backward_ref(float* dinp, const float* inp, const float* dout, size_t n);

}  // namespace splade

namespace splade {

// Threaded variants: on avx2 and avx512, 8 lanes at a time with the GEMM epilogue's vector erfc
// (gelu_avx2.cpp); on neon 4 lanes at a time with the same erfc (gelu_neon.cpp); generic runs the
// references on every thread.
void gelu_forward_isa(Isa isa, float* out, const float* inp, size_t n);
void gelu_backward_isa(Isa isa, float* dinp, const float* inp, const float* dout, size_t n);
// One thread's share of the above (no threads of its own): the vector range on isa, the reference on generic.
void gelu_forward_range_isa(Isa isa, float* out, const float* inp, size_t n);
void gelu_backward_range_isa(Isa isa, float* dinp, const float* inp, const float* dout, size_t n);
inline void gelu_forward(float* out, const float* inp, size_t n) { gelu_forward_isa(active_isa(), out, inp, n); }
inline void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) {
  gelu_backward_isa(active_isa(), dinp, inp, dout, n);
}

namespace avx2 {
void gelu_forward_range(float* out, const float* inp, size_t n);
void gelu_backward_range(float* dinp, const float* inp, const float* dout, size_t n);
}  // namespace avx2
namespace neon {
void gelu_forward_range(float* out, const float* inp, size_t n);
void gelu_backward_range(float* dinp, const float* inp, const float* dout, size_t n);
}  // namespace neon

}  // namespace splade
