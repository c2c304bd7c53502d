// LayerNorm forward / backward on the GPU (see layernorm.h).
#include "cuda_check.h"
#include "device_math.cuh"
#include "layernorm.h"

namespace splade {
namespace {

// kernels

constexpr int kWarpsPerBlock = 4;

__global__ void layernorm_forward_kernel(float* out, __nv_bfloat16* out_bf16, float* mean, float* rstd,
                                         const float* inp, const float* weight, const float* bias, size_t N, size_t C,
                                         float eps) {
  const size_t row = size_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;  // the whole warp leaves together
  const float* x = inp + row * C;
  float s = 0.0f;
  for (size_t c = lane; c < C; c += 32) s += x[c];
  const float m = cuda::warp_sum(s) / static_cast<float>(C);
  float v = 0.0f;
  for (size_t c = lane; c < C; c += 32) {
    const float d = x[c] - m;
    v = fmaf(d, d, v);
  }
  const float r = 1.0f / sqrtf(cuda::warp_sum(v) / static_cast<float>(C) + eps);
  for (size_t c = lane; c < C; c += 32) {
    const float y = (x[c] - m) * r * weight[c] + bias[c];  // x[c] is read before out[c] (may alias) is written
    if (out) out[row * C + c] = y;
    if (out_bf16) out_bf16[row * C + c] = __float2bfloat16_rn(y);
  }
  if (lane == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

__global__ void layernorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                               const float* mean, const float* rstd, size_t N, size_t C) {
  const size_t row = size_t{blockIdx.x} * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  const float* g = dout + row * C;
  const float* x = inp + row * C;
  const float m = mean[row], r = rstd[row];
  float dn = 0.0f, dnx = 0.0f;
  for (size_t c = lane; c < C; c += 32) {
    const float xhat = (x[c] - m) * r, dnorm = g[c] * weight[c];
    dn += dnorm;
    dnx = fmaf(dnorm, xhat, dnx);
  }
  dn = cuda::warp_sum(dn) / static_cast<float>(C);
  dnx = cuda::warp_sum(dnx) / static_cast<float>(C);
  for (size_t c = lane; c < C; c += 32) {
    const float xhat = (x[c] - m) * r, dnorm = g[c] * weight[c];
    dinp[row * C + c] += r * (dnorm - dn - xhat * dnx);
  }
}

// block (32, 16): column blockIdx.x * 32 + threadIdx.x; rows threadIdx.y, +16, ...; partials summed in y order
__global__ void layernorm_backward_params_kernel(float* dweight, float* dbias, const float* dout, const float* inp,
                                                 const float* mean, const float* rstd, size_t N, size_t C) {
  __shared__ float pw[16][33], pb[16][33];
  const size_t c = size_t{blockIdx.x} * 32 + threadIdx.x;
  float w = 0.0f, b = 0.0f;
  if (c < C) {
    for (size_t n = threadIdx.y; n < N; n += 16) {
      const float g = dout[n * C + c];
      b += g;
      w = fmaf(g, (inp[n * C + c] - mean[n]) * rstd[n], w);
    }
  }
  pw[threadIdx.y][threadIdx.x] = w;
  pb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < 16; ++y) {
      w += pw[y][threadIdx.x];
      b += pb[y][threadIdx.x];
    }
    dweight[c] += w;
    dbias[c] += b;
  }
}

}  // namespace

// launchers

void layernorm_forward_cuda(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                            const float* bias, size_t N, size_t C, float eps, cudaStream_t stream,
                            __nv_bfloat16* out_bf16) {
  if (N == 0) return;
  SPLADE_CHECK(C > 0 && inp && weight && bias && (out || out_bf16), "layernorm_forward_cuda: bad arguments");
  layernorm_forward_kernel<<<cuda::ceil_div(N, kWarpsPerBlock), kWarpsPerBlock * 32, 0, stream>>>(
      out, out_bf16, mean, rstd, inp, weight, bias, N, C, eps);
  CUDA_CHECK_LAUNCH();
}

void layernorm_backward_cuda(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                             cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  layernorm_backward_dinp_kernel<<<cuda::ceil_div(N, kWarpsPerBlock), kWarpsPerBlock * 32, 0, stream>>>(
      dinp, dout, inp, weight, mean, rstd, N, C);
  CUDA_CHECK_LAUNCH();
  layernorm_backward_params_kernel<<<cuda::ceil_div(C, 32), dim3(32, 16), 0, stream>>>(dweight, dbias, dout, inp, mean,
                                                                                        rstd, N, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
