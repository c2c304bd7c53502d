// Exact-erf GELU as an elementwise op, for the training path, which keeps the pre-activation for
// backward (the inference path fuses GELU into the GEMM epilogue, gemm.h).
#pragma once
#include <cstddef>

namespace splade {

// out, inp are (n); out may alias inp
void gelu_forward_cpu(float* out, const float* inp, size_t n);
// Backward (accumulates, +=): dinp (n) += dout * gelu'(inp), gelu'(x) = Phi(x) + x phi(x)
void gelu_backward_cpu(float* dinp, const float* inp, const float* dout, size_t n);

}  // namespace splade

namespace splade {

// Threaded variants (erf and exp are libm calls, so the gain is the threads, not the vector units).
void gelu_forward(float* out, const float* inp, size_t n);
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n);

}  // namespace splade
