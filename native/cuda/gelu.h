// Exact-erf GELU on the GPU (gelu.h in cpu/ with device pointers and a stream), elementwise.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace splade {

// out, inp (n); out may alias inp
void gelu_forward_cuda(float* out, const float* inp, size_t n, cudaStream_t stream);
// accumulates: dinp (n) += dout * (Phi(x) + x phi(x))
void gelu_backward_cuda(float* dinp, const float* inp, const float* dout, size_t n, cudaStream_t stream);

}  // namespace splade
