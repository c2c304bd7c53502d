// Multi-head self-attention over packed (unpadded) variable-length sequences: sequence b owns rows
// cu_seqlens[b] .. cu_seqlens[b+1]-1 and attends only to itself, so no work is spent on padding and
// no mask exists. Bidirectional (BERT): every token sees every token of its sequence.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../common/cpu_features.h"

namespace splade {

// out is (N,C): per sequence b and head h, softmax(Q_h K_h^T / sqrt(d)) V_h, d = C / NH, written to
//   columns h*d .. h*d+d-1
// qkv is (N,3C): row n holds q (C) | k (C) | v (C), i.e. the fused QKV projection's output
// cu_seqlens is (B+1) with N = cu_seqlens[B]
void attention_forward_ref(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH);
void attention_forward_isa(Isa isa, float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C,
                           size_t NH);
inline void attention_forward(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH) {
  attention_forward_isa(active_isa(), out, qkv, cu_seqlens, B, C, NH);
}

// Backward (accumulates, +=): dqkv is (N,3C) laid out as qkv; dout is (N,C). The attention
// probabilities are recomputed from qkv (nothing O(T^2) is saved by the forward).
void attention_backward_ref(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                            size_t C, size_t NH);
void attention_backward_isa(Isa isa, float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens,
                            int B, size_t C, size_t NH);
inline void attention_backward(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                               size_t C, size_t NH) {
  attention_backward_isa(active_isa(), dqkv, dout, qkv, cu_seqlens, B, C, NH);
}

}  // namespace splade
