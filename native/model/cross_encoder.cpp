// Cross-encoder forward (see cross_encoder.h): the SPLADE encoder's transformer body
// (encoder_first_token_forward, in encoder.cpp beside encoder_splade_forward), then the pooler and
// classifier on each sequence's first token.
#include "cross_encoder.h"

#include <cmath>
#include <string>
#include <vector>

#include "../common/error.h"

namespace splade {

CrossLayout make_cross_layout(const EncoderConfig& cfg) {
  if (cfg.arch != Arch::bert) fail(kUnsupported, "cross-encoder: only BERT (BertForSequenceClassification) is supported");
  CrossLayout X;
  ParamLayout& L = X.base;
  L = make_layout(cfg);
  // Drop the MLM head: it is allocated last, from head_w on, and its entries come last.
  const size_t head_start = L.head_w;
  std::vector<ParamEntry> keep;
  for (const ParamEntry& e : L.entries)
    if (e.offset < head_start) keep.push_back(e);
  L.entries = std::move(keep);
  L.total = head_start;
  L.head_w = L.head_b = L.head_ln_w = L.head_ln_b = L.decoder_bias = SIZE_MAX;
  const size_t C = cfg.hidden;
  auto alloc = [&](size_t n) {  // 16-float (64-byte) aligned slots, as make_layout
    const size_t off = L.total;
    L.total += (n + 15) / 16 * 16;
    return off;
  };
  X.pooler_w = alloc(C * C);
  X.pooler_b = alloc(C);
  X.cls_w = alloc(C);
  X.cls_b = alloc(1);
  L.entries.push_back(ParamEntry{"bert.pooler.dense.weight", X.pooler_w, {C, C}});
  L.entries.push_back(ParamEntry{"bert.pooler.dense.bias", X.pooler_b, {C}});
  L.entries.push_back(ParamEntry{"classifier.weight", X.cls_w, {1, C}});
  L.entries.push_back(ParamEntry{"classifier.bias", X.cls_b, {1}});
  return X;
}

void cross_head_forward(float* logits, float* pooled, const float* hidden, const float* pooler_w, const float* pooler_b,
                            const float* cls_w, const float* cls_b, size_t B, size_t C) {
  std::vector<float> p(C);
  for (size_t b = 0; b < B; ++b) {
    const float* hb = hidden + b * C;
    double logit = cls_b[0];
    for (size_t o = 0; o < C; ++o) {
      double s = pooler_b[o];
      const float* w = pooler_w + o * C;
      for (size_t c = 0; c < C; ++c) s += static_cast<double>(w[c]) * hb[c];
      p[o] = static_cast<float>(std::tanh(s));
      logit += static_cast<double>(cls_w[o]) * p[o];
    }
    logits[b] = static_cast<float>(logit);
    if (pooled)
      for (size_t o = 0; o < C; ++o) pooled[b * C + o] = p[o];
  }
}

void cross_encoder_forward(float* logits, float* hidden, const EncoderConfig& cfg, const CrossLayout& X,
                           const float* params, const PackedBatch& batch, bool reference) {
  const size_t B = static_cast<size_t>(batch.B), C = cfg.hidden;
  std::vector<float> own;
  if (!hidden) {
    own.resize(B * C);
    hidden = own.data();
  }
  encoder_first_token_forward(hidden, cfg, X.base, params, batch, reference);
  if (B == 0) return;
  cross_head_forward(logits, nullptr, hidden, params + X.pooler_w, params + X.pooler_b, params + X.cls_w,
                         params + X.cls_b, B, C);
}

}  // namespace splade
