// Device helpers shared by the kernels: exact-erf GELU and warp reductions.
#pragma once
#include <cuda_runtime.h>

namespace splade::cuda {

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): the erfc form keeps the relative
// accuracy of the negative tail (1 + erf cancels there); erfcf is accurate to a few ulp.
__device__ __forceinline__ float gelu_exact_dev(float x) { return 0.5f * x * erfcf(-x * 0.70710678118654752f); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

inline unsigned int ceil_div(size_t a, size_t b) { return static_cast<unsigned int>((a + b - 1) / b); }

}  // namespace splade::cuda
