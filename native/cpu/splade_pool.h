// The MLM decoder fused with SPLADE pooling. For each sequence b and vocabulary term j:
//   logit[n,j] = t[n] . E[j] + bias[j]   over the tokens n of b (all of them, [CLS]/[SEP] included)
//   w[b,j] = max_n log1p(relu(logit[n,j]))   (max pooling)   or   sum_n log1p(relu(logit[n,j]))   (sum)
// as naver/splade computes with its attention mask; packed sequences have no padding rows to mask.
// The fast path produces logits tile by tile over the vocabulary and reduces each tile at once, so the
// (N, V) logits tensor never exists. For max pooling it uses max_n log1p(relu(x_n)) =
// log1p(relu(max_n x_n)) (monotone), so log1p runs once per (b, j), not once per token.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"

namespace splade {

enum class Pooling { max = 0, sum = 1 };

// The sequence of each packed token: (N = cu_seqlens[B]), token n of sequence b at b.
std::vector<int32_t> sequence_of_tokens(const int32_t* cu_seqlens, int B);

// w is (B,V); argmax is (B,V) or null (max pooling only: the packed row n reaching the max, -1 where
// w is 0; saved for backward); t is (N,C) the head's LayerNorm output; E is (V,C) the tied word
// embeddings; bias is (V); cu_seqlens is (B+1) with N = cu_seqlens[B]
void splade_pool_forward_ref(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                             const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling);
void splade_pool_forward_isa(Isa isa, float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                             const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling);
inline void splade_pool_forward(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                                const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling) {
  splade_pool_forward_isa(active_isa(), w, argmax, t, E, bias, cu_seqlens, B, C, V, pooling);
}

// Backward (accumulates, +=): dt (N,C), dE (V,C), dbias (V) from dw (B,V). d log1p(relu(x)) / dx is
// 1 / (1 + x) for x > 0 and 0 otherwise (torch's relu gradient at 0 is 0). Max pooling sends each
// term's gradient to its argmax token only (argmax as the forward saved it, -1: none); sum pooling to
// every token with a positive logit. Logits are recomputed, never stored.
void splade_pool_backward_ref(float* dt, float* dE, float* dbias, const float* dw, const float* t, const float* E,
                              const float* bias, const int32_t* argmax, const int32_t* cu_seqlens, int B, size_t C,
                              size_t V, Pooling pooling);
// Fast variant: logits recomputed tile by tile with sgemm; dt += dlogits E and dE += dlogits^T t as GEMMs.
void splade_pool_backward_isa(Isa isa, float* dt, float* dE, float* dbias, const float* dw, const float* t,
                              const float* E, const float* bias, const int32_t* argmax, const int32_t* cu_seqlens,
                              int B, size_t C, size_t V, Pooling pooling);
inline void splade_pool_backward(float* dt, float* dE, float* dbias, const float* dw, const float* t, const float* E,
                                 const float* bias, const int32_t* argmax, const int32_t* cu_seqlens, int B, size_t C,
                                 size_t V, Pooling pooling) {
  splade_pool_backward_isa(active_isa(), dt, dE, dbias, dw, t, E, bias, argmax, cu_seqlens, B, C, V, pooling);
}

}  // namespace splade
