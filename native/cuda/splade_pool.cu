// SPLADE head + pooling on the GPU, the fp32 reference kernel (see splade_pool.h; the tensor-core path is
// splade_pool_bf16.cu). Max pooling tracks the max logit x (and its row) and takes log1p once at the end,
// as max_n log1p(relu(x_n)) = log1p(relu(max_n x_n)); the running best starts at 0 with row -1, so a term
// whose logits are all <= 0 ends with w = 0 and argmax = -1.
#include "cuda_check.h"
#include "device_math.cuh"
#include "splade_pool.h"

namespace splade {
namespace {

// kernels

// grid (ceil(V / 128), B); thread j of the block owns term blockIdx.x * 128 + j
__global__ void splade_pool_reference_kernel(float* w, int32_t* argmax, const float* t, const float* E,
                                             const float* bias, const int32_t* cu_seqlens, size_t C, size_t V,
                                             int sum_pooling) {
  const int b = blockIdx.y;
  const size_t j = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (j >= V) return;
  float best = 0.0f, sum = 0.0f;
  int arg = -1;
  for (int n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) {
    float x = 0.0f;
    for (size_t c = 0; c < C; ++c) x = fmaf(t[size_t(n) * C + c], E[j * C + c], x);
    x += bias[j];
    if (sum_pooling) {
      if (x > 0.0f) sum += log1pf(x);
    } else if (x > best) {
      best = x;
      arg = n;
    }
  }
  w[size_t(b) * V + j] = sum_pooling ? sum : log1pf(best);
  if (argmax) argmax[size_t(b) * V + j] = sum_pooling ? -1 : arg;
}

}  // namespace

// launchers

void splade_pool_forward_cuda(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                              const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling,
                              cudaStream_t stream) {
  SPLADE_CHECK(w && t && E && bias && cu_seqlens && B >= 0 && B <= 65535, "splade_pool_forward_cuda: bad arguments");
  SPLADE_CHECK(C > 0 && V > 0, "splade_pool_forward_cuda: C and V must be positive");
  if (B == 0) return;
  const dim3 grid(cuda::ceil_div(V, 128), static_cast<unsigned>(B));
  splade_pool_reference_kernel<<<grid, 128, 0, stream>>>(w, argmax, t, E, bias, cu_seqlens, C, V,
                                                         pooling == Pooling::sum);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
