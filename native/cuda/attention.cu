// Attention forward on the GPU (see attention.h). The online softmax per query row i over keys j:
//   s = q.k_j / sqrt(d); if s > m: acc *= exp(m - s), l *= exp(m - s), m = s; p = exp(s - m); l += p; acc += p v_j
// and out_i = acc / l at the end: exactly softmax(s) V, with nothing of size T x T kept anywhere. With a
// dropout mask (training) acc += p f_ij v_j while l sums the unmasked p: out_i = sum_j P_ij f_ij v_j.
#include <cmath>

#include "attention.h"
#include "cuda_check.h"
#include "device_math.cuh"
#include "dropout.cuh"

namespace splade {
namespace {

// kernels

constexpr int kRowsPerBlock = 64;

// One key of the online softmax for one query row: score sc, running max m and sum l, output
// accumulator acc (K elements of it held here). Returns p = exp(sc - m) for the caller's acc += p v.
template <int K>
__device__ __forceinline__ float online_softmax_step(float sc, float& m, float& l, float (&acc)[K]) {
  if (sc > m) {
    const float corr = expf(m - sc);  // m == -inf: 0, and acc, l are still 0
    l *= corr;
#pragma unroll
    for (int e = 0; e < K; ++e) acc[e] *= corr;
    m = sc;
  }
  const float p = expf(sc - m);
  l += p;
  return p;
}

// grid (query tiles, NH, B); thread t owns query row blockIdx.x * 64 + t of sequence blockIdx.z, head blockIdx.y
template <int D>
__global__ void __launch_bounds__(kRowsPerBlock) attention_forward_rows_kernel(float* out, const float* qkv,
                                                                               const int32_t* cu_seqlens, size_t C,
                                                                               float scale, DropoutMask drop) {
  constexpr int kKeys = 4096 / D;  // K and V tiles: 2 x 16 KiB of shared memory
  __shared__ float Ks[kKeys][D], Vs[kKeys][D];
  const int b = blockIdx.z, h = blockIdx.y;
  const int s = cu_seqlens[b], T = cu_seqlens[b + 1] - s;
  const int i = blockIdx.x * kRowsPerBlock + threadIdx.x;
  if (static_cast<int>(blockIdx.x) * kRowsPerBlock >= T) return;  // the whole block leaves together
  const bool active = i < T;
  const size_t C3 = 3 * C;
  float q[D], acc[D];
#pragma unroll
  for (int e = 0; e < D; ++e) {
    q[e] = active ? qkv[(s + i) * C3 + h * D + e] : 0.0f;
    acc[e] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const uint64_t rk = drop.active ? cuda::drop_row_key(drop, uint64_t(s + i) * gridDim.y + h) : 0;  // NH = gridDim.y
  for (int j0 = 0; j0 < T; j0 += kKeys) {
    const int nk = min(kKeys, T - j0);
    for (int idx = threadIdx.x; idx < nk * D; idx += kRowsPerBlock) {
      const int r = idx / D, e = idx % D;
      const float* row = qkv + (s + j0 + r) * C3 + h * D + e;
      Ks[r][e] = row[C];
      Vs[r][e] = row[2 * C];
    }
    __syncthreads();
    if (active) {
      for (int j = 0; j < nk; ++j) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < D; ++e) dot = fmaf(q[e], Ks[j][e], dot);
        float p = online_softmax_step(dot * scale, m, l, acc);
        if (drop.active) p *= cuda::drop_factor_in_row(drop, rk, uint64_t(j0 + j));
#pragma unroll
        for (int e = 0; e < D; ++e) acc[e] = fmaf(p, Vs[j][e], acc[e]);
      }
    }
    __syncthreads();
  }
  if (active) {
    const float inv = 1.0f / l;
#pragma unroll
    for (int e = 0; e < D; ++e) out[(s + i) * C + h * D + e] = acc[e] * inv;
  }
}

constexpr int kMaxGenericHead = 256, kGenericWarps = 4;

// one warp per (packed row n, head h); lane holds elements lane, lane + 32, ... of q and of the output
__global__ void attention_forward_warp_kernel(float* out, const float* qkv, const int32_t* cu_seqlens, int B,
                                              size_t C, size_t NH, size_t N, float scale, DropoutMask drop) {
  cuda::RowHeadTask task;
  if (!cuda::row_head_task(task, cu_seqlens, B, NH, N, kGenericWarps)) return;  // the whole warp leaves
  const int lane = threadIdx.x % 32, s = task.s, T = task.T;
  const int32_t n = task.n;
  const size_t h = task.h, d = C / NH, C3 = 3 * C;
  constexpr int kPer = kMaxGenericHead / 32;
  float q[kPer], acc[kPer];
#pragma unroll
  for (int t = 0; t < kPer; ++t) {
    const size_t e = lane + 32 * t;
    q[t] = e < d ? qkv[size_t(n) * C3 + h * d + e] : 0.0f;
    acc[t] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const uint64_t rk = drop.active ? cuda::drop_row_key(drop, uint64_t(n) * NH + h) : 0;
  for (int j = 0; j < T; ++j) {
    const float* k = qkv + size_t(s + j) * C3 + C + h * d;
    float part = 0.0f;
#pragma unroll
    for (int t = 0; t < kPer; ++t) {
      const size_t e = lane + 32 * t;
      if (e < d) part = fmaf(q[t], k[e], part);
    }
    float p = online_softmax_step(cuda::warp_sum(part) * scale, m, l, acc);  // same score in every lane
    if (drop.active) p *= cuda::drop_factor_in_row(drop, rk, uint64_t(j));
    const float* v = k + C;
#pragma unroll
    for (int t = 0; t < kPer; ++t) {
      const size_t e = lane + 32 * t;
      if (e < d) acc[t] = fmaf(p, v[e], acc[t]);
    }
  }
  const float inv = 1.0f / l;
#pragma unroll
  for (int t = 0; t < kPer; ++t) {
    const size_t e = lane + 32 * t;
    if (e < d) out[size_t(n) * C + h * d + e] = acc[t] * inv;
  }
}

void check_args(const float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH) {
  SPLADE_CHECK(out && qkv && cu_seqlens && B >= 0, "attention_forward_cuda: bad arguments");
  SPLADE_CHECK(NH > 0 && C % NH == 0, "attention_forward_cuda: C must be a multiple of NH");
  SPLADE_CHECK(C / NH <= kMaxGenericHead, "attention_forward_cuda: head size above 256");
}

}  // namespace

// launchers

void attention_forward_generic_cuda(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C,
                                    size_t NH, size_t num_rows, cudaStream_t stream, const DropoutMask& drop) {
  if (B == 0 || num_rows == 0) return;
  check_args(out, qkv, cu_seqlens, B, C, NH);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(C / NH)));
  attention_forward_warp_kernel<<<cuda::ceil_div(num_rows * NH, kGenericWarps), kGenericWarps * 32, 0, stream>>>(
      out, qkv, cu_seqlens, B, C, NH, num_rows, scale, drop);
  CUDA_CHECK_LAUNCH();
}

void attention_forward_cuda(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                            size_t num_rows, int max_len, cudaStream_t stream, const DropoutMask& drop) {
  if (B == 0 || num_rows == 0) return;
  check_args(out, qkv, cu_seqlens, B, C, NH);
  const size_t d = C / NH;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  SPLADE_CHECK(max_len > 0 && NH <= 65535 && B <= 65535, "attention_forward_cuda: bad max_len, NH or B");
  const dim3 grid(cuda::ceil_div(static_cast<size_t>(max_len), kRowsPerBlock), static_cast<unsigned>(NH),
                  static_cast<unsigned>(B));
  if (d == 64) {
    attention_forward_rows_kernel<64><<<grid, kRowsPerBlock, 0, stream>>>(out, qkv, cu_seqlens, C, scale, drop);
  } else if (d == 32) {
    attention_forward_rows_kernel<32><<<grid, kRowsPerBlock, 0, stream>>>(out, qkv, cu_seqlens, C, scale, drop);
  } else {
    return attention_forward_generic_cuda(out, qkv, cu_seqlens, B, C, NH, num_rows, stream, drop);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
