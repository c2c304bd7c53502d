// Token embeddings on the GPU: embed.h (cpu/) with device pointers and a stream. ids, type_ids and
// cu_seqlens are device arrays the caller has validated (encoder.cpp's validate_batch on the host copy).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace splade {

// out (N,C) = wte[ids[n]] + wpe[n - cu_seqlens[b]] + (wtt ? wtt[type_ids ? type_ids[n] : 0] : 0), N = num_ids
void embed_forward_cuda(float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens, int B,
                        size_t num_ids, const float* wte, const float* wpe, const float* wtt, size_t C,
                        cudaStream_t stream);

}  // namespace splade
