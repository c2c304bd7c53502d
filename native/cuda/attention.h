// Variable-length (unpadded) multi-head self-attention forward on the GPU: attention.h (cpu/) with device
// pointers and a stream. Flash-attention style: keys and values stream through shared memory in tiles,
// each query row keeps a running max, a running sum and an unnormalised output (online softmax), so no
// score matrix exists at any length. fp32 throughout (CUDA cores): the reference-exact path.
//   head size 32 or 64: one thread per query row, q and the output accumulator in registers, 64 query
//                       rows per block sharing each K/V tile;
//   any other head size (up to 256): one warp per query row (the generic path).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace splade {

// out (N,C); qkv (N,3C) as q | k | v per row; cu_seqlens (B+1) on the device, N = num_rows = cu_seqlens[B];
// max_len: the longest sequence (sizes the grid)
void attention_forward_cuda(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                            size_t num_rows, int max_len, cudaStream_t stream);
// The generic (warp per row) kernel whatever the head size, for tests.
void attention_forward_generic_cuda(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C,
                                    size_t NH, size_t num_rows, cudaStream_t stream);

}  // namespace splade
