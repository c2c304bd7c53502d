// The MLM decoder fused with SPLADE pooling on the GPU (splade_pool.h in cpu/ has the definitions):
//   w[b,j] = max_n log1p(relu(t[n] . E[j] + bias[j]))  or  sum_n ...  over the rows n of sequence b.
// Device pointers, asynchronous on `stream`; cu_seqlens (B+1) is a device array.
//   splade_pool_forward_cuda       fp32 reference: one thread per (b, j), fp32 dot products.
//   splade_pool_forward_bf16_cuda  the fast path: t and E in bf16, logits on tensor cores 128 rows x 128
//                                  terms at a time (tc_tile.cuh), reduced at once in registers and shared
//                                  memory, so the (N, V) logits never exist. One block per (128-term tile,
//                                  sequence), rows in order: deterministic, no atomics. C % 8 == 0.
// argmax (B,V) or null: for max pooling the packed row reaching the max (the first such row on ties), -1
// where w is 0; -1 everywhere for sum pooling.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../cpu/splade_pool.h"

namespace splade {

// w (B,V); argmax (B,V) or null; t (N,C); E (V,C); bias (V); cu_seqlens (B+1)
void splade_pool_forward_cuda(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                              const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling,
                              cudaStream_t stream);
void splade_pool_forward_bf16_cuda(float* w, int32_t* argmax, const __nv_bfloat16* t, const __nv_bfloat16* E,
                                   const float* bias, const int32_t* cu_seqlens, int B, size_t C, size_t V,
                                   Pooling pooling, cudaStream_t stream);

}  // namespace splade
