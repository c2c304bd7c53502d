// ModernBERT training forward (keeps activations) and backward; see modernbert.h. Backward follows the
// forward in reverse: head (SPLADE pooling + tied decoder, or the MLM loss) -> head norm, GELU, dense ->
// final_norm -> per layer (MLP: Wo, GeGLU, Wi, mlp_norm; attention: Wo, attention, rotary, Wqkv,
// attn_norm) -> embedding norm -> token embeddings. Gradients accumulate (+=) into an arena-shaped
// buffer. The model has no biases: linear_backward's bias sums and the LayerNorms' go to scratch.
#include <algorithm>
#include <vector>

#include "../cpu/splade_head_train.h"
#include "modernbert.h"
#include "modernbert_layer.h"

namespace splade {
namespace {

// Embeddings -> layers -> final norm -> MLM head: fills acts up to acts.t (N,C).
void hidden_forward(ModernBertActivations& a, const EncoderConfig& cfg, const ModernBertLayout& L, const float* P,
                    const PackedBatch& batch, const ModernBertOps& ops) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  const size_t N = B ? static_cast<size_t>(batch.cu_seqlens[B]) : 0, C = cfg.hidden, I = cfg.intermediate;
  a.layers.assign(cfg.layers, {});
  if (B == 0) return;
  const std::vector<float> zeros(C, 0.0f);
  const CpuOps& base = ops.base;
  a.emb.resize(N * C);
  a.emb_mean.resize(N);
  a.emb_rstd.resize(N);
  for (size_t n = 0; n < N; ++n) std::copy_n(P + L.wte + static_cast<size_t>(batch.ids[n]) * C, C, a.emb.data() + n * C);
  std::vector<float> x(N * C);
  base.layernorm_forward(x.data(), a.emb_mean.data(), a.emb_rstd.data(), a.emb.data(), P + L.emb_norm, zeros.data(), N, C, cfg.eps);
  for (size_t l = 0; l < cfg.layers; ++l) {
    ModernBertActivations::Layer& s = a.layers[l];
    s.in = x;
    if (l > 0) s.hn.resize(N * C), s.mean1.resize(N), s.rstd1.resize(N);
    s.qkv.resize(N * 3 * C);
    s.att.resize(N * C);
    s.x1.resize(N * C);
    s.hm.resize(N * C);
    s.mean2.resize(N);
    s.rstd2.resize(N);
    s.wi.resize(N * 2 * I);
    s.act.resize(N * I);
    modernbert_layer_forward(ops,
                             ModernBertLayerBuffers{s.in.data(), s.hn.data(), s.mean1.data(), s.rstd1.data(), s.qkv.data(),
                                                    s.att.data(), s.x1.data(), s.hm.data(), s.mean2.data(), s.rstd2.data(),
                                                    s.wi.data(), s.act.data(), x.data()},
                             cfg, L, l, P, batch, zeros.data());
  }
  a.last = std::move(x);
  for (auto* v : {&a.head_in, &a.head_pre, &a.head_gelu, &a.t}) v->resize(N * C);
  for (auto* v : {&a.final_mean, &a.final_rstd, &a.head_mean, &a.head_rstd}) v->resize(N);
  base.layernorm_forward(a.head_in.data(), a.final_mean.data(), a.final_rstd.data(), a.last.data(), P + L.final_norm,
                         zeros.data(), N, C, cfg.eps);
  linear_forward(base, a.head_pre.data(), a.head_in.data(), P + L.head_w, nullptr, N, C, C);
  base.gelu_forward(a.head_gelu.data(), a.head_pre.data(), N * C);
  base.layernorm_forward(a.t.data(), a.head_mean.data(), a.head_rstd.data(), a.head_gelu.data(), P + L.head_norm,
                         zeros.data(), N, C, cfg.eps);
}

// dt (N,C) = dLoss/dt -> grads.
void hidden_backward(float* G, const ModernBertActivations& a, const std::vector<float>& dt, const EncoderConfig& cfg,
                     const ModernBertLayout& L, const float* P, const PackedBatch& batch, const ModernBertOps& ops) {
  const int B = batch.B;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, NH = cfg.heads;
  const CpuOps& base = ops.base;
  std::vector<float> scratch(std::max(3 * C, 2 * I));  // the absent biases' gradients, discarded
  auto norm_bw = [&](float* dinp, size_t w_off, const float* dout, const float* inp, const float* mean, const float* rstd) {
    base.layernorm_backward(dinp, G + w_off, scratch.data(), dout, inp, P + w_off, mean, rstd, N, C);
  };
  auto linear_bw = [&](float* dinp, size_t w_off, const float* dout, const float* inp, size_t nout, size_t k) {
    linear_backward(base, dinp, G + w_off, scratch.data(), dout, inp, P + w_off, N, nout, k);
  };
  std::vector<float> dg(N * C, 0.0f), dpre(N * C, 0.0f), dh(N * C, 0.0f), dx(N * C, 0.0f);
  norm_bw(dg.data(), L.head_norm, dt.data(), a.head_gelu.data(), a.head_mean.data(), a.head_rstd.data());
  base.gelu_backward(dpre.data(), a.head_pre.data(), dg.data(), N * C);
  linear_bw(dh.data(), L.head_w, dpre.data(), a.head_in.data(), C, C);
  norm_bw(dx.data(), L.final_norm, dh.data(), a.last.data(), a.final_mean.data(), a.final_rstd.data());
  std::vector<float> dx1(N * C), dact(N * I), dwi(N * 2 * I), dhm(N * C), datt(N * C), dqkv(N * 3 * C);
  for (size_t l = cfg.layers; l-- > 0;) {
    const ModernBertLayerOffsets& o = L.layer[l];
    const ModernBertActivations::Layer& s = a.layers[l];
    dx1 = dx;  // out = x1 + Wo act
    std::fill(dact.begin(), dact.end(), 0.0f);
    linear_bw(dact.data(), o.mlp_wo, dx.data(), s.act.data(), C, I);
    std::fill(dwi.begin(), dwi.end(), 0.0f);
    ops.geglu_backward(dwi.data(), dact.data(), s.wi.data(), N, I);
    std::fill(dhm.begin(), dhm.end(), 0.0f);
    linear_bw(dhm.data(), o.wi, dwi.data(), s.hm.data(), 2 * I, C);
    norm_bw(dx1.data(), o.mlp_norm, dhm.data(), s.x1.data(), s.mean2.data(), s.rstd2.data());
    dx = dx1;  // x1 = in + Wo att
    std::fill(datt.begin(), datt.end(), 0.0f);
    linear_bw(datt.data(), o.wo, dx1.data(), s.att.data(), C, C);
    std::fill(dqkv.begin(), dqkv.end(), 0.0f);
    ops.attention_backward(dqkv.data(), datt.data(), s.qkv.data(), batch.cu_seqlens, B, C, NH, modernbert_window(cfg, l));
    ops.rotary_backward(dqkv.data(), batch.cu_seqlens, B, C, NH, modernbert_theta(cfg, l));
    if (l == 0) {
      linear_bw(dx.data(), o.wqkv, dqkv.data(), s.in.data(), 3 * C, C);
    } else {
      std::fill(dh.begin(), dh.end(), 0.0f);
      linear_bw(dh.data(), o.wqkv, dqkv.data(), s.hn.data(), 3 * C, C);
      norm_bw(dx.data(), o.attn_norm, dh.data(), s.in.data(), s.mean1.data(), s.rstd1.data());
    }
  }
  std::fill(dh.begin(), dh.end(), 0.0f);
  norm_bw(dh.data(), L.emb_norm, dx.data(), a.emb.data(), a.emb_mean.data(), a.emb_rstd.data());
  for (size_t n = 0; n < N; ++n) {  // serial: two tokens may share an id
    float* row = G + L.wte + static_cast<size_t>(batch.ids[n]) * C;
    for (size_t c = 0; c < C; ++c) row[c] += dh[n * C + c];
  }
}

}  // namespace

void modernbert_train_forward(float* w, ModernBertActivations& a, const EncoderConfig& cfg, const ModernBertLayout& L,
                              const float* P, const PackedBatch& batch, Pooling pooling, bool ref) {
  const ModernBertOps& ops = modernbert_ops(ref);
  hidden_forward(a, cfg, L, P, batch, ops);
  const int B = batch.B;
  const size_t C = cfg.hidden, V = cfg.vocab;
  a.argmax.assign(static_cast<size_t>(B) * V, -1);
  a.w.clear();
  if (B == 0) return;
  ops.base.splade_pool_forward(w, a.argmax.data(), a.t.data(), P + L.wte, P + L.decoder_bias, batch.cu_seqlens, B, C, V,
                               pooling);
  if (!ref && pooling == Pooling::max) a.w.assign(w, w + static_cast<size_t>(B) * V);
}

void modernbert_train_backward(float* G, const ModernBertActivations& a, const float* dw, const EncoderConfig& cfg,
                               const ModernBertLayout& L, const float* P, const PackedBatch& batch, Pooling pooling,
                               bool ref) {
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, V = cfg.vocab;
  const ModernBertOps& ops = modernbert_ops(ref);
  std::vector<float> dt(N * C, 0.0f);
  if (!ref && pooling == Pooling::max && a.w.size() == static_cast<size_t>(B) * V)
    splade_max_pool_backward_sparse(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.w.data(), a.t.data(), P + L.wte,
                                    a.argmax.data(), B, N, C, V);
  else
    ops.base.splade_pool_backward(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.t.data(), P + L.wte, P + L.decoder_bias,
                                  a.argmax.data(), batch.cu_seqlens, B, C, V, pooling);
  hidden_backward(G, a, dt, cfg, L, P, batch, ops);
}

double modernbert_mlm_train(float* G, const int32_t* labels, const EncoderConfig& cfg, const ModernBertLayout& L,
                            const float* P, const PackedBatch& batch, bool ref, size_t* count) {
  ModernBertActivations a;
  const ModernBertOps& ops = modernbert_ops(ref);
  hidden_forward(a, cfg, L, P, batch, ops);
  if (count) *count = 0;
  if (batch.B == 0) return 0.0;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden, V = cfg.vocab;
  std::vector<float> dt(N * C, 0.0f);
  size_t m = 0;
  const double loss = ops.base.mlm_head_forward_backward(dt.data(), G + L.wte, G + L.decoder_bias, a.t.data(), P + L.wte,
                                                         P + L.decoder_bias, labels, N, C, V, &m);
  if (count) *count = m;
  if (m > 0) hidden_backward(G, a, dt, cfg, L, P, batch, ops);
  return loss;
}

}  // namespace splade
