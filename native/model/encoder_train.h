// The encoder's training path (encoder_train.cpp): the forward that keeps what backward needs
// (EncoderActivations, encoder.h), with BERT's dropout, and the backward; for the SPLADE objective
// (max / sum pooled vectors, gradient given as dLoss/dw) and for the masked-language-model objective
// (cross-entropy on labelled positions, loss and gradient computed natively).
#pragma once
#include <cstdint>
#include <vector>

#include "../cpu/dropout.h"
#include "cpu_ops.h"
#include "encoder.h"

namespace splade {

// Dropout probability p (0: none) at BERT's sites: embeddings (after their LayerNorm), attention
// probabilities, attention output projection (BERT; DistilBERT has none there) and FFN output.
// Masks derive from seed (see cpu/dropout.h); forward and backward of one batch take the same seed.
struct TrainDropout {
  float p = 0.0f;
  uint64_t seed = 0;
};

// The masks of one batch at those sites (inactive where p is 0, and after DistilBERT's attention output);
// the CPU path here and the GPU's (cuda/encoder_cuda_train.cu) make them alike.
struct EncoderDropoutMasks {
  DropoutMask emb;
  std::vector<DropoutMask> probs, attn_out, ffn_out;  // per layer
  EncoderDropoutMasks(const EncoderConfig& cfg, const TrainDropout& d)
      : probs(cfg.layers), attn_out(cfg.layers), ffn_out(cfg.layers) {
    emb = DropoutMask(d.p, d.seed, 0, DropSite::embeddings);
    for (size_t l = 0; l < cfg.layers; ++l) {
      probs[l] = DropoutMask(d.p, d.seed, l, DropSite::attention_probs);
      if (cfg.arch != Arch::distilbert) attn_out[l] = DropoutMask(d.p, d.seed, l, DropSite::attention_output);
      ffn_out[l] = DropoutMask(d.p, d.seed, l, DropSite::ffn_output);
    }
  }
};

// w (B,V) and acts as encoder_splade_forward_train; acts.w keeps w for the sparse max-pool backward.
void encoder_train_forward(float* w, EncoderActivations& acts, const EncoderConfig& cfg, const ParamLayout& layout,
                           const float* params, const PackedBatch& batch, Pooling pooling, const TrainDropout& drop,
                           bool reference);
// grads += dLoss/dparams for dLoss/dw = dw (B,V), on the activations of encoder_train_forward.
void encoder_train_backward(float* grads, const EncoderActivations& acts, const float* dw, const EncoderConfig& cfg,
                            const ParamLayout& layout, const float* params, const PackedBatch& batch, Pooling pooling,
                            const TrainDropout& drop, bool reference);

// The transformer alone (embeddings and layers, no head), for heads other than the MLM transform (the
// cross-encoder's pooler and classifier): fills acts up to acts.head_in (N,C), the last layer's output.
void transformer_train_forward(EncoderActivations& acts, const EncoderConfig& cfg, const ParamLayout& layout,
                               const float* params, const PackedBatch& batch, const TrainDropout& drop, const CpuOps& ops);
// grads += dLoss/dparams of the transformer, given dx (N,C) = dLoss/d(acts.head_in); dx is used as scratch.
void transformer_train_backward(float* grads, const EncoderActivations& acts, std::vector<float>& dx,
                                const EncoderConfig& cfg, const ParamLayout& layout, const float* params,
                                const PackedBatch& batch, const TrainDropout& drop, const CpuOps& ops);

// Masked-language-model step on one batch: forward, loss (mean cross-entropy over the positions with a
// label; labels (N) hold a vocabulary id or -1), backward into grads (+=). Returns the mean loss and
// sets *count to the number of labelled positions. batch.ids are the (already masked) inputs.
double encoder_mlm_train(float* grads, const int32_t* labels, const EncoderConfig& cfg, const ParamLayout& layout,
                         const float* params, const PackedBatch& batch, const TrainDropout& drop, bool reference,
                         size_t* count);

}  // namespace splade
