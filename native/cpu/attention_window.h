// Sliding-window self-attention over packed (unpadded) sequences, ModernBERT's local attention: token i
// of a sequence attends to the keys j of its own sequence with |i - j| <= window (window >= T - 1 is
// global attention). q and k arrive already rotated (rotary.h). No dropout on the probabilities.
#pragma once
#include <cstddef>
#include <cstdint>

namespace splade {

// out (N,C): per sequence and head h, softmax over the window of Q_h K_h^T / sqrt(d), times V_h, into
// columns h*d .. h*d+d-1; qkv (N,3C) row n = q (C) | k (C) | v (C); cu_seqlens (B+1), N = cu_seqlens[B].
// The reference accumulates in double.
void attention_window_forward_ref(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                                  size_t window);
void attention_window_forward(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                              size_t window);
// Backward (accumulates, +=): dqkv (N,3C) laid out as qkv, for dout (N,C); probabilities recomputed.
void attention_window_backward_ref(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                                   size_t C, size_t NH, size_t window);
void attention_window_backward(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                               size_t C, size_t NH, size_t window);

}  // namespace splade
