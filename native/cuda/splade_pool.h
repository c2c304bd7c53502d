// The MLM decoder fused with SPLADE pooling on the GPU (splade_pool.h in cpu/ has the definitions):
//   w[b,j] = max_n log1p(relu(t[n] . E[j] + bias[j]))  or  sum_n ...  over the rows n of sequence b.
// Device pointers, asynchronous on `stream`; cu_seqlens (B+1) is a device array.
//   splade_pool_forward_cuda       fp32 reference: one thread per (b, j), fp32 dot products.
//   splade_pool_forward_bf16_cuda  the fast path: t and E in bf16, logits on tensor cores 128 packed rows x
//                                  128 terms at a time (tc_tile.cuh), reduced at once per sequence segment of
//                                  the tile in shared memory into (segment, term) partials, which a second
//                                  kernel merges per (sequence, term) in row order; the (N, V) logits never
//                                  exist, short sequences share tiles, no atomics: deterministic. C % 8 == 0.
//                                  Copies cu_seqlens to the host (synchronises the stream).
// argmax (B,V) or null: for max pooling the packed row reaching the max (the first such row on ties), -1
// where w is 0; -1 everywhere for sum pooling.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../cpu/splade_pool.h"

namespace splade {

// w (B,V); argmax (B,V) or null; t (N,C); E (V,C); bias (V); cu_seqlens (B+1)
void splade_pool_forward_cuda(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                              const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling,
                              cudaStream_t stream);
void splade_pool_forward_bf16_cuda(float* w, int32_t* argmax, const __nv_bfloat16* t, const __nv_bfloat16* E,
                                   const float* bias, const int32_t* cu_seqlens, int B, size_t C, size_t V,
                                   Pooling pooling, cudaStream_t stream);

// The host-side plan of splade_pool_forward_bf16_cuda (exposed for tests): the packed rows cut into
// tiles of tile_rows, and each sequence's rows into segments, one per tile it touches. Segments are in
// sequence order, which is also tile order; tile_segs (tiles + 1) and seq_segs (B + 1) index the first
// segment of each tile and of each sequence.
struct PoolSegment {
  int32_t row_begin, row_end;
};
struct PoolPlan {
  std::vector<PoolSegment> segs;
  std::vector<int32_t> tile_segs, seq_segs;
};
PoolPlan make_pool_plan(const int32_t* cu_seqlens, int B, int tile_rows);  // host cu_seqlens; SpladeError if bad

// Backward (accumulates, +=), as splade_pool_backward_ref: dt (N,C), dE (V,C), dbias (V) from dw (B,V);
// argmax (B,V) as the forward saved it (max pooling; ignored for sum). fp32: per vocabulary tile of
// `scratch_floats / N` terms the logits are recomputed (sgemm_cuda), turned into dlogits in place, then
// dt += dlogits E_tile and dE_tile += dlogits^T t (sgemm_cuda) and dbias_tile += column sums: every sum
// in a fixed order, deterministic. scratch: device floats, at least N (one term per tile).
void splade_pool_backward_cuda(float* dt, float* dE, float* dbias, const float* dw, const float* t, const float* E,
                               const float* bias, const int32_t* argmax, const int32_t* cu_seqlens, int B,
                               size_t num_rows, size_t C, size_t V, Pooling pooling, float* scratch,
                               size_t scratch_floats, cudaStream_t stream);

}  // namespace splade
