// LayerNorm over the last dimension, as torch.nn.LayerNorm: biased variance, (x - mean) / sqrt(var + eps).
#pragma once
#include <cstddef>

#include "../common/cpu_features.h"

namespace splade {

// out is (N,C); mean, rstd are (N) or null (saved for backward); inp is (N,C); weight, bias are (C).
// out may alias inp.
void layernorm_forward_ref(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, size_t N, size_t C, float eps);
void layernorm_forward_isa(Isa isa, float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, size_t N, size_t C, float eps);
inline void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                              const float* bias, size_t N, size_t C, float eps) {
  layernorm_forward_isa(active_isa(), out, mean, rstd, inp, weight, bias, N, C, eps);
}

// Backward (accumulates, +=): dinp (N,C), dweight (C), dbias (C); dout is (N,C); inp (N,C) the forward
// input, mean and rstd (N) as the forward saved them.
void layernorm_backward_ref(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, size_t N, size_t C);
void layernorm_backward_isa(Isa isa, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, size_t N, size_t C);
inline void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                               const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
  layernorm_backward_isa(active_isa(), dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}

}  // namespace splade
