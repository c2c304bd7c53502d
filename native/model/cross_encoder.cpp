// Cross-encoder forward (see cross_encoder.h). The transformer below is the same sequence of kernels
// as encoder_splade_forward (embeddings -> L x [QKV GEMM, unpadded attention, output GEMM + residual,
// LayerNorm, FFN GEMM + GELU, FFN GEMM + residual, LayerNorm]); it stops at the hidden states and
// keeps only each sequence's first row. Kept in its own file so the SPLADE path stays untouched.
#include "cross_encoder.h"

#include <cmath>
#include <string>
#include <vector>

#include "../common/error.h"
#include "../cpu/attention.h"
#include "../cpu/embed.h"
#include "../cpu/gemm.h"
#include "../cpu/layernorm.h"

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

void encoder_first_token_forward(float* hidden, const EncoderConfig& cfg, const ParamLayout& L, const float* params,
                                 const PackedBatch& batch, bool reference) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate;
  const float* P = params;
  auto gemm = [&](float* out, const float* inp, size_t M, size_t Nout, size_t K, size_t w_off, size_t b_off,
                  const float* residual, Activation act) {
    // out (M, Nout) = inp (M, K) W^T + b [+ residual] [then GELU]; W is (Nout, K) as nn.Linear stores it
    GemmArgs g;
    g.ta = Trans::no; g.tb = Trans::yes; g.M = M; g.N = Nout; g.K = K;
    g.A = inp; g.lda = K; g.B = P + w_off; g.ldb = K; g.C = out; g.ldc = Nout;
    g.epilogue.bias = P + b_off;
    g.epilogue.residual = residual;
    g.epilogue.ldr = residual ? Nout : 0;
    g.epilogue.activation = act;
    if (reference) sgemm_reference(g); else sgemm(g);
  };
  auto layernorm = [&](float* out, const float* inp, size_t w_off, size_t b_off) {
    if (reference) layernorm_forward_cpu(out, nullptr, nullptr, inp, P + w_off, P + b_off, N, C, cfg.eps);
    else layernorm_forward(out, nullptr, nullptr, inp, P + w_off, P + b_off, N, C, cfg.eps);
  };
  std::vector<float> x(N * C), tmp(N * C), att(N * C), qkv(N * 3 * C), h(N * I);
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  const int32_t* type_ids = wtt ? batch.type_ids : nullptr;
  if (reference) embed_forward_cpu(tmp.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  else embed_forward(tmp.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  layernorm(x.data(), tmp.data(), L.emb_ln_w, L.emb_ln_b);
  for (const LayerOffsets& o : L.layer) {
    gemm(qkv.data(), x.data(), N, 3 * C, C, o.qkv_w, o.qkv_b, nullptr, Activation::none);
    if (reference) attention_forward_cpu(att.data(), qkv.data(), batch.cu_seqlens, B, C, cfg.heads);
    else attention_forward(att.data(), qkv.data(), batch.cu_seqlens, B, C, cfg.heads);
    gemm(tmp.data(), att.data(), N, C, C, o.attn_out_w, o.attn_out_b, x.data(), Activation::none);
    layernorm(x.data(), tmp.data(), o.ln1_w, o.ln1_b);
    gemm(h.data(), x.data(), N, I, C, o.fc1_w, o.fc1_b, nullptr, Activation::gelu);
    gemm(tmp.data(), h.data(), N, C, I, o.fc2_w, o.fc2_b, x.data(), Activation::none);
    layernorm(x.data(), tmp.data(), o.ln2_w, o.ln2_b);
  }
  for (int b = 0; b < B; ++b) {
    const float* row = x.data() + static_cast<size_t>(batch.cu_seqlens[b]) * C;
    for (size_t c = 0; c < C; ++c) hidden[static_cast<size_t>(b) * C + c] = row[c];
  }
}

void cross_head_forward_cpu(float* logits, float* pooled, const float* hidden, const float* pooler_w, const float* pooler_b,
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
  cross_head_forward_cpu(logits, nullptr, hidden, params + X.pooler_w, params + X.pooler_b, params + X.cls_w,
                         params + X.cls_b, B, C);
}

}  // namespace splade
