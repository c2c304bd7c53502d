// Attention backward on the GPU (see attention.h), with P_ij = softmax_j(s_ij), s_ij = q_i . k_j / sqrt(d),
// dP_ij = dout_i . v_j and D_i = sum_j P_ij dP_ij:
//   dq_i += sum_j P_ij (dP_ij - D_i) k_j / sqrt(d)     (kernel 1, one warp per query row and head)
//   dk_j += sum_i P_ij (dP_ij - D_i) q_i / sqrt(d),  dv_j += sum_i P_ij dout_i   (kernel 2, per key row)
// Kernel 1 leaves max_i, sum_i (the softmax's) and D_i in scratch for kernel 2. A lane holds elements
// lane, lane + 32, ... of each head-sized vector; dot products are warp reductions. With the forward's
// dropout mask f (training): dP_ij = f_ij dout_i . v_j in all of the above, and dv_j += sum_i P_ij f_ij dout_i.
#include <cmath>

#include "attention.h"
#include "cuda_check.h"
#include "device_math.cuh"
#include "dropout.cuh"

namespace splade {
namespace {

// kernels

constexpr int kPer = 8, kWarps = 4;  // head size <= 32 * kPer

__device__ __forceinline__ void load_lane(float (&x)[kPer], const float* p, size_t d, int lane) {
#pragma unroll
  for (int t = 0; t < kPer; ++t) {
    const size_t e = lane + 32 * t;
    x[t] = e < d ? p[e] : 0.0f;
  }
}

// x . p over the head, the same value in every lane
__device__ __forceinline__ float lane_dot(const float (&x)[kPer], const float* p, size_t d, int lane) {
  float part = 0.0f;
#pragma unroll
  for (int t = 0; t < kPer; ++t) {
    const size_t e = lane + 32 * t;
    if (e < d) part = fmaf(x[t], p[e], part);
  }
  return cuda::warp_sum(part);
}

__device__ __forceinline__ void add_lane(float* p, const float (&x)[kPer], size_t d, int lane) {
#pragma unroll
  for (int t = 0; t < kPer; ++t) {
    const size_t e = lane + 32 * t;
    if (e < d) p[e] += x[t];
  }
}

__global__ void attention_backward_dq_kernel(float* dqkv, float* stats, const float* dout, const float* qkv,
                                             const int32_t* cu_seqlens, int B, size_t C, size_t NH, size_t N,
                                             float scale, DropoutMask drop) {
  cuda::RowHeadTask task;
  if (!cuda::row_head_task(task, cu_seqlens, B, NH, N, kWarps)) return;  // the whole warp leaves
  const int lane = threadIdx.x % 32, s = task.s, T = task.T;
  const int32_t n = task.n;
  const size_t h = task.h, d = C / NH, C3 = 3 * C, slot = size_t(n) * NH + h;
  float q[kPer], g[kPer];
  load_lane(q, qkv + size_t(n) * C3 + h * d, d, lane);
  load_lane(g, dout + size_t(n) * C + h * d, d, lane);
  auto key = [&](int j) { return qkv + size_t(s + j) * C3 + C + h * d; };
  auto value = [&](int j) { return qkv + size_t(s + j) * C3 + 2 * C + h * d; };
  const uint64_t rk = drop.active ? cuda::drop_row_key(drop, uint64_t(n) * NH + h) : 0;
  // dP_ij: dout_i . v_j, times the mask's factor
  auto dp = [&](int j) {
    const float x = lane_dot(g, value(j), d, lane);
    return drop.active ? x * cuda::drop_factor_in_row(drop, rk, uint64_t(j)) : x;
  };
  float m = -INFINITY, l = 0.0f;  // pass 1: the softmax's max and sum
  for (int j = 0; j < T; ++j) {
    const float sc = scale * lane_dot(q, key(j), d, lane);
    if (sc > m) {
      l *= expf(m - sc);
      m = sc;
    }
    l += expf(sc - m);
  }
  const float inv = 1.0f / l;
  float D = 0.0f;  // pass 2: D = sum_j P_ij dP_ij
  for (int j = 0; j < T; ++j)
    D += expf(scale * lane_dot(q, key(j), d, lane) - m) * inv * dp(j);
  float dq[kPer] = {};  // pass 3
  for (int j = 0; j < T; ++j) {
    const float p = expf(scale * lane_dot(q, key(j), d, lane) - m) * inv;
    const float ds = p * (dp(j) - D) * scale;
    const float* k = key(j);
#pragma unroll
    for (int t = 0; t < kPer; ++t) {
      const size_t e = lane + 32 * t;
      if (e < d) dq[t] = fmaf(ds, k[e], dq[t]);
    }
  }
  add_lane(dqkv + size_t(n) * C3 + h * d, dq, d, lane);
  if (lane == 0) {
    stats[slot] = m;
    stats[N * NH + slot] = l;
    stats[2 * N * NH + slot] = D;
  }
}

__global__ void attention_backward_dkv_kernel(float* dqkv, const float* stats, const float* dout, const float* qkv,
                                              const int32_t* cu_seqlens, int B, size_t C, size_t NH, size_t N,
                                              float scale, DropoutMask drop) {
  cuda::RowHeadTask task;
  if (!cuda::row_head_task(task, cu_seqlens, B, NH, N, kWarps)) return;
  const int lane = threadIdx.x % 32, s = task.s, T = task.T;
  const int32_t j = task.n;  // the key row
  const size_t h = task.h, d = C / NH, C3 = 3 * C;
  float k[kPer], v[kPer], dk[kPer] = {}, dv[kPer] = {};
  load_lane(k, qkv + size_t(j) * C3 + C + h * d, d, lane);
  load_lane(v, qkv + size_t(j) * C3 + 2 * C + h * d, d, lane);
  for (int i = 0; i < T; ++i) {
    const size_t row = size_t(s + i), idx = row * NH + h;
    const float* q = qkv + row * C3 + h * d;
    const float* g = dout + row * C + h * d;
    const float p = expf(scale * lane_dot(k, q, d, lane) - stats[idx]) / stats[N * NH + idx];
    // the mask's factor of (query row s + i, key j - s): 1 without dropout
    const float f = drop.active ? cuda::drop_factor_in_row(drop, cuda::drop_row_key(drop, uint64_t(idx)), uint64_t(j - s)) : 1.0f;
    const float ds = p * (f * lane_dot(v, g, d, lane) - stats[2 * N * NH + idx]) * scale;
    const float pf = p * f;
#pragma unroll
    for (int t = 0; t < kPer; ++t) {
      const size_t e = lane + 32 * t;
      if (e < d) {
        dk[t] = fmaf(ds, q[e], dk[t]);
        dv[t] = fmaf(pf, g[e], dv[t]);
      }
    }
  }
  add_lane(dqkv + size_t(j) * C3 + C + h * d, dk, d, lane);
  add_lane(dqkv + size_t(j) * C3 + 2 * C + h * d, dv, d, lane);
}

}  // namespace

// launchers

void attention_backward_cuda(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                             size_t C, size_t NH, size_t num_rows, float* scratch, cudaStream_t stream,
                             const DropoutMask& drop) {
  if (B == 0 || num_rows == 0) return;
  SPLADE_CHECK(dqkv && dout && qkv && cu_seqlens && scratch && B > 0, "attention_backward_cuda: bad arguments");
  SPLADE_CHECK(NH > 0 && C % NH == 0 && C / NH <= 32 * kPer, "attention_backward_cuda: C % NH != 0 or head above 256");
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(C / NH)));
  const unsigned blocks = cuda::ceil_div(num_rows * NH, kWarps);
  attention_backward_dq_kernel<<<blocks, kWarps * 32, 0, stream>>>(dqkv, scratch, dout, qkv, cu_seqlens, B, C, NH,
                                                                   num_rows, scale, drop);
  CUDA_CHECK_LAUNCH();
  attention_backward_dkv_kernel<<<blocks, kWarps * 32, 0, stream>>>(dqkv, scratch, dout, qkv, cu_seqlens, B, C, NH,
                                                                    num_rows, scale, drop);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
