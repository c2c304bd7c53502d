// One ModernBERT layer's forward, shared by the inference forward (modernbert.cpp, one workspace reused
// by every layer) and the training forward (modernbert_train.cpp, the saved tensors), and the kernel
// table both take: cpu_ops.h's plus rotary, GeGLU and sliding-window attention, fast or reference.
#pragma once
#include <cstddef>

#include "../cpu/attention_window.h"
#include "../cpu/geglu.h"
#include "../cpu/rotary.h"
#include "cpu_ops.h"
#include "modernbert.h"

namespace splade {

struct ModernBertOps {
  const CpuOps& base;
  decltype(&rotary_forward_ref) rotary_forward, rotary_backward;
  decltype(&geglu_forward_ref) geglu_forward;
  decltype(&geglu_backward_ref) geglu_backward;
  decltype(&attention_window_forward_ref) attention_forward;
  decltype(&attention_window_backward_ref) attention_backward;
};
const ModernBertOps& modernbert_ops(bool reference);

// Where layer l reads and writes. in (N,C) the residual stream; hn (N,C) attn_norm(in), unused in layer 0;
// qkv (N,3C) (rotated in place); att (N,C); x1 (N,C) = in + Wo att; hm (N,C) mlp_norm(x1); wi (N,2I);
// act (N,I); out (N,C) = x1 + Wo act (may alias in: in is last read before out is written). The
// LayerNorm statistics (N each) are saved where not null. zeros (C): the LayerNorms' absent bias.
struct ModernBertLayerBuffers {
  const float* in;
  float *hn, *mean1, *rstd1, *qkv, *att, *x1, *hm, *mean2, *rstd2, *wi, *act, *out;
};

// The half-window of layer l's attention: the config's for local layers, max_positions (all of any
// sequence) for global ones; and its rope theta.
inline size_t modernbert_window(const EncoderConfig& cfg, size_t l) { return cfg.modernbert.global(l) ? cfg.max_positions : cfg.modernbert.window; }
inline float modernbert_theta(const EncoderConfig& cfg, size_t l) { return cfg.modernbert.global(l) ? cfg.modernbert.global_theta : cfg.modernbert.local_theta; }

// packed: pack_modernbert's copies (inference) or null.
void modernbert_layer_forward(const ModernBertOps& ops, const ModernBertLayerBuffers& b, const EncoderConfig& cfg,
                              const ModernBertLayout& L, size_t l, const float* P, const PackedBatch& batch,
                              const float* zeros, const EncoderPacked* packed = nullptr);

}  // namespace splade
