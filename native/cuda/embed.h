// Token embeddings on the GPU: embed.h (cpu/) with device pointers and a stream. ids, type_ids and
// cu_seqlens are device arrays the caller has validated (encoder.cpp's validate_batch on the host copy).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace splade {

// out (N,C) = wte[ids[n]] + wpe[n - cu_seqlens[b]] + (wtt ? wtt[type_ids ? type_ids[n] : 0] : 0), N = num_ids
void embed_forward_cuda(float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens, int B,
                        size_t num_ids, const float* wte, const float* wpe, const float* wtt, size_t C,
                        cudaStream_t stream);

// Backward (accumulates, +=), as embed_backward: dwte (V,C), dwpe (P,C), dwtt (TV,C) or null; dout (N,C).
// Deterministic and in the CPU's order (each target row takes its rows' gradients in ascending row
// order, starting from its own value): the rows are grouped by token id, position and type on the host
// from copies of ids, type_ids and cu_seqlens (synchronises the stream).
void embed_backward_cuda(float* dwte, float* dwpe, float* dwtt, const float* dout, const int32_t* ids,
                         const int32_t* type_ids, const int32_t* cu_seqlens, int B, size_t num_ids, size_t C,
                         cudaStream_t stream);

// The host-side grouping of embed_backward_cuda (exposed for tests): rows n of keys (each in
// [0, num_keys)) grouped by key, keys ascending, rows ascending within a group, empty groups dropped:
// group g is key target[g] with rows[offsets[g] .. offsets[g + 1]).
struct RowGroups {
  std::vector<int32_t> target, offsets, rows;
};
RowGroups group_rows_by_key(const std::vector<int32_t>& keys, size_t num_keys);

}  // namespace splade
