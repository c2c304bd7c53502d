// SPLADE head + pooling on the GPU (see splade_pool.h). Max pooling tracks the max logit x (and its row)
// and takes log1p once at the end, as max_n log1p(relu(x_n)) = log1p(relu(max_n x_n)); the running best
// starts at 0 with row -1, so a term whose logits are all <= 0 ends with w = 0 and argmax = -1.
#include "cuda_check.h"
#include "device_math.cuh"
#include "splade_pool.h"
#include "tc_tile.cuh"

namespace splade {
namespace {

// kernels

// (x, n) beats (best, arg): a larger logit, or the same logit at an earlier row (the reference's first max)
__device__ __forceinline__ bool better(float x, int n, float best, int arg) {
  return x > best || (x == best && arg >= 0 && n >= 0 && n < arg);
}

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

// grid (ceil(V / 128), B), 256 threads. Warp (wm, wn) covers rows wm*64.. and terms wn*32.. of each tile;
// lane handles term column (lane & 15) of each 16-wide accumulator block, rows (lane >> 4) * 8 .. + 7.
__global__ void __launch_bounds__(cuda::tc::kThreads, 2)
    splade_pool_bf16_kernel(float* w, int32_t* argmax, const __nv_bfloat16* t, const __nv_bfloat16* E,
                            const float* bias, const int32_t* cu_seqlens, size_t C, size_t V, int sum_pooling) {
  using namespace cuda::tc;
  __shared__ __align__(128) unsigned char smem_raw[kSmemBytes];
  __nv_bfloat16* smem = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  const int b = blockIdx.y;
  const size_t n0 = size_t{blockIdx.x} * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wm = warp & 1, wn = warp >> 1;
  const int col = lane & 15, half = lane >> 4;
  const size_t s = static_cast<size_t>(cu_seqlens[b]), e = static_cast<size_t>(cu_seqlens[b + 1]);
  float best[2] = {0.0f, 0.0f}, sum[2] = {0.0f, 0.0f};
  int arg[2] = {-1, -1};
  float bj[2];
  for (int j = 0; j < 2; ++j) {
    const size_t term = n0 + wn * 32 + j * 16 + col;
    bj[j] = term < V ? bias[term] : 0.0f;
  }
  float* scratch = reinterpret_cast<float*>(smem_raw) + warp * 256;
  for (size_t m0 = s; m0 < e; m0 += BM) {
    FragC acc[4][2];
    mma_block(acc, t, C, m0, e, E, C, n0, V, C, smem);  // ends with __syncthreads(): smem is ours
    for_each_block(acc, scratch, [&](int i, int j) {
      for (int r = half * 8; r < half * 8 + 8; ++r) {
        const size_t row = m0 + wm * 64 + i * 16 + r;  // rows ascend within a lane: strict > keeps the first
        if (row >= e) break;
        const float x = scratch[r * 16 + col] + bj[j];
        if (sum_pooling) {
          if (x > 0.0f) sum[j] += log1pf(x);
        } else if (x > best[j]) {
          best[j] = x;
          arg[j] = static_cast<int>(row);
        }
      }
    });
    __syncthreads();  // the next mma_block refills the stages this warp used as scratch
  }
  // lane + lane^16 (the two row halves), then warp wm = 1 into wm = 0 through shared memory
  float* sh_best = reinterpret_cast<float*>(smem_raw);  // [128]
  int* sh_arg = reinterpret_cast<int*>(smem_raw + BN * sizeof(float));
  for (int j = 0; j < 2; ++j) {
    const float ob = __shfl_xor_sync(0xffffffffu, best[j], 16), os = __shfl_xor_sync(0xffffffffu, sum[j], 16);
    const int oa = __shfl_xor_sync(0xffffffffu, arg[j], 16);
    sum[j] += os;  // a + b == b + a in IEEE: both halves get the same bits
    if (better(ob, oa, best[j], arg[j])) {
      best[j] = ob;
      arg[j] = oa;
    }
  }
  if (wm == 1 && half == 0) {
    for (int j = 0; j < 2; ++j) {
      const int c = wn * 32 + j * 16 + col;
      sh_best[c] = sum_pooling ? sum[j] : best[j];
      sh_arg[c] = arg[j];
    }
  }
  __syncthreads();
  if (wm == 0 && half == 0) {
    for (int j = 0; j < 2; ++j) {
      const int c = wn * 32 + j * 16 + col;
      const size_t term = n0 + c;
      if (term >= V) continue;
      float out;
      int a = -1;
      if (sum_pooling) {
        out = sum[j] + sh_best[c];
      } else {
        float bb = best[j];
        a = arg[j];
        if (better(sh_best[c], sh_arg[c], bb, a)) {
          bb = sh_best[c];
          a = sh_arg[c];
        }
        out = log1pf(bb);
      }
      w[size_t(b) * V + term] = out;
      if (argmax) argmax[size_t(b) * V + term] = a;
    }
  }
}

void check_args(const float* w, const void* t, const void* E, const float* bias, const int32_t* cu_seqlens, int B,
                size_t C, size_t V) {
  SPLADE_CHECK(w && t && E && bias && cu_seqlens && B >= 0 && B <= 65535, "splade_pool_forward_cuda: bad arguments");
  SPLADE_CHECK(C > 0 && V > 0, "splade_pool_forward_cuda: C and V must be positive");
}

}  // namespace

// launchers

void splade_pool_forward_cuda(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                              const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling,
                              cudaStream_t stream) {
  check_args(w, t, E, bias, cu_seqlens, B, C, V);
  if (B == 0) return;
  const dim3 grid(cuda::ceil_div(V, 128), static_cast<unsigned>(B));
  splade_pool_reference_kernel<<<grid, 128, 0, stream>>>(w, argmax, t, E, bias, cu_seqlens, C, V,
                                                         pooling == Pooling::sum);
  CUDA_CHECK_LAUNCH();
}

void splade_pool_forward_bf16_cuda(float* w, int32_t* argmax, const __nv_bfloat16* t, const __nv_bfloat16* E,
                                   const float* bias, const int32_t* cu_seqlens, int B, size_t C, size_t V,
                                   Pooling pooling, cudaStream_t stream) {
  check_args(w, t, E, bias, cu_seqlens, B, C, V);
  SPLADE_CHECK(C % 8 == 0, "splade_pool_forward_bf16_cuda: C must be a multiple of 8");
  SPLADE_CHECK(reinterpret_cast<uintptr_t>(t) % 16 == 0 && reinterpret_cast<uintptr_t>(E) % 16 == 0,
               "splade_pool_forward_bf16_cuda: t and E must be 16-byte aligned");
  if (B == 0) return;
  const dim3 grid(cuda::ceil_div(V, cuda::tc::BN), static_cast<unsigned>(B));
  splade_pool_bf16_kernel<<<grid, cuda::tc::kThreads, 0, stream>>>(w, argmax, t, E, bias, cu_seqlens, C, V,
                                                                   pooling == Pooling::sum);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
