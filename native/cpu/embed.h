// Token embeddings for packed (unpadded) sequences: sequence b owns rows cu_seqlens[b] ..
// cu_seqlens[b+1]-1 of every (N, C) activation, and its positions restart at 0. No padding rows exist.
// Callers validate ids, type ids and lengths (encoder.cpp); these kernels trust them.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../common/cpu_features.h"

namespace splade {

// out is (N,C) = wte[ids[n]] + wpe[n - cu_seqlens[b]] + (wtt ? wtt[type_ids ? type_ids[n] : 0] : 0)
// ids, type_ids are (N) (type_ids may be null: all zeros); cu_seqlens is (B+1), N = cu_seqlens[B]
// wte is (V,C), wpe is (P,C), wtt is (TV,C) or null (DistilBERT has no token types)
void embed_forward_ref(float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens, int B,
                       const float* wte, const float* wpe, const float* wtt, size_t C);
void embed_forward_isa(Isa isa, float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens,
                       int B, const float* wte, const float* wpe, const float* wtt, size_t C);
inline void embed_forward(float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens, int B,
                          const float* wte, const float* wpe, const float* wtt, size_t C) {
  embed_forward_isa(active_isa(), out, ids, type_ids, cu_seqlens, B, wte, wpe, wtt, C);
}

// Backward (accumulates, +=): dwte (V,C), dwpe (P,C), dwtt (TV,C) or null; dout is (N,C).
void embed_backward(float* dwte, float* dwpe, float* dwtt, const float* dout, const int32_t* ids,
                        const int32_t* type_ids, const int32_t* cu_seqlens, int B, size_t C);

}  // namespace splade
