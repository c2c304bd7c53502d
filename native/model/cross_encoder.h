// The cross-encoder (transformers' BertForSequenceClassification with num_labels = 1, the layout of
// cross-encoder/ms-marco-MiniLM-L-6-v2): the encoder's BERT transformer without the MLM head, then
// the final hidden state of each sequence's first token ([CLS]) -> pooler (dense + tanh) ->
// classifier (dense to one logit). The parameter arena holds the transformer exactly as
// make_layout() places it, followed by the pooler and the classifier instead of the MLM head.
#pragma once
#include <cstddef>

#include "encoder.h"

namespace splade {

struct CrossLayout {
  ParamLayout base;  // entries: the transformer + bert.pooler.dense.* + classifier.*; head_* unused
  size_t pooler_w, pooler_b;  // (C, C), (C)
  size_t cls_w, cls_b;        // (1, C), (1)
};
CrossLayout make_cross_layout(const EncoderConfig& cfg);  // BERT only (SpladeError otherwise)

// hidden is (B, C): the last layer's output at the first token of each sequence. The transformer body
// of encoder_splade_forward itself (encoder.cpp), with its kernel choice (reference or fast).
void encoder_first_token_forward(float* hidden, const EncoderConfig& cfg, const ParamLayout& layout, const float* params,
                                 const PackedBatch& batch, bool reference);

// logits is (B); pooled (B, C) or null receives tanh(pooler(hidden)); hidden is (B, C).
// pooler_w is (C, C), cls_w is (1, C), as nn.Linear stores them. Accumulates in double.
void cross_head_forward(float* logits, float* pooled, const float* hidden, const float* pooler_w, const float* pooler_b,
                            const float* cls_w, const float* cls_b, size_t B, size_t C);

// logits is (B); hidden (B, C) or null receives the [CLS] states.
void cross_encoder_forward(float* logits, float* hidden, const EncoderConfig& cfg, const CrossLayout& layout,
                           const float* params, const PackedBatch& batch, bool reference);

}  // namespace splade
