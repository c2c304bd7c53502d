// The SPLADE encoder on ModernBERT (ModernBertForMaskedLM, transformers' modeling_modernbert.py): token
// embeddings + LayerNorm (no position embeddings); per layer, pre-norm (layer 0's attn_norm is the
// identity) attention with rotary embeddings over the fused Wqkv, global on every global_every-th
// layer (l % global_every == 0) and sliding-window (|i - j| <= window) elsewhere, each kind with its
// own rope theta, then a GeGLU MLP (Wi to 2I, gelu(input) * gate, Wo); a final LayerNorm; the MLM head
// (dense, GELU, LayerNorm) and the decoder tied to the token embeddings with a bias, fused with SPLADE
// pooling (splade_pool.h). No biases anywhere else, LayerNorms without bias. Sequences are packed
// (cu_seqlens), as ModernBERT's unpadded path runs them; rotary positions restart at each sequence.
// Parameters live in one float arena owned by the caller, in the layout below (Hugging Face names).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../cpu/splade_pool.h"
#include "encoder.h"

namespace splade {

// The config is encoder.h's EncoderConfig with arch modernbert and its ModernBertOptions (validate_config
// checks both); eps is norm_eps, max_positions only bounds the lengths, type_vocab is 0.

struct ModernBertLayerOffsets {
  size_t attn_norm = SIZE_MAX;  // (C); none in layer 0
  size_t wqkv, wo;              // (3C, C), (C, C)
  size_t mlp_norm;              // (C)
  size_t wi, mlp_wo;            // (2I, C), (C, I)
};

struct ModernBertLayout {
  std::vector<ParamEntry> entries;
  size_t total = 0;
  size_t wte, emb_norm;  // (V, C), (C)
  std::vector<ModernBertLayerOffsets> layer;
  size_t final_norm, head_w, head_norm, decoder_bias;  // (C), (C, C), (C), (V)
};
ModernBertLayout make_modernbert_layout(const EncoderConfig& cfg);

// The inference forward's packed copies of the arena (as pack_encoder's fp32 ones, encoder.h), in
// EncoderPacked's fields: qkv32 = Wqkv, attn_out32 = attention Wo, fc1_32 = Wi, fc2_32 = MLP Wo, head32 =
// head dense; and the decoder copies of pack_decoder (max pooling's exact fp32 result, faster). Copies of
// the arena when packed: whoever writes the arena afterwards must pack again.
std::shared_ptr<const EncoderPacked> pack_modernbert(const EncoderConfig& cfg, const ModernBertLayout& layout,
                                                     const float* params);

// w (B,V): the SPLADE vectors; argmax (B,V) or null. reference: the plain reference kernels throughout;
// packed (ignored when reference): pack_modernbert's copies.
void modernbert_splade_forward(float* w, int32_t* argmax, const EncoderConfig& cfg, const ModernBertLayout& layout,
                               const float* params, const PackedBatch& batch, Pooling pooling, bool reference,
                               const EncoderPacked* packed = nullptr);

// Training: what the forward keeps for backward (one batch); nothing O(T^2) or O(N x V).
struct ModernBertActivations {
  struct Layer {
    std::vector<float> in, hn, mean1, rstd1, qkv, att, x1, hm, mean2, rstd2, wi, act;
    // (N,C) (N,C) or empty in layer 0, (N) (N), (N,3C) rotated, (N,C) (N,C) (N,C), (N) (N), (N,2I) (N,I)
  };
  std::vector<float> emb, emb_mean, emb_rstd;  // (N,C) token embeddings before their LayerNorm, (N) (N)
  std::vector<Layer> layers;
  std::vector<float> last, final_mean, final_rstd;                         // (N,C) last layer's output, (N) (N)
  std::vector<float> head_in, head_pre, head_gelu, t, head_mean, head_rstd;  // (N,C) x4, (N) x2
  std::vector<int32_t> argmax;                                               // (B,V)
  std::vector<float> w;  // (B,V) the pooled output (max pooling, fast path: the sparse head backward reads it)
};

void modernbert_train_forward(float* w, ModernBertActivations& acts, const EncoderConfig& cfg,
                              const ModernBertLayout& layout, const float* params, const PackedBatch& batch,
                              Pooling pooling, bool reference);
// grads (layout.total) += dLoss/dparams for dLoss/dw = dw (B,V); the tied decoder's share lands in wte.
void modernbert_train_backward(float* grads, const ModernBertActivations& acts, const float* dw,
                               const EncoderConfig& cfg, const ModernBertLayout& layout, const float* params,
                               const PackedBatch& batch, Pooling pooling, bool reference);
// Masked-LM step (see encoder_mlm_train): mean cross-entropy over labelled positions, grads +=.
double modernbert_mlm_train(float* grads, const int32_t* labels, const EncoderConfig& cfg,
                            const ModernBertLayout& layout, const float* params, const PackedBatch& batch,
                            bool reference, size_t* count);

}  // namespace splade
