// GeGLU, ModernBERT's gated MLP activation: the up-projection Wi gives (N, 2I), split into input
// (first I columns) and gate (last I); out = gelu(input) * gate, exact-erf GELU.
#pragma once
#include <cstddef>

namespace splade {

// out (N,I); h (N,2I) the Wi projection, row n = input (I) | gate (I).
void geglu_forward_ref(float* out, const float* h, size_t N, size_t I);
void geglu_forward(float* out, const float* h, size_t N, size_t I);
// Backward (accumulates, +=): dh (N,2I) += [dout * gate * gelu'(input) | dout * gelu(input)], dout (N,I).
void geglu_backward_ref(float* dh, const float* dout, const float* h, size_t N, size_t I);
void geglu_backward(float* dh, const float* dout, const float* h, size_t N, size_t I);

}  // namespace splade
