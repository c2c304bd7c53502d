// Self-attention of the training path: the forward with dropout on the attention probabilities (as
// BERT's attention_probs dropout) and its backward. The fast backward runs each (sequence, head) as
// small block GEMMs on one thread (sgemm nested in a parallel region runs serially on the calling
// thread): S = Q K^T, P = softmax(S / sqrt d), dP = dO V^T, dV += (P.m)^T dO, dS, dQ += dS K,
// dK += dS^T Q, with a (T x T) scratch per thread; nothing O(T^2) outlives a task.
#pragma once
#include <cstddef>
#include <cstdint>

#include "dropout.h"

namespace splade {

// out (N,C) from qkv (N,3C) as attention_forward, with the probabilities of row (token n, head h)
// multiplied by m.factor_in_row(m.row_key(n * NH + h), j) (j: the key's position in the sequence).
// The reference accumulates in double; the fast one is attention_forward when m is inactive.
void attention_train_forward_ref(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                                 const DropoutMask& m);
void attention_train_forward(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                             const DropoutMask& m);

// dqkv (N,3C) += the gradient for dout (N,C), probabilities recomputed from qkv, the same mask.
void attention_train_backward_ref(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                                  size_t C, size_t NH, const DropoutMask& m);
void attention_train_backward(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                              size_t C, size_t NH, const DropoutMask& m);

}  // namespace splade
