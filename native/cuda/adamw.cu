// AdamW update and gradient norm on the GPU (see adamw.h).
#include <algorithm>
#include <cmath>

#include "../cpu/adamw.h"  // AdamScalars, adam_scalars
#include "adamw.h"
#include "cuda_check.h"
#include "device_math.cuh"

namespace splade {
namespace {

// kernels

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, size_t n, AdamScalars s,
                             const uint8_t* mask, float grad_scale) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    const float gi = __fmul_rn(grad_scale, g[i]);
    float pi = p[i];
    if (!mask || mask[i]) pi = __fmul_rn(pi, s.decay);
    const float mi = __fadd_rn(m[i], __fmul_rn(s.one_minus_b1, __fsub_rn(gi, m[i])));
    const float vi = __fadd_rn(__fmul_rn(s.b2, v[i]), __fmul_rn(__fmul_rn(s.one_minus_b2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), s.bc2_sqrt), s.eps);
    p[i] = __fsub_rn(pi, __fmul_rn(s.step_size, __fdiv_rn(mi, denom)));
  }
}

constexpr int kNormBlocks = 256, kNormThreads = 256;

// partial[blockIdx.x] = this block's grid-stride share, reduced in a fixed tree
__global__ void grad_norm_partial_kernel(double* partial, const float* g, size_t n) {
  __shared__ double sh[kNormThreads];
  double acc = 0.0;
  for (size_t i = size_t{blockIdx.x} * kNormThreads + threadIdx.x; i < n; i += size_t{kNormBlocks} * kNormThreads)
    acc += static_cast<double>(g[i]) * g[i];
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kNormThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

__global__ void grad_norm_final_kernel(double* out, const double* partial) {
  double s = 0.0;
  for (int b = 0; b < kNormBlocks; ++b) s += partial[b];
  *out = s;
}

}  // namespace

// launchers

void adamw_update_cuda(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                       float beta2, float eps, float weight_decay, int64_t step, const uint8_t* decay_mask,
                       float grad_scale, cudaStream_t stream) {
  if (n == 0) return;
  SPLADE_CHECK(params && m && v && grads && step >= 1, "adamw_update_cuda: bad arguments");
  const unsigned blocks = std::min<unsigned>(cuda::ceil_div(n, 256), 65535u);
  adamw_kernel<<<blocks, 256, 0, stream>>>(params, m, v, grads, n, adam_scalars(lr, beta1, beta2, eps, weight_decay, step),
                                           decay_mask, grad_scale);
  CUDA_CHECK_LAUNCH();
}

double grad_norm_sq_cuda(const float* grads, size_t n, double* scratch, cudaStream_t stream) {
  SPLADE_CHECK(scratch != nullptr && (n == 0 || grads != nullptr), "grad_norm_sq_cuda: bad arguments");
  grad_norm_partial_kernel<<<kNormBlocks, kNormThreads, 0, stream>>>(scratch + 1, grads, n);
  CUDA_CHECK_LAUNCH();
  grad_norm_final_kernel<<<1, 1, 0, stream>>>(scratch, scratch + 1);
  CUDA_CHECK_LAUNCH();
  double out = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(&out, scratch, sizeof(double), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

}  // namespace splade
