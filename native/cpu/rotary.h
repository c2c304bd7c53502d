// Rotary position embeddings (RoPE, GPT-NeoX layout: each head's dimension d split in halves, pair
// (e, e + d/2) rotated by angle pos * theta^(-2e/d)) applied in place to the q and k parts of a fused
// QKV projection over packed sequences, as ModernBERT applies them before attention. Position pos
// counts from 0 at each sequence's first token. The backward is the inverse rotation (the rotation is
// orthogonal), applied in place to the gradient's q and k parts; v is never touched.
#pragma once
#include <cstddef>
#include <cstdint>

namespace splade {

// qkv (N,3C): row n holds q (C) | k (C) | v (C), NH heads of d = C / NH each (d even); rotated in place.
// cu_seqlens (B+1), N = cu_seqlens[B]. The angles are computed as PyTorch does (inverse frequencies and
// their product with the position in float32), the cosines and sines in double.
void rotary_forward_ref(float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, float theta);
void rotary_forward(float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, float theta);
// dqkv (N,3C): the gradient with respect to the rotated q and k becomes the gradient with respect to
// the unrotated ones, in place (the inverse rotation).
void rotary_backward_ref(float* dqkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, float theta);
void rotary_backward(float* dqkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, float theta);

}  // namespace splade
