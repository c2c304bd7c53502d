// Variable-length (unpadded) multi-head self-attention forward on the GPU: attention.h (cpu/) with device
// pointers and a stream. Flash-attention style: keys and values stream through shared memory in tiles,
// each query row keeps a running max, a running sum and an unnormalised output (online softmax), so no
// score matrix exists at any length. attention_forward_cuda is fp32 throughout (CUDA cores): the
// reference-exact path; attention_forward_bf16_cuda runs the two products on tensor cores.
//   head size 32 or 64: one thread per query row, q and the output accumulator in registers, 64 query
//                       rows per block sharing each K/V tile;
//   any other head size (up to 256): one warp per query row (the generic path).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "../cpu/dropout.h"

namespace splade {

// out (N,C); qkv (N,3C) as q | k | v per row; cu_seqlens (B+1) on the device, N = num_rows = cu_seqlens[B];
// max_len: the longest sequence (sizes the grid). drop (training): the probabilities of row (token n,
// head h) multiplied by drop's factor_in_row(row_key(n * NH + h), j), j the key's position in its
// sequence, as attention_train_forward_ref (the softmax's sum stays unmasked).
void attention_forward_cuda(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                            size_t num_rows, int max_len, cudaStream_t stream, const DropoutMask& drop = {});
// The tensor-core variant (flash-attention style on WMMA): qkv in bf16, S = Q K^T and O += P V in bf16 with
// fp32 accumulation, the online softmax in fp32 (P rounded to bf16 for the P V product, as FlashAttention
// does). 64 query rows per block, 16 per warp, K/V tiles of 64 keys. Head size 32 or 64 and C % 8 == 0
// (attention_bf16_supported); out_bf16 and/or out (N,C) receive the result.
bool attention_bf16_supported(size_t C, size_t NH);
void attention_forward_bf16_cuda(__nv_bfloat16* out_bf16, float* out, const __nv_bfloat16* qkv,
                                 const int32_t* cu_seqlens, int B, size_t C, size_t NH, int max_len,
                                 cudaStream_t stream);
// Backward (accumulates, +=): dqkv (N,3C) laid out as qkv, from dout (N,C), as attention_backward_ref.
// The probabilities are recomputed (nothing O(T^2) is kept): a first kernel, one warp per (query row,
// head), finds each row's softmax max and sum and D_i = sum_j P_ij dP_ij into scratch and adds dq; a
// second, one warp per (key row, head), adds dk and dv. Every sum runs in a fixed order: no atomics,
// deterministic. fp32, head size up to 256. scratch: attention_backward_scratch(N, NH) floats (device).
// drop: the forward's mask, as attention_train_backward_ref (dP = (dO V^T) .* F, dV += (P .* F)^T dO).
inline size_t attention_backward_scratch(size_t num_rows, size_t NH) { return 3 * num_rows * NH; }
void attention_backward_cuda(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                             size_t C, size_t NH, size_t num_rows, float* scratch, cudaStream_t stream,
                             const DropoutMask& drop = {});
// The generic (warp per row) kernel whatever the head size, for tests.
void attention_forward_generic_cuda(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C,
                                    size_t NH, size_t num_rows, cudaStream_t stream, const DropoutMask& drop = {});

}  // namespace splade
