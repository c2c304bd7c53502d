// SPLADE head + pooling backward on the GPU (see splade_pool.h), tile by tile over the vocabulary:
//   L (N, vt) = t E_tile^T + bias_tile                       (sgemm_cuda, NT)
//   L -> dlogits: dw[b, j] / (1 + L) where L > 0 and (max pooling) row n is argmax[b, j], else 0
//   dt += dlogits E_tile (NN), dE_tile += dlogits^T t (TN), dbias_tile += column sums of dlogits
#include <algorithm>

#include "cuda_check.h"
#include "device_math.cuh"
#include "gemm.h"
#include "splade_pool.h"

namespace splade {
namespace {

// kernels

// L (N, vt) holds logits of terms v0 .. v0 + vt - 1; becomes dlogits in place
__global__ void pool_dlogits_kernel(float* L, const float* dw, const int32_t* argmax, const int32_t* cu_seqlens, int B,
                                    size_t N, size_t V, size_t v0, size_t vt, int sum_pooling) {
  const size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (i >= N * vt) return;
  const int32_t n = static_cast<int32_t>(i / vt);
  const size_t j = v0 + i % vt;
  const size_t bj = static_cast<size_t>(cuda::seq_of_row(cu_seqlens, B, n)) * V + j;
  const float x = L[i];
  const bool takes = x > 0.0f && (sum_pooling || argmax[bj] == n);
  L[i] = takes ? dw[bj] / (1.0f + x) : 0.0f;
}

}  // namespace

// launchers

void splade_pool_backward_cuda(float* dt, float* dE, float* dbias, const float* dw, const float* t, const float* E,
                               const float* bias, const int32_t* argmax, const int32_t* cu_seqlens, int B,
                               size_t num_rows, size_t C, size_t V, Pooling pooling, float* scratch,
                               size_t scratch_floats, cudaStream_t stream) {
  if (B == 0 || num_rows == 0) return;
  const bool sum = pooling == Pooling::sum;
  SPLADE_CHECK(dt && dE && dbias && dw && t && E && bias && cu_seqlens && scratch && (sum || argmax),
               "splade_pool_backward_cuda: bad arguments");
  SPLADE_CHECK(scratch_floats >= num_rows, "splade_pool_backward_cuda: scratch must hold at least N floats");
  const size_t N = num_rows, tile = std::min(V, scratch_floats / N);
  for (size_t v0 = 0; v0 < V; v0 += tile) {
    const size_t vt = std::min(tile, V - v0);
    GemmArgs g;  // logits: L = t E_tile^T + bias_tile
    g.ta = Trans::no; g.tb = Trans::yes; g.M = N; g.N = vt; g.K = C;
    g.A = t; g.lda = C; g.B = E + v0 * C; g.ldb = C; g.C = scratch; g.ldc = vt;
    g.epilogue.bias = bias + v0;
    sgemm_cuda(g, stream);
    pool_dlogits_kernel<<<cuda::ceil_div(N * vt, 256), 256, 0, stream>>>(scratch, dw, argmax, cu_seqlens, B, N, V, v0,
                                                                          vt, sum);
    CUDA_CHECK_LAUNCH();
    GemmArgs d;  // dt += dlogits E_tile
    d.ta = Trans::no; d.tb = Trans::no; d.M = N; d.N = C; d.K = vt; d.beta = 1.0f;
    d.A = scratch; d.lda = vt; d.B = E + v0 * C; d.ldb = C; d.C = dt; d.ldc = C;
    sgemm_cuda(d, stream);
    GemmArgs e;  // dE_tile += dlogits^T t
    e.ta = Trans::yes; e.tb = Trans::no; e.M = vt; e.N = C; e.K = N; e.beta = 1.0f;
    e.A = scratch; e.lda = vt; e.B = t; e.ldb = C; e.C = dE + v0 * C; e.ldc = C;
    sgemm_cuda(e, stream);
    bias_backward_cuda(dbias + v0, scratch, N, vt, stream);
  }
}

}  // namespace splade
