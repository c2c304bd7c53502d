// Fine-tuning the cross-encoder (cross_encoder.h): one native call runs the training forward of the
// transformer (with BERT's dropout), the [CLS] head (pooler dense + tanh, classifier), the loss and
// its gradient on the logits, and the backward into an arena-shaped gradient buffer.
//   pointwise: mean over pairs of binary cross-entropy with logits against a target in [0, 1]
//              (torch.nn.BCEWithLogitsLoss), the sentence-transformers CrossEncoder default;
//   listwise:  the pairs come in groups (one query's candidates, the positive first); mean over groups
//              of the cross-entropy of the softmax over the group's logits, target the first.
// Dropout on the pooled output (transformers' classifier dropout) uses the same p and seed as the
// transformer's sites.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cross_encoder.h"
#include "encoder_train.h"

namespace splade {

enum class CrossLoss { pointwise, listwise };

// logits (B) receives the forward's logits; targets (B) for pointwise (each in [0, 1]); group_sizes
// (groups) for listwise, summing to B, each >= 1. Returns the mean loss; grads += dLoss/dparams.
double cross_encoder_train(float* grads, float* logits, CrossLoss loss, const float* targets, const int32_t* group_sizes,
                           size_t groups, const EncoderConfig& cfg, const CrossLayout& layout, const float* params,
                           const PackedBatch& batch, const TrainDropout& drop, bool reference);

}  // namespace splade
