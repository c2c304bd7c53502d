// Dropout at the flat sites on the GPU (see dropout.h). Grid-stride loops over the flat index, which is
// the mask's index (plus offset): the factor of element i does not depend on the launch shape.
#include <algorithm>

#include "cuda_check.h"
#include "device_math.cuh"
#include "dropout.cuh"
#include "dropout.h"

namespace splade {
namespace {

// kernels

__global__ void dropout_apply_kernel(float* x, size_t n, DropoutMask m, size_t offset) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
    x[i] = __fmul_rn(x[i], cuda::drop_factor(m, offset + i));
}

__global__ void dropout_residual_kernel(float* out, const float* residual, size_t n, DropoutMask m) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
    out[i] = __fadd_rn(__fmul_rn(out[i], cuda::drop_factor(m, i)), residual[i]);
}

unsigned blocks_for(size_t n) { return std::min<unsigned>(cuda::ceil_div(n, 256), 65535u); }

}  // namespace

// launchers

void dropout_apply_cuda(float* x, size_t n, const DropoutMask& m, size_t offset, cudaStream_t stream) {
  if (!m.active || n == 0) return;
  SPLADE_CHECK(x != nullptr, "dropout_apply_cuda: bad arguments");
  dropout_apply_kernel<<<blocks_for(n), 256, 0, stream>>>(x, n, m, offset);
  CUDA_CHECK_LAUNCH();
}

void dropout_residual_cuda(float* out, const float* residual, size_t n, const DropoutMask& m, cudaStream_t stream) {
  if (n == 0) return;
  SPLADE_CHECK(out != nullptr && residual != nullptr && m.active, "dropout_residual_cuda: bad arguments");
  dropout_residual_kernel<<<blocks_for(n), 256, 0, stream>>>(out, residual, n, m);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
