// Device helpers shared by the kernels: exact-erf GELU, warp reductions, the sequence of a packed row.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

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

// The sequence of packed row n: the last b in [0, B) with cu_seqlens[b] <= n.
__device__ __forceinline__ int seq_of_row(const int32_t* cu_seqlens, int B, int32_t n) {
  int lo = 0, hi = B - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (cu_seqlens[mid] <= n) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// The task of one warp in the warp-per-(packed row, head) kernels: row n, head h, and the rows [s, s + T)
// of n's sequence. False (for the whole warp) past the last task.
struct RowHeadTask {
  int32_t n;
  size_t h;
  int s, T;
};
__device__ __forceinline__ bool row_head_task(RowHeadTask& t, const int32_t* cu_seqlens, int B, size_t NH, size_t N,
                                              int warps_per_block) {
  const size_t task = size_t{blockIdx.x} * warps_per_block + threadIdx.x / 32;
  if (task >= N * NH) return false;
  t.n = static_cast<int32_t>(task / NH);
  t.h = task % NH;
  const int b = seq_of_row(cu_seqlens, B, t.n);
  t.s = cu_seqlens[b];
  t.T = cu_seqlens[b + 1] - t.s;
  return true;
}

inline unsigned int ceil_div(size_t a, size_t b) { return static_cast<unsigned int>((a + b - 1) / b); }

}  // namespace splade::cuda
