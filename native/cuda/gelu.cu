// GELU forward / backward on the GPU (see gelu.h): grid-stride elementwise loops.
#include <algorithm>

#include "cuda_check.h"
#include "device_math.cuh"
#include "gelu.h"

namespace splade {
namespace {

// kernels

__global__ void gelu_forward_kernel(float* out, const float* inp, size_t n) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
    out[i] = cuda::gelu_exact_dev(inp[i]);
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, size_t n) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    const float x = inp[i];
    const float cdf = 0.5f * erfcf(-x * 0.70710678118654752f);
    const float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
    dinp[i] += dout[i] * (cdf + x * pdf);
  }
}

unsigned blocks_for(size_t n) { return std::min<unsigned>(cuda::ceil_div(n, 256), 65535u); }

}  // namespace

// launchers

void gelu_forward_cuda(float* out, const float* inp, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_forward_kernel<<<blocks_for(n), 256, 0, stream>>>(out, inp, n);
  CUDA_CHECK_LAUNCH();
}

void gelu_backward_cuda(float* dinp, const float* inp, const float* dout, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_backward_kernel<<<blocks_for(n), 256, 0, stream>>>(dinp, inp, dout, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
